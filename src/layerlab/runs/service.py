"""One workspace's truth: its tables, runs and searches change only through the operations here.

The app, the CLI and the tests name an operation (add a table, start a run, start or stop a
search, stop, choose, delete, edit a copy, apply a fix, recover) instead of writing the store
themselves, so a rule such as "a run is opened on its own table" or "run names never repeat"
is written once. What a browser tab looks at is a ``Focus``: plain values (which table, target, task,
spec, which run it follows and which it shows) that an operation takes and returns anew,
so a tab keeps nothing an operation has not decided.

The store's own writes are each one transaction (``store.next_number`` names a run,
``store.choose_run`` marks one chosen, ``store.add_run`` records it); an operation here
is a sequence of those, ordered so that a failure midway leaves no half-made record (at most
a run number skipped, never reused).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from layerlab.report.diagnosis import Diagnosis, apply_action
from layerlab.report.records import RunRecord, TableRecord
from layerlab.report.run_table import network_line
from layerlab.runs.archive_settings import session_settings
from layerlab.runs.background import RunManager, shared_manager, this_process
from layerlab.runs.search_board import SearchBoard, SearchEntry, shared_board
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import LayerlabError, WorkspaceFull
from layerlab.schema.spec import ModelSpec, default_spec
from layerlab.schema.vocabulary import Task
from layerlab.tabular import reading

if TYPE_CHECKING:
    from layerlab.runs.search_settings import SearchSettings
    from layerlab.runs.search_space import SearchSpace

# The workspace setting that keeps what a tab last looked at, for the next visit.
FOCUS_SETTING = "session"
# The counter that numbers runs ("Run 7: ..."), one transaction per number.
RUN_COUNTER = "runs_started"

# Network and training settings a new spec carries from the last one the person shaped.
CARRIED_SETTINGS = tuple(
    spec_field.name
    for spec_field in dataclasses.fields(ModelSpec)
    if spec_field.name not in ("target", "task", "features", "output_activation", "loss")
)
# Settings chosen for one table's rows that may mean little on another's: carried, and said.
TABLE_SETTINGS = ("epochs", "patience", "class_weight")


@dataclass(frozen=True)
class Focus:
    """What one tab looks at, as plain values; every operation returns a new one."""

    table_id: str | None = None
    target: str | None = None
    task: str | None = None  # the task the person chose, or None for the inferred one
    spec: ModelSpec | None = None
    # The spec last shaped on another target or table: a new spec starts from its settings.
    template: ModelSpec | None = None
    # Table settings the spec carries from another table: (name, carried, default here).
    carried: tuple[tuple[str, Any, Any], ...] = ()
    following: str | None = None  # the run the Train page follows
    open_run: str | None = None  # the run the Results page shows

    def replace(self, **changes: Any) -> Focus:
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """What is kept in the workspace for the next visit, as plain values."""
        return {
            "table_id": self.table_id,
            "target": self.target,
            "task": self.task,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "template": None if self.template is None else self.template.to_dict(),
            "following": self.following,
            "open_run": self.open_run,
        }

    def carried_now(self) -> tuple[tuple[str, Any, Any], ...]:
        """The carried table settings the spec still holds as they were carried."""
        if self.spec is None:
            return ()
        return tuple(entry for entry in self.carried if getattr(self.spec, entry[0]) == entry[1])


def carry_settings(template: ModelSpec, fresh: ModelSpec) -> ModelSpec:
    """``fresh`` with the network and training settings of ``template``.

    Class weights and label smoothing mean nothing for a number, so a regression target
    starts without them.
    """
    carried = {name: getattr(template, name) for name in CARRIED_SETTINGS}
    if fresh.task == Task.REGRESSION:
        carried["class_weight"] = "none"
        carried["label_smoothing"] = 0.0
    elif template.task == Task.REGRESSION:  # from a number to classes: the class default
        carried["label_smoothing"] = fresh.label_smoothing
    return fresh.replace(**carried)


def _spec_or_none(values: dict | None) -> ModelSpec | None:
    if not values:
        return None
    try:
        return ModelSpec.from_dict(values)
    except LayerlabError:
        return None


class WorkspaceService:
    """The named operations on one workspace; ``manager`` trains its runs in the background."""

    def __init__(
        self,
        store: WorkspaceStore,
        manager: RunManager | None = None,
        board: SearchBoard | None = None,
    ) -> None:
        self.store = store
        self._manager = manager
        self._board = board

    @property
    def manager(self) -> RunManager:
        return self._manager if self._manager is not None else shared_manager()

    @property
    def board(self) -> SearchBoard:
        return self._board if self._board is not None else shared_board()

    # ------------------------------------------------------------------ tables

    def read_table(self, table_id: str) -> pd.DataFrame:
        """A kept table, read by the same rules as an upload (its size was checked then)."""
        return reading.read_table(self.store.table_bytes(table_id), max_bytes=None)

    def add_table(
        self, focus: Focus, data: pd.DataFrame, name: str, raw: bytes, target: str | None = None
    ) -> Focus:
        """Keep a table and look at it: its newest kept run opens; the target, task and spec
        start over, with the settings shaped so far as the template of the next spec."""
        table = self.store.add_table(name, raw, rows=len(data), columns=data.shape[1])
        return Focus(
            table_id=table.id,
            target=target if target in data.columns else None,
            template=focus.spec if focus.spec is not None else focus.template,
            following=focus.following,
            open_run=self.newest_kept_run(table.id),
        )

    def table(self, table_id: str | None) -> TableRecord | None:
        return self.store.table(table_id) if table_id else None

    def newest_kept_run(self, table_id: str) -> str | None:
        """The newest run of ``table_id`` that has a model to open, if any."""
        kept = [
            record
            for record in self.store.runs()
            if record.table_id == table_id and not record.active and "model" in record.files
        ]
        return max(kept, key=lambda record: record.created).id if kept else None

    # ------------------------------------------------------------------ target, task and spec

    @staticmethod
    def choose_target(focus: Focus, column: str | None) -> Focus:
        if column == focus.target:
            return focus
        return _start_over_roles(focus).replace(target=column, task=None)

    @staticmethod
    def choose_task(focus: Focus, task: str) -> Focus:
        return _start_over_roles(focus).replace(task=task)

    @staticmethod
    def ensure_spec(focus: Focus, target: str, task: str, profiles: list) -> Focus:
        """A spec for this target and task: the current one, or a fresh default that keeps the
        network and training settings already chosen, naming the table settings it carried."""
        if focus.spec is not None and (focus.spec.target, focus.spec.task) == (target, task):
            return focus
        default = default_spec(target, task, profiles)
        fresh = default if focus.template is None else carry_settings(focus.template, default)
        carried = tuple(
            (name, getattr(fresh, name), getattr(default, name))
            for name in TABLE_SETTINGS
            if getattr(fresh, name) != getattr(default, name)
        )
        return focus.replace(spec=fresh, carried=carried)

    @staticmethod
    def reset_carried(focus: Focus) -> Focus:
        """The carried table settings back to this table's defaults."""
        defaults = {name: default for name, _, default in focus.carried_now()}
        spec = focus.spec.replace(**defaults) if defaults else focus.spec
        return focus.replace(spec=spec, carried=())

    # ------------------------------------------------------------------ runs

    def run_name(self, spec: ModelSpec) -> str:
        """``Run 7: 64 relu → 32 relu``, numbered on from the workspace's last run (one
        transaction, so two tabs never get the same number, and a number is never reused)."""
        return f"Run {self.store.next_number(RUN_COUNTER)}: {network_line(spec)}"

    def new_run(self, spec: ModelSpec, table_id: str | None, **fields: Any) -> RunRecord:
        """A named record of a run of ``spec`` on ``table_id``, not yet kept anywhere."""
        table = self.table(table_id)
        return RunRecord(
            id=self.store.new_run_id(),
            name=self.run_name(spec),
            created=time.time(),
            spec=spec,
            table_id=table_id,
            data_fingerprint=table.fingerprint if table is not None else "",
            **fields,
        )

    def start_run(self, focus: Focus, data: pd.DataFrame) -> tuple[Focus, RunRecord]:
        """Queue a run of the focus's spec on its table in the background and follow it.

        The run is the server's: only ``stop`` ends it. Raises ``WorkspaceError`` (a full
        workspace or server) with nothing recorded.
        """
        record = self.new_run(focus.spec, focus.table_id)
        self.manager.start(self.store, record, data, prepared=bool(record.data_fingerprint))
        return focus.replace(following=record.id), record

    def prepare_run(self, focus: Focus, data: pd.DataFrame) -> None:
        """Compile the focus's network on its table ahead of Train, in an idle worker
        (``RunManager.prepare``); nothing when the table is not kept."""
        table = self.table(focus.table_id)
        if table is not None and table.fingerprint and focus.spec is not None:
            self.manager.prepare(self.store, focus.spec, table.fingerprint, data)

    def abandon_prepare(self) -> None:
        self.manager.abandon_prepare(self.store)

    def start_local_run(self, data: pd.DataFrame, name: str, raw: bytes, spec: ModelSpec):
        """Keep a table and the record of a run that this process trains itself (the CLI's
        ``--workspace``), as training from now on."""
        table = self.store.add_table(name, raw, rows=len(data), columns=data.shape[1])
        now = time.time()
        record = self.new_run(spec, table.id, status="training", started=now, owner=this_process())
        self.store.add_run(record)
        return record

    def stop(self, run_id: str) -> None:
        """Ask a run this server trains to stop; its best weights are kept."""
        self.manager.stop(self.store, run_id)

    def choose(self, run_id: str) -> None:
        """Mark one run as the chosen model, and no other, in one transaction."""
        self.store.choose_run(run_id)

    def delete_runs(self, focus: Focus, run_ids: list[str]) -> Focus:
        """Delete runs with their files; a run that still trains is stopped first."""
        for run_id in run_ids:
            self.manager.stop(self.store, run_id)
            self.store.delete_run(run_id)
        gone = set(run_ids)
        return focus.replace(
            open_run=None if focus.open_run in gone else focus.open_run,
            following=None if focus.following in gone else focus.following,
        )

    def adopt_finished(self, focus: Focus) -> tuple[Focus, RunRecord | None]:
        """Once the followed run has ended and been kept: stop following it, and open it when it
        is of the table looked at (a run of another table waits on the Runs page). Returns the
        ended run's record, or None while it still runs."""
        if focus.following is None:
            return focus, None
        record = self.store.run(focus.following)
        if record is None:
            return focus.replace(following=None), None
        if record.active:
            return focus, None
        focus = focus.replace(following=None)
        if record.files.get("model") and record.table_id == focus.table_id:
            focus = focus.replace(open_run=record.id)
        return focus, record

    # ------------------------------------------------------------------ searches

    def start_search(
        self,
        focus: Focus,
        data: pd.DataFrame,
        settings: SearchSettings,
        space: SearchSpace | None = None,
    ) -> SearchEntry:
        """Start a search (``space`` given) or a capacity ladder from the focus's spec on its
        table, in the background; ``LayerlabError`` when its settings or the room refuse."""
        table = self.table(focus.table_id)
        return self.board.start(
            self.store,
            data,
            table_id=focus.table_id or "",
            fingerprint=table.fingerprint if table is not None else "",
            base_spec=focus.spec,
            settings=settings,
            space=space,
            kind="search" if space is not None else "capacity",
        )

    def stop_search(self, search_id: str) -> None:
        """End a search: nothing new starts; its running trials are stopped and kept."""
        self.board.stop(self.store, search_id)

    # ------------------------------------------------------------------ a run and its table

    def focus_on_run(self, focus: Focus, record: RunRecord, then: str) -> Focus:
        """Look at ``record``'s table, target and task, with its settings as the spec: the one
        path by which opening, editing a copy and fixing a run pick their table, so the next
        run trains on the rows its settings are for. ``then`` ends the message when that
        table is gone from the workspace ("edit a copy")."""
        table_id = record.table_id or focus.table_id
        moving = record.table_id and record.table_id != focus.table_id
        if moving and self.table(record.table_id) is None:
            raise LayerlabError(
                "The table this run trained on is no longer in the workspace; load it "
                f"again on the Data page, then {then}."
            )
        template = focus.spec if focus.spec is not None else focus.template
        return focus.replace(
            table_id=table_id,
            target=record.spec.target,
            task=record.spec.task,
            spec=record.spec,
            template=template,
            carried=(),  # the run's own settings, chosen for its table
        )

    def open_run(self, focus: Focus, run_id: str | None) -> Focus:
        """Show ``run_id``, with its table as the one looked at. A run whose table is gone
        opens on the table looked at."""
        record = self.store.run(run_id) if run_id is not None else None
        if record is not None and record.table_id != focus.table_id:
            with contextlib.suppress(LayerlabError):
                focus = self.focus_on_run(focus, record, "open the run")
        return focus.replace(open_run=run_id)

    def edit_copy(self, focus: Focus, run_id: str) -> Focus:
        """A run's settings (and its table) as the spec of the next run."""
        record = self.store.run(run_id)
        if record is None:
            return focus
        return self.focus_on_run(focus, record, "edit a copy")

    def apply_fix(
        self, focus: Focus, run_id: str | None, base: ModelSpec, finding: Diagnosis
    ) -> Focus:
        """The change a diagnosis suggests, made on a copy of ``base`` (the settings of run
        ``run_id``), as the spec to train next on that run's table."""
        record = self.store.run(run_id) if run_id is not None else None
        if record is not None:
            focus = self.focus_on_run(focus, record, "try the fix again")
        return focus.replace(spec=apply_action(base, finding), carried=())

    # ------------------------------------------------------------------ the workspace

    def restore_focus(self) -> tuple[Focus, pd.DataFrame | None]:
        """What a tab last looked at in this workspace, with its table read again; a table
        that is gone or unreadable, or a target no longer in it, is left out."""
        settings = session_settings(self.store.get_setting(FOCUS_SETTING))
        focus = Focus(following=settings.get("following"), open_run=settings.get("open_run"))
        table_id = settings.get("table_id")
        data = None
        if self.table(table_id) is not None:
            with contextlib.suppress(LayerlabError):
                data = self.read_table(table_id)
        if data is not None:
            target = settings.get("target")
            focus = focus.replace(
                table_id=table_id,
                target=target if target in data.columns else None,
                task=settings.get("task") if target in data.columns else None,
                spec=_spec_or_none(settings.get("spec")),
                template=_spec_or_none(settings.get("template")),
            )
        return focus, data

    def save_focus(self, focus: Focus) -> None:
        self.store.set_setting(FOCUS_SETTING, focus.settings())

    def recover(self) -> None:
        """Runs whose trainer went away are marked and resumed from their checkpoints, and an
        uploaded workspace's runs get their bundles made here (never taken from the upload).
        On a full disk this waits for a later visit."""
        with contextlib.suppress(WorkspaceFull):
            self.manager.recover(self.store, self._table_or_none)
            self.manager.rebuild_uploaded(self.store, self._table_or_none)
            self.manager.complete_stopped(self.store, self._table_or_none)

    def _table_or_none(self, table_id: str) -> pd.DataFrame | None:
        if self.table(table_id) is None:
            return None
        return self.read_table(table_id)

    def delete_workspace(self) -> None:
        """Stop its runs, then delete the workspace with every file."""
        for run_id in self.manager.active_ids(self.store):
            self.manager.stop(self.store, run_id)
        self.store.delete()


def _start_over_roles(focus: Focus) -> Focus:
    """A new target or task: the spec starts over, from the settings shaped so far."""
    template = focus.spec if focus.spec is not None else focus.template
    return focus.replace(spec=None, template=template, carried=())
