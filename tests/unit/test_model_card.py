"""The model card: bootstrap intervals of the test scores, and the card's text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, log_loss, mean_absolute_error, r2_score

from layerlab.report.model_card import CardFacts, Interval, bootstrap_intervals, card_markdown


def regression_predictions(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    actual = rng.normal(50_000, 10_000, n)
    return pd.DataFrame({"actual": actual, "predicted": actual + rng.normal(0, 2_000, n)})


def class_predictions(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    classes = ("no", "yes", "maybe")
    probabilities = rng.dirichlet([1, 1, 1], n)
    actual = [classes[i] for i in rng.integers(0, 3, n)]
    frame = pd.DataFrame({"actual": actual})
    frame["predicted"] = [classes[i] for i in probabilities.argmax(axis=1)]
    for position, label in enumerate(classes):
        frame[f"probability_{label}"] = probabilities[:, position]
    return frame, classes


def test_regression_intervals_hold_scikit_learns_scores():
    predictions = regression_predictions()
    intervals = bootstrap_intervals(predictions, "regression")
    assert set(intervals) == {"mae", "rmse", "r2"}
    actual, predicted = predictions["actual"], predictions["predicted"]
    assert intervals["mae"].value == pytest.approx(mean_absolute_error(actual, predicted))
    assert intervals["r2"].value == pytest.approx(r2_score(actual, predicted))
    for interval in intervals.values():
        assert interval.low < interval.value < interval.high


def test_classification_intervals_hold_scikit_learns_scores():
    predictions, classes = class_predictions()
    intervals = bootstrap_intervals(predictions, "multiclass", classes)
    index = [classes.index(label) for label in predictions["actual"]]
    probabilities = predictions[[f"probability_{c}" for c in classes]].to_numpy()
    assert intervals["log_loss"].value == pytest.approx(
        log_loss(index, probabilities, labels=[0, 1, 2])
    )
    assert intervals["balanced_accuracy"].value == pytest.approx(
        balanced_accuracy_score(index, probabilities.argmax(axis=1))
    )
    assert 0 <= intervals["accuracy"].low < intervals["accuracy"].high <= 1


def test_more_test_rows_give_a_narrower_interval_and_a_seed_repeats_it():
    small = bootstrap_intervals(regression_predictions(100), "regression")["mae"]
    large = bootstrap_intervals(regression_predictions(4_000), "regression")["mae"]
    assert large.high - large.low < small.high - small.low
    again = bootstrap_intervals(regression_predictions(100), "regression")["mae"]
    assert again == small


def test_perfect_predictions_have_no_spread():
    actual = np.arange(50.0)
    exact = pd.DataFrame({"actual": actual, "predicted": actual})
    assert bootstrap_intervals(exact, "regression")["mae"] == Interval(0.0, 0.0, 0.0)


def test_the_card_has_each_section_in_readable_numbers():
    facts = CardFacts(
        target="price",
        task="regression",
        network="64 relu → 32 relu",
        rows={"train": 9_000, "validation": 2_250, "test": 2_812},
        used=[("area", "numeric"), ("city", "categorical")],
        left_out={"id": "It is a row number: every value is different."},
        intervals=bootstrap_intervals(regression_predictions(), "regression"),
        baselines={"naive": {"mae": 8_123.4, "rmse": 1.0e4, "r2": 0.0}},
        importance=pd.DataFrame(
            {"column": ["area", "city"], "importance": [3_021.5, 7.8e-5], "spread": [12.0, 0.0]}
        ).assign(score="MAE"),
        diagnoses=["Overfitting: the validation loss rose after epoch 12."],
        warnings=["The classes are imbalanced."],
    )
    card = card_markdown(facts)
    for heading in ("## Data", "## Test scores", "## Which columns matter", "## Warnings"):
        assert heading in card
    assert "14,062 rows with a target: 9,000 to train on" in card
    assert "`id`: It is a row number" in card
    assert "a guess that ignores every column 8,123" in card
    assert "`area`: 3,022 ± 12" in card
    assert "Overfitting:" in card
    assert "e+" not in card and "e-0" not in card
