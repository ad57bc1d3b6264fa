"""Per-tab state: what this browser tab looks at, under one ``st.session_state`` key.

Everything a person makes lives in their workspace on the server's disk, changed only
through the core's workspace service (``layerlab.runs.service``), addressed by the
unguessable token in the URL (``?ws=``). A tab keeps a ``Focus`` (which table, target,
task and spec, the run it follows and the run it shows), which every operation takes and
returns anew, plus caches of what it derives from them (the table's rows, profiles,
summaries); ``save()`` writes the focus back after every script run, and ``session()``
reads it back in a new tab, after a reload, or after a server restart.

Training belongs to the server, not to the tab (``layerlab.runs.background``): closing
the tab, reloading or clicking never stops a run; only Stop does.

Widgets keep their own values in ``st.session_state`` under their keys, as Streamlit
requires; they are seeded from the focus (``seed``) and forgotten (``forget``) when it
changes underneath them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from layerlab.report.run_files import TrainedModel
from layerlab.runs import workspaces
from layerlab.runs.pool_job import Job
from layerlab.runs.service import Focus, WorkspaceService
from layerlab.runs.workspace_paths import is_workspace
from layerlab.schema.errors import (
    LayerlabError,
    WorkspaceError,
    WorkspaceFull,
)
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.task import check_target

if TYPE_CHECKING:
    import pandas as pd

    from layerlab.report.diagnosis import Diagnosis
    from layerlab.report.records import RunRecord
    from layerlab.runs.store import WorkspaceStore
    from layerlab.tabular.task import TargetInfo

SESSION_KEY = "layerlab"
TOKEN_PARAM = "ws"

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
    "lr_plateau_factor",
    "restore_best_weights",
    "refit",
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

_MESSAGE_LEVELS = {
    "finished": "success",
    "stopped": "info",
    "interrupted": "warning",
    "diverged": "error",
    "failed": "error",
}


@dataclass
class Session:
    """What one browser tab looks at (``focus``), and what it derives from it, cached."""

    token: str
    service: WorkspaceService
    focus: Focus = field(default_factory=Focus)
    # The rows of ``focus.table_id``, read once per table; ``data_version`` keys the caches.
    frame: pd.DataFrame | None = None
    frame_table: str | None = None
    data_version: int = 0
    upload_error: str | None = None
    target_info: TargetInfo | None = None
    train_message: tuple[str, str] | None = None
    notices: list[str] = field(default_factory=list)
    profiles: tuple | None = None
    inputs: tuple | None = None  # the network's inputs per column (``spec_view``)
    summary: tuple | None = None
    memory: tuple | None = None
    opened: dict[str, TrainedModel] = field(default_factory=dict)
    caches: dict[str, dict] = field(default_factory=dict)
    saved: str | None = None  # the focus last written, to write only changes

    @property
    def store(self) -> WorkspaceStore:
        return self.service.store

    # What the focus says, read where a page or a test asks for it.
    spec = property(lambda self: self.focus.spec)
    target = property(lambda self: self.focus.target)
    task = property(lambda self: self.focus.task)
    table_id = property(lambda self: self.focus.table_id)
    open_run = property(lambda self: self.focus.open_run)
    following = property(lambda self: self.focus.following)
    carried = property(lambda self: self.focus.carried)

    @property
    def dataset_name(self) -> str | None:
        """The name of the table looked at, as the workspace keeps it."""
        table = self.service.table(self.focus.table_id)
        return table.name if table is not None else None

    def look_at(self, focus: Focus) -> None:
        """Take the focus an operation returned; what it changed is derived again."""
        before = self.focus
        self.focus = focus
        if focus.table_id != self.frame_table:
            self._read_frame()
        elif (focus.target, focus.task) != (before.target, before.task):
            self.target_info = _checked_target(self)
        if focus.spec != before.spec:
            self.summary = self.memory = None

    def _read_frame(self) -> None:
        table_id = self.focus.table_id
        self.frame = None
        if table_id is not None:
            try:
                self.frame = self.service.read_table(table_id)
            except LayerlabError:
                self.focus = Focus(following=self.focus.following)
        self.frame_table = self.focus.table_id
        self.data_version += 1
        self.profiles = self.inputs = self.summary = self.memory = None
        self.target_info = _checked_target(self)


# --------------------------------------------------------------------------- the session


def session() -> Session:
    """This tab's session: the one already made, or the workspace named in the URL, or a new one.

    An unknown or malformed token gets a fresh workspace and a notice that says so;
    nobody can reach a workspace without its token. A new workspace is made on disk
    by the first thing saved in it, not by the visit.
    """
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
        current = Session(token, WorkspaceService(store))
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
    service = WorkspaceService(store)
    focus, data = service.restore_focus()
    restored = Session(token, service, focus=focus, frame=data, frame_table=focus.table_id)
    restored.data_version = 1
    restored.target_info = _checked_target(restored)
    service.recover()
    restored.saved = _focus_json(restored)
    return restored


def _checked_target(current: Session) -> TargetInfo | None:
    target, data = current.focus.target, current.frame
    if target is None or data is None or target not in data.columns:
        return None
    try:
        return check_target(data, target, current.focus.task)
    except LayerlabError:
        return None


def _focus_json(current: Session) -> str:
    return json.dumps(current.focus.settings(), sort_keys=True, default=str)


def save() -> None:
    """Write this tab's focus to its workspace, when it changed (called after every run)."""
    current = st.session_state.get(SESSION_KEY)
    if current is None:
        return
    now = _focus_json(current)
    settings = current.focus.settings()
    if now != current.saved and (not current.store.is_pending or any(settings.values())):
        try:
            current.service.save_focus(current.focus)
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


def service() -> WorkspaceService:
    return session().service


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
    new_token, new_store = workspaces.create_workspace()
    _switch_to(Session(new_token, WorkspaceService(new_store)))


def delete_workspace() -> None:
    """Delete this workspace and all its files (runs are stopped first); start a fresh one."""
    service().delete_workspace()
    new_workspace()
    notify("The workspace was deleted, with its tables, runs and files. This one is new.")


def import_workspace(upload: Any) -> None:
    """Open an uploaded workspace file (binary, read where it is) as a new workspace (a new
    address) in this tab."""
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
    return session().focus.table_id


def load_dataset(
    data: pd.DataFrame, name: str, target: str | None = None, *, raw: bytes | None = None
) -> None:
    """Make ``data`` the table looked at and keep its file (``raw``) in the workspace.

    Runs of earlier tables stay in the workspace; what depended on the previous
    table in this tab (target, spec, summaries) starts over.
    """
    current = session()
    if raw is None:
        raw = data.to_csv(index=False).encode()
    focus = current.service.add_table(current.focus, data, name, raw, target)
    current.frame, current.frame_table = data, focus.table_id
    current.data_version += 1
    current.profiles = current.inputs = current.summary = current.memory = None
    current.upload_error = None
    current.focus = focus
    current.target_info = None  # the Data page checks the target it shows
    forget(*DATA_WIDGETS)


def set_upload_error(message: str | None) -> None:
    session().upload_error = message


def upload_error() -> str | None:
    return session().upload_error


# --------------------------------------------------------------------------- target and task


def target() -> str | None:
    return session().focus.target


def task() -> str | None:
    """The task the user chose, or None to use the inferred one."""
    return session().focus.task


def choose_target(column: str | None) -> None:
    current = session()
    if column == current.focus.target:
        return
    current.look_at(current.service.choose_target(current.focus, column))
    current.target_info = None
    forget("task_override", "feature_columns")


def choose_task(new_task: str) -> None:
    current = session()
    current.look_at(current.service.choose_task(current.focus, new_task))
    current.target_info = None
    forget("feature_columns")


def set_target_info(info: TargetInfo | None) -> None:
    session().target_info = info


def target_info() -> TargetInfo | None:
    return session().target_info


# --------------------------------------------------------------------------- spec


def spec() -> ModelSpec | None:
    return session().focus.spec


def set_spec(new_spec: ModelSpec) -> None:
    current = session()
    current.look_at(current.focus.replace(spec=new_spec))


def ensure_spec(target_column: str, task_name: str, column_profiles: list) -> ModelSpec:
    """The spec for this target and task: the current one, or a fresh default one that keeps
    the network and training settings the user already chose."""
    current = session()
    current.look_at(
        current.service.ensure_spec(current.focus, target_column, task_name, column_profiles)
    )
    return current.focus.spec


def carried_settings() -> tuple[tuple[str, Any, Any], ...]:
    """The table-specific settings this table's spec carried from another table's:
    (name, the value carried, this table's default), while they are as they were carried."""
    return session().focus.carried_now()


def reset_carried() -> None:
    """Put the carried table-specific settings back to this table's defaults."""
    current = session()
    current.look_at(current.service.reset_carried(current.focus))
    forget(*SPEC_WIDGETS, prefix="layer_")


# --------------------------------------------------------------------------- training


def start_training() -> None:
    """Start a run of the current spec on the current table, in the background.

    The run is the server's: page switches, clicks, reloads and closing the tab
    do not stop it; only ``request_stop`` does. Its record is in the workspace
    from this moment on, as queued.
    """
    if is_training():
        return
    current = session()
    current.train_message = None
    st.session_state.pop(FIX_DONE_KEY, None)
    try:
        focus, _ = current.service.start_run(current.focus, current.frame)
    except WorkspaceError as error:
        current.train_message = ("error", str(error))
        return
    current.look_at(focus)
    save()


def prepare_training() -> None:
    """Have an idle worker compile the current network on the current table now, so that
    Train starts stepping at once (``RunManager.prepare``); the Train page asks while it
    shows a network that is not training."""
    current = session()
    if current.frame is not None and current.frame_table == current.focus.table_id:
        current.service.prepare_run(current.focus, current.frame)


def abandon_prepare() -> None:
    """This tab left the Train page: a compile it asked for and that has not started is
    dropped."""
    session().service.abandon_prepare()


def following() -> RunRecord | None:
    """The record of the run this tab follows (started here, or before a reload)."""
    current = session()
    run_id = current.focus.following
    return current.store.run(run_id) if run_id else None


def training_job() -> Job | None:
    """The live job of the followed run, while this server trains it."""
    current = session()
    if current.focus.following is None:
        return None
    return current.service.manager.live(current.store, current.focus.following)


def live_job(run_id: str) -> Job | None:
    """The live job of any run of this workspace that this server trains now."""
    return service().manager.live(store(), run_id)


def is_training() -> bool:
    """Whether this tab follows a run that has not been kept yet (queued, training, or just
    ending)."""
    return session().focus.following is not None


def request_stop() -> None:
    job = training_job()
    if job is not None:
        job.stop()


def stop_run(run_id: str) -> None:
    service().stop(run_id)


def adopt_finished_run() -> None:
    """Once the followed run has ended and been kept, say how it ended (and open it when it is
    of this table); called on every script run."""
    current = session()
    focus, record = current.service.adopt_finished(current.focus)
    current.look_at(focus)
    if record is not None:
        level = _MESSAGE_LEVELS.get(record.status, "info")
        current.train_message = (level, record.error or record.message or "Training ended.")


def train_message() -> tuple[str, str] | None:
    return session().train_message


# --------------------------------------------------------------------------- runs


def runs() -> list[RunRecord]:
    return store().runs()


def open_run(run_id: str | None) -> None:
    """Show ``run_id`` on the Results page (and as the last run on the Train page), with its
    table as this tab's table, so the sidebar and every page speak of the same rows."""
    current = session()
    before = current.focus.table_id
    current.look_at(current.service.open_run(current.focus, run_id))
    if current.focus.table_id != before:
        forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")


def open_run_id() -> str | None:
    return session().focus.open_run


def open_record() -> RunRecord | None:
    current = session()
    run_id = current.focus.open_run
    return current.store.run(run_id) if run_id else None


def edit_copy(run_id: str) -> None:
    """Load a run's settings (and its table, if another one is loaded) for a new run."""
    current = session()
    current.look_at(current.service.edit_copy(current.focus, run_id))
    forget(*DATA_WIDGETS, *SPEC_WIDGETS, prefix="layer_")


def apply_fix(run_id: str | None, base: ModelSpec, finding: Diagnosis) -> None:
    """Make the change a diagnosis suggests on a copy of ``base``, the settings of run
    ``run_id``, and make it the spec to train next, on that run's table."""
    current = session()
    try:
        current.look_at(current.service.apply_fix(current.focus, run_id, base, finding))
    except LayerlabError as error:
        notify(str(error))
        return
    changed = current.focus.spec
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
    service().choose(run_id)


def delete_runs(run_ids: list[str]) -> None:
    """Delete runs with their files; a run that still trains is stopped first."""
    current = session()
    current.look_at(current.service.delete_runs(current.focus, run_ids))
    for run_id in run_ids:
        current.opened.pop(run_id, None)
        current.caches.pop(run_id, None)
