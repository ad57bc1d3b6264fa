"""A job for the worker pool, as the server sees it while it waits, runs and ends.

Kept apart from the pool (``workers.py``) so that pages, the queue and the run manager
can follow a job without the pool's machinery.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layerlab.schema.errors import LayerlabError

if TYPE_CHECKING:
    from layerlab.runs.job_queue import WaitReason
    from layerlab.runs.workers import WorkerPool

JOB_LABELS = {
    "train": "training run",
    "summary": "network summary",
    "finish": "recovery of an interrupted run",
    "rebuild": "rebuild of an uploaded run's files",
    "predict": "scoring",
    "profile": "column profile",
    "prepare": "compiling of the network ahead of Train",
    "complete": "baselines, importance and model card of a stopped run",
}
# A job kind that only readies a worker for another job: never queued, never counted as a
# workspace's run, and run only on a worker that has nothing else to do (``WorkerPool.prepare``).
PREPARE = "prepare"
# The job kind that adds the slow parts of a run kept at once after Stop: the workspace's
# job in the queue, but not a run, and said so (``job_queue.WaitReason``).
COMPLETE = "complete"


class WorkerBug(RuntimeError):
    """A job failed with an error that is not the user's to fix: a bug, shown loudly."""


@dataclass(eq=False)
class Job:
    """One piece of work for a worker, as the app sees it while it waits, runs and ends.

    ``events`` grows while a training job runs (the trainer's ``EpochEnd`` and
    ``EpochProgress``); it is only ever appended to, so a reader may keep an
    index into it.
    """

    kind: str
    args: tuple
    owner: str | None = None  # the workspace it works for: one turn each in the queue
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"  # queued, running, done, failed, cancelled (stopped while queued)
    events: list[Any] = field(default_factory=list)
    value: Any = None
    error: LayerlabError | None = None
    bug: str | None = None
    stop_requested: bool = False
    # Set when the time limit stopped it: the sentence that says so, for its run's message.
    stopped_by_limit: str | None = None
    # A prepare job: the key of the run it compiles. Any other: the key of a run a worker may
    # have compiled for it (``WorkerPool.prepare``), so it goes to that worker.
    affinity: str | None = None
    _pool: WorkerPool | None = field(default=None, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def stop(self) -> None:
        """Ask the job to end: a queued job is dropped, a running one stops within a moment."""
        self.stop_requested = True
        if self._pool is not None:
            self._pool._stop(self)

    def ahead(self) -> int:
        """How many jobs are in line before this queued one, in the fair order (0 once it
        runs)."""
        reason = self.wait_reason()
        return reason.ahead if reason is not None else 0

    def wait_reason(self) -> WaitReason | None:
        """Why this job waits (its own workspace's other runs, or other people's), or None
        once it runs."""
        return self._pool._wait_reason(self) if self._pool is not None else None

    def waits_for_its_compile(self) -> bool:
        """A queued job whose network a worker compiles for it now (``WorkerPool.prepare``):
        it starts in that worker as soon as the compile ends."""
        return self._pool is not None and self.status == "queued" and self._pool._compiling(self)

    def outcome(self, timeout: float | None = None) -> Any:
        """The job's value; raises its ``LayerlabError``, or ``WorkerBug`` for a bug."""
        if not self.wait(timeout):
            raise TimeoutError(f"The {JOB_LABELS.get(self.kind, self.kind)} is still running.")
        if self.error is not None:
            raise self.error
        if self.bug is not None:
            raise WorkerBug(self.bug)
        return self.value

    def _end(self, status: str, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.status = status
        self._finished.set()
