"""The Results page's verdict: a score close to perfect is questioned, not congratulated."""

from __future__ import annotations

import pandas as pd

from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.leaks import SingleColumnScore
from layerlab_app.tables import verdict


def regression(r2: float, mae: float, naive_mae: float = 10.0) -> Evaluation:
    return Evaluation(
        task="regression",
        metrics={"mae": mae, "rmse": mae * 1.2, "r2": r2},
        baselines={
            "naive": {"mae": naive_mae, "rmse": naive_mae * 1.2, "r2": 0.0},
            "linear": {"mae": naive_mae / 2, "rmse": naive_mae * 0.6, "r2": 0.6},
        },
        predictions=pd.DataFrame(),
    )


def binary(accuracy: float, balanced: float, naive_accuracy: float = 0.6) -> Evaluation:
    def metrics(value, balanced_value):
        return {"accuracy": value, "balanced_accuracy": balanced_value, "recall_macro": balanced}

    return Evaluation(
        task="binary",
        metrics=metrics(accuracy, balanced),
        baselines={
            "naive": metrics(naive_accuracy, 0.5),
            "linear": metrics(0.8, 0.78),
        },
        predictions=pd.DataFrame(),
    )


LOG_WAGE = SingleColumnScore("logwage", "wage", "r2", 0.999)


def test_a_near_perfect_regression_names_the_column_that_alone_predicts_the_target():
    better, sentence = verdict(regression(r2=0.998, mae=0.3), LOG_WAGE)
    assert not better
    assert sentence.startswith("The network's test R² is 0.998: close to perfect, which is rare")
    assert (
        'The most likely one is "logwage": on its own it predicts "wage" almost exactly (R² 1.00).'
    ) in sentence
    assert "beats" not in sentence


def test_a_tiny_error_against_the_baseline_is_near_perfect_too():
    better, sentence = verdict(regression(r2=0.97, mae=0.4, naive_mae=10.0), LOG_WAGE)
    assert not better
    assert (
        "mean absolute error (0.4) is under 5% of that of always predicting the training mean"
        in (sentence)
    )


def test_a_near_perfect_classifier_names_its_suspect_in_accuracy():
    suspect = SingleColumnScore(
        "bwt", "low", "accuracy", 0.995, balanced_accuracy=0.99, baseline_accuracy=0.63
    )
    better, sentence = verdict(binary(accuracy=1.0, balanced=1.0), suspect)
    assert not better
    assert "test accuracy is 100.0%" in sentence
    assert '"bwt": on its own it predicts "low" almost exactly (accuracy 99.5%)' in sentence


def test_near_perfect_with_no_single_suspect_points_at_columns_together():
    weak = SingleColumnScore("price", "total", "r2", 0.41)
    _, sentence = verdict(regression(r2=0.999, mae=0.01), weak)
    assert 'No single feature explains it (the best on its own, "price", reaches R² 0.41)' in (
        sentence
    )
    assert "parts of a total" in sentence


def test_near_perfect_without_a_suspect_still_asks_to_check():
    better, sentence = verdict(regression(r2=0.999, mae=0.01))
    assert not better
    assert "Check that no feature is computed from the target" in sentence


def test_a_good_but_believable_score_is_still_congratulated():
    better, sentence = verdict(regression(r2=0.8, mae=3.0), LOG_WAGE)
    assert better
    assert sentence == "The network beats both baselines on rows it never saw."


def test_matching_a_lopsided_baseline_is_not_called_near_perfect():
    # 99.5% right where always guessing the common class is right 99.5% of the time.
    better, sentence = verdict(binary(accuracy=0.995, balanced=0.5, naive_accuracy=0.995))
    assert not better
    assert "not better than always guessing the most common class" in sentence
