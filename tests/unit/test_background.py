"""Runs that train in the background: their records follow them into the workspace, they end
as finished, stopped, failed or interrupted, and an interrupted run is rebuilt from its checkpoint."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest

from layerlab.report.records import RunRecord
from layerlab.report.run_files import TrainedModel
from layerlab.runs.background import RunManager, owner_alive, this_process
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workers import WorkerPool
from layerlab.schema.spec import DEFAULT_RECIPE, PLAIN_RECIPE, LayerSpec, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns

ROWS = 60


def tiny_frame(rows: int = ROWS) -> pd.DataFrame:
    x = np.linspace(0.0, 3.0, rows)
    return pd.DataFrame({"x": x, "colour": ["red", "green", "blue"] * (rows // 3), "y": 2 * x + 1})


def tiny_spec(**changes) -> ModelSpec:
    spec = default_spec("y", "regression", profile_columns(tiny_frame(), "y"))
    # One plain network (spec.PLAIN_RECIPE): these tests are about workers, not the recipe.
    spec = spec.replace(layers=[LayerSpec.dense(8, "relu")], batch_size=8, epochs=3)
    return spec.replace(**PLAIN_RECIPE).replace(**changes)


@pytest.fixture(scope="module")
def manager():
    pool = WorkerPool(1)
    yield RunManager(pool)
    pool.close()


@pytest.fixture
def store(tmp_path) -> WorkspaceStore:
    return WorkspaceStore(tmp_path / "workspace")


def new_record(store: WorkspaceStore, spec: ModelSpec, frame: pd.DataFrame) -> RunRecord:
    data = frame.to_csv(index=False).encode()
    table = store.add_table("tiny.csv", data, rows=len(frame), columns=frame.shape[1])
    return RunRecord(
        id=store.new_run_id(),
        name="a run",
        created=time.time(),
        spec=spec,
        table_id=table.id,
        data_fingerprint=table.fingerprint,
    )


def wait_until(condition, timeout: float = 120, what: str = "the run") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not get there within {timeout} s"
        time.sleep(0.05)


def ended(store: WorkspaceStore, run_id: str) -> RunRecord:
    wait_until(lambda: not store.run(run_id).active)
    return store.run(run_id)


def test_a_finished_run_is_in_the_workspace_with_its_history_scores_and_files(manager, store):
    record = new_record(store, tiny_spec(), tiny_frame())
    manager.start(store, record, tiny_frame())
    assert store.run(record.id).status in ("queued", "training")  # written at once

    kept = ended(store, record.id)
    assert kept.status == "finished"
    assert [row["epoch"] for row in kept.history] == [1, 2, 3]
    assert kept.kept_epoch is not None and kept.params > 0
    assert "mae" in kept.metrics["test"]
    assert set(kept.files) >= {"model", "bundle", "evaluation", "summary", "checkpoint"}
    assert all((store.folder / path).is_file() for path in kept.files.values())
    opened = TrainedModel.from_record(kept, store.folder)
    assert opened.evaluation.metrics["mae"] == pytest.approx(kept.metrics["test"]["mae"])
    assert manager.live(store, record.id) is None  # nothing of it is held in memory any more


def test_stop_ends_a_long_run_as_stopped_with_its_best_weights_saved(manager, store):
    record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
    job = manager.start(store, record, tiny_frame())
    wait_until(lambda: len(store.run(record.id).history) >= 2, what="the second epoch")
    assert store.run(record.id).status == "training"
    job.stop()
    kept = ended(store, record.id)
    assert kept.status == "stopped"
    assert 2 <= len(kept.history) < 10_000
    assert kept.checkpoint_epoch is not None
    assert TrainedModel.from_record(kept, store.folder) is not None


def test_a_stopped_run_is_kept_at_once_and_then_gets_its_baselines_importance_and_card(
    manager, store
):
    record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
    job = manager.start(store, record, tiny_frame())
    wait_until(lambda: len(store.run(record.id).history) >= 2, what="the second epoch")
    job.stop()
    kept = ended(store, record.id)
    # Kept with its model and test scores: the Results page opens it now.
    assert kept.status == "stopped" and TrainedModel.from_record(kept, store.folder) is not None
    wait_until(lambda: not store.run(record.id).completing, what="the completion")
    complete = store.run(record.id)
    assert set(complete.metrics["baselines"]) == {"naive", "linear", "boosting"}
    assert {"importance", "card", "effects", "bundle"} <= set(complete.files)
    assert complete.message.startswith("Training was stopped on request.")
    assert "being worked out" not in complete.message and "Stop was pressed" not in complete.message
    assert complete.metrics["test"] == kept.metrics["test"]  # the same weights and test rows
    assert manager.live(store, record.id) is None


def test_a_run_that_cannot_train_is_failed_with_the_reason(manager, store):
    record = new_record(store, tiny_spec(), tiny_frame(3))
    manager.start(store, record, tiny_frame(3))
    kept = ended(store, record.id)
    assert kept.status == "failed"
    assert "rows" in kept.error  # the trainer's own plain message


def test_a_run_whose_server_went_away_is_interrupted_and_rebuilt_from_its_checkpoint(
    manager, store
):
    # A finished run's checkpoint stands in for the one a dead server left behind: the last
    # one, the refit's network (a new table's recipe), whose scales read the validation rows too.
    donor = new_record(store, tiny_spec(epochs=4, **DEFAULT_RECIPE), tiny_frame())
    manager.start(store, donor, tiny_frame())
    finished = ended(store, donor.id)
    assert finished.refitted
    lost = RunRecord(
        id=store.new_run_id(),
        name="lost",
        created=time.time(),
        spec=donor.spec,
        table_id=donor.table_id,
        data_fingerprint=donor.data_fingerprint,
        status="training",
        owner=_dead_owner(),
        checkpoint_epoch=finished.checkpoint_epoch,
        refitted=True,  # as the refit's CheckpointSaved left it
    )
    store.add_run(lost)
    store.append_epochs(lost.id, finished.history)
    shutil.copy(
        store.folder / finished.files["checkpoint"], store.run_folder(lost.id) / "checkpoint.keras"
    )

    frame = tiny_frame()
    assert manager.recover(store, lambda table_id: frame) == 1
    assert store.run(lost.id).status == "interrupted"
    wait_until(lambda: "model" in store.run(lost.id).files, what="the rebuilt model")
    rebuilt = TrainedModel.from_record(store.run(lost.id), store.folder)
    assert rebuilt is not None and rebuilt.kept_epoch == finished.checkpoint_epoch
    assert rebuilt.refitted  # rebuilt on the rows its weights learned from
    assert "server stopped" in store.run(lost.id).message
    # The same network on the same test rows: the same scores.
    assert store.run(lost.id).metrics["test"] == pytest.approx(finished.metrics["test"], rel=1e-5)
    assert manager.recover(store, lambda table_id: frame) == 0  # once is enough


def _uploaded_copy(store: WorkspaceStore, finished: RunRecord, model_from: RunRecord) -> str:
    """A run as an uploaded workspace brings it: ``finished``'s record and scores, the weights
    of ``model_from``'s model, none of the files Layerlab derives."""
    copy = RunRecord(
        id=store.new_run_id(),
        name="uploaded",
        created=time.time(),
        spec=finished.spec,
        table_id=finished.table_id,
        status="finished",
        best_epoch=finished.best_epoch,
        kept_epoch=finished.kept_epoch,
        stop_reason=finished.stop_reason,
        message=finished.message,
        seconds=finished.seconds,
        metrics={"task": "regression", "test": {"mae": 123.0}},
        refitted=finished.refitted,  # its model learned from the training and validation rows
    )
    store.add_run(copy)
    store.append_epochs(copy.id, finished.history)
    model = (store.folder / model_from.files["model"]).read_bytes()
    store.write_run_file(copy.id, "model", model)
    return copy.id


def test_an_uploaded_run_gets_its_bundle_made_again_from_its_weights(manager, store):
    donor = new_record(store, tiny_spec(epochs=3), tiny_frame())
    manager.start(store, donor, tiny_frame())
    finished = ended(store, donor.id)
    uploaded = _uploaded_copy(store, finished, finished)
    frame = tiny_frame()

    assert manager.rebuild_uploaded(store, lambda table_id: frame) == 1
    assert manager.rebuild_uploaded(store, lambda table_id: frame) == 0  # already under way
    wait_until(lambda: "bundle" in store.run(uploaded).files, what="the rebuilt bundle")
    rebuilt = store.run(uploaded)
    assert {"train_script", "card", "evaluation", "summary"} <= set(rebuilt.files)
    # Its scores are worked out here, from the same rows and weights: the trained run's.
    assert rebuilt.metrics["test"]["mae"] == pytest.approx(finished.metrics["test"]["mae"])
    assert rebuilt.status == "finished" and rebuilt.message == finished.message
    assert rebuilt.history == finished.history
    assert manager.rebuild_uploaded(store, lambda table_id: frame) == 0  # once is enough


def test_uploaded_weights_that_do_not_fit_the_runs_network_are_refused_plainly(manager, store):
    wide = new_record(
        store, tiny_spec(layers=[LayerSpec.dense(12, "relu")], epochs=1), tiny_frame()
    )
    narrow = new_record(store, tiny_spec(epochs=1), tiny_frame())
    for record in (wide, narrow):
        manager.start(store, record, tiny_frame())
        ended(store, record.id)
    uploaded = _uploaded_copy(store, store.run(narrow.id), store.run(wide.id))

    assert manager.rebuild_uploaded(store, lambda table_id: tiny_frame()) == 1
    wait_until(lambda: store.run(uploaded).error, what="the refusal")
    error = store.run(uploaded).error
    assert "do not fit the network its settings describe" in error
    assert "bundle" not in store.run(uploaded).files
    assert manager.rebuild_uploaded(store, lambda table_id: tiny_frame()) == 0  # not again


def test_a_worker_that_dies_fails_its_run_with_the_reason_and_keeps_its_best_weights(
    manager, store
):
    import os
    import signal

    record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
    manager.start(store, record, tiny_frame())
    wait_until(lambda: store.run(record.id).checkpoint_epoch, what="the first checkpoint")
    for pid in manager.pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: store.run(record.id).status == "failed", what="the failure")
    assert "was killed (signal 9)" in store.run(record.id).error
    wait_until(lambda: "model" in store.run(record.id).files, what="the rebuilt model")
    kept = store.run(record.id)
    assert kept.status == "failed" and kept.kept_epoch == kept.checkpoint_epoch
    assert TrainedModel.from_record(kept, store.folder) is not None


def test_a_run_deleted_while_it_trains_leaves_no_files(manager, store):
    record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
    job = manager.start(store, record, tiny_frame())
    wait_until(lambda: len(store.run(record.id).history) >= 1, what="the first epoch")
    store.delete_run(record.id)
    job.stop()
    wait_until(lambda: manager.live(store, record.id) is None, what="the watcher")
    assert not (store.folder / "runs" / record.id).exists()


def test_owner_alive_knows_this_process_a_dead_one_and_a_reused_pid():
    assert owner_alive(this_process())
    assert not owner_alive(_dead_owner())
    host, pid, _ = this_process().rsplit(":", 2)
    assert not owner_alive(f"{host}:{pid}:1")  # this pid, but a process started earlier
    assert not owner_alive(None)
    assert owner_alive("another-machine:12:345")  # cannot be checked from here: assumed alive


def _dead_owner() -> str:
    host, _, start = this_process().rsplit(":", 2)
    return f"{host}:{_dead_pid()}:{start}"


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_past_the_servers_minutes_is_stopped_with_its_weights_and_says_why(
    store, monkeypatch
):
    from layerlab.runs.job_limits import JOB_MINUTES_ENV

    monkeypatch.setenv(JOB_MINUTES_ENV, "0.1")  # 6 s from the moment it starts training
    limited = WorkerPool(1)
    try:
        record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
        RunManager(limited).start(store, record, tiny_frame())
        kept = ended(store, record.id)
    finally:
        limited.close()
    assert kept.status == "stopped" and kept.stop_reason == "stopped"
    assert 1 <= len(kept.history) < 10_000
    assert kept.message.startswith(
        "Training reached this server's limit of 0.1 minutes per run, so it was stopped"
    )
    assert "LAYERLAB_JOB_MINUTES" in kept.message
    assert f"The weights of epoch {kept.kept_epoch:,} are kept." in kept.message
    assert TrainedModel.from_record(kept, store.folder) is not None


def test_a_run_whose_worker_outgrows_the_memory_cap_fails_with_what_to_try(store, monkeypatch):
    from layerlab.runs.job_limits import WORKER_MEMORY_ENV

    monkeypatch.setenv(WORKER_MEMORY_ENV, "1")  # 1 MB: any worker holding TensorFlow is past it
    capped = WorkerPool(1)
    try:
        record = new_record(store, tiny_spec(epochs=10_000, patience=0), tiny_frame())
        RunManager(capped).start(store, record, tiny_frame())
        kept = ended(store, record.id)
    finally:
        capped.close()
    assert kept.status == "failed"
    assert "needed more memory than this server allows one worker process" in kept.error
    assert "the limit is 1 MB" in kept.error
    assert "a smaller network" in kept.error and "a smaller batch size" in kept.error
