"""Evaluation: test-set metrics beside the baselines a person should beat."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.model.evaluate import evaluate
from layerlab.model.train import train
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import Feature, ModelSpec, default_spec
from layerlab.tabular.data import class_balance, profile_columns
from layerlab.tabular.evaluation import (
    Evaluation,
    classification_metrics,
    regression_metrics,
    threshold_scores,
)
from layerlab.tabular.reading import read_csv
from layerlab.tabular.task import check_target

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def test_regression_metrics_on_a_known_case():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    # errors 0, 0, 0, 1: MAE 1/4, RMSE sqrt(1/4), R2 = 1 - 1 / 5
    assert metrics == pytest.approx({"mae": 0.25, "rmse": 0.5, "r2": 0.8})


def test_classification_metrics_on_a_known_case():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    metrics = classification_metrics(np.array([0, 1, 1, 1]), probabilities, ("no", "yes"))
    assert set(metrics) == {
        "accuracy",
        "balanced_accuracy",
        "average_precision",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "log_loss",
        "roc_auc",
    }
    assert metrics["accuracy"] == 0.75
    assert metrics["roc_auc"] == 1.0  # every "yes" scores above the one "no"
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])), rel=1e-6)


# Ten test rows, two of them positive (20%); the model's probability of "yes" for each.
ACTUAL = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
P_YES = np.array([0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.6, 0.3, 0.7, 0.4])


def two_columns(p_yes: np.ndarray) -> np.ndarray:
    return np.stack([1 - p_yes, p_yes], axis=1)


def test_balanced_accuracy_and_average_precision_on_an_imbalanced_case():
    metrics = classification_metrics(ACTUAL, two_columns(P_YES), ("no", "yes"))
    # Predicted "yes" for rows 6 (a "no") and 8: 8 of 10 right.
    assert metrics["accuracy"] == pytest.approx(0.8)
    # Recall of "no" 7/8, of "yes" 1/2.
    assert metrics["balanced_accuracy"] == pytest.approx((7 / 8 + 1 / 2) / 2)
    # Ranked by P(yes): 0.7 (yes) -> precision 1 at recall 1/2; 0.6 (no) adds no recall;
    # the two at 0.4 (a yes and a no) -> precision 2/4 at recall 1. AP = 1/2 * 1 + 1/2 * 1/2.
    assert metrics["average_precision"] == pytest.approx(0.75)


def test_guessing_the_majority_class_is_judged_by_the_same_metrics():
    majority = two_columns(np.zeros(len(ACTUAL)))
    metrics = classification_metrics(ACTUAL, majority, ("no", "yes"))
    assert metrics["accuracy"] == pytest.approx(0.8)  # looks good...
    assert metrics["balanced_accuracy"] == 0.5  # ...but is chance
    assert metrics["average_precision"] == pytest.approx(0.2)  # the positive share


def test_average_precision_of_several_classes_is_the_mean_over_classes():
    probabilities = np.array([[0.45, 0.05, 0.5], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    metrics = classification_metrics(np.array([0, 0, 1, 2]), probabilities, ("a", "b", "c"))
    # a and b rank their rows first (AP 1); c's row comes second, after a row of a (AP 1/2).
    assert metrics["average_precision"] == pytest.approx((1 + 1 + 0.5) / 3)
    # Row 0 is predicted c: recall of a 1/2, of b and c 1.
    assert metrics["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)


def test_threshold_scores_at_the_default_threshold_are_the_models_own_predictions():
    scores = threshold_scores(ACTUAL == 1, P_YES, 0.5, ("no", "yes"))
    assert scores.confusion.to_numpy().tolist() == [[7, 1], [1, 1]]
    assert list(scores.confusion.index) == ["no", "yes"]
    assert scores.metrics == pytest.approx(
        {
            "accuracy": 0.8,
            "balanced_accuracy": (7 / 8 + 1 / 2) / 2,
            "precision": 0.5,
            "recall": 0.5,
            "f1": 0.5,
        }
    )
    assert scores.false_positive_rate == pytest.approx(1 / 8)


def test_a_lower_threshold_finds_every_positive_at_the_cost_of_false_alarms():
    scores = threshold_scores(ACTUAL == 1, P_YES, 0.35, ("no", "yes"))
    # Above 0.35: rows 3, 6, 8 and 9; both positives found, two "no" flagged.
    assert scores.confusion.to_numpy().tolist() == [[6, 2], [0, 2]]
    assert scores.metrics == pytest.approx(
        {
            "accuracy": 0.8,
            "balanced_accuracy": (6 / 8 + 1) / 2,
            "precision": 0.5,
            "recall": 1.0,
            "f1": 2 / 3,
        }
    )
    assert scores.false_positive_rate == pytest.approx(2 / 8)


def test_a_threshold_no_row_passes_leaves_precision_undefined():
    scores = threshold_scores(ACTUAL == 1, P_YES, 0.99, ("no", "yes"))
    assert scores.confusion.to_numpy().tolist() == [[8, 0], [2, 0]]
    assert math.isnan(scores.metrics["precision"])
    assert scores.metrics["recall"] == 0.0
    assert scores.metrics["balanced_accuracy"] == 0.5


def test_numbers_are_written_without_e_notation():
    assert readable_number(0.97234) == "0.972"
    assert readable_number(3021.7) == "3,022"
    assert readable_number(999.6) == "1,000"
    assert readable_number(0.000123456) == "0.000123"
    assert readable_number(12.345) == "12.3"
    assert readable_number(1.0) == "1"
    assert readable_number(-1234.4) == "-1,234"
    assert readable_number(float("nan")) == "n/a"


def balance_evaluation(yes: int, of: int = 100) -> Evaluation:
    """An evaluation whose rows with a target are ``yes`` "yes" in ``of``."""
    return Evaluation(
        task="binary",
        metrics={},
        baselines={},
        predictions=pd.DataFrame(),
        class_balance=class_balance(pd.Series(["yes"] * yes + ["no"] * (of - yes))),
    )


def test_a_class_under_a_fifth_of_the_rows_is_named_as_rare():
    rare = balance_evaluation(5).imbalance()
    assert (rare.rarest, rare.rarest_share, rare.commonest) == ("yes", 0.05, "no")
    assert balance_evaluation(19).imbalance().rarest == "yes"
    assert balance_evaluation(20).imbalance() is None
    assert balance_evaluation(50).imbalance() is None


def test_roc_auc_is_nan_when_the_test_set_has_one_class():
    metrics = classification_metrics(
        np.array([1, 1]), np.array([[0.4, 0.6], [0.1, 0.9]]), ("a", "b")
    )
    assert math.isnan(metrics["roc_auc"])
    assert metrics["accuracy"] == 1.0


def test_naive_baseline_accuracy_is_the_majority_class_share(churn_result, churn_evaluation):
    train_labels = churn_result.splits.train["churned"]
    majority = train_labels.value_counts().idxmax()
    share = float((churn_result.splits.test["churned"] == majority).mean())
    assert churn_evaluation.baselines["naive"]["accuracy"] == pytest.approx(share)
    assert set(churn_evaluation.baselines) == {"naive", "linear", "boosting"}
    assert set(churn_evaluation.baselines["linear"]) == set(churn_evaluation.metrics)
    assert set(churn_evaluation.baselines["boosting"]) == set(churn_evaluation.metrics)


def test_the_linear_baseline_reads_the_training_rows_the_network_trained_on(
    churn_result, churn_evaluation
):
    """``evaluate`` reuses the tensor the network trained on; preprocessing the training rows
    again (as for a result from another process, which comes without it) gives the same."""
    import dataclasses
    import pickle

    assert churn_result.train_inputs is not None
    from_another_process = pickle.loads(pickle.dumps(dataclasses.replace(churn_result)))
    assert from_another_process.train_inputs is None
    again = evaluate(from_another_process)
    assert again.baselines["linear"] == pytest.approx(churn_evaluation.baselines["linear"])


def test_baselines_and_network_report_balanced_accuracy_and_average_precision(
    churn_result, churn_evaluation
):
    test = churn_result.splits.test
    positive_share = float((test["churned"] == "yes").mean())
    naive = churn_evaluation.baselines["naive"]
    assert naive["balanced_accuracy"] == 0.5
    assert naive["average_precision"] == pytest.approx(positive_share)
    for metrics in (churn_evaluation.metrics, churn_evaluation.baselines["linear"]):
        assert 0.5 < metrics["balanced_accuracy"] <= 1
        assert positive_share < metrics["average_precision"] <= 1
    saved = churn_evaluation.to_dict()
    assert saved["test"]["balanced_accuracy"] == churn_evaluation.metrics["balanced_accuracy"]
    assert saved["baselines"]["naive"]["average_precision"] == naive["average_precision"]
    assert sum(saved["class_shares"].values()) == pytest.approx(1.0)
    balance = churn_evaluation.class_balance
    assert balance.rarest_share == pytest.approx(min(saved["class_shares"].values()))


def test_the_threshold_view_at_one_half_matches_the_evaluation(churn_evaluation):
    scores = churn_evaluation.at_threshold(0.5)
    pd.testing.assert_frame_equal(scores.confusion, churn_evaluation.confusion)
    assert scores.metrics["accuracy"] == pytest.approx(churn_evaluation.metrics["accuracy"])
    assert scores.metrics["balanced_accuracy"] == pytest.approx(
        churn_evaluation.metrics["balanced_accuracy"]
    )
    lower = churn_evaluation.at_threshold(0.1)
    assert lower.confusion.loc["yes", "yes"] >= scores.confusion.loc["yes", "yes"]
    assert lower.confusion.to_numpy().sum() == scores.confusion.to_numpy().sum()


def test_headline_names_the_network_and_every_baseline(churn_evaluation):
    headline = churn_evaluation.headline()
    accuracy = churn_evaluation.metrics["accuracy"]
    assert headline.startswith(f"The network's accuracy on the test set is {accuracy:.3g}")
    assert "always guessing the most common class gives" in headline
    assert "logistic regression gives" in headline
    assert "gradient boosting gives" in headline
    assert headline.endswith("(higher is better).")


def test_classification_evaluation_has_predictions_confusion_and_roc(
    churn_result, churn_evaluation
):
    n_test = len(churn_result.splits.test)
    predictions = churn_evaluation.predictions
    assert list(predictions.columns) == ["actual", "predicted", "probability_no", "probability_yes"]
    assert len(predictions) == n_test
    assert churn_evaluation.confusion.to_numpy().sum() == n_test
    assert list(churn_evaluation.roc) == ["yes"]
    [(label, curve)] = churn_evaluation.precision_recall.items()
    assert label == "yes" and list(curve.columns) == ["recall", "precision"]
    assert curve["recall"].iloc[0] == 1.0 and curve["recall"].iloc[-1] == 0.0
    accuracy = float((predictions["actual"] == predictions["predicted"]).mean())
    assert churn_evaluation.metrics["accuracy"] == pytest.approx(accuracy)
    assert churn_evaluation.to_dict()["confusion_matrix"]["labels"] == ["no", "yes"]


def test_default_spec_clearly_beats_guessing_on_churn(churn_evaluation):
    naive = churn_evaluation.baselines["naive"]["accuracy"]
    assert churn_evaluation.metrics["accuracy"] >= naive + 0.05
    assert churn_evaluation.beats_baselines()["naive"]


def test_the_logistic_baseline_takes_the_networks_class_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    frame = pd.DataFrame(x, columns=["a", "b"])
    frame["y"] = np.where(x[:, 0] + rng.normal(size=600) > 2.0, "yes", "no")  # about 7% yes
    spec = ModelSpec(
        target="y",
        task="binary",
        features=[Feature("a", "numeric"), Feature("b", "numeric")],
        layers=[],
        epochs=1,
        test_split=0.3,
    )
    plain = evaluate(train(frame, spec)).baselines["linear"]
    balanced = evaluate(train(frame, spec.replace(class_weight="balanced"))).baselines["linear"]
    # Weighted, logistic regression trades accuracy for finding the rare rows.
    assert balanced["balanced_accuracy"] > plain["balanced_accuracy"] + 0.1
    assert balanced["accuracy"] < plain["accuracy"]


def test_default_spec_clearly_beats_guessing_on_iris():
    frame = read_csv(DATA_DIR / "iris.csv")
    info = check_target(frame, "species")
    spec = default_spec("species", info.task, profile_columns(frame, "species"))
    evaluation = evaluate(train(frame, spec.replace(epochs=40)))
    assert evaluation.task == "multiclass"
    assert evaluation.baselines["naive"]["accuracy"] == pytest.approx(1 / 3)
    assert evaluation.metrics["accuracy"] >= 0.6
    assert evaluation.confusion.shape == (3, 3)
    assert evaluation.baselines["naive"]["balanced_accuracy"] == pytest.approx(1 / 3)
    assert list(evaluation.precision_recall) == list(evaluation.classes)
    assert evaluation.imbalance() is None  # 50 of each
    with pytest.raises(ValueError, match="binary"):
        evaluation.at_threshold(0.5)


def test_regression_evaluation_compares_with_mean_linear_and_boosting_baselines(
    make_table, table_spec
):
    result = train(make_table(200, "regression"), table_spec("regression", epochs=30))
    evaluation = evaluate(result)
    assert set(evaluation.metrics) == {"mae", "rmse", "r2"}
    test = result.splits.test
    mean = result.splits.train["spend"].mean()
    assert evaluation.baselines["naive"]["mae"] == pytest.approx(
        float(np.mean(np.abs(test["spend"] - mean))), rel=1e-5
    )
    residual = evaluation.predictions["actual"] - evaluation.predictions["predicted"]
    np.testing.assert_allclose(evaluation.predictions["residual"], residual)
    headline = evaluation.headline()
    assert "always predicting the training mean gives" in headline
    assert "linear regression gives" in headline
    assert "gradient boosting gives" in headline
    assert headline.endswith("(lower is better).")
    assert evaluation.metrics["mae"] < evaluation.baselines["naive"]["mae"]


def test_balanced_accuracy_says_what_guessing_gives_for_so_many_classes(churn_evaluation):
    import dataclasses

    from layerlab.tabular.data import ClassBalance

    four = ClassBalance(
        rarest="d", rarest_share=0.02, commonest="a", commonest_share=0.6, classes=4
    )
    sentence = dataclasses.replace(churn_evaluation, class_balance=four).imbalance_headline()
    assert "Balanced accuracy (0.25 is guessing)" in sentence


def test_a_run_stopped_before_its_baselines_is_scored_against_the_naive_one(churn_result):
    import dataclasses

    # As in a worker: no boosting baseline fitted while the network trained.
    in_a_worker = dataclasses.replace(churn_result, boosting=None)
    evaluation = evaluate(in_a_worker, should_stop=lambda: True)
    assert list(evaluation.baselines) == ["naive"]
    assert "logistic regression" not in evaluation.headline()
    scored = Evaluation(
        "binary",
        {"accuracy": 0.8, "balanced_accuracy": 0.8},
        {"naive": {"accuracy": 0.6, "balanced_accuracy": 0.5}},
        pd.DataFrame(),
    )
    assert scored.comparison()[1] == (
        "The network beats always guessing the most common class on rows it never saw (the "
        "other baselines were not fitted)."
    )


def test_a_stop_during_the_linear_fit_drops_it_without_waiting(churn_result, monkeypatch):
    """The linear fit has no callback: it runs on its own thread, and Stop, heard while it
    runs, leaves it out of the baselines at once."""
    import dataclasses
    import threading

    import layerlab.model.evaluate as module

    release = threading.Event()
    started = threading.Event()
    fit = module._logistic_probabilities

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return fit(*args, **kwargs)

    monkeypatch.setattr(module, "_logistic_probabilities", slow)
    in_a_worker = dataclasses.replace(churn_result, boosting=None)
    evaluation = evaluate(in_a_worker, should_stop=started.is_set)
    release.set()
    assert list(evaluation.baselines) == ["naive"]
