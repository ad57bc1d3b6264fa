"""Is the difference real? How much the gap between two models' test scores moves when the
test rows themselves are drawn again.

A test set is a sample: on 111 rows, a model that is no better can score a few percent
better by luck. The paired bootstrap (Efron and Tibshirani 1993, ch. 16) draws the test
rows again with replacement, scores both models on each draw, and keeps the middle 95% of
the gaps: when that interval does not reach zero, the gap is beyond what the choice of
test rows alone moves it. It costs no training (the predictions are there already),
which retraining with other seeds or folds would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Draws of the test rows; their 2.5th and 97.5th percentile gaps bound the interval.
RESAMPLES = 400
# Rows x draws scored at once: bounds the memory of a large test set (8 bytes each).
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class GapInterval:
    """The middle 95% of (network - other) in ``metric`` over draws of the test rows."""

    metric: str
    low: float
    high: float

    @property
    def real(self) -> bool:
        """Every draw in the interval has the gap on one side of zero."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, values: dict) -> GapInterval:
        return cls(str(values["metric"]), float(values["low"]), float(values["high"]))


def gap_interval(
    metric: str,
    actual: np.ndarray,
    mine: np.ndarray,
    theirs: np.ndarray,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> GapInterval:
    """The paired bootstrap interval of ``metric``(mine) - ``metric``(theirs) on the test rows.

    ``metric`` is ``mae`` or ``rmse`` (``mine`` and ``theirs`` are predicted numbers), or
    ``accuracy`` or ``balanced_accuracy`` (they are predicted class indices, as ``actual``).
    """
    actual, mine, theirs = (np.asarray(values) for values in (actual, mine, theirs))
    rng = np.random.default_rng(seed)
    n = len(actual)
    per_chunk = max(1, CHUNK_CELLS // max(n, 1))
    gaps: list[np.ndarray] = []
    for start in range(0, resamples, per_chunk):
        draws = rng.integers(0, n, size=(min(per_chunk, resamples - start), n))
        gaps.append(
            _scores(metric, actual[draws], mine[draws])
            - _scores(metric, actual[draws], theirs[draws])
        )
    low, high = np.percentile(np.concatenate(gaps), [2.5, 97.5])
    return GapInterval(metric, float(low), float(high))


def _scores(metric: str, actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``metric`` of each draw (a row of ``actual`` and ``predicted``)."""
    if metric == "mae":
        return np.abs(actual - predicted).mean(axis=1)
    if metric == "rmse":
        return np.sqrt(((actual - predicted) ** 2).mean(axis=1))
    right = actual == predicted
    if metric == "accuracy":
        return right.mean(axis=1)
    if metric == "balanced_accuracy":  # the mean recall of the classes each draw holds
        recalls = []
        for label in np.unique(actual):
            of_label = actual == label
            count = of_label.sum(axis=1)
            recall = np.where(
                count > 0, (right & of_label).sum(axis=1) / np.maximum(count, 1), np.nan
            )
            recalls.append(recall)
        return np.nanmean(np.stack(recalls), axis=0)
    raise ValueError(f"No resampled score for the metric {metric!r}.")
