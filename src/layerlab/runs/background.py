"""Runs that train in the background: owned by the server, kept in their workspace.

A ``RunManager`` is server-wide (one per process, like the worker pool it feeds).
Starting a run puts its record in the workspace as *queued* and hands the
training to a worker; a watcher thread then copies what the worker reports into
the workspace as it happens (status, each epoch, the checkpoint's epoch) and,
when the run ends, its outcome and files. So a page switch, a click, a reload or
a closed tab never touches a run; only ``stop`` does, and whoever opens the
workspace later, in any session, finds the run as it stands.

The live ``Job`` is still there for the session that follows a run: its events
are in memory the moment the worker sends them, so the chart does not wait for
the database.

A run whose process went away (a server restart, a crash) is found by
``recover``: it is marked *interrupted*, and a worker rebuilds it from the best
weights saved while it trained, so it can still be opened and downloaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from layerlab.report.records import RunRecord, leak_suspect_to_dict
from layerlab.report.run_files import RUN_FILES
from layerlab.report.run_messages import COMPLETING_SENTENCE, STOP_REASONS
from layerlab.runs.pool_job import COMPLETE, Job, WorkerBug
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workers import WorkerPool, shared_pool
from layerlab.runs.workspace_paths import is_workspace
from layerlab.schema.errors import LayerlabError, WorkspaceFull
from layerlab.schema.run_events import CheckpointSaved, EpochEnd
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import RunStatus, StopReason

# How often a watcher looks for new events while its run trains.
WATCH_SECONDS = 0.2

_OUTCOME_STATUS = {
    "completed": "finished",
    "early_stopping": "finished",
    "stopped": "stopped",
    "diverged": "diverged",
}


def prepared_key(spec: ModelSpec, fingerprint: str, jit: bool) -> str:
    """What names a run compiled ahead of its Train click: the spec, the table's content and
    whether XLA compiles it, the three things that decide what is compiled."""
    text = f"{spec.to_json()}\0{fingerprint}\0{jit}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def outcome_status(stop_reason: str) -> str:
    """A run's status from why its training ended."""
    return _OUTCOME_STATUS.get(stop_reason, "finished")


def this_process() -> str:
    """Who owns a run while it trains: ``host:pid:start`` of the process that started it.

    The start time (where the system tells it) tells this process from a later one that
    was given the same pid, as happens after a restart in a container.
    """
    return _owner(os.getpid())


def _owner(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_started(pid)}"


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def owner_alive(owner: str | None) -> bool:
    """Whether the process named by ``owner`` still runs (on this host; another host's is
    taken to be alive, since it cannot be checked from here)."""
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid, _ = parts
    if host != socket.gethostname():
        return True
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _owner(int(pid)) == owner


@dataclass
class LiveRun:
    """A run this server trains now: its job and the workspace it writes to."""

    store: WorkspaceStore
    run_id: str
    job: Job


class RunManager:
    """Starts runs in the worker pool and keeps their records up to date as they train."""

    def __init__(self, pool: WorkerPool | None = None) -> None:
        self._pool = pool
        self._live: dict[tuple[str, str], LiveRun] = {}
        self._lock = threading.Lock()

    @property
    def pool(self) -> WorkerPool:
        return self._pool if self._pool is not None else shared_pool()

    def start(
        self,
        store: WorkspaceStore,
        record: RunRecord,
        frame: pd.DataFrame,
        *,
        jit: bool = True,
        insights: bool = True,
        prepared: bool = False,
    ) -> Job:
        """Queue ``record``'s run on ``frame``; its record is written at once as queued.

        ``jit`` and ``insights`` as in ``jobs.train_model`` (a search trial has neither:
        see ``trials.TRIAL_JIT``). ``prepared``: ``frame`` is the whole table of the
        record's fingerprint, so a run ``prepare`` compiled for it may be used."""
        store.check_room()
        record.status = "queued"
        record.owner = this_process()
        store.add_run(record)
        folder = store.run_folder(record.id)
        key = prepared_key(record.spec, record.data_fingerprint, jit) if prepared else None
        job = self.pool.submit(
            "train",
            frame,
            record.spec,
            str(folder),
            jit,
            insights,
            key,
            owner=str(store.folder),
            affinity=key,
        )
        self._watch(store, record.id, job, self._finish_training)
        return job

    def prepare(
        self, store: WorkspaceStore, spec: ModelSpec, fingerprint: str, frame: pd.DataFrame
    ) -> None:
        """Have an idle worker compile ``spec``'s run on ``frame`` (the table ``fingerprint``
        names) before Train is clicked (``WorkerPool.prepare``): the Train page asks while it
        shows a network that is not training."""
        key = prepared_key(spec, fingerprint, True)
        self.pool.prepare(frame, spec, key, True, owner=str(store.folder), key=key)

    def abandon_prepare(self, store: WorkspaceStore) -> None:
        """The Train page was left: drop this workspace's prepare that has not started."""
        self.pool.abandon_prepare(str(store.folder))

    def live(self, store: WorkspaceStore, run_id: str) -> Job | None:
        """The job of a run this server trains now (None once it has ended and been kept)."""
        with self._lock:
            live = self._live.get((str(store.folder), run_id))
        return live.job if live is not None else None

    def stop(self, store: WorkspaceStore, run_id: str) -> None:
        job = self.live(store, run_id)
        if job is not None:
            job.stop()

    def active_ids(self, store: WorkspaceStore) -> list[str]:
        with self._lock:
            return [live.run_id for key, live in self._live.items() if key[0] == str(store.folder)]

    def recover(self, store: WorkspaceStore, frame_of: Callable[[str], pd.DataFrame | None]) -> int:
        """Mark the runs whose trainer went away as interrupted and rebuild them from their
        checkpoints (``frame_of(table_id)`` gives the table they trained on). Returns how many."""
        found = 0
        for record in store.runs():
            if not record.active or self.live(store, record.id) is not None:
                continue
            if owner_alive(record.owner) and record.owner != this_process():
                continue  # another live process (the CLI, another server) trains it
            found += 1
            store.update_run(
                record.id,
                status="interrupted",
                finished=time.time(),
                message=(
                    "The server stopped while this run trained."
                    + (
                        f" Its best weights so far (epoch {record.checkpoint_epoch}) were saved."
                        if record.checkpoint_epoch
                        else " No weights had been saved yet."
                    )
                ),
            )
            frame = frame_of(record.table_id) if record.table_id else None
            if record.checkpoint_epoch and frame is not None:
                self._rebuild(store, store.run(record.id), frame)
        return found

    def rebuild_uploaded(
        self, store: WorkspaceStore, frame_of: Callable[[str], pd.DataFrame | None]
    ) -> int:
        """Have a worker make the derived files (bundle, train.py, model card, scores,
        pictures) of the runs an uploaded workspace brought with weights but without those
        (``layerlab.runs.archive`` never takes them from an upload). Returns how many it started.

        Called whenever a workspace is opened, so a rebuild cut off by a restart starts again.
        """
        started = 0
        for record in store.runs():
            if (
                record.active
                or record.kept_epoch is None
                or "model" not in record.files
                or "bundle" in record.files
                or record.error
                or self.live(store, record.id) is not None
            ):
                continue
            frame = frame_of(record.table_id) if record.table_id else None
            if frame is None:
                continue
            job = self.pool.submit(
                "rebuild",
                frame,
                record.spec,
                _run_facts(record),
                str(store.run_folder(record.id)),
                owner=str(store.folder),
            )
            self._watch(store, record.id, job, self._finish_rebuild)
            started += 1
        return started

    def complete_stopped(
        self, store: WorkspaceStore, frame_of: Callable[[str], pd.DataFrame | None]
    ) -> int:
        """Start the completion (``jobs.rebuild_files``) of the stopped runs kept without
        their baselines, importance and model card whose completion is not under way: one
        cut off by a restart starts again when its workspace is opened. Returns how many."""
        started = 0
        for record in store.runs():
            if not record.completing or record.active or self.live(store, record.id):
                continue
            frame = frame_of(record.table_id) if record.table_id else None
            if frame is None:
                store.update_run(record.id, completing=False, message=_plain(record.message))
                continue
            self._complete(store, record, frame)
            started += 1
        return started

    def _complete(self, store: WorkspaceStore, record: RunRecord, frame: pd.DataFrame) -> None:
        """Have a worker add what the stopped run was kept without."""
        facts = _run_facts(record) | {"message": _plain(record.message)}
        folder = str(store.run_folder(record.id))
        job = self.pool.submit(
            COMPLETE, frame, record.spec, facts, folder, False, owner=str(store.folder)
        )
        self._watch(store, record.id, job, self._finish_completion)

    # ------------------------------------------------------------------ watching

    def _watch(self, store, run_id, job, finish) -> None:
        with self._lock:
            self._live[(str(store.folder), run_id)] = LiveRun(store, run_id, job)
        threading.Thread(
            target=self._follow,
            args=(store, run_id, job, finish),
            name=f"layerlab-run-{run_id}",
            daemon=True,
        ).start()

    def _follow(self, store: WorkspaceStore, run_id: str, job: Job, finish) -> None:
        """Copy the job's events into the workspace until it ends, then keep its outcome."""
        seen = 0
        started = False
        try:
            while True:
                ended = job.wait(WATCH_SECONDS)
                events = job.events[seen:]
                seen += len(events)
                if not started and (events or job.status == "running"):
                    started = True
                    if finish == self._finish_training:  # a recovery keeps its status
                        store.update_run(run_id, status="training", started=time.time())
                self._record_events(store, run_id, events)
                if ended:
                    break
            finish(store, run_id, job)
        except Exception as error:  # the run or its workspace went away, or a bug
            job.stop()
            job.wait(60)
            self._fail_quietly(store, run_id, f"Keeping this run failed: {error}")
        finally:
            _discard_if_gone(store, run_id)
            key = (str(store.folder), run_id)
            with self._lock:
                if key in self._live and self._live[key].job is job:  # not its rebuild's
                    del self._live[key]

    @staticmethod
    def _record_events(store: WorkspaceStore, run_id: str, events: list) -> None:
        """Write one tick's events: the new epochs in one go, then the best and saved epochs."""
        epochs = [
            {"epoch": event.epoch, **event.metrics}
            for event in events
            if isinstance(event, EpochEnd)
        ]
        if epochs:
            store.append_epochs(run_id, epochs)
        fields = {}
        for event in events:
            if isinstance(event, EpochEnd):
                fields["best_epoch"] = event.best_epoch
            elif isinstance(event, CheckpointSaved):
                fields["checkpoint_epoch"] = event.epoch
                fields["refitted"] = event.refitted  # whose network the checkpoint holds
        if "checkpoint_epoch" in fields:
            fields["files"] = _files_on_disk(store, run_id)
        if fields:
            store.update_run(run_id, **fields)

    def _finish_training(self, store: WorkspaceStore, run_id: str, job: Job) -> None:
        now = time.time()
        if job.status == "cancelled":
            store.update_run(
                run_id,
                status="stopped",
                finished=now,
                message="Training was stopped before it started.",
            )
            return
        try:
            trained = job.outcome()
        except (LayerlabError, WorkerBug) as error:
            self._fail_quietly(store, run_id, _failure_text(error))
            record = store.run(run_id)
            if record is not None and record.checkpoint_epoch:
                self._rebuild(store, record, job.args[0])  # keep what it had
            return
        if job.stopped_by_limit is not None and trained.stop_reason == StopReason.STOPPED:
            message = _limit_message(trained.message, job.stopped_by_limit)
            trained = dataclasses.replace(trained, message=message)
        keep_run(store, run_id, trained, outcome_status(trained.stop_reason))
        record = store.run(run_id)
        if trained.completes_later and record is not None:
            self._complete(store, record, job.args[0])

    def _finish_completion(self, store: WorkspaceStore, run_id: str, job: Job) -> None:
        """A stopped run with everything a finished one has: its scores against every
        baseline, importance, model card and bundle; its message without "being worked out"."""
        record = store.run(run_id)
        if record is None:
            return
        plain = _plain(record.message)
        if job.status == "cancelled":
            store.update_run(
                run_id,
                completing=False,
                message=f"{plain} It was stopped again before its baselines, importance and "
                "model card were worked out.",
            )
            return
        try:
            trained = job.outcome()
        except (LayerlabError, WorkerBug) as error:
            store.update_run(
                run_id,
                completing=False,
                message=f"{plain} Its baselines, importance and model card could not be "
                f"worked out: {_failure_text(error)}",
            )
            return
        store.update_run(
            run_id,
            **_rebuilt_fields(store, run_id, trained),
            message=trained.message,
            completing=False,
        )

    def _rebuild(self, store: WorkspaceStore, record: RunRecord, frame: pd.DataFrame) -> None:
        """Make a model, scores and a bundle from the best weights a lost run saved."""
        job = self.pool.submit(
            "finish",
            frame,
            record.spec,
            record.history,
            record.checkpoint_epoch,
            str(store.run_folder(record.id)),
            record.refitted,
            owner=str(store.folder),
        )
        self._watch(store, record.id, job, self._finish_recovery)

    def _finish_recovery(self, store: WorkspaceStore, run_id: str, job: Job) -> None:
        try:
            trained = job.outcome()
        except (LayerlabError, WorkerBug) as error:
            store.update_run(
                run_id, error=f"Its saved weights could not be restored: {_failure_text(error)}"
            )
            return
        keep_run(store, run_id, trained, store.run(run_id).status)

    def _finish_rebuild(self, store: WorkspaceStore, run_id: str, job: Job) -> None:
        """An uploaded run with the files Layerlab made for it: its record keeps its own
        time, words and epochs; its scores are those worked out here."""
        try:
            trained = job.outcome()
        except (LayerlabError, WorkerBug) as error:
            store.update_run(
                run_id,
                error=f"Its download bundle could not be made again: {_failure_text(error)}",
            )
            return
        store.update_run(run_id, **_rebuilt_fields(store, run_id, trained))

    @staticmethod
    def _fail_quietly(store: WorkspaceStore, run_id: str, reason: str) -> None:
        # An error here means the workspace itself is gone (deleted while the run trained).
        with contextlib.suppress(Exception):
            store.update_run(run_id, status="failed", finished=time.time(), error=reason)


def keep_run(store: WorkspaceStore, run_id: str, trained, status: str) -> None:
    """Write a trained run's outcome into its record (its files are already in its folder).

    ``status`` is how it ended: finished, stopped or diverged; or interrupted or failed, for
    a run rebuilt from its checkpoint (then the record keeps its own time and words).
    """
    fields = {
        "status": status,
        "best_epoch": trained.best_epoch,
        "kept_epoch": trained.kept_epoch,
        "stop_reason": trained.stop_reason,
        "engine": trained.engine,
        "rows": trained.rows,
        "classes": tuple(trained.classes),
        "metrics": _metrics(trained),
        "params": trained.summary.params,
        "completing": trained.completes_later,
        "refitted": trained.refitted,
    }
    if status not in (
        RunStatus.INTERRUPTED,
        RunStatus.FAILED,
    ):  # a rebuilt run keeps its own time and words
        fields |= {"seconds": trained.seconds, "finished": time.time()}
        fields["message"] = trained.message
        # The epochs came as events already; this makes sure none was missed.
        store.append_epochs(run_id, list(trained.history))
    # One write, so whoever sees the run ended also sees its files.
    store.update_run(run_id, files=_files_on_disk(store, run_id), **fields)
    try:
        store.check_room()
    except WorkspaceFull as full:
        store.update_run(run_id, error=str(full))


def _run_facts(record: RunRecord) -> dict:
    """What a rebuild of ``record``'s files needs from it (``jobs.rebuild_files``)."""
    return {
        "history": record.history,
        "best_epoch": record.best_epoch,
        "kept_epoch": record.kept_epoch,
        "stop_reason": record.stop_reason,
        "message": record.message,
        "seconds": record.seconds,
        "engine": record.engine,
        "refitted": record.refitted,
    }


def _rebuilt_fields(store: WorkspaceStore, run_id: str, trained) -> dict:
    """What a run's record takes from its files made again: the files, scores and size."""
    return {
        "files": _files_on_disk(store, run_id),
        "metrics": _metrics(trained),
        "params": trained.summary.params,
    }


def _plain(message: str | None) -> str:
    """A stopped run's message without "being worked out"."""
    return (message or "").removesuffix(COMPLETING_SENTENCE)


def _metrics(trained) -> dict:
    """A trained run's scores as its record keeps them."""
    metrics = trained.evaluation.to_dict() if trained.evaluation is not None else {}
    if trained.leak_suspect is not None:
        metrics["leak_suspect"] = leak_suspect_to_dict(trained.leak_suspect)
    if trained.naive_val_loss is not None:
        metrics["naive_val_loss"] = trained.naive_val_loss
    return metrics


def _discard_if_gone(store: WorkspaceStore, run_id: str) -> None:
    """A run deleted while it trained (or its whole workspace) leaves no files behind: the
    worker wrote them after the deletion."""
    if not is_workspace(store.folder):
        shutil.rmtree(store.folder, ignore_errors=True)
    elif store.run(run_id) is None:
        shutil.rmtree(store.folder / "runs" / run_id, ignore_errors=True)


def _files_on_disk(store: WorkspaceStore, run_id: str) -> dict[str, str]:
    """The run's files (written by the worker) that are on disk, by role, relative to the
    workspace."""
    folder = store.run_folder(run_id)
    return {
        role: str((folder / name).relative_to(store.folder))
        for role, name in RUN_FILES.items()
        if (folder / name).is_file()
    }


def _limit_message(message: str, limit_sentence: str) -> str:
    """The trainer's words for a run the time limit stopped: the limit's sentence in place of
    "stopped on request" (the rest, such as which weights are kept, stays)."""
    on_request = STOP_REASONS["stopped"]
    if on_request in message:
        return message.replace(on_request, limit_sentence)
    return f"{limit_sentence} {message}".strip()


def _failure_text(error: Exception) -> str:
    if isinstance(error, WorkerBug):
        last = str(error).strip().splitlines()[-1:] or ["unknown error"]
        return f"Training failed because of a bug in Layerlab ({last[0]}). Please report it."
    return str(error)


_shared: RunManager | None = None
_shared_lock = threading.Lock()


def shared_manager() -> RunManager:
    """The process-wide run manager the app uses."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RunManager()
        return _shared
