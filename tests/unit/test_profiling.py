"""Profiling a large table happens in a worker within a time budget, never in the server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.runs import profiling
from layerlab.schema.errors import DataError, LayerlabError
from layerlab.tabular.data import profile_columns


def _table(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "age": rng.integers(18, 80, rows),
            "city": rng.choice(["paris", "lyon"], rows),
            "bought": rng.choice(["yes", "no"], rows),
        }
    )


def test_a_small_table_is_profiled_in_place(monkeypatch):
    def no_worker():
        raise AssertionError("a small table must not go to a worker")

    monkeypatch.setattr(profiling, "quick_pool", no_worker)
    profiles = profiling.profile_table(_table(), "bought")
    assert [profile.name for profile in profiles] == ["customer_id", "age", "city", "bought"]


def test_a_large_table_is_profiled_in_a_worker_with_the_same_result(monkeypatch):
    monkeypatch.setenv(profiling.WORKER_CELLS_ENV, "100")
    table = _table()
    assert profiling.profile_table(table, "bought") == profile_columns(table, "bought")


def test_profiling_past_its_time_budget_is_refused_with_a_plain_message(monkeypatch):
    monkeypatch.setenv(profiling.WORKER_CELLS_ENV, "0")
    monkeypatch.setenv(profiling.BUDGET_ENV, "0.001")
    with pytest.raises(DataError) as refused:
        profiling.profile_table(_table(), "bought")
    message = str(refused.value)
    assert "300 rows and 4 columns" in message
    assert "more than the 0.001 s this server allows" in message
    assert "Upload a sample of the rows" in message


def test_profiling_hears_stop_between_columns():
    asked = []

    def stop_after_two() -> bool:
        asked.append(True)
        return len(asked) > 2

    with pytest.raises(DataError, match="stopped"):
        profile_columns(_table(), "bought", should_stop=stop_after_two)
    assert len(asked) == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LAYERLAB_PROFILE_WORKER_CELLS", "many"), ("LAYERLAB_PROFILE_SECONDS", "-1")],
)
def test_a_bad_setting_says_what_it_expects(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(LayerlabError, match=variable):
        profiling.profile_table(_table(), "bought")
