"""The run this tab shows: its model and files loaded once, its rows, and its predictions.

The Results page, the effects panel and the sidebar read the open run here; which run is
open is the tab's focus (``state.open_run``), and everything below is derived from it and
cached as long as the run stays loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd

from layerlab.report.run_files import TrainedModel
from layerlab.runs.workers import quick_pool
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.effects import predictions_from_scored, rows_fingerprint
from layerlab.tabular.splits import split_frame
from layerlab.tabular.task import drop_missing_target
from layerlab_app.state import session
from layerlab_app.state import spec as current_spec

# Opened runs kept in memory per tab (their evaluation holds the test predictions).
OPENED_RUNS = 2


def result() -> TrainedModel | None:
    """The open run, loaded from its files once per session, or None if it has no model."""
    current = session()
    run_id = current.focus.open_run
    if run_id is None:
        return None
    kept = current.opened.get(run_id)
    if kept is not None and kept.completes_later:  # its files change once it is complete
        record = current.store.run(run_id)
        if record is None or not record.completing:
            current.opened.pop(run_id)
            current.caches.pop(run_id, None)
    if run_id not in current.opened:
        record = current.store.run(run_id)
        try:
            trained = (
                TrainedModel.from_record(record, current.store.folder)
                if record is not None
                else None
            )
        except (ValueError, OSError, LayerlabError):
            current.focus = current.focus.replace(open_run=None)
            current.notices.append(
                f"The files of {record.name} are damaged, so it cannot be opened. Its record "
                "stays on the Runs page; train it again to get a model."
            )
            return None
        if trained is None:
            return None
        current.opened[run_id] = trained
        while len(current.opened) > OPENED_RUNS:
            forgotten = next(iter(current.opened))
            current.opened.pop(forgotten)
            current.caches.pop(forgotten, None)
    return current.opened[run_id]


def result_is_current() -> bool:
    """Whether the open run used exactly the settings now chosen."""
    trained = result()
    return trained is not None and trained.spec == current_spec()


def result_cache() -> dict:
    """A dict that lives exactly as long as the open run stays loaded (evaluation, downloads)."""
    current = session()
    return current.caches.setdefault(current.focus.open_run or "", {})


def for_result(key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per open run and ``key``; errors are not kept."""
    cache = result_cache()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def run_frame(run_id: str) -> pd.DataFrame | None:
    """The table a run trained on: this tab's table if it is that one, else read again."""
    current = session()
    record = current.store.run(run_id)
    if record is None or record.table_id is None:
        return None
    if record.table_id == current.focus.table_id:
        return current.frame
    if current.store.table(record.table_id) is None:
        return None
    return for_result(
        ("table", record.table_id), lambda: current.service.read_table(record.table_id)
    )


def run_splits(run_id: str, spec: ModelSpec):
    """The train / validation / test splits of a run of this workspace, recomputed from its
    table (the split is seeded); a ``LayerlabError`` when that table is gone."""
    data = run_frame(run_id)
    if data is None:
        raise LayerlabError(
            "The table this run trained on is no longer in the workspace, so its rows cannot "
            "be shown. Load it again on the Data page."
        )
    return for_result(
        ("splits", run_id), lambda: split_frame(drop_missing_target(data, spec.target), spec)
    )


def training_rows() -> pd.DataFrame:
    """The training split of the open run."""
    return run_splits(session().focus.open_run, result().spec).train


def test_rows() -> pd.DataFrame:
    """The test split of the open run."""
    return run_splits(session().focus.open_run, result().spec).test


def kept_model(run_id: str) -> TrainedModel | None:
    """A finished run of this workspace with its model, or None (still training, no model)."""
    current = session()
    record = current.store.run(run_id)
    if record is None or record.active:
        return None
    return TrainedModel.from_record(record, current.store.folder)


def predict_with(trained: TrainedModel, rows: pd.DataFrame) -> pd.DataFrame:
    """``trained``'s predictions for ``rows``, computed in a worker process."""
    return quick_pool().run("predict", str(trained.model_file), trained.spec, trained.classes, rows)


def view_predictions(trained: TrainedModel, view: tuple[str, ...], rows: pd.DataFrame):
    """Predictions (values, or a probability column per class) for a picture's ``rows``:
    kept with the run for the pictures the Results page opens on, else from a worker."""
    kept = trained.opening_predictions().get(view)
    if kept is not None and kept[0] == rows_fingerprint(rows):
        return kept[1]
    return predictions_from_scored(predict_with(trained, rows), trained.spec, trained.classes)


def predict(rows: pd.DataFrame) -> pd.DataFrame:
    """The open run's predictions for ``rows``, computed in a worker process."""
    return predict_with(result(), rows)
