"""Column profiles for the app, worked out where they cannot slow other visitors down.

Profiling grows with the table: a 3,000 x 2,000 table takes more than a second of pure
Python and pandas work, and in the Streamlit server that second holds the one
interpreter lock every visitor's page needs (two tabs profiling such a file tripled
everyone else's page times). So a table above ``worker_cells()`` cells is profiled in a
worker process of the quick pool, within a time budget (``budget_seconds()``); a small
table is profiled in place, where a worker's round trip would cost more than the work.
"""

from __future__ import annotations

import pandas as pd

from layerlab.runs.workers import quick_pool
from layerlab.schema.errors import DataError
from layerlab.schema.settings import number_setting
from layerlab.tabular.data import ColumnProfile, profile_columns

WORKER_CELLS_ENV = "LAYERLAB_PROFILE_WORKER_CELLS"
BUDGET_ENV = "LAYERLAB_PROFILE_SECONDS"
# About 0.2 s of profiling on one core: below it the server does it itself.
DEFAULT_WORKER_CELLS = 1_000_000
DEFAULT_BUDGET_SECONDS = 60.0


def worker_cells() -> int:
    """Tables with more cells than this are profiled in a worker
    (``LAYERLAB_PROFILE_WORKER_CELLS``, default 1,000,000; 0 sends every table)."""
    return int(
        number_setting(
            WORKER_CELLS_ENV,
            DEFAULT_WORKER_CELLS,
            what="a whole number of cells (rows x columns), 0 or more",
            example=DEFAULT_WORKER_CELLS,
            whole=True,
        )
    )


def budget_seconds() -> float:
    """The most time a worker may spend profiling one table (``LAYERLAB_PROFILE_SECONDS``)."""
    return number_setting(
        BUDGET_ENV,
        DEFAULT_BUDGET_SECONDS,
        what="a number of seconds above 0",
        example=DEFAULT_BUDGET_SECONDS,
        above=True,
    )


def profile_table(frame: pd.DataFrame, target_column: str | None) -> list[ColumnProfile]:
    """``data.profile_columns`` of ``frame``: in place for a small table, else in a worker.

    A worker that has not finished within ``budget_seconds()`` is told to stop, and the
    person is told to upload fewer rows or columns (``DataError``).
    """
    threshold, budget = worker_cells(), budget_seconds()
    if frame.size <= threshold:
        return profile_columns(frame, target_column)
    job = quick_pool().submit("profile", frame, target_column)
    if not job.wait(budget):
        job.stop()
        raise DataError(
            f"Looking through this table's {frame.shape[0]:,} rows and {frame.shape[1]:,} "
            f"columns took more than the {budget:g} s this server allows. Expected a table "
            "that can be profiled in that time. Upload a sample of the rows, or keep only the "
            "columns you need, and try again."
        )
    return job.outcome()
