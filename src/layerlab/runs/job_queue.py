"""The order a worker pool takes its jobs in: workspaces in turn, not jobs in order.

A first-come queue lets one visitor who starts two 10,000-epoch runs hold every
training slot of a two-core server for as long as they last. Here each job has an
*owner* (the workspace it trains for) and the next free slot goes to the owner
whose turn it is:

- an owner already training ``per_owner`` jobs waits (1 by default: one run or
  search trial at a time per workspace);
- of the others, the one training fewest jobs now, and of those the one served
  longest ago (a newcomer joins the end of the round), goes first;
- an owner's own jobs start in the order they were submitted.

A job without an owner (the CLI's, a short scoring job) is an owner of its own, with
no limit, so a pool of such jobs is first come, first served, as before.

The queue does no locking: its ``WorkerPool`` calls it under its own lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerlab.runs.pool_job import COMPLETE

if TYPE_CHECKING:  # workers imports this module
    from layerlab.runs.pool_job import Job


@dataclass(frozen=True)
class WaitReason:
    """Why a queued job waits: the jobs that go before it, and how many of them are its owner's.

    ``ahead`` counts every job that runs before it (those training now and those
    queued before it in the fair order); ``own_ahead`` the owner's among them;
    ``per_owner`` is the owner's limit (0: none) and ``slots`` how many jobs the pool
    runs at once. ``own_completions`` counts the owner's jobs ahead that complete a
    stopped run (``"complete"``): they are not runs, and the sentence says what they are.
    """

    ahead: int
    own_ahead: int
    per_owner: int
    slots: int
    own_completions: int = 0

    @property
    def waits_for_own(self) -> bool:
        """Its owner's own jobs fill its limit: it waits for one of them, whatever others do."""
        return self.per_owner > 0 and self.own_ahead >= self.per_owner

    def text(self) -> str:
        """The sentence the Train page shows while the run waits."""
        if self.waits_for_own and self.own_completions == self.own_ahead:
            return (
                "Waiting while your stopped run's baselines, importance and model card are "
                "worked out; your run starts right after."
            )
        if self.waits_for_own:
            at_once = (
                "one run at a time per workspace"
                if self.per_owner == 1
                else f"{self.per_owner} runs at a time per workspace"
            )
            others = "other run" if self.own_ahead == 1 else f"{self.own_ahead:,} other runs"
            return f"Waiting for your {others} to finish ({at_once} on this server)."
        if self.ahead < self.slots:  # a slot is free: its worker is getting ready
            return "Starting a training worker for your run…"
        runs = "run" if self.ahead == 1 else "runs"
        if not self.own_ahead:
            return (
                f"Waiting for a free training slot: {self.ahead:,} {runs} of other people "
                "ahead of yours."
            )
        return (
            f"Waiting for a free training slot: {self.ahead:,} {runs} ahead of yours "
            f"({self.own_ahead:,} of them yours)."
        )


class FairQueue:
    """The waiting jobs of one pool and whose turn it is (see the module's docstring).

    ``running`` (the jobs the pool's workers do now) is passed in where it matters,
    so there is one record of it: the pool's slots.
    """

    def __init__(self, per_owner: int = 0) -> None:
        self.per_owner = per_owner  # 0: no limit
        self._waiting: list[Job] = []
        self._turns: dict[str, int] = {}  # owner -> when it last joined the round or was served
        self._clock = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, job: Job) -> bool:
        return job in self._waiting

    def add(self, job: Job) -> None:
        owner = _owner(job)
        if owner not in self._turns:  # a newcomer joins the end of the round
            self._turns[owner] = self._tick()
        self._waiting.append(job)

    def remove(self, job: Job, running: Iterable[Job]) -> bool:
        """Take a waiting job out (it was stopped); False when it was not waiting."""
        if job not in self._waiting:
            return False
        self._waiting.remove(job)
        self.forget_idle(running)
        return True

    def clear(self) -> list[Job]:
        """Every waiting job, in the order they would have started; the queue is left empty."""
        waiting = self.order([])
        self._waiting, self._turns = [], {}
        return waiting

    def take(self, running: Iterable[Job]) -> Job | None:
        """The job whose turn it is, taken out of the queue, or None when every owner that
        waits already trains as many jobs as it may."""
        job = self.peek(running)
        if job is None:
            return None
        self._waiting.remove(job)
        self._turns[_owner(job)] = self._tick()
        return job

    def peek(self, running: Iterable[Job]) -> Job | None:
        """The job ``take`` would take now, left in the queue."""
        running = list(running)
        order = self.order(running)
        if not order or self._full(_owner(order[0]), Counter(_owner(each) for each in running)):
            return None
        return order[0]

    def order(self, running: Iterable[Job]) -> list[Job]:
        """The waiting jobs in the order they will start, as things stand.

        The same rule as ``take``, played forward: each pick counts as running for the
        picks after it (so an owner's second job waits a round), and goes to the end.
        """
        training = Counter(_owner(job) for job in running)
        turns = dict(self._turns)
        clock = self._clock
        queues: dict[str, list[Job]] = {}
        for job in self._waiting:
            queues.setdefault(_owner(job), []).append(job)
        order: list[Job] = []
        while queues:
            owner = min(queues, key=lambda each: self._rank(each, training, turns))
            order.append(queues[owner].pop(0))
            if not queues[owner]:
                del queues[owner]
            training[owner] += 1
            clock += 1
            turns[owner] = clock
        return order

    def wait_reason(self, job: Job, running: Iterable[Job], slots: int) -> WaitReason | None:
        """Why ``job`` waits in a pool of ``slots`` workers, or None when it is not waiting."""
        if job not in self._waiting:
            return None
        running = list(running)
        order = self.order(running)
        before = [*running, *order[: order.index(job)]]
        own = [each for each in before if _owner(each) == _owner(job)]
        completions = sum(each.kind == COMPLETE for each in own)
        per_owner = 0 if _owner(job).startswith(_UNOWNED) else self.per_owner
        return WaitReason(len(before), len(own), per_owner, slots, completions)

    def forget_idle(self, running: Iterable[Job]) -> None:
        """Drop the turns of owners with nothing waiting or running (a job ended or left)."""
        busy = {_owner(job) for job in (*self._waiting, *running)}
        for owner in [each for each in self._turns if each not in busy]:
            del self._turns[owner]

    def _rank(self, owner: str, training: Counter, turns: dict[str, int]) -> tuple:
        return (self._full(owner, training), training[owner], turns.get(owner, 0))

    def _full(self, owner: str, training: Counter) -> bool:
        limited = self.per_owner > 0 and not owner.startswith(_UNOWNED)
        return limited and training[owner] >= self.per_owner

    def _tick(self) -> int:
        self._clock += 1
        return self._clock


_UNOWNED = "\0job:"  # no workspace's key starts so


def _owner(job: Job) -> str:
    return job.owner if job.owner else f"{_UNOWNED}{job.id}"
