"""The app's searches: each runs on the server, for one workspace, with every trial a run.

A search (``layerlab.runs.search.Search``) or a capacity ladder
(``layerlab.runs.capacity.CapacityLadder``) started from the app belongs to the server,
as its runs do (``layerlab.runs.background``): a page switch, a reload or closing the tab
does not stop it; only Stop does. Its trials are runs of the workspace
(``WorkspaceTrials``), so they show in the Runs table as they train.

What a search is and how it went is kept in the workspace, as the setting
``searches`` (one entry per search, newest last), and a search's Optuna study in a
SQLite file beside the runs (``searches/<id>.db``), so its figures and its best
trial are still there after a reload or a server restart. A search that was
running when the server stopped reads as *interrupted*; its finished trials are
kept, as runs and in its study.

On a shared server a search is held to caps (``job_limits``): at most
``LAYERLAB_SEARCH_MAX_TRIALS`` trials, asked for more is refused before it starts,
and at most ``LAYERLAB_SEARCH_MAX_MINUTES`` minutes, after which it is stopped as
Stop would, its finished trials kept.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from layerlab.runs import job_limits
from layerlab.runs.background import RunManager, owner_alive, shared_manager, this_process
from layerlab.runs.capacity import CapacityLadder, LadderStep
from layerlab.runs.search import Search
from layerlab.runs.search_settings import SearchSettings
from layerlab.runs.search_space import SearchSpace
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.study import best_row
from layerlab.runs.tasks import BackgroundTask
from layerlab.runs.trials import WorkspaceTrials
from layerlab.runs.workspace_paths import new_id
from layerlab.schema.errors import LayerlabError, SpecError, WorkspaceError
from layerlab.schema.spec import ModelSpec

if TYPE_CHECKING:
    import optuna

SETTING = "searches"
KINDS = ("search", "capacity")


@dataclass
class SearchEntry:
    """What the workspace keeps of one search: what it searched and how it went."""

    id: str
    kind: str  # search, capacity
    label: str  # "Search 2", shown in its trials' run names
    created: float
    base_spec: dict[str, Any]
    settings: dict[str, Any]
    space: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # running, finished, stopped, failed, interrupted
    message: str = ""
    owner: str = ""
    ladder: list[dict[str, Any]] = field(default_factory=list)  # capacity steps so far
    noise: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchEntry:
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)

    @property
    def running(self) -> bool:
        return self.status == "running"


def within_caps(settings: SearchSettings) -> SearchSettings:
    """``settings`` held to this server's search caps: asking for more trials or minutes than
    they allow is refused (``SpecError``, one problem each); a search with only a budget of
    minutes gets the cap's number of trials as well."""
    settings = settings.validate()
    most_trials, most_minutes = job_limits.search_max_trials(), job_limits.search_max_minutes()
    problems = []
    if most_trials and settings.trials is not None and settings.trials > most_trials:
        problems.append(
            f"This server runs at most {most_trials:,} trials per search; you asked for "
            f"{settings.trials:,}. Ask for {most_trials:,} or fewer (whoever runs the server sets "
            f"the cap with {job_limits.SEARCH_MAX_TRIALS_ENV})."
        )
    if most_minutes and settings.minutes is not None and settings.minutes > most_minutes:
        problems.append(
            f"This server runs a search for at most {job_limits.minutes_text(most_minutes)}; "
            f"you asked for {job_limits.minutes_text(settings.minutes)}. Ask for "
            f"{most_minutes:,g} or fewer (whoever runs the server sets the cap with "
            f"{job_limits.SEARCH_MAX_MINUTES_ENV})."
        )
    if problems:
        raise SpecError(problems, settings="search settings")
    if most_trials and settings.trials is None:
        settings = dataclasses.replace(settings, trials=most_trials)
    return settings


def study_path(store: WorkspaceStore, search_id: str) -> Path:
    return store.folder / "searches" / f"{search_id}.db"


def study_url(store: WorkspaceStore, search_id: str) -> str:
    return f"sqlite:///{study_path(store, search_id)}"


class SearchBoard:
    """Starts searches for workspaces and keeps their entries up to date as they run."""

    def __init__(self, manager: RunManager | None = None) -> None:
        self._manager = manager
        self._live: dict[tuple[str, str], BackgroundTask] = {}
        self._lock = threading.Lock()

    @property
    def manager(self) -> RunManager:

        return self._manager if self._manager is not None else shared_manager()

    # ------------------------------------------------------------ reading
    def entries(self, store: WorkspaceStore) -> list[SearchEntry]:
        """Every search of the workspace, oldest first; one whose server is gone reads as
        interrupted."""
        entries = [SearchEntry.from_dict(values) for values in store.get_setting(SETTING, [])]
        for entry in entries:
            gone = not entry.owner or not owner_alive(entry.owner)
            if entry.running and self.live(store, entry.id) is None and gone:
                entry.status = "interrupted"
                entry.message = "The server stopped while it ran; its finished trials are kept."
        return entries

    def entry(self, store: WorkspaceStore, search_id: str) -> SearchEntry | None:
        return next((each for each in self.entries(store) if each.id == search_id), None)

    def latest(self, store: WorkspaceStore) -> SearchEntry | None:
        entries = self.entries(store)
        return entries[-1] if entries else None

    def live(self, store: WorkspaceStore, search_id: str) -> BackgroundTask | None:
        with self._lock:
            task = self._live.get((str(store.folder), search_id))
        return task if task is not None and task.running else None

    def study(self, store: WorkspaceStore, search_id: str) -> optuna.Study | None:
        """The search's Optuna study, read from its file (None for a ladder, or when gone)."""
        import optuna  # loaded when a search is shown, not with every page

        task = self.live(store, search_id)
        if task is not None and hasattr(task, "study"):
            return task.study
        if not study_path(store, search_id).exists():
            return None
        names = optuna.get_all_study_names(storage=study_url(store, search_id))
        if not names:
            return None
        return optuna.load_study(study_name=names[0], storage=study_url(store, search_id))

    def best_spec(self, store: WorkspaceStore, search_id: str) -> ModelSpec | None:
        """The best trial's spec (a search), or the ladder's chosen step's (a capacity ladder)."""
        entry = self.entry(store, search_id)
        if entry is None:
            return None
        if entry.kind == "capacity":
            chosen = [step for step in entry.ladder if step.get("chosen")]
            return ModelSpec.from_dict(chosen[0]["spec"]) if chosen else None
        study = self.study(store, search_id)
        best = best_row(study) if study is not None else None
        return best.spec if best is not None else None

    # ------------------------------------------------------------ running
    def start(
        self,
        store: WorkspaceStore,
        frame: pd.DataFrame,
        *,
        table_id: str,
        fingerprint: str,
        base_spec: ModelSpec,
        settings: SearchSettings,
        space: SearchSpace | None = None,
        kind: str = "search",
    ) -> SearchEntry:
        """Start a search (``space`` given) or a capacity ladder on ``frame`` in the background.

        ``LayerlabError`` (a bad space or settings, settings past the server's caps, a full
        workspace, a search still running here) comes back before anything starts.
        """
        if kind not in KINDS:
            raise LayerlabError(f"A search is one of {', '.join(KINDS)}; got {kind!r}.")
        running = [each for each in self.entries(store) if each.running]
        if running:
            raise LayerlabError(
                f"{running[-1].label} is still running in this workspace. Stop it first, or "
                "wait for it to end."
            )
        settings = within_caps(settings)
        store.check_room()
        number = store.next_number("searches_started")  # one transaction: never repeated
        label = f"{'Search' if kind == 'search' else 'Capacity'} {number}"
        search_id = new_id()
        runner = WorkspaceTrials(self.manager, store, table_id, fingerprint, label=label)
        if kind == "search":
            if space is None:
                raise LayerlabError("A search needs a space: tick at least one setting to vary.")
            study_path(store, search_id).parent.mkdir(parents=True, exist_ok=True)
            task: BackgroundTask = Search(
                runner,
                frame,
                space,
                base_spec,
                settings,
                storage=study_url(store, search_id),
                study_name=label,
                data_fingerprint=fingerprint,
            )
        else:
            task = CapacityLadder(runner, frame, base_spec, settings)
        entry = SearchEntry(
            id=search_id,
            kind=kind,
            label=label,
            created=time.time(),
            base_spec=base_spec.to_dict(),
            settings=settings.__dict__ | {},
            space=space.to_dict() if space is not None else {},
            owner=this_process(),
        )
        self._write(store, entry)
        key = (str(store.folder), search_id)
        with self._lock:
            self._live[key] = task
        listener = self._ladder_listener(store, search_id) if kind == "capacity" else None
        task.start(listener)
        # A search with minutes of its own ends itself within them (the cap allows no more).
        cap = job_limits.search_max_minutes()
        own_minutes = settings.minutes is not None and kind == "search"
        threading.Thread(
            target=self._follow,
            args=(store, search_id, task, None if own_minutes or not cap else cap),
            daemon=True,
            name="layerlab-search",
        ).start()
        return entry

    def stop(self, store: WorkspaceStore, search_id: str) -> None:
        """End a search: nothing new starts; its running trials are stopped and kept."""
        task = self.live(store, search_id)
        if task is not None:
            task.stop()

    def _follow(
        self,
        store: WorkspaceStore,
        search_id: str,
        task: BackgroundTask,
        cap_minutes: float | None = None,
    ) -> None:
        """Wait for the task (stopping it after ``cap_minutes``, the server's cap), then write
        how it ended into its entry."""
        capped = cap_minutes is not None and not task.wait(60 * cap_minutes)
        if capped:
            task.stop()
        task.wait()
        if task.error is not None:
            status, message = "failed", str(task.error)
        elif capped:
            status = "stopped"
            message = (
                f"Stopped at this server's limit of {job_limits.minutes_text(cap_minutes)} per "
                "search; every finished trial is kept."
            )
        elif task.stopping:
            status, message = "stopped", "Stopped; every finished trial is kept."
        else:
            status, message = "finished", ""
        if getattr(task, "noise", None) is not None:
            self._update(store, search_id, noise=task.noise)
        if status in ("finished", "stopped") and hasattr(task, "steps"):
            self._mark_chosen(store, search_id, task)
        self._update(store, search_id, status=status, message=message)
        with self._lock:
            self._live.pop((str(store.folder), search_id), None)

    def _ladder_listener(self, store: WorkspaceStore, search_id: str):
        def heard(step: LadderStep) -> None:
            entry = self._entry_as_stored(store, search_id)
            if entry is not None:
                self._update(store, search_id, ladder=[*entry.ladder, _step_dict(step)])

        return heard

    def _mark_chosen(self, store: WorkspaceStore, search_id: str, ladder: Any) -> None:
        """The ladder steps back to the best step that beat the one before it by the noise."""
        improved = [step for step in ladder.steps if step.improved]
        chosen = improved[-1] if improved else (ladder.steps[0] if ladder.steps else None)
        entry = self._entry_as_stored(store, search_id)
        if entry is None or chosen is None:
            return
        steps = [dict(each, chosen=each["step"] == chosen.step) for each in entry.ladder]
        self._update(store, search_id, ladder=steps)

    # ------------------------------------------------------------ the setting
    _write_lock = threading.Lock()

    def _entry_as_stored(self, store: WorkspaceStore, search_id: str) -> SearchEntry | None:
        for values in store.get_setting(SETTING, []):
            if values.get("id") == search_id:
                return SearchEntry.from_dict(values)
        return None

    def _write(self, store: WorkspaceStore, entry: SearchEntry) -> None:
        with self._write_lock:
            entries = [each for each in store.get_setting(SETTING, []) if each["id"] != entry.id]
            store.set_setting(SETTING, [*entries, entry.to_dict()])

    def _update(self, store: WorkspaceStore, search_id: str, **changes: Any) -> None:

        with self._write_lock:
            try:
                entries = store.get_setting(SETTING, [])
                for values in entries:
                    if values.get("id") == search_id:
                        values.update(changes)
                store.set_setting(SETTING, entries)
            except WorkspaceError:  # the workspace was deleted while the search ran
                pass


def _step_dict(step: LadderStep) -> dict[str, Any]:
    return {**step.row(), "spec": step.spec.to_dict()}


_shared: SearchBoard | None = None
_shared_lock = threading.Lock()


def shared_board() -> SearchBoard:
    """The process-wide search board the app uses."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SearchBoard()
        return _shared
