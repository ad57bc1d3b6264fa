"""Train page: train with live curves and progress, stop keeping the best weights, explain failures."""

from __future__ import annotations

import time

from app_support import (
    APP,
    TIMEOUT,
    followed_job,
    opened_result,
    seed_dataset,
    seed_trained,
    session_of,
    shown,
    small_network,
    texts,
    tiny_regression_frame,
    wait_for_training,
)
from streamlit.testing.v1 import AppTest

from layerlab.model.train import EpochEnd
from layerlab.report.records import RunRecord
from layerlab.runs import workspaces
from layerlab.schema.spec import MAX_EPOCHS, LayerSpec
from layerlab_app import state


def open_train_page(at):
    return at.switch_page("app_pages/train.py").run()


def test_train_page_asks_for_data_first(app):
    at = open_train_page(app)
    assert not at.exception
    assert "First load data" in texts(at.info)
    assert not [button for button in at.button if button.key == "train_button"]


def test_invalid_settings_block_training_and_point_to_the_model_page(app):
    seed_dataset(app, tiny_regression_frame(), "y", batch_size=0)
    at = open_train_page(app)
    assert "The 'batch_size' must be a whole number from 1 to 65536; got 0." in texts(at.error)
    assert not [button for button in at.button if button.key == "train_button"]


def test_training_draws_curves_and_keeps_the_model(app):
    seed_dataset(app, tiny_regression_frame(), "y", layers=small_network(), epochs=3, batch_size=8)
    at = open_train_page(app)
    assert at.button(key="stop_button").disabled
    at.button(key="train_button").click().run()
    assert not at.exception
    # The run trains in a worker: the page follows it, Train is off and Stop is on.
    assert at.button(key="train_button").disabled
    assert not at.button(key="stop_button").disabled
    assert "only Stop ends it early" in texts(at.caption)
    at = wait_for_training(at)
    assert not at.exception
    assert texts(at.success).startswith("Training ran all 3 epochs.")
    result = opened_result(at)
    assert len(result.history) == 3
    assert len(at.get("plotly_chart")) == 1
    assert "Ran all 3 epochs; epoch" in texts(at.caption)
    assert "Trained on 24 rows and validated on 8" in texts(at.caption)
    # Drawn again from the state: Train is clickable again, Stop is not.
    assert not at.button(key="train_button").disabled
    assert at.button(key="stop_button").disabled
    assert "Last run:" in texts(at.sidebar.markdown)
    assert "See how the model does on the test set." in texts(at.sidebar.markdown)


def test_a_diverging_run_is_a_plain_error_with_the_fix(app):
    seed_dataset(
        app,
        tiny_regression_frame(),
        "y",
        layers=[LayerSpec.dense(64, "linear")] * 3,
        optimizer="sgd",
        learning_rate=10.0,
        batch_size=4,
        epochs=3,
    )
    at = open_train_page(app)
    at.button(key="train_button").click().run()
    at = wait_for_training(at)
    assert not at.exception
    [error] = at.error
    assert "the loss became NaN or infinite" in shown(error.value)
    assert "try 0.01" in shown(error.value)
    assert opened_result(at) is None


def _wait_for_epoch(job, epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(isinstance(e, EpochEnd) and e.epoch >= epoch for e in list(job.events)):
        assert time.monotonic() < deadline, f"epoch {epoch} did not end within {timeout} s"
        assert not job.finished, job.error or job.bug
        time.sleep(0.05)


def _start_a_long_run(app):
    """Press Train on a run that only ends when it is stopped (early stopping off: on a fast
    machine it could end the run before the test has seen its epochs); return the page and its
    job."""
    seed_dataset(
        app,
        tiny_regression_frame(),
        "y",
        layers=small_network(),
        epochs=MAX_EPOCHS,
        batch_size=8,
        patience=0,
    )
    at = open_train_page(app)
    at.button(key="train_button").click().run()
    return at, followed_job(at)


def test_the_live_view_grows_while_the_run_trains_and_stop_keeps_the_best_weights(app):
    at, job = _start_a_long_run(app)
    # The chart is there from the click on, so the browser has Plotly ready for epoch 1.
    assert len(at.get("plotly_chart")) == 1
    _wait_for_epoch(job, 3)
    at.run()
    assert not at.exception
    [bar] = at.get("progress")
    assert f"of {MAX_EPOCHS:,}" in bar.proto.text or f"of {MAX_EPOCHS}" in bar.proto.text
    assert len(at.get("plotly_chart")) == 1  # the live curves
    at.button(key="stop_button").click().run()
    at = wait_for_training(at)
    assert not at.exception
    assert "Training was stopped on request." in texts(at.info)
    result = opened_result(at)
    assert result.stop_reason == "stopped"
    assert result.kept_epoch == result.best_epoch
    assert "Stopped by you after" in texts(at.caption)
    assert session_of(at).following is None


def test_a_stop_in_flight_shows_at_once_until_the_run_has_ended(app):
    at, job = _start_a_long_run(app)
    _wait_for_epoch(job, 1)
    job.stop_requested = True  # asked, not yet heard by the worker: what the next draw sees
    at.run()
    assert not at.exception
    button = at.button(key="stop_button")
    assert button.label == "Stopping…" and button.disabled
    [bar] = at.get("progress")
    assert bar.proto.text.startswith("Stopping: keeping the best weights so far…")
    job.stop()
    at = wait_for_training(at)
    assert opened_result(at).stop_reason == "stopped"
    assert at.button(key="stop_button").label == "Stop"


def test_other_pages_and_clicks_do_not_stop_the_run(app):
    at, job = _start_a_long_run(app)
    _wait_for_epoch(job, 2)
    at = at.switch_page("app_pages/data.py").run()
    at = at.switch_page("app_pages/model.py").run()
    assert not at.exception
    seen = max(event.epoch for event in list(job.events) if isinstance(event, EpochEnd))
    _wait_for_epoch(job, seen + 3)
    assert not job.finished
    at = at.switch_page("app_pages/train.py").run()
    at.button(key="stop_button").click().run()
    at = wait_for_training(at)
    assert opened_result(at).stop_reason == "stopped"


def test_stop_before_a_worker_is_free_cancels_the_queued_run(app, monkeypatch, tmp_path):
    from layerlab.runs import background
    from layerlab.runs.workers import WorkerPool

    busy = WorkerPool(1)
    monkeypatch.setattr(background, "shared_pool", lambda: busy)
    try:
        spec = seed_dataset(
            app,
            tiny_regression_frame(),
            "y",
            layers=small_network(),
            epochs=MAX_EPOCHS,
            patience=0,
        )
        blocker = busy.submit("train", tiny_regression_frame(), spec, str(tmp_path))
        at = open_train_page(app)
        at.button(key="train_button").click().run()
        [bar] = at.get("progress")
        assert "1 run of other people ahead of yours" in bar.proto.text
        at.button(key="stop_button").click().run()
        assert not at.exception
        at = wait_for_training(at)  # the run's record says so within a moment
        assert "Training was stopped before it started." in texts(at.info)
        blocker.stop()
        assert blocker.wait(120)
    finally:
        busy.close()


def test_a_run_queued_behind_its_own_workspaces_run_says_it_waits_for_that_one(
    app, monkeypatch, tmp_path
):
    from layerlab.runs import background
    from layerlab.runs.workers import WorkerPool

    busy = WorkerPool(2, per_owner=1)  # a slot is free, yet the run waits for its own
    monkeypatch.setattr(background, "shared_pool", lambda: busy)
    try:
        spec = seed_dataset(
            app, tiny_regression_frame(), "y", layers=small_network(), epochs=MAX_EPOCHS, patience=0
        )
        at = open_train_page(app)
        own = str(session_of(at).store.folder)  # as if a search of this workspace trained
        blocker = busy.submit("train", tiny_regression_frame(), spec, str(tmp_path), owner=own)
        _wait_for_epoch(blocker, 1)
        at.button(key="train_button").click().run()
        assert not at.exception
        [bar] = at.get("progress")
        assert bar.proto.text == (
            "Waiting for your other run to finish (one run at a time per workspace on this server)."
        )
        at.button(key="stop_button").click().run()
        blocker.stop()
        assert blocker.wait(120)
        at = wait_for_training(at)
        assert "Training was stopped before it started." in texts(at.info)
    finally:
        busy.close()


def test_changed_settings_after_a_run_ask_to_train_again(app, trained_regression):
    seed_trained(app, trained_regression)
    at = open_train_page(app)
    assert not texts(at.info)
    at = at.switch_page("app_pages/model.py").run()
    at.number_input(key="epochs").set_value(99).run()
    at = open_train_page(at)
    assert "The settings changed since: train again" in texts(at.info)
    assert "The settings changed since the last run" in texts(at.sidebar.markdown)


def test_a_new_tab_at_the_same_address_finds_the_run_still_training_and_can_stop_it(app):
    at, job = _start_a_long_run(app)
    _wait_for_epoch(job, 2)
    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params[state.TOKEN_PARAM] = at.query_params[state.TOKEN_PARAM]
    reloaded = open_train_page(reloaded.run())
    assert not reloaded.exception
    assert not job.finished
    [bar] = reloaded.get("progress")
    assert "epoch" in bar.proto.text.lower()
    reloaded.button(key="stop_button").click().run()
    reloaded = wait_for_training(reloaded)
    assert opened_result(reloaded).stop_reason == "stopped"


def test_the_sidebar_names_the_run_training_and_its_table_when_it_is_another(app):
    spec = seed_dataset(app, tiny_regression_frame(), "y")
    store = workspaces.open_workspace(app.query_params[state.TOKEN_PARAM])
    other = store.add_table("wages.csv", b"a,b\n1,2\n3,4\n", rows=2, columns=2)
    run = RunRecord(
        id=store.new_run_id(),
        name="Run 4: 16 relu",
        created=time.time(),
        spec=spec,
        table_id=other.id,
        status="training",
        owner="another-host:12:34",  # trained by another process: not this server's to recover
    )
    store.add_run(run)
    settings = store.get_setting("session")
    store.set_setting("session", {**settings, "following": run.id})
    at = app.run()
    assert not at.exception
    assert "**Training:** Run 4: 16 relu (on wages.csv)" in texts(at.sidebar.markdown)
    assert "**Data:** tiny.csv" in texts(at.sidebar.markdown)


def test_the_network_shown_is_compiled_ahead_and_train_starts_from_it(app, monkeypatch):
    """While the Train page shows a network that is not training, an idle worker compiles it
    (``WorkerPool.prepare``); Train then starts from that worker, with no build or compile."""
    from layerlab.runs import background
    from layerlab.runs.workers import WorkerPool
    from layerlab.schema.run_events import StageReached
    from layerlab.schema.vocabulary import RunStage

    warm = WorkerPool(1)
    monkeypatch.setattr(background, "shared_pool", lambda: warm)
    try:
        warm.warm_up()
        seed_dataset(app, tiny_regression_frame(), "y", layers=small_network(), epochs=2)
        at = open_train_page(app)
        assert not at.exception
        deadline = time.monotonic() + TIMEOUT
        while not warm.prepared_keys():
            assert time.monotonic() < deadline, "the network was not compiled ahead"
            time.sleep(0.1)
        [key] = warm.prepared_keys()
        at.button(key="train_button").click().run()
        job = followed_job(at)
        assert job.affinity == key
        at = wait_for_training(at)
        assert not at.exception
        stages = [event.stage for event in job.events if isinstance(event, StageReached)]
        assert RunStage.PREPARING not in stages and RunStage.COMPILING not in stages
        assert texts(at.success).startswith("Training ran all 2 epochs.")
    finally:
        warm.close()
