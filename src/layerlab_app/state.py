"""Per-user state: one ``Session`` object under one ``st.session_state`` key, backed by a workspace.

Everything a person makes lives in their workspace on the server's disk
(``layerlab.runs.store``), addressed by the unguessable token in the URL (``?ws=``):
the tables they loaded, the settings they chose, every run. The ``Session`` holds
what this browser tab works on now (the table, target, spec, the run it follows
and the run it has open) plus caches; ``save()`` writes the choices back to the
workspace after every script run, and ``session()`` reads them back in a new tab,
after a reload, or after a server restart.

Training belongs to the server, not to the session (``layerlab.runs.background``):
closing the tab, reloading or clicking never stops a run; only Stop does.

Widgets keep their own values in ``st.session_state`` under their keys, as
Streamlit requires; they are seeded from the session's values (``seed``) and
forgotten (``forget``) when those change underneath them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from layerlab.report.run_files import ModelSummary, TrainedModel
from layerlab.runs.archive_settings import session_settings
from layerlab.runs.background import shared_manager
from layerlab.runs.profiling import profile_table
from layerlab.runs.workers import Job, quick_pool
from layerlab.schema.errors import LayerlabError, WorkspaceError, WorkspaceFull
from layerlab.schema.spec import ModelSpec, default_spec
from layerlab.tabular.splits import split_frame

if TYPE_CHECKING:
    import pandas as pd

    from layerlab.report.records import RunRecord
    from layerlab.runs.store import WorkspaceStore
    from layerlab.tabular.data import ColumnProfile
    from layerlab.tabular.memory import MemoryEstimate
    from layerlab.tabular.task import TargetInfo

SESSION_KEY = "layerlab"
TOKEN_PARAM = "ws"
# Opened runs kept in memory per session (their evaluation holds the test predictions).
OPENED_RUNS = 2

# Widgets whose options depend on the dataset or the target: forgotten when those change.
DATA_WIDGETS = ("target_column", "task_override", "feature_columns")
# The Model page's training widgets, named as the spec's fields they set.
TRAINING_WIDGETS = (
    "optimizer",
    "learning_rate",
    "momentum",
    "batch_size",
    "epochs",
    "validation_split",
    "patience",
    "restore_best_weights",
    "seed",
    "lr_schedule",
    "scaling",
    "numeric_embedding",
    "beta_2",
    "weight_decay",
    "label_smoothing",
    "ensemble",
)
# Widgets seeded from the spec: forgotten when another spec is loaded ("Edit a copy").
FIX_DONE_KEY = "diagnosis_fix_done"
SPEC_WIDGETS = (*TRAINING_WIDGETS, "output_loss", "class_weight", "feature_columns")

# Network and training settings carried over when only the target or task changes.
CARRIED_SETTINGS = tuple(
    field.name
    for field in dataclasses.fields(ModelSpec)
    if field.name not in ("target", "task", "features", "output_activation", "loss")
)

# Settings chosen for one table's rows that may mean little on another's: a new table's spec
# carries them from the last one (as every network and training setting), and says so.
TABLE_SETTINGS = ("epochs", "patience", "class_weight")

_MESSAGE_LEVELS = {
    "finished": "success",
    "stopped": "info",
    "interrupted": "warning",
    "diverged": "error",
    "failed": "error",
}


@dataclass
class Session:
    """What one browser tab works on, and the workspace it keeps it in."""

    token: str
    store: WorkspaceStore
    table_id: str | None = None
    frame: pd.DataFrame | None = None
    dataset_name: str | None = None
    data_version: int = 0  # changes with the table: keys the caches below
    upload_error: str | None = None
    target: str | None = None
    task: str | None = None  # the task the user chose, or None for the inferred one
    target_info: TargetInfo | None = None
    spec: ModelSpec | None = None
    settings_template: ModelSpec | None = None
    # Settings chosen for another table that the spec carries: (name, carried, default here).
    carried: tuple[tuple[str, Any, Any], ...] = ()
    following: str | None = None  # the run the Train page follows
    open_run: str | None = None  # the run the Results page shows
    train_message: tuple[str, str] | None = None
    notices: list[str] = field(default_factory=list)
    profiles: tuple | None = None
    summary: tuple | None = None
    memory: tuple | None = None
    opened: dict[str, TrainedModel] = field(default_factory=dict)
    caches: dict[str, dict] = field(default_factory=dict)
    saved: str | None = None  # the settings last written, to write only changes

    def settings(self) -> dict[str, Any]:
        """The choices that are kept in the workspace, as plain values."""
        return {
            "table_id": self.table_id,
            "target": self.target,
            "task": self.task,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "template": None
            if self.settings_template is None
            else self.settings_template.to_dict(),
            "following": self.following,
            "open_run": self.open_run,
        }


# --------------------------------------------------------------------------- the session


def session() -> Session:
    """This tab's session: the one already made, or the workspace named in the URL, or a new one.

    An unknown or malformed token gets a fresh workspace and a notice that says so;
    nobody can reach a workspace without its token. A new workspace is made on disk
    by the first thing saved in it, not by the visit.
    """
    from layerlab.runs import workspaces
    from layerlab.runs.store import is_workspace

    workspaces.tidy_if_due()  # at server start, then every half hour, in the background
    current = st.session_state.get(SESSION_KEY)
    asked = st.query_params.get(TOKEN_PARAM)
    if current is not None and asked in (None, current.token):
        if current.store.is_pending or is_workspace(current.store.folder):
            _keep_token_in_url(current)
            return current
        asked = current.token  # deleted meanwhile, in another tab: say so below
        forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")
    store = workspaces.open_workspace(asked) if asked else None
    if store is not None:
        current = _restore(asked, store)
    else:
        token, store = workspaces.create_workspace()
        current = Session(token, store)
        if asked:
            current.notices.append(
                "No workspace has the address you opened: the link is incomplete, or the "
                "workspace was deleted. This is a new, empty workspace; it gets its own "
                "address in the address bar once you load a table."
            )
    st.session_state[SESSION_KEY] = current
    _keep_token_in_url(current)
    return current


def _keep_token_in_url(current: Session) -> None:
    """Streamlit clears the query string on a page switch; put the workspace's token back.

    A workspace not on disk yet has no address: a reload of it starts afresh, as it
    would find nothing saved.
    """
    if current.store.is_pending:
        if TOKEN_PARAM in st.query_params:
            del st.query_params[TOKEN_PARAM]
    elif st.query_params.get(TOKEN_PARAM) != current.token:
        st.query_params[TOKEN_PARAM] = current.token


def _restore(token: str, store: WorkspaceStore) -> Session:
    """A session that continues where the workspace was left, also after a server restart."""
    restored = Session(token, store)
    settings = session_settings(store.get_setting("session"))  # each field of its type, or left out
    table_id = settings.get("table_id")
    table = store.table(table_id) if table_id else None
    if table is not None:
        try:
            restored.frame = _read_table(store, table_id)
        except LayerlabError:
            restored.frame = None
        if restored.frame is not None:
            restored.table_id, restored.dataset_name = table_id, table.name
            restored.data_version = 1
            restored.target = settings.get("target")
            restored.task = settings.get("task")
            restored.spec = _spec_or_none(settings.get("spec"))
            restored.settings_template = _spec_or_none(settings.get("template"))
            restored.target_info = _checked_target(restored)
    restored.following = settings.get("following")
    restored.open_run = settings.get("open_run")
    # On a full disk opening still reads; the runs are recovered at a later open.
    with contextlib.suppress(WorkspaceFull):
        shared_manager().recover(store, lambda table: _read_table(store, table))
        # An uploaded workspace's runs get their bundles, made here (never taken from it).
        shared_manager().rebuild_uploaded(store, lambda table: _read_table(store, table))
    restored.saved = _settings_json(restored)
    return restored


def _read_table(store: WorkspaceStore, table_id: str) -> pd.DataFrame:
    from layerlab.tabular.reading import read_csv

    return read_csv(store.table_bytes(table_id), max_bytes=None)


def _spec_or_none(values: dict | None) -> ModelSpec | None:
    if not values:
        return None
    try:
        return ModelSpec.from_dict(values)
    except LayerlabError:
        return None


def _checked_target(restored: Session) -> TargetInfo | None:
    from layerlab.tabular.task import check_target

    if restored.target is None or restored.frame is None:
        return None
    if restored.target not in restored.frame.columns:
        return None
    try:
        return check_target(restored.frame, restored.target, restored.task)
    except LayerlabError:
        return None


def _settings_json(current: Session) -> str:
    import json

    return json.dumps(current.settings(), sort_keys=True, default=str)


def save() -> None:
    """Write this tab's choices to its workspace, when they changed (called after every run)."""
    current = st.session_state.get(SESSION_KEY)
    if current is None:
        return
    now = _settings_json(current)
    if now != current.saved and (not current.store.is_pending or any(current.settings().values())):
        try:
            current.store.set_setting("session", current.settings())
        except WorkspaceFull as full:
            notify(str(full))  # the server is full: said once, tried again at the next change
        except WorkspaceError:
            return  # the workspace was deleted from another tab; the next run says so
    current.saved = now
    _keep_token_in_url(current)  # a workspace made by this run gets its address now


# --------------------------------------------------------------------------- widgets


def seed(key: str, value: Any) -> None:
    """Give a widget its canonical value unless it already holds one of its own."""
    if key not in st.session_state:
        st.session_state[key] = value


def forget(*keys: str, prefix: str | None = None) -> None:
    """Drop widget values, so the widgets are seeded again from the canonical state."""
    names = set(keys)
    if prefix is not None:
        names |= {key for key in st.session_state if str(key).startswith(prefix)}
    for key in names:
        if key in st.session_state:
            del st.session_state[key]


def notify(text: str) -> None:
    session().notices.append(text)


def pop_notices() -> list[str]:
    current = session()
    notices, current.notices = current.notices, []
    return notices


# --------------------------------------------------------------------------- the workspace


def store() -> WorkspaceStore:
    return session().store


def token() -> str:
    return session().token


def workspace_name() -> str:
    return store().name


def rename_workspace(name: str) -> None:
    store().rename(name)


def new_workspace() -> None:
    """Start an empty workspace in this tab; the old one stays at its own address."""
    from layerlab.runs import workspaces

    new_token, new_store = workspaces.create_workspace()
    _switch_to(Session(new_token, new_store))


def delete_workspace() -> None:
    """Delete this workspace and all its files (runs are stopped first); start a fresh one."""
    current = session()
    manager = shared_manager()
    for run_id in manager.active_ids(current.store):
        manager.stop(current.store, run_id)
    current.store.delete()
    new_workspace()
    notify("The workspace was deleted, with its tables, runs and files. This one is new.")


def import_workspace(upload: Any) -> None:
    """Open an uploaded workspace file (binary, read where it is) as a new workspace (a new
    address) in this tab."""
    from layerlab.runs import workspaces

    new_token, new_store = workspaces.import_workspace(upload)
    _switch_to(_restore(new_token, new_store))


def _switch_to(replacement: Session) -> None:
    forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")
    st.session_state[SESSION_KEY] = replacement
    _keep_token_in_url(replacement)


# --------------------------------------------------------------------------- dataset


def frame() -> pd.DataFrame | None:
    return session().frame


def dataset_name() -> str | None:
    return session().dataset_name


def table_id() -> str | None:
    return session().table_id


def load_dataset(
    data: pd.DataFrame, name: str, target: str | None = None, *, raw: bytes | None = None
) -> None:
    """Make ``data`` the dataset and keep its file (``raw``) in the workspace.

    Runs of earlier tables stay in the workspace; what depended on the previous
    table in this tab (target, spec, summaries) starts over.
    """
    current = session()
    if raw is None:
        raw = data.to_csv(index=False).encode()
    table = current.store.add_table(name, raw, rows=len(data), columns=data.shape[1])
    if current.spec is not None:
        current.settings_template = current.spec
    current.table_id, current.frame, current.dataset_name = table.id, data, name
    current.open_run = _newest_kept_run(table.id)  # the open run is always one of this table
    current.data_version += 1
    current.upload_error = None
    current.target = target if target in data.columns else None
    current.task = current.target_info = current.spec = None
    current.profiles = current.summary = current.memory = None
    forget(*DATA_WIDGETS)


def set_upload_error(message: str | None) -> None:
    session().upload_error = message


def upload_error() -> str | None:
    return session().upload_error


# --------------------------------------------------------------------------- target and task


def target() -> str | None:
    return session().target


def task() -> str | None:
    """The task the user chose, or None to use the inferred one."""
    return session().task


def choose_target(column: str | None) -> None:
    current = session()
    if column == current.target:
        return
    _start_over_roles(current)
    current.target, current.task = column, None
    forget("task_override", "feature_columns")


def choose_task(new_task: str) -> None:
    current = session()
    _start_over_roles(current)
    current.task = new_task
    forget("feature_columns")


def _start_over_roles(current: Session) -> None:
    if current.spec is not None:
        current.settings_template = current.spec
    current.spec = current.target_info = current.summary = current.memory = None


def set_target_info(info: TargetInfo | None) -> None:
    session().target_info = info


def target_info() -> TargetInfo | None:
    return session().target_info


def profiles(target_column: str) -> list[ColumnProfile]:
    """Column profiles for the current dataset and target, computed once per pair (in a
    worker for a large table, see ``layerlab.runs.profiling``)."""
    current = session()
    key = (current.data_version, target_column)
    if current.profiles is None or current.profiles[0] != key:
        current.profiles = (key, profile_table(current.frame, target_column))
    return current.profiles[1]


# --------------------------------------------------------------------------- spec


def spec() -> ModelSpec | None:
    return session().spec


def set_spec(new_spec: ModelSpec) -> None:
    session().spec = new_spec


def ensure_spec(target_column: str, task_name: str, column_profiles: list) -> ModelSpec:
    """The spec for this target and task: the current one, or a fresh default one that keeps
    the network and training settings the user already chose."""
    current = spec()
    if current is not None and (current.target, current.task) == (target_column, task_name):
        return current
    default = default_spec(target_column, task_name, column_profiles)
    template = session().settings_template
    fresh = default if template is None else carry_settings(template, default)
    session().carried = tuple(
        (name, getattr(fresh, name), getattr(default, name))
        for name in TABLE_SETTINGS
        if getattr(fresh, name) != getattr(default, name)
    )
    set_spec(fresh)
    return fresh


def carried_settings() -> tuple[tuple[str, Any, Any], ...]:
    """The table-specific settings this table's spec carried from another table's:
    (name, the value carried, this table's default), while they are as they were carried."""
    current = session()
    if current.spec is None:
        return ()
    return tuple(entry for entry in current.carried if getattr(current.spec, entry[0]) == entry[1])


def reset_carried() -> None:
    """Put the carried table-specific settings back to this table's defaults."""
    current = session()
    defaults = {name: default for name, _, default in carried_settings()}
    if defaults:
        current.spec = current.spec.replace(**defaults)
        current.summary = current.memory = None
    current.carried = ()
    forget(*SPEC_WIDGETS, prefix="layer_")


def carry_settings(template: ModelSpec, fresh: ModelSpec) -> ModelSpec:
    """``fresh`` with the network and training settings of ``template``.

    Class weights and label smoothing mean nothing for a number, so a regression target
    starts without them.
    """
    carried = {name: getattr(template, name) for name in CARRIED_SETTINGS}
    if fresh.task == "regression":
        carried["class_weight"] = "none"
        carried["label_smoothing"] = 0.0
    elif template.task == "regression":  # from a number to classes: the class default
        carried["label_smoothing"] = fresh.label_smoothing
    return fresh.replace(**carried)


def spec_problems(candidate: ModelSpec | None) -> list[str]:
    from layerlab.schema.errors import SpecError

    if candidate is None:
        return []
    try:
        candidate.validate()
    except SpecError as error:
        return error.problems
    return []


def _summary_key(candidate: ModelSpec) -> tuple:
    return (session().data_version, candidate.to_json())


def model_summary(candidate: ModelSpec) -> ModelSummary | None:
    """The summary built earlier for exactly this data and spec, if any."""
    cached = session().summary
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1]
    return None


def memory_verdict(candidate: ModelSpec) -> tuple[MemoryEstimate, str | None]:
    """The memory a run of ``candidate`` needs on this data, and the refusal if it does not fit.

    The same check runs again in the worker before training; this one is for the Model
    page, so the person sees it while choosing. Cached per data and spec (it reads every
    column's distinct values).
    """
    from layerlab.schema.errors import TrainingError
    from layerlab.tabular.memory import check_memory, estimate_training_memory

    current = session()
    if current.memory is not None and current.memory[0] == _summary_key(candidate):
        return current.memory[1]
    try:
        verdict = (check_memory(candidate, frame()), None)
    except TrainingError as refusal:
        verdict = (estimate_training_memory(candidate, frame()), str(refusal))
    current.memory = (_summary_key(candidate), verdict)
    return verdict


def build_model_summary(candidate: ModelSpec) -> ModelSummary:
    """Build the network as training would, in a worker process, and keep its summary."""
    summary = quick_pool().run("summary", frame(), candidate)
    session().summary = (_summary_key(candidate), summary)
    return summary


# --------------------------------------------------------------------------- training


def start_training() -> None:
    """Start a run of the current spec on the current table, in the background.

    The run is the server's: page switches, clicks, reloads and closing the tab
    do not stop it; only ``request_stop`` does. Its record is in the workspace
    from this moment on, as queued.
    """
    from layerlab.report.records import RunRecord

    if is_training():
        return
    current = session()
    table = current.store.table(current.table_id)
    record = RunRecord(
        id=current.store.new_run_id(),
        name=_run_name(current.store, current.spec),
        created=time.time(),
        spec=current.spec,
        table_id=current.table_id,
        data_fingerprint=table.fingerprint if table is not None else "",
    )
    current.train_message = None
    st.session_state.pop(FIX_DONE_KEY, None)
    try:
        shared_manager().start(current.store, record, current.frame)
    except WorkspaceError as error:
        current.train_message = ("error", str(error))
        return
    current.following = record.id
    save()


def _run_name(workspace: WorkspaceStore, candidate: ModelSpec) -> str:
    """``Run 7: 64 relu → 32 relu``, numbered on from the workspace's last run (never reused)."""
    from layerlab.report.run_table import network_line

    number = workspace.next_number("runs_started")
    return f"Run {number}: {network_line(candidate)}"


def following() -> RunRecord | None:
    """The record of the run this tab follows (started here, or before a reload)."""
    current = session()
    return current.store.run(current.following) if current.following else None


def training_job() -> Job | None:
    """The live job of the followed run, while this server trains it."""
    current = session()
    if current.following is None:
        return None
    return shared_manager().live(current.store, current.following)


def live_job(run_id: str) -> Job | None:
    """The live job of any run of this workspace that this server trains now."""
    return shared_manager().live(store(), run_id)


def is_training() -> bool:
    """Whether this tab follows a run that has not been kept yet (queued, training, or just
    ending)."""
    return session().following is not None


def request_stop() -> None:
    job = training_job()
    if job is not None:
        job.stop()


def stop_run(run_id: str) -> None:
    shared_manager().stop(store(), run_id)


def adopt_finished_run() -> None:
    """Once the followed run has ended and been kept, open it and say how it ended
    (called on every script run)."""
    current = session()
    if current.following is None:
        return
    record = current.store.run(current.following)
    if record is None:
        current.following = None
        return
    if record.active:
        return  # its record is still being written, or another process trains it
    current.following = None
    level = _MESSAGE_LEVELS.get(record.status, "info")
    current.train_message = (level, record.error or record.message or "Training ended.")
    if record.files.get("model") and record.table_id == current.table_id:
        open_run(record.id)  # a run of another table waits on the Runs page, not switching


def set_train_message(level: str, text: str) -> None:
    session().train_message = (level, text)


def train_message() -> tuple[str, str] | None:
    return session().train_message


# --------------------------------------------------------------------------- runs


def runs() -> list[RunRecord]:
    return store().runs()


def open_run(run_id: str | None) -> None:
    """Show ``run_id`` on the Results page (and as the last run on the Train page), with its
    table as this tab's table, so the sidebar and every page speak of the same rows. A run
    whose table is gone from the workspace opens on the table this tab has."""
    current = session()
    record = current.store.run(run_id) if run_id is not None else None
    if record is not None and record.table_id != current.table_id:
        with contextlib.suppress(LayerlabError):
            _work_on_runs_table(record, "open the run")
            current.spec = record.spec
            forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")
    current.open_run = run_id


def _newest_kept_run(table_id: str) -> str | None:
    """The newest run of ``table_id`` that has a model to open, if any."""
    kept = [
        record
        for record in session().store.runs()
        if record.table_id == table_id and not record.active and "model" in record.files
    ]
    return max(kept, key=lambda record: record.created).id if kept else None


def open_run_id() -> str | None:
    return session().open_run


def open_record() -> RunRecord | None:
    current = session()
    return current.store.run(current.open_run) if current.open_run else None


def result() -> TrainedModel | None:
    """The open run, loaded from its files once per session, or None if it has no model."""
    current = session()
    run_id = current.open_run
    if run_id is None:
        return None
    if run_id not in current.opened:
        record = current.store.run(run_id)
        try:
            trained = (
                TrainedModel.from_record(record, current.store.folder)
                if record is not None
                else None
            )
        except (ValueError, OSError, LayerlabError):
            current.open_run = None
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
    return trained is not None and trained.spec == spec()


def result_cache() -> dict:
    """A dict that lives exactly as long as the open run stays loaded (evaluation, downloads)."""
    current = session()
    return current.caches.setdefault(current.open_run or "", {})


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
    if record.table_id == current.table_id:
        return current.frame
    if current.store.table(record.table_id) is None:
        return None
    return for_result(
        ("table", record.table_id), lambda: _read_table(current.store, record.table_id)
    )


def run_splits(run_id: str, spec: ModelSpec):
    """The train / validation / test splits of a run of this workspace, recomputed from its
    table (the split is seeded); a ``LayerlabError`` when that table is gone."""
    from layerlab.tabular.task import drop_missing_target

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
    return run_splits(session().open_run, result().spec).train


def test_rows() -> pd.DataFrame:
    """The test split of the open run."""
    return run_splits(session().open_run, result().spec).test


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
    from layerlab.tabular.effects import predictions_from_scored, rows_fingerprint

    kept = trained.opening_predictions().get(view)
    if kept is not None and kept[0] == rows_fingerprint(rows):
        return kept[1]
    return predictions_from_scored(predict_with(trained, rows), trained.spec, trained.classes)


def predict(rows: pd.DataFrame) -> pd.DataFrame:
    """The open run's predictions for ``rows``, computed in a worker process."""
    return predict_with(result(), rows)


def _work_on_runs_table(record: RunRecord, then: str) -> None:
    """Make the table ``record`` trained on this tab's table (read again when another one is
    loaded), with its target and task: the one path by which editing a copy of a run and
    fixing it pick their table, so the next run trains on the rows its settings are for.
    ``then`` ends the message when that table is gone ("edit a copy")."""
    current = session()
    if record.table_id and record.table_id != current.table_id:
        table = current.store.table(record.table_id)
        if table is None:
            raise LayerlabError(
                "The table this run trained on is no longer in the workspace; load it again on "
                f"the Data page, then {then}."
            )
        data = _read_table(current.store, record.table_id)
        load_dataset(data, table.name, record.spec.target, raw=current.store.table_bytes(table.id))
    current.target, current.task = record.spec.target, record.spec.task
    current.target_info = _checked_target(current)
    current.summary = current.memory = None
    current.carried = ()  # the run's own settings, chosen for its table


def edit_copy(run_id: str) -> None:
    """Load a run's settings (and its table, if another one is loaded) for a new run."""
    current = session()
    record = current.store.run(run_id)
    if record is None:
        return
    _work_on_runs_table(record, "edit a copy")
    current.spec = record.spec
    forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")


def apply_fix(run_id: str | None, base: ModelSpec, finding) -> None:
    """Make the change a diagnosis suggests (``finding``, a ``diagnosis.Diagnosis``) on a copy
    of ``base``, the settings of run ``run_id``, and make it the spec to train next, on that
    run's table (loaded again if this tab has moved on to another one)."""
    from layerlab.report.diagnosis import apply_action
    from layerlab.schema.numbers import readable_number

    current = session()
    record = current.store.run(run_id) if run_id is not None else None
    if record is not None:
        try:
            _work_on_runs_table(record, "try the fix again")
        except LayerlabError as error:
            notify(str(error))
            return
    changed = apply_action(base, finding)
    current.spec = changed
    current.summary = current.memory = None
    forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")
    st.session_state[FIX_DONE_KEY] = (
        f"{finding.action_label}: done on a copy of this run's settings, now "
        f"{changed.describe()} with learning rate {readable_number(changed.learning_rate)}. "
        "Press Train to try it; this run is kept as it is."
    )
    save()


def fix_done() -> str | None:
    """What the last diagnosis button changed, to confirm it next to the diagnosis."""
    return st.session_state.get(FIX_DONE_KEY)


def choose_run(run_id: str) -> None:
    """Mark one run as the chosen model (and no other)."""
    workspace = store()
    for record in workspace.runs():
        if record.chosen != (record.id == run_id):
            workspace.update_run(record.id, chosen=record.id == run_id)


def delete_runs(run_ids: list[str]) -> None:
    """Delete runs with their files; a run that still trains is stopped first."""
    current = session()
    manager = shared_manager()
    for run_id in run_ids:
        manager.stop(current.store, run_id)
        current.store.delete_run(run_id)
        current.opened.pop(run_id, None)
        current.caches.pop(run_id, None)
        if current.open_run == run_id:
            current.open_run = None
        if current.following == run_id:
            current.following = None
