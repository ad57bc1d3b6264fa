"""Is the difference real? The gap between two models' test scores, with the test rows drawn
again (a paired bootstrap), and the sentence the verdict adds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab.tabular import gap_noise
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.gap_noise import GapInterval, gap_interval


def noisy(n: int, error: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    actual = rng.normal(size=n)
    return actual, actual + rng.normal(scale=error, size=n)


def test_a_clearly_better_model_has_a_real_gap_and_twins_have_none():
    actual, good = noisy(500, 0.1, 0)
    poor = actual + np.random.default_rng(1).normal(scale=1.0, size=500)
    gap = gap_interval("mae", actual, good, poor)
    assert gap.real and gap.high < 0  # lower error: the network's MAE minus theirs < 0
    same = gap_interval("rmse", actual, good, good)
    assert (same.low, same.high, same.real) == (0.0, 0.0, False)


def test_two_equally_good_models_on_few_rows_are_not_told_apart():
    rng = np.random.default_rng(3)
    actual = rng.integers(0, 2, 60)
    coin_a = np.where(rng.random(60) < 0.8, actual, 1 - actual)  # each right 80% of the time
    coin_b = np.where(rng.random(60) < 0.8, actual, 1 - actual)
    gap = gap_interval("accuracy", actual, coin_a, coin_b)
    assert gap.low < 0 < gap.high and not gap.real


def test_balanced_accuracy_is_the_mean_recall_of_each_draw():
    actual = np.array([0, 0, 0, 1])
    predicted = np.array([0, 0, 0, 0])
    draws = gap_noise._scores("balanced_accuracy", actual[None, :], predicted[None, :])
    assert draws.tolist() == [0.5]  # recall 1 for class 0, 0 for class 1


def test_a_large_test_set_is_drawn_in_chunks_with_the_same_result(monkeypatch):
    actual, mine = noisy(3_000, 0.5, 4)
    _, theirs = noisy(3_000, 0.6, 5)
    whole = gap_interval("rmse", actual, mine, theirs)
    monkeypatch.setattr(gap_noise, "CHUNK_CELLS", 10_000)  # 3 draws at a time
    assert gap_interval("rmse", actual, mine, theirs) == whole


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    st.floats(-5, 5, allow_nan=False),
)
def test_the_interval_holds_the_plain_gap_of_a_constant_shift(values, shift):
    actual = np.array(values)
    gap = gap_interval("mae", actual, actual + shift, actual, resamples=50)
    assert gap.low == pytest.approx(abs(shift)) and gap.high == pytest.approx(abs(shift))


def evaluation(mae: float, boosting_mae: float, gap: GapInterval | None) -> Evaluation:
    rows = pd.DataFrame({"actual": [1.0] * 111, "predicted": [1.0] * 111})
    return Evaluation(
        task="regression",
        metrics={"mae": mae, "rmse": mae},
        baselines={
            "naive": {"mae": 9.0, "rmse": 9.0},
            "linear": {"mae": 8.0, "rmse": 8.0},
            "boosting": {"mae": boosting_mae, "rmse": boosting_mae},
        },
        predictions=rows,
        boosting_gap=gap,
    )


def test_the_verdict_says_whether_the_gap_to_gradient_boosting_is_beyond_noise():
    _, behind = evaluation(5.0, 4.0, GapInterval("mae", 0.4, 1.6)).comparison()
    assert behind.endswith(
        "The gap is real: drawing the test rows again, 95 draws in 100 put the network's mean "
        "absolute error minus gradient boosting's between 0.4 and 1.6, all on one side of zero."
    )
    _, ahead = evaluation(4.0, 4.2, GapInterval("mae", -0.5, 0.1)).comparison()
    assert "The gap may be noise: drawing the 111 test rows again" in ahead
    assert "between -0.5 and 0.1, on both sides of zero." in ahead
    _, unknown = evaluation(5.0, 4.0, None).comparison()
    assert "gap" not in unknown  # a file written before the gap was worked out
