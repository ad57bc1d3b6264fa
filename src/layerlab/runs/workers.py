"""A small pool of worker processes that do all of the app's TensorFlow work.

Why processes, not threads in the Streamlit server:

- Two threads that import TensorFlow at once deadlock on its module locks or
  leave it half-registered, and every later training in that process fails.
  Each worker imports TensorFlow once, on its own, before it takes a job.
- Streamlit calls ``keras.backend.clear_session()`` after every script run of
  every session once Keras is imported, which resets Keras's name counters
  under a model being built in another session. The server process never
  imports Keras, so there is nothing for it to reset.
- A run that exhausts memory or crashes takes down only its worker: that run
  is marked failed with the reason, a fresh worker takes the next job, and
  nobody else notices. A worker that has grown large is replaced after its job,
  and one left idle for a while exits, so memory goes back to the machine.

Each worker runs one job at a time (``jobs.JOBS``), streams the trainer's
events back while it runs, and hears Stop. Jobs wait in their pool's queue, which
takes workspaces in turn (``job_queue.FairQueue``): one workspace's long runs never
hold every slot. ``Job.ahead()`` says how many are in line before one, and
``Job.wait_reason()`` why. While a job runs, its slot holds it to the server's
limits (``job_limits``): past its minutes it is stopped as Stop would, and a worker
that grows past its memory cap is ended. Training has its own pool
(``shared_pool``), short jobs another (``quick_pool``).

Two things make the first Train fast without costing anyone a run's time:
``warm_up`` starts a worker before any job (TensorFlow's import), and ``prepare``
has an idle worker compile the network the Train page shows, keyed by spec and
table; the training job of that key goes to that worker (``Job.affinity``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from layerlab.runs import job_limits
from layerlab.runs.job_queue import FairQueue, WaitReason
from layerlab.runs.pool_job import JOB_LABELS, PREPARE, Job
from layerlab.runs.worker_link import WorkerLink, death_message, rebuild_error
from layerlab.schema.errors import TrainingError
from layerlab.schema.run_events import StageReached
from layerlab.schema.settings import number_setting
from layerlab.schema.vocabulary import RunStage

WORKERS_ENV = "LAYERLAB_WORKERS"
RECYCLE_ENV = "LAYERLAB_WORKER_RECYCLE_MB"
# A worker holds about 500 MB once TensorFlow is imported; one that has grown past this after
# a job (a wide network leaves its memory with the allocator) is replaced by a fresh one.
DEFAULT_RECYCLE_MB = 1200
# A worker with nothing to do for this long exits; the next job starts a new one (a few seconds).
IDLE_SECONDS = 600.0
# A worker beyond the first one still up exits sooner: it only held memory for a burst of
# runs at once (each worker holds 650-900 MB), and the first one stays warm for the next.
EXTRA_IDLE_ENV = "LAYERLAB_EXTRA_WORKER_IDLE_SECONDS"
EXTRA_IDLE_SECONDS = 60.0
WARM_START_ENV = "LAYERLAB_WARM_START"
PRECOMPILE_ENV = "LAYERLAB_PRECOMPILE"
# How often a slot looks at its running job's minutes and its worker's memory.
WATCH_SECONDS = 0.25
# A job stopped by its time limit that has not ended this long after is ended with its worker.
STOP_GRACE_SECONDS = 30.0


def worker_count() -> int:
    """Workers in the shared pool: ``LAYERLAB_WORKERS``, or one per core this process may use."""
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    return int(
        number_setting(
            WORKERS_ENV,
            cores,
            what="a whole number of worker processes, 1 or more",
            example=2,
            least=1,
            whole=True,
            unset_words=" to use one worker per core",
        )
    )


def _extra_idle_seconds() -> float:
    return number_setting(
        EXTRA_IDLE_ENV,
        EXTRA_IDLE_SECONDS,
        what="a number of seconds, 0 or more",
        example=EXTRA_IDLE_SECONDS,
    )


def _recycle_bytes() -> int:
    megabytes = number_setting(
        RECYCLE_ENV,
        DEFAULT_RECYCLE_MB,
        what="a whole number of megabytes, 1 or more",
        example=DEFAULT_RECYCLE_MB,
        least=1,
        whole=True,
    )
    return int(megabytes) * 1024 * 1024


# A training worker yields the CPU to the Streamlit server and to the quick pool's worker
# when they want it: the pages of everyone on the server (a new tab, the live chart, a
# Stop click, a what-if) stay quick while runs train, and training loses only the little
# they use. The quick pool's worker keeps the server's own priority (0): its jobs are
# short, and a person waits for each.
TRAINING_NICENESS = 10


class _StartWorker:
    """What ``WorkerPool._take`` gives a slot that should start its worker with no job."""


START_WORKER = _StartWorker()


class WorkerPool:
    """``size`` worker processes, started when the first jobs arrive, fed from one fair queue.

    ``per_owner``, ``job_seconds`` and ``memory_bytes`` are the limits of
    ``job_limits`` (0: none); left out, they are read from the environment. Its workers
    run at ``niceness`` (``TRAINING_NICENESS`` unless said; 0: the server's priority).
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        recycle_bytes: int | None = None,
        idle_seconds: float = IDLE_SECONDS,
        extra_idle_seconds: float | None = None,
        per_owner: int | None = None,
        job_seconds: float | None = None,
        memory_bytes: int | None = None,
        niceness: int = TRAINING_NICENESS,
    ) -> None:
        self.size = size or worker_count()
        self.niceness = niceness
        self.recycle_bytes = recycle_bytes or _recycle_bytes()
        self.per_owner = job_limits.runs_per_workspace() if per_owner is None else per_owner
        self.job_seconds = job_limits.job_seconds() if job_seconds is None else job_seconds
        self.memory_bytes = (
            job_limits.worker_memory_bytes() if memory_bytes is None else memory_bytes
        )
        self.idle_seconds = idle_seconds
        self.extra_idle_seconds = min(
            idle_seconds,
            _extra_idle_seconds() if extra_idle_seconds is None else extra_idle_seconds,
        )
        self._queue = FairQueue(self.per_owner)
        self._changed = threading.Condition()
        self.closed = False
        self._warm_wanted = False  # ``warm_up`` asked for a worker before any job
        self._wanted_prepares: dict[str | None, Job] = {}  # ``prepare``'s, one per owner
        with self._changed:  # each slot's thread reads the others in ``_take``
            self._slots = [_Slot(self, number) for number in range(self.size)]

    def submit(
        self, kind: str, *args: Any, owner: str | None = None, affinity: str | None = None
    ) -> Job:
        """Queue ``jobs.JOBS[kind](context, *args)`` for ``owner`` (a workspace's key; None:
        a job of its own); the returned job tracks it. ``affinity``: the key of a prepared
        run (``prepare``) it should find in its worker."""
        if kind not in JOB_LABELS or kind == PREPARE:
            raise ValueError(f"Unknown job kind {kind!r}; known kinds are {sorted(JOB_LABELS)}.")
        job = Job(kind, args, owner=owner, affinity=affinity, _pool=self)
        with self._changed:
            if self.closed:
                raise RuntimeError("The worker pool is closed.")
            replaced = self._wanted_prepares.pop(owner, None)  # the real job comes first
            self._queue.add(job)
            self._changed.notify_all()  # every idle slot looks: one whose worker is up takes it
        if replaced is not None:
            replaced._end("cancelled")
        return job

    def warm_up(self) -> None:
        """Start one worker now, with no job, unless one is up or starting: the first Train
        of the day then finds TensorFlow imported (seconds on a small machine). A job that
        comes while it starts waits for it rather than starting a second one."""
        with self._changed:
            if self.closed or any(slot.warm() or slot.starting for slot in self._slots):
                return
            self._warm_wanted = True
            self._changed.notify_all()

    def prepare(self, *args: Any, owner: str, key: str) -> Job | None:
        """Have a worker compile the run ``key`` names (``jobs.prepare_run(context, *args)``)
        before its Train click, so that the training job of the same key, which goes to that
        worker, starts stepping at once; returns the prepare job, or None when one is not
        needed.

        It never costs anyone a run's time: it goes only to a worker that is up and idle
        while no job waits (it starts none), and it is not counted as ``owner``'s run. One
        per owner: a newer request replaces one not yet started, and a real job of the
        owner's drops it. Asked again for a key a worker holds or compiles, it does nothing.
        ``LAYERLAB_PRECOMPILE=0`` turns it off.
        """
        if os.environ.get(PRECOMPILE_ENV, "").strip() == "0":
            return None
        with self._changed:
            if self.closed or self._holder(key) is not None:
                return None
            wanted = self._wanted_prepares.get(owner)
            if wanted is not None and wanted.affinity == key:
                return wanted
            job = Job(PREPARE, args, owner=owner, affinity=key, _pool=self)
            self._wanted_prepares[owner] = job
            self._changed.notify_all()
        if wanted is not None:
            wanted._end("cancelled")
        return job

    def abandon_prepare(self, owner: str) -> None:
        """Drop ``owner``'s prepare that has not started (the person left the Train page)."""
        with self._changed:
            job = self._wanted_prepares.pop(owner, None)
        if job is not None:
            job._end("cancelled")

    def prepared_keys(self) -> list[str]:
        """The keys of the runs the workers hold compiled (for tests and the operator)."""
        with self._changed:
            return [slot.prepared for slot in self._slots if slot.prepared is not None]

    def run(self, kind: str, *args: Any, timeout: float | None = None) -> Any:
        """Submit and wait: the job's value, or its error raised here."""
        return self.submit(kind, *args).outcome(timeout)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and the operator)."""
        return [slot.worker.pid for slot in self._slots if slot.worker is not None]

    def close(self) -> None:
        """Cancel what waits, end the workers, and let the slot threads go."""
        with self._changed:
            self.closed = True
            waiting = [*self._queue.clear(), *self._wanted_prepares.values()]
            self._wanted_prepares.clear()
            self._changed.notify_all()
        for job in waiting:
            job._end("cancelled")
        for slot in self._slots:
            slot.close()

    # The slots' side.

    def _take(self, slot: _Slot) -> Job | _StartWorker | None:
        """The next job for ``slot``, ``START_WORKER`` when ``warm_up`` wants its worker
        started, or None when its worker should exit (or when closed).

        A slot with no worker up leaves a job to an idle slot whose worker is up, or to
        one starting its worker (it starts in milliseconds, a new one in seconds). A slot
        whose worker idles exits it after ``extra_idle_seconds`` while another worker is
        up, else after ``idle_seconds``; one worker of a pool that had work stays warm
        that long.
        """
        with self._changed:
            slot.idle = True
            try:
                idle_since = time.monotonic()
                while not self.closed:
                    if self._warm_wanted and not self._queue:
                        self._warm_wanted = False
                        if not slot.warm():
                            slot.starting = True
                            return START_WORKER
                    job = None
                    if self._queue and (slot.warm() or not self._warm_idle_slots(slot)):
                        if not self._left_to_its_holder(slot):
                            job = self._queue.take(self._running())
                    elif not self._queue and slot.warm():
                        job = self._prepare_for(slot)
                    if job is not None:
                        job.status = "running"
                        slot.job = job
                        if self._queue:  # the rest may go to the slots that left this one
                            self._changed.notify_all()
                        return job
                    others_up = sum(other.warm() for other in self._slots if other is not slot)
                    limit = self.extra_idle_seconds if others_up else self.idle_seconds
                    left = idle_since + limit - time.monotonic()
                    if left <= 0 and slot.warm():
                        slot.retiring = True  # seen by the other slots at once
                        return None
                    # a slot with no worker only waits for work
                    self._changed.wait(left if slot.warm() else None)
                return None
            finally:
                slot.idle = False

    def _left_to_its_holder(self, slot: _Slot) -> bool:
        """The next job's prepared run is held or being compiled by another worker, which
        takes the job once it is free (a compile ends within seconds)."""
        upcoming = self._queue.peek(self._running())
        if upcoming is None or upcoming.affinity is None or slot.prepared == upcoming.affinity:
            return False
        holder = self._holder(upcoming.affinity)
        return holder is not None and holder is not slot

    def _holder(self, key: str) -> _Slot | None:
        """The slot whose worker holds ``key``'s prepared run or compiles it now."""
        for slot in self._slots:
            compiling = slot.job is not None and slot.job.kind == PREPARE
            if (slot.prepared == key and slot.warm()) or (compiling and slot.job.affinity == key):
                return slot
        return None

    def _prepare_for(self, slot: _Slot) -> Job | None:
        """A wanted prepare for idle ``slot``, unless another idle worker suits it better: the
        one holding the same owner's last prepared run, then one holding none."""
        idle = [other for other in self._slots if other.idle and other.warm() and other.job is None]
        for owner, job in list(self._wanted_prepares.items()):
            best = min(idle, key=lambda other: other.prepare_rank(owner), default=slot)
            if best.prepare_rank(owner) < slot.prepare_rank(owner):
                continue
            del self._wanted_prepares[owner]
            return job
        return None

    def _warm_idle_slots(self, slot: _Slot) -> list[_Slot]:
        return [
            other
            for other in self._slots
            if other is not slot and ((other.idle and other.warm()) or other.starting)
        ]

    def _running(self) -> list[Job]:
        """The workspaces' jobs that run now (a prepare is nobody's run)."""
        return [
            slot.job for slot in self._slots if slot.job is not None and slot.job.kind != PREPARE
        ]

    def _done(self, slot: _Slot) -> None:
        """``slot`` has ended its job: its owner's next job may start, in any idle slot."""
        with self._changed:
            slot.job = None
            self._queue.forget_idle(self._running())
            self._changed.notify_all()

    def _wait_reason(self, job: Job) -> WaitReason | None:
        with self._changed:
            return self._queue.wait_reason(job, self._running(), self.size)

    def _compiling(self, job: Job) -> bool:
        with self._changed:
            holder = self._holder(job.affinity) if job.affinity is not None else None
            return holder is not None and holder.job is not None and holder.job.kind == PREPARE

    def _stop(self, job: Job) -> None:
        with self._changed:
            if self._queue.remove(job, self._running()):
                job._end("cancelled")
                return
        for slot in self._slots:
            if slot.job is job:
                slot.send_stop(job)


class _Slot:
    """One thread that owns one worker process and feeds it jobs, one at a time."""

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self.pool = pool
        self.number = number
        self.worker: WorkerLink | None = None
        self.job: Job | None = None
        self.idle = False  # waiting in ``WorkerPool._take``
        self.starting = False  # starting its worker for ``WorkerPool.warm_up``, with no job
        self.retiring = False  # its worker is about to exit
        # The key of the run its worker holds compiled (``WorkerPool.prepare``), and for whom.
        self.prepared: str | None = None
        self.prepared_owner: str | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"layerlab-worker-slot-{number}", daemon=True
        )
        self._thread.start()

    def warm(self) -> bool:
        """Its worker is up (started and not about to exit)."""
        return self.worker is not None and not self.retiring

    def prepare_rank(self, owner: str | None) -> tuple[int, int]:
        """Lower is better for ``owner``'s next prepare: the worker that holds its last one
        (replaced, so one workspace never holds two), then one holding none, then the rest."""
        if self.prepared is not None and self.prepared_owner == owner:
            return (0, self.number)
        return (1 if self.prepared is None else 2, self.number)

    def _serve(self) -> None:
        while True:
            job = self.pool._take(self)
            if job is START_WORKER:
                self._start_idle()
                continue
            if job is None:
                if self.pool.closed:
                    return
                self._retire()  # idle for a while: give the memory back
                with self.pool._changed:
                    self.retiring = False
                    self.pool._changed.notify_all()  # a queued job may now want this slot
                continue
            try:
                self._run(job)
            finally:
                self.pool._done(self)

    def _start_idle(self) -> None:
        """Start this slot's worker with no job (``warm_up``); a failure is left for the first
        job to meet and report."""
        try:
            self._ready_worker()
        except OSError:
            self.worker = None
        finally:
            with self.pool._changed:
                self.starting = False
                self.pool._changed.notify_all()  # a job that waited for this worker

    def _run(self, job: Job) -> None:
        """Run ``job`` in this slot's worker; any job but a prepare uses or drops the run the
        worker held compiled."""
        self.prepared = self.prepared_owner = None
        self._run_in_worker(job)

    def _run_in_worker(self, job: Job) -> None:
        label = JOB_LABELS[job.kind]
        if self.worker is None or not self.worker.alive():
            job.events.append(StageReached(RunStage.STARTING_ENGINE))
        try:
            worker = self._ready_worker()
        except OSError as error:
            job._end(
                "failed",
                error=TrainingError(
                    f"Could not start a worker process for this {label}: {error}. Try again in a "
                    "moment; if it keeps failing, the server is short of memory or processes."
                ),
            )
            return
        seconds = self.pool.job_seconds
        deadline = time.monotonic() + seconds if seconds else None
        ended_for: str | None = None  # why this slot ended the worker, when it did
        next_look = 0.0
        try:
            worker.send(("job", job.id, job.kind, job.args))
            if job.stop_requested:
                worker.send(("stop", job.id))
            while True:
                now = time.monotonic()
                if ended_for is None and now >= next_look:
                    next_look = now + WATCH_SECONDS
                    ended_for = self._hold_to_limits(job, worker, now, deadline)
                if not worker.poll(WATCH_SECONDS):
                    continue
                tag, payload = worker.recv()
                if tag == "event":
                    job.events.append(payload)
                elif tag == "done":
                    if job.kind == PREPARE:  # held before anyone hears it is done
                        with self.pool._changed:
                            self.prepared, self.prepared_owner = job.affinity, job.owner
                    job._end("done", value=payload)
                    break
                elif tag == "error":
                    job._end("failed", error=rebuild_error(payload))
                    break
                else:  # "bug"
                    job._end("failed", bug=payload)
                    break
        except (EOFError, OSError):
            self.worker = None
            code = worker.reap()
            if self.pool.closed:
                job._end("cancelled")
            else:
                reason = ended_for or death_message(label, code)
                job._end("failed", error=TrainingError(reason))
            return
        rss = worker.rss()
        if rss is not None and rss > self.pool.recycle_bytes:
            self._retire()

    def _hold_to_limits(
        self, job: Job, worker: WorkerLink, now: float, deadline: float | None
    ) -> str | None:
        """Stop a job past its minutes (as Stop does), or end its worker when that grew past
        the memory cap or the job did not stop; returns the failure's words in those cases."""
        label, cap = JOB_LABELS[job.kind], self.pool.memory_bytes
        if cap:
            used = worker.rss()
            if used is not None and used > cap:
                worker.kill()
                return job_limits.memory_cap_text(label, cap, used)
        if deadline is None or now < deadline:
            return None
        minutes = self.pool.job_seconds / 60
        if job.stopped_by_limit is None:
            job.stopped_by_limit = job_limits.time_limit_sentence(minutes)
            self.send_stop(job)
        elif now >= deadline + STOP_GRACE_SECONDS:
            worker.kill()
            return job_limits.time_limit_kill_text(label, minutes, STOP_GRACE_SECONDS)
        return None

    def _ready_worker(self) -> WorkerLink:
        if self.worker is None or not self.worker.alive():
            self.worker = WorkerLink.start(self.pool.niceness)
        return self.worker

    def send_stop(self, job: Job) -> None:
        worker = self.worker
        if worker is not None and self.job is job:
            with contextlib.suppress(OSError):  # a gone worker is reported by its slot
                worker.send(("stop", job.id))

    def _retire(self) -> None:
        self.prepared = self.prepared_owner = None
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.close()

    def close(self) -> None:
        self._retire()


QUICK_WORKERS_ENV = "LAYERLAB_QUICK_WORKERS"

_pools: dict[str, WorkerPool] = {}
_pools_lock = threading.Lock()


def _pool(name: str, size: int | None, niceness: int = TRAINING_NICENESS) -> WorkerPool:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None or pool.closed:
            pool = _pools[name] = WorkerPool(size, niceness=niceness)
            atexit.register(pool.close)
        return pool


def warm_start(pool: WorkerPool | None = None) -> None:
    """Have ``pool``'s first worker (the training pool's by default) import TensorFlow now
    (``WorkerPool.warm_up``): called on every page view, it starts one at the first, while
    the person reads the page. ``LAYERLAB_WARM_START=0`` leaves it to the first job."""
    if os.environ.get(WARM_START_ENV, "").strip() != "0":
        (pool or shared_pool()).warm_up()


def shared_pool() -> WorkerPool:
    """The server-wide pool that trains runs: at most ``worker_count()`` at once (one per core
    unless ``LAYERLAB_WORKERS`` says otherwise); the rest wait in its queue."""
    return _pool("training", None)


def quick_pool() -> WorkerPool:
    """The server-wide pool for short jobs (a network's summary, scoring rows), so a person on
    the Results page never waits behind other people's training runs. One worker unless
    ``LAYERLAB_QUICK_WORKERS`` says otherwise; like every worker, it exits when idle."""
    size = number_setting(
        QUICK_WORKERS_ENV,
        1,
        what="a whole number of worker processes, 1 or more",
        example=1,
        least=1,
        whole=True,
    )
    return _pool("quick", int(size), niceness=0)


if __name__ == "__main__":  # a worker process: ``python -m layerlab.runs.workers <fd>``
    from layerlab.model.worker_process import serve_forever

    serve_forever(Connection(int(sys.argv[1])), int(sys.argv[2]))
