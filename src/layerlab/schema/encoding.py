"""How many inputs a column becomes, in plain numbers: the limits the model's encodings
follow, for ``build.py``, which makes the Keras layers, and for what sizes a network
without building it (the memory estimate, the Model page's picture).
"""

from __future__ import annotations

import numpy as np

# A column with more categories than this keeps the most frequent ones; the rest
# share the out-of-vocabulary slot, so one ID-like column cannot blow up the model.
MAX_CATEGORIES = 100
# Rows per evaluation call (preprocessing, validation, scoring): bounds the memory of those
# passes, which memory.py estimates.
EVAL_BATCH = 32_768
# Piecewise-linear encoding: this many quantile bins of the training values (fewer for
# a column with fewer distinct values; none for one with fewer than 3).
PIECEWISE_BINS = 16


def piecewise_bins(distinct: int, bins: int = PIECEWISE_BINS) -> int:
    """How many bins ``piecewise_edges`` gives a column of ``distinct`` values, at most (0 for
    fewer than 3 values, where bins add nothing to the scaled value itself)."""
    return min(distinct - 1, bins) if distinct >= 3 else 0


def piecewise_edges(finite: np.ndarray, bins: int = PIECEWISE_BINS) -> np.ndarray:
    """Distinct quantile edges of the training values (at most ``bins + 1``)."""
    if finite.size == 0:
        return np.array([])
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
