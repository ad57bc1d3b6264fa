"""Compiling ahead of Train: an idle worker compiles the network the Train page shows, and the
training job of the same key goes to that worker and starts from it (``WorkerPool.prepare``).

It may cost nobody anything: it never starts a worker, never runs while a job waits, and a
run that starts from it trains to the same bits as one that does not.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd
import pytest

from layerlab.runs.background import prepared_key
from layerlab.runs.workers import WorkerPool
from layerlab.schema.run_events import StageReached
from layerlab.schema.spec import DEFAULT_RECIPE, PLAIN_RECIPE, LayerSpec, ModelSpec, default_spec
from layerlab.schema.vocabulary import RunStage
from layerlab.tabular.data import profile_columns

OWNER = "/workspaces/alice"
ROWS = 60


def tiny_frame() -> pd.DataFrame:
    x = np.linspace(0.0, 3.0, ROWS)
    return pd.DataFrame({"x": x, "colour": ["red", "green", "blue"] * (ROWS // 3), "y": 2 * x + 1})


def tiny_spec(**changes) -> ModelSpec:
    spec = default_spec("y", "regression", profile_columns(tiny_frame(), "y"))
    # One plain network (spec.PLAIN_RECIPE): these tests are about workers, not the recipe.
    spec = spec.replace(layers=[LayerSpec.dense(8, "relu")], batch_size=8, epochs=3)
    return spec.replace(**PLAIN_RECIPE).replace(**changes)


@pytest.fixture(autouse=True)
def _run_folders(tmp_path):
    global _FOLDERS
    _FOLDERS = tmp_path


_FOLDERS = None


def new_folder() -> str:
    return tempfile.mkdtemp(dir=_FOLDERS)


def wait_until(condition, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stages(job) -> list[RunStage]:
    return [event.stage for event in job.events if isinstance(event, StageReached)]


def train_job(pool: WorkerPool, spec, key: str | None):
    args = (tiny_frame(), spec, new_folder(), True, True, key)
    return pool.submit("train", *args, owner=OWNER, affinity=key)


def prepare(pool: WorkerPool, spec, key: str):
    return pool.prepare(tiny_frame(), spec, key, True, owner=OWNER, key=key)


@pytest.fixture
def two_warm_workers():
    pool = WorkerPool(2, idle_seconds=120, per_owner=0)
    # Two runs at once start both workers; both then idle, warm.
    first, second = (train_job(pool, tiny_spec(epochs=1), None) for _ in range(2))
    first.outcome(timeout=300), second.outcome(timeout=300)
    assert len(pool.worker_pids()) == 2
    yield pool
    pool.close()


def test_the_train_job_goes_to_the_worker_that_compiled_it_and_trains_to_the_same_bits(
    two_warm_workers,
):
    pool = two_warm_workers
    # Three networks in turn, each compiled by one of two idle workers: a job that went to
    # the other worker would build and compile its network again (and say so).
    # The first with a new table's recipe: an ensemble, and the refit after the prepared loop.
    for units, recipe in ((4, DEFAULT_RECIPE), (8, {}), (16, {})):
        spec = tiny_spec(
            layers=[LayerSpec.dense(units), LayerSpec.dropout(0.2)], epochs=4, **recipe
        )
        key = prepared_key(spec, f"table-{units}", True)
        compiling = prepare(pool, spec, key)
        assert compiling is not None
        assert compiling.outcome(timeout=300) == key
        assert pool.prepared_keys() == [key]
        assert prepare(pool, spec, key) is None  # held already: nothing to do

        prepared = train_job(pool, spec, key).outcome(timeout=300)
        assert pool.prepared_keys() == []  # used, not kept twice
        plain_job = train_job(pool, spec, None)
        plain = plain_job.outcome(timeout=300)
        assert RunStage.PREPARING in stages(plain_job)
        assert prepared.history == plain.history  # bit for bit
        assert prepared.evaluation.metrics == plain.evaluation.metrics


def test_a_train_job_that_comes_while_its_network_compiles_waits_for_that_worker(
    two_warm_workers,
):
    pool = two_warm_workers
    spec = tiny_spec(layers=[LayerSpec.dense(32), LayerSpec.dense(16)], epochs=2)
    key = prepared_key(spec, "table", True)
    compiling = prepare(pool, spec, key)
    assert wait_until(lambda: compiling.status == "running", 60)
    job = train_job(pool, spec, key)
    # It says why it waits (the Train page shows "compiling"), unless the compile just ended.
    assert job.waits_for_its_compile() or compiling.finished
    job.outcome(timeout=300)
    assert compiling.status == "done" and not job.waits_for_its_compile()
    assert RunStage.PREPARING not in stages(job)


def test_it_never_starts_a_worker_and_waits_for_one_that_warms():
    pool = WorkerPool(1)
    try:
        spec = tiny_spec()
        key = prepared_key(spec, "table", True)
        wanted = prepare(pool, spec, key)
        time.sleep(1.0)
        assert pool.worker_pids() == [] and wanted.status == "queued"
        pool.warm_up()  # the first page view's worker takes it once it is up
        assert wanted.outcome(timeout=300) == key
        assert pool.prepared_keys() == [key]
    finally:
        pool.close()


def test_it_never_runs_while_a_job_waits_and_one_per_workspace():
    pool = WorkerPool(1)
    try:
        # The only worker trains someone's long run, with another run queued behind it.
        long_run = pool.submit("train", tiny_frame(), tiny_spec(epochs=5000), new_folder())
        queued = pool.submit("train", tiny_frame(), tiny_spec(epochs=1), new_folder())
        spec = tiny_spec()
        older = prepare(pool, spec.replace(seed=1), prepared_key(spec.replace(seed=1), "t", True))
        newer = prepare(pool, spec, prepared_key(spec, "t", True))
        assert older.status == "cancelled"  # replaced: one per workspace
        time.sleep(0.5)
        assert newer.status == "queued"
        long_run.stop()
        assert newer.outcome(timeout=300)
        assert queued.finished  # the worker took the queued run first
        # The Train page was left before it could run: nothing is compiled.
        again = prepare(pool, spec, "another key")
        pool.abandon_prepare(OWNER)
        assert again.status == "cancelled"
        # A real job of the workspace drops its wanted prepare too.
        wanted = prepare(pool, spec, "a third key")
        pool.submit("train", tiny_frame(), spec, new_folder(), owner=OWNER).outcome(timeout=300)
        assert wanted.status in ("cancelled", "done")
    finally:
        pool.close()


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LAYERLAB_PRECOMPILE", "0")
    pool = WorkerPool(1)
    try:
        assert prepare(pool, tiny_spec(), "key") is None
    finally:
        pool.close()
