"""The fair queue: workspaces take turns for the training slots, and a waiting run knows why."""

from __future__ import annotations

import pytest

from layerlab.runs.job_queue import FairQueue, WaitReason
from layerlab.runs.pool_job import COMPLETE, Job


def jobs(owner: str | None, count: int) -> list[Job]:
    return [Job("train", (), owner=owner) for _ in range(count)]


def start_next(queue: FairQueue, running: list[Job]) -> Job | None:
    """What a free slot does: take the job whose turn it is, and run it."""
    job = queue.take(running)
    if job is not None:
        running.append(job)
    return job


def test_another_workspace_runs_second_while_the_first_holds_three():
    queue, running = FairQueue(per_owner=1), []
    alice, (bob,) = jobs("alice", 3), jobs("bob", 1)
    for job in alice:
        queue.add(job)
    assert start_next(queue, running) is alice[0]
    queue.add(bob)  # submitted after all three of Alice's
    assert queue.order(running) == [bob, alice[1], alice[2]]
    assert start_next(queue, running) is bob
    assert start_next(queue, running) is None  # a third slot stays idle: Alice has her one
    running.remove(alice[0])
    assert start_next(queue, running) is alice[1]


def test_with_the_default_limit_one_workspace_never_trains_two_at_once():
    queue, running = FairQueue(per_owner=1), []
    alice, bob = jobs("alice", 4), jobs("bob", 2)
    for job in [*alice, *bob]:
        queue.add(job)
    started = []
    while len(queue):
        for _ in range(3):  # three free slots each round
            job = start_next(queue, running)
            if job is not None:
                started.append(job)
                owners = [each.owner for each in running]
                assert len(owners) == len(set(owners)), owners
        running.pop(0)  # the oldest run ends
    assert started[:2] == [alice[0], bob[0]]
    assert [job for job in started if job.owner == "alice"] == alice  # her own order kept


def test_without_a_limit_the_workspace_holding_fewest_slots_goes_first():
    queue, running = FairQueue(per_owner=0), []
    alice, (bob,) = jobs("alice", 3), jobs("bob", 1)
    for job in alice:
        queue.add(job)
    start_next(queue, running)
    start_next(queue, running)  # Alice alone: both slots are hers
    queue.add(bob)
    running.remove(alice[0])
    assert start_next(queue, running) is bob  # before her third


def test_a_newcomer_joins_the_end_of_the_round():
    queue, running = FairQueue(per_owner=1), []
    (alice,), (bob,), (carol,) = jobs("alice", 1), jobs("bob", 1), jobs("carol", 1)
    queue.add(alice)
    queue.add(bob)
    queue.add(carol)
    assert queue.order(running) == [alice, bob, carol]


def test_jobs_without_an_owner_are_first_come_first_served_without_a_limit():
    queue, running = FairQueue(per_owner=1), []
    loose = jobs(None, 3)
    for job in loose:
        queue.add(job)
    assert [start_next(queue, running) for _ in range(3)] == loose


def test_a_run_behind_its_own_workspaces_run_says_so():
    queue, running = FairQueue(per_owner=1), []
    (alice_first, alice_second), (bob,) = jobs("alice", 2), jobs("bob", 1)
    for job in (alice_first, alice_second, bob):
        queue.add(job)
    start_next(queue, running)
    start_next(queue, running)  # two slots: Alice's first and Bob's
    reason = queue.wait_reason(alice_second, running, slots=2)
    assert reason.waits_for_own
    assert reason.text() == (
        "Waiting for your other run to finish (one run at a time per workspace on this server)."
    )
    assert queue.wait_reason(alice_first, running, slots=2) is None  # it runs


def test_a_run_behind_its_stopped_runs_completion_says_what_it_waits_for():
    """Keeping a stopped run's baselines is the workspace's job, not another run of theirs."""
    queue, running = FairQueue(per_owner=1), []
    completion = Job(COMPLETE, (), owner="alice")
    (train,) = jobs("alice", 1)
    queue.add(completion)
    start_next(queue, running)
    queue.add(train)
    reason = queue.wait_reason(train, running, slots=2)
    assert (reason.own_ahead, reason.own_completions) == (1, 1)
    assert "stopped run's baselines, importance and model card" in reason.text()
    assert "other run" not in reason.text()
    (later,) = jobs("alice", 1)
    queue.add(later)  # behind the completion and a real run: the runs' sentence
    assert (
        queue.wait_reason(later, running, slots=2)
        .text()
        .startswith("Waiting for your 2 other runs to finish")
    )


def test_a_run_behind_other_peoples_runs_says_how_many():
    queue, running = FairQueue(per_owner=1), []
    alice, (bob,) = jobs("alice", 1), jobs("bob", 1)
    (carol,) = jobs("carol", 1)
    for job in (*alice, bob, carol):
        queue.add(job)
    start_next(queue, running)
    start_next(queue, running)
    reason = queue.wait_reason(carol, running, slots=2)
    assert (reason.ahead, reason.own_ahead, reason.waits_for_own) == (2, 0, False)
    assert (
        reason.text() == "Waiting for a free training slot: 2 runs of other people ahead of yours."
    )


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (WaitReason(1, 0, 1, 2), "Starting a training worker for your run…"),
        (WaitReason(3, 2, 1, 2), "Waiting for your 2 other runs to finish (one run at a time"),
        (WaitReason(3, 2, 2, 2), "Waiting for your 2 other runs to finish (2 runs at a time"),
        (WaitReason(3, 1, 2, 2), "Waiting for a free training slot: 3 runs ahead of yours (1 of"),
        (WaitReason(1, 0, 0, 1), "Waiting for a free training slot: 1 run of other people ahead"),
    ],
)
def test_each_reason_reads_as_a_sentence(reason: WaitReason, text: str):
    assert reason.text().startswith(text)


def test_a_stopped_queued_job_leaves_and_its_workspace_loses_its_turn():
    queue, running = FairQueue(per_owner=1), []
    (alice,), (bob,) = jobs("alice", 1), jobs("bob", 1)
    queue.add(alice)
    queue.add(bob)
    assert queue.remove(alice, running)
    assert not queue.remove(alice, running)
    assert alice not in queue and len(queue) == 1
    (again,) = jobs("alice", 1)
    queue.add(again)  # back at the end of the round, behind Bob
    assert queue.order(running) == [bob, again]
    assert queue.clear() == [bob, again] and not len(queue)
