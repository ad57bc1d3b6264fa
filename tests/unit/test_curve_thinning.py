"""Curves and scatters thinned for the browser: what a reader sees stays, the bulk goes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from layerlab.tabular.evaluation import CURVE_POINTS, sample_rows, thin_curve


def staircase(rows: int) -> pd.DataFrame:
    """A precision-recall-like curve: many small steps."""
    rng = np.random.default_rng(0)
    recall = np.sort(rng.uniform(0, 1, rows))[::-1]
    precision = np.clip(0.9 - 0.5 * (1 - recall) + rng.normal(0, 0.01, rows), 0, 1)
    return pd.DataFrame({"recall": recall, "precision": precision})


def test_a_long_curve_keeps_its_ends_and_its_order_within_the_points_asked():
    curve = staircase(10_788)
    thin = thin_curve(curve, "recall", "precision")
    assert len(thin) <= CURVE_POINTS + 1
    assert thin.index[0] == curve.index[0] and thin.index[-1] == curve.index[-1]
    assert thin.index.is_monotonic_increasing
    # Every kept point is one of the curve's own: nothing is invented.
    pd.testing.assert_frame_equal(thin, curve.loc[thin.index])


def test_a_short_curve_is_left_as_it_is():
    curve = staircase(50)
    assert thin_curve(curve, "recall", "precision") is curve


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=2_000))
def test_any_curve_thins_to_its_own_points_with_both_ends(points):
    curve = pd.DataFrame(points, columns=["x", "y"])
    thin = thin_curve(curve, "x", "y", points=40)
    assert len(thin) <= max(41, len(curve) if len(curve) <= 40 else 41)
    assert thin.index[0] == 0 and thin.index[-1] == len(curve) - 1


def test_a_scatter_shows_the_same_sample_on_every_visit():
    rows = pd.DataFrame({"actual": np.arange(10_788.0), "predicted": np.arange(10_788.0)})
    first, again = sample_rows(rows), sample_rows(rows)
    assert len(first) == 2_000 and first.index.equals(again.index)
    small = rows.head(100)
    assert sample_rows(small) is small
