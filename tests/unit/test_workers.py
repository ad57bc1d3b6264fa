"""The worker pool: TensorFlow work in worker processes, isolated from the server and each other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pandas as pd
import pytest

from layerlab.model.train import EpochEnd
from layerlab.runs.workers import TRAINING_NICENESS, WorkerPool
from layerlab.schema.errors import SpecError, TargetError, TrainingError
from layerlab.schema.run_events import StageReached
from layerlab.schema.spec import MAX_EPOCHS, PLAIN_RECIPE, LayerSpec, ModelSpec, default_spec
from layerlab.schema.vocabulary import RunStage
from layerlab.tabular.data import profile_columns
from layerlab.tabular.task import check_target

ROWS = 60


def tiny_frame(rows: int = ROWS) -> pd.DataFrame:
    x = np.linspace(0.0, 3.0, rows)
    return pd.DataFrame({"x": x, "colour": ["red", "green", "blue"] * (rows // 3), "y": 2 * x + 1})


def tiny_spec(**changes) -> ModelSpec:
    frame = tiny_frame()
    spec = default_spec("y", "regression", profile_columns(frame, "y"))
    # One plain network (spec.PLAIN_RECIPE): these tests are about workers, not the recipe.
    spec = spec.replace(layers=[LayerSpec.dense(8, "relu")], batch_size=8, epochs=3)
    return spec.replace(**PLAIN_RECIPE).replace(**changes)


@pytest.fixture(scope="module")
def pool():
    shared = WorkerPool(2)
    yield shared
    shared.close()


@pytest.fixture(scope="module", autouse=True)
def _run_folders(tmp_path_factory):
    global _FOLDERS
    _FOLDERS = tmp_path_factory.mktemp("runs")


_FOLDERS = None


def new_folder() -> str:
    """A fresh folder for one training job's files (each run writes into its own)."""
    return tempfile.mkdtemp(dir=_FOLDERS)


def wait_for_epoch(job, epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(isinstance(e, EpochEnd) and e.epoch >= epoch for e in list(job.events)):
        assert not job.finished, (job.status, job.error, job.bug)
        assert time.monotonic() < deadline, f"epoch {epoch} did not end within {timeout} s"
        time.sleep(0.02)


def test_ten_runs_started_together_on_a_cold_pool_all_train():
    cold = WorkerPool(2)
    try:
        barrier = threading.Barrier(10)
        jobs = [None] * 10

        def press_train(position: int) -> None:
            barrier.wait()
            jobs[position] = cold.submit(
                "train", tiny_frame(), tiny_spec(seed=position), new_folder()
            )

        threads = [threading.Thread(target=press_train, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes = [job.outcome(timeout=300) for job in jobs]
        assert [trained.stop_reason for trained in outcomes] == ["completed"] * 10
        assert all(trained.usable and trained.model_file.is_file() for trained in outcomes)
        assert all(len(trained.history) == 3 for trained in outcomes)
    finally:
        cold.close()


SERVER_SIDE = """
import sys
import pandas as pd
from layerlab.schema.spec import LayerSpec, ModelSpec, Feature
from layerlab.runs.workers import WorkerPool
from layerlab.schema.run_events import StageReached
from layerlab.schema.vocabulary import RunStage

frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [2.0 * i for i in range(40)]})
spec = ModelSpec(target="y", task="regression", features=[Feature("x", "numeric")],
                 layers=[LayerSpec.dense(4, "relu")], epochs=2, batch_size=8)
pool = WorkerPool(1)
summary = pool.run("summary", frame, spec, timeout=300)
import tempfile
trained = pool.run("train", frame, spec, tempfile.mkdtemp(), timeout=300)
rows = pool.run("predict", str(trained.model_file), spec, trained.classes, frame.head(2), timeout=60)
assert summary.params > 0 and trained.usable and len(rows) == 2
pool.close()
print("LOADED=" + ",".join(name for name in ("tensorflow", "keras") if name in sys.modules))
"""


def test_the_server_side_never_imports_tensorflow():
    done = subprocess.run(
        [sys.executable, "-c", SERVER_SIDE], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LOADED=\n" in done.stdout, done.stdout


def test_builds_are_not_disturbed_by_streamlit_resetting_keras_after_other_script_runs(pool):
    # Streamlit calls keras.backend.clear_session() after every script run of every session;
    # in one process that broke builds in other sessions ("The name ... is used 2 times").
    import keras  # noqa: F401  (as if some code in the server had imported it)
    from streamlit.runtime.scriptrunner.script_runner import _clean_problem_modules

    clicking = threading.Event()

    def click_in_other_sessions() -> None:
        while not clicking.is_set():
            _clean_problem_modules()

    clicker = threading.Thread(target=click_in_other_sessions)
    clicker.start()
    try:
        wide = tiny_spec(layers=[LayerSpec.dense(256, "relu")] * 6)
        jobs = [pool.submit("summary", tiny_frame(), wide) for _ in range(4)]
        jobs += [pool.submit("train", tiny_frame(), wide, new_folder()) for _ in range(2)]
        for job in jobs:
            job.outcome(timeout=300)
    finally:
        clicking.set()
        clicker.join()
    assert [job.status for job in jobs] == ["done"] * 6


def test_a_worker_killed_mid_run_fails_only_that_run():
    crashy = WorkerPool(2)
    try:
        long_spec = tiny_spec(epochs=MAX_EPOCHS, patience=0)  # trains until stopped
        doomed = crashy.submit("train", tiny_frame(), long_spec, new_folder())
        other = crashy.submit("train", tiny_frame(), long_spec, new_folder())
        wait_for_epoch(doomed, 2)
        wait_for_epoch(other, 2)
        [doomed_slot] = [slot for slot in crashy._slots if slot.job is doomed]
        os.kill(doomed_slot.worker.pid, signal.SIGKILL)
        assert doomed.wait(60)
        assert doomed.status == "failed"
        with pytest.raises(TrainingError, match=r"killed \(signal 9\).*Only this training run"):
            doomed.outcome()
        # The other run goes on, and the next job gets a fresh worker.
        seen = max(e.epoch for e in list(other.events) if isinstance(e, EpochEnd))
        wait_for_epoch(other, seen + 2)
        other.stop()
        assert other.outcome(timeout=60).stop_reason == "stopped"
        assert crashy.run("train", tiny_frame(), tiny_spec(), new_folder(), timeout=300).usable
    finally:
        crashy.close()


def test_a_users_error_comes_back_as_the_same_error_with_its_message(pool):
    constant = tiny_frame().assign(y=1.0)
    with pytest.raises(TargetError) as caught:
        pool.run("train", constant, tiny_spec(), new_folder(), timeout=120)
    with pytest.raises(TargetError) as here:
        check_target(constant, "y", "regression")
    assert str(caught.value) == str(here.value)
    bad = tiny_spec().replace(batch_size=0, epochs=0)
    with pytest.raises(SpecError) as caught:
        pool.run("summary", tiny_frame(), bad, timeout=120)
    with pytest.raises(SpecError) as here:
        bad.validate()
    assert caught.value.problems == here.value.problems
    assert len(caught.value.problems) == 2


def test_stop_drops_a_queued_job_and_the_queue_says_who_is_ahead():
    single = WorkerPool(1)
    try:
        running = single.submit(
            "train", tiny_frame(), tiny_spec(epochs=MAX_EPOCHS, patience=0), new_folder()
        )
        first = single.submit("train", tiny_frame(), tiny_spec(), new_folder())
        second = single.submit("train", tiny_frame(), tiny_spec(), new_folder())
        wait_for_epoch(running, 1)
        assert (first.ahead(), second.ahead()) == (1, 2)
        first.stop()
        assert first.status == "cancelled" and first.finished
        assert second.ahead() == 1
        running.stop()
        assert second.outcome(timeout=120).usable
    finally:
        single.close()


def test_a_worker_that_grew_large_is_replaced_after_its_job():
    small = WorkerPool(1, recycle_bytes=1)
    try:
        small.run("train", tiny_frame(), tiny_spec(), new_folder(), timeout=300)
        deadline = time.monotonic() + 30
        while small.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert small.worker_pids() == []  # gone, memory and all; the next job starts a new one
        assert small.run("train", tiny_frame(), tiny_spec(), new_folder(), timeout=300).usable
    finally:
        small.close()


def test_same_spec_and_seed_give_the_same_model_in_any_worker(pool):
    first, second = (
        pool.submit("train", tiny_frame(), tiny_spec(epochs=5), new_folder()) for _ in range(2)
    )
    one, two = first.outcome(timeout=300), second.outcome(timeout=300)
    assert one.history == two.history
    weights = [load_model_file(trained.model_file).get_weights() for trained in (one, two)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def load_model_file(path):
    import keras

    return keras.saving.load_model(path)


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_after_a_burst_the_extra_workers_exit_and_one_stays_warm_for_the_next_run():
    burst = WorkerPool(2, extra_idle_seconds=5.0)
    try:
        jobs = [burst.submit("train", tiny_frame(), tiny_spec(), new_folder()) for _ in range(2)]
        assert all(job.outcome(timeout=300).usable for job in jobs)
        assert len(burst.worker_pids()) == 2  # both worked at once
        # Memory goes back once the burst is over, but not the last worker's: the next
        # person's Train click finds it up.
        assert _wait_until(lambda: len(burst.worker_pids()) == 1, 30)
        time.sleep(2.0)
        (warm,) = burst.worker_pids()
        assert burst.worker_pids() == [warm]
        burst.run("train", tiny_frame(), tiny_spec(), new_folder(), timeout=300)
        assert burst.worker_pids() == [warm]  # taken by the worker that was up, not a new one
    finally:
        burst.close()


def test_the_extra_idle_time_is_read_from_the_environment(monkeypatch):
    from layerlab.runs.workers import EXTRA_IDLE_ENV, _extra_idle_seconds
    from layerlab.schema.errors import LayerlabError

    monkeypatch.setenv(EXTRA_IDLE_ENV, "12.5")
    assert _extra_idle_seconds() == 12.5
    monkeypatch.setenv(EXTRA_IDLE_ENV, "soon")
    with pytest.raises(LayerlabError, match="number of seconds"):
        _extra_idle_seconds()


def test_one_workspaces_three_runs_let_anothers_run_take_the_second_slot():
    fair = WorkerPool(2, per_owner=1, job_seconds=0, memory_bytes=0)
    most_at_once = []
    watching = threading.Event()

    def watch_alice() -> None:
        while not watching.is_set():
            most_at_once.append(sum(job.status == "running" for job in alice))
            time.sleep(0.01)

    long_spec = tiny_spec(epochs=MAX_EPOCHS, patience=0)
    try:
        alice = [
            fair.submit("train", tiny_frame(), long_spec, new_folder(), owner="alice")
            for _ in range(3)
        ]
        bob = fair.submit("train", tiny_frame(), tiny_spec(), new_folder(), owner="bob")
        watcher = threading.Thread(target=watch_alice)
        watcher.start()
        assert bob.outcome(timeout=300).usable  # while Alice's first run still trains
        wait_for_epoch(alice[0], 1)
        assert [job.status for job in alice] == ["running", "queued", "queued"]
        assert "your other run to finish" in alice[1].wait_reason().text()
        time.sleep(1.0)  # Bob's slot is free, yet Alice's second waits for her first
        assert alice[1].status == "queued"
        alice[0].stop()
        wait_for_epoch(alice[1], 1)  # her next one starts once her first has ended
        assert alice[2].ahead() == 1 and alice[2].status == "queued"
        for job in alice:
            job.stop()
        assert all(job.wait(120) for job in alice)
    finally:
        watching.set()
        fair.close()
    assert max(most_at_once) == 1


def test_the_limits_are_read_from_the_environment_with_plain_errors(monkeypatch):
    from layerlab.runs import job_limits
    from layerlab.runs.workspaces import EPHEMERAL_ENV
    from layerlab.schema.errors import LayerlabError

    monkeypatch.setenv(EPHEMERAL_ENV, "1")  # a shared host's defaults
    for name in (
        job_limits.RUNS_PER_WORKSPACE_ENV,
        job_limits.JOB_MINUTES_ENV,
        job_limits.WORKER_MEMORY_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    pool = WorkerPool(1)
    assert (pool.per_owner, pool.job_seconds, pool.memory_bytes) == (1, 30 * 60, 1500 * 2**20)
    pool.close()
    monkeypatch.setenv(EPHEMERAL_ENV, "0")  # a local install's
    assert (job_limits.job_seconds(), job_limits.worker_memory_bytes()) == (0, 0)
    monkeypatch.setenv(job_limits.JOB_MINUTES_ENV, "0.05")
    assert job_limits.job_seconds() == pytest.approx(3.0)
    monkeypatch.setenv(job_limits.JOB_MINUTES_ENV, "half an hour")
    with pytest.raises(LayerlabError, match="LAYERLAB_JOB_MINUTES must be a number of minutes"):
        job_limits.job_seconds()
    monkeypatch.setenv(job_limits.WORKER_MEMORY_ENV, "1.5 GB")
    with pytest.raises(LayerlabError, match="whole number of megabytes, 0 or more"):
        job_limits.worker_memory_bytes()


class _HeldWorker:
    """Stands in for a worker process: records what its slot does to it."""

    def __init__(self, rss: int) -> None:
        self.sent, self.killed, self._rss = [], False, rss

    def send(self, message: tuple) -> None:
        self.sent.append(message)

    def kill(self) -> None:
        self.killed = True

    def rss(self) -> int:
        return self._rss

    def close(self) -> None:
        pass


def test_a_job_that_ignores_the_time_limits_stop_is_ended_after_the_grace():
    from layerlab.runs.pool_job import Job
    from layerlab.runs.workers import STOP_GRACE_SECONDS

    held = WorkerPool(1, job_seconds=60, memory_bytes=0)
    try:
        (slot,), job = held._slots, Job("predict", (), _pool=held)
        slot.job, slot.worker = job, _HeldWorker(rss=10**9)
        worker = slot.worker
        assert slot._hold_to_limits(job, worker, now=59.0, deadline=60.0) is None
        assert worker.sent == [] and job.stopped_by_limit is None
        assert slot._hold_to_limits(job, worker, now=60.0, deadline=60.0) is None
        assert worker.sent == [("stop", job.id)] and not worker.killed  # first, as Stop does
        assert "limit of 1 minute per run" in job.stopped_by_limit
        late = 60.0 + STOP_GRACE_SECONDS
        failure = slot._hold_to_limits(job, worker, now=late, deadline=60.0)
        assert worker.killed
        assert failure.startswith("This scoring reached this server's limit of 1 minute per job")
        assert "did not stop within 30 s" in failure
    finally:
        slot.job = slot.worker = None
        held.close()


def test_warm_up_starts_one_worker_before_any_job_and_the_first_job_takes_it():
    warming = WorkerPool(2)
    try:
        warming.warm_up()
        warming.warm_up()  # a second page view while it starts: still one worker
        # A job that comes while the worker imports TensorFlow waits for it.
        job = warming.submit("train", tiny_frame(), tiny_spec(), new_folder())
        assert job.outcome(timeout=300).usable
        (warm,) = warming.worker_pids()
        warming.warm_up()  # one is up: nothing more starts
        time.sleep(0.5)
        assert warming.worker_pids() == [warm]
    finally:
        warming.close()


def test_a_run_says_its_stages_and_one_on_a_warmed_worker_skips_the_engine_start():
    idle = WorkerPool(1)
    try:
        cold = idle.submit("train", tiny_frame(), tiny_spec(), new_folder())
        cold.outcome(timeout=300)
        stages = [event.stage for event in cold.events if isinstance(event, StageReached)]
        assert stages == [RunStage.STARTING_ENGINE, RunStage.PREPARING, RunStage.COMPILING]
        assert isinstance(cold.events[0], StageReached)  # all before the first epoch
        assert not any(isinstance(event, StageReached) for event in cold.events[3:])
        idle.close()
        idle = WorkerPool(1)
        idle.warm_up()
        assert _wait_until(lambda: len(idle.worker_pids()) == 1, 120)
        warmed = idle.submit("train", tiny_frame(), tiny_spec(), new_folder())
        warmed.outcome(timeout=300)
        assert warmed.events[0] == StageReached(RunStage.PREPARING)
    finally:
        idle.close()


@pytest.mark.parametrize("niceness", [TRAINING_NICENESS, 0])
def test_workers_yield_the_cpu_as_their_pool_says(niceness):
    """Training workers run at a lower priority, so a busy server's pages (and the quick
    pool's what-if) stay quick; the quick pool's worker keeps the server's priority."""
    pool = WorkerPool(1, niceness=niceness)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        pool.warm_up()
        assert _wait_until(lambda: len(pool.worker_pids()) == 1, 120)
        [pid] = pool.worker_pids()
        # The worker lowers its priority before it imports TensorFlow and says it is ready.
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(ours + niceness, 19)
    finally:
        pool.close()
