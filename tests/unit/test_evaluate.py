"""Evaluation: test-set metrics beside the baselines a person should beat."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from layerlab.data import profile_columns
from layerlab.evaluate import classification_metrics, evaluate, regression_metrics
from layerlab.reading import read_csv
from layerlab.spec import default_spec
from layerlab.task import check_target
from layerlab.train import train

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
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "log_loss",
        "roc_auc",
    }
    assert metrics["accuracy"] == 0.75
    assert metrics["roc_auc"] == 1.0  # every "yes" scores above the one "no"
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])), rel=1e-6)


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
    assert set(churn_evaluation.baselines) == {"naive", "linear"}
    assert set(churn_evaluation.baselines["linear"]) == set(churn_evaluation.metrics)


def test_headline_names_the_network_and_both_baselines(churn_evaluation):
    headline = churn_evaluation.headline()
    accuracy = churn_evaluation.metrics["accuracy"]
    assert headline.startswith(f"The network's accuracy on the test set is {accuracy:.3g}")
    assert "always guessing the most common class gives" in headline
    assert "logistic regression gives" in headline
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
    accuracy = float((predictions["actual"] == predictions["predicted"]).mean())
    assert churn_evaluation.metrics["accuracy"] == pytest.approx(accuracy)
    assert churn_evaluation.to_dict()["confusion_matrix"]["labels"] == ["no", "yes"]


def test_default_spec_clearly_beats_guessing_on_churn(churn_evaluation):
    naive = churn_evaluation.baselines["naive"]["accuracy"]
    assert churn_evaluation.metrics["accuracy"] >= naive + 0.05
    assert churn_evaluation.beats_baselines()["naive"]


def test_default_spec_clearly_beats_guessing_on_iris():
    frame = read_csv(DATA_DIR / "iris.csv")
    info = check_target(frame, "species")
    spec = default_spec("species", info.task, profile_columns(frame, "species"))
    evaluation = evaluate(train(frame, spec.replace(epochs=40)))
    assert evaluation.task == "multiclass"
    assert evaluation.baselines["naive"]["accuracy"] == pytest.approx(1 / 3)
    assert evaluation.metrics["accuracy"] >= 0.6
    assert evaluation.confusion.shape == (3, 3)


def test_regression_evaluation_compares_with_mean_and_linear_baselines(make_table, table_spec):
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
    assert headline.endswith("(lower is better).")
    assert evaluation.metrics["mae"] < evaluation.baselines["naive"]["mae"]
