"""The live view folds a worker's events into the curves and a bar that never goes back."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from layerlab.model.train import EpochEnd, EpochProgress
from layerlab.runs.pool_job import Job
from layerlab.schema.run_events import CheckpointSaved, RefitProgress, StageReached
from layerlab.schema.vocabulary import RunStage
from layerlab_app.live import (
    FIRST_POINT_FOLLOW_SECONDS,
    FOLLOW_SECONDS,
    STOPPING_FOLLOW_SECONDS,
    follow_seconds,
    live_state,
)


def epoch_end(epoch: int, best: int, elapsed: float) -> EpochEnd:
    return EpochEnd(epoch, 10, {"loss": 1.0 / epoch, "val_loss": 1.2 / epoch}, elapsed, best)


def test_a_queued_run_says_it_waits_and_a_started_one_that_it_prepares():
    job = Job("train", ())
    assert live_state(job).text == "Waiting for a free training slot…"
    job.status = "running"
    now = live_state(job)
    assert now.text == "Splitting the rows and building the network…"
    assert (now.history, now.fraction) == ([], 0.0)


def test_before_its_first_epoch_a_run_says_which_stage_it_has_reached():
    job = Job("train", (), status="running")
    said = []
    for stage in (RunStage.STARTING_ENGINE, RunStage.PREPARING, RunStage.COMPILING):
        job.events.append(StageReached(stage))
        said.append(live_state(job).text)
    assert said == [
        "Starting the training engine (TensorFlow loads once, in seconds)…",
        "Splitting the rows and building the network…",
        "Compiling the training loop for this network; epoch 1 follows…",
    ]
    job.events.append(EpochProgress(1, 10, 0.5, 1.0))
    assert live_state(job).text.startswith("Epoch 1 of 10")


def test_a_run_compiled_ahead_says_so_while_it_waits_for_the_compile_and_then_trains():
    job = Job("train", (), affinity="key")
    job.waits_for_its_compile = lambda: True  # a worker compiles its network (test_prepare.py)
    assert live_state(job).text == "Compiling the training loop for this network; epoch 1 follows…"
    job.status = "running"
    job.events.append(StageReached(RunStage.FIRST_EPOCH))
    assert live_state(job).text == (
        "Training epoch 1 (the network was compiled while you looked at it)…"
    )


def test_the_view_looks_fast_from_the_worker_to_the_first_point_then_slower():
    job = Job("train", ())
    assert follow_seconds(job) == FOLLOW_SECONDS  # queued: its wait may be long
    job.waits_for_its_compile = lambda: True
    assert follow_seconds(job) == FIRST_POINT_FOLLOW_SECONDS  # its own compile, then epoch 1
    job.status = "running"
    job.events.append(EpochProgress(1, 10, 0.5, 0.3))
    assert follow_seconds(job) == FIRST_POINT_FOLLOW_SECONDS
    job.events.append(epoch_end(1, 1, 0.4))
    assert follow_seconds(job) == FOLLOW_SECONDS  # each look now redraws the whole chart
    job.stop_requested = True
    assert follow_seconds(job) == STOPPING_FOLLOW_SECONDS
    assert FIRST_POINT_FOLLOW_SECONDS < STOPPING_FOLLOW_SECONDS < FOLLOW_SECONDS


def test_the_final_fit_on_every_row_has_its_own_bar_and_words():
    job = Job("train", (), status="running")
    job.events += [epoch_end(1, 1, 1.0), epoch_end(2, 2, 2.0)]
    job.events.append(RefitProgress(1, 2, 0.5, 1_200, 2.5))
    now = live_state(job)
    assert now.fraction == 0.25 and len(now.history) == 2  # the curves stay the first network's
    assert now.text == (
        "Training the final network on all 1,200 training and validation rows: epoch 1 of the "
        "2 validation chose…"
    )
    job.events.append(CheckpointSaved(2, "model.keras"))  # the refit model, saved at the end
    assert live_state(job).text.startswith("Training the final network")


def test_events_become_the_history_the_best_epoch_and_the_bar():
    job = Job("train", (), status="running")
    job.events += [
        EpochProgress(1, 10, 0.5, 1.0),
        epoch_end(1, 1, 2.0),
        EpochProgress(2, 10, 0.5, 3.0),
        epoch_end(2, 2, 4.0),
    ]
    now = live_state(job, patience=3)
    assert [row["epoch"] for row in now.history] == [1, 2]
    assert now.best_epoch == 2
    assert now.fraction == 0.2
    # Epoch 2 measured the steady pace: the earliest end is epoch 5 (best 2, patience 3).
    assert now.text == (
        "Epoch 2 of 10 · 4 s so far · 2 s an epoch · 6 s to 16 s left, depending on early stopping"
    )


def test_an_epoch_end_after_the_next_epochs_progress_does_not_move_the_bar_back():
    job = Job("train", (), status="running")
    job.events += [EpochProgress(2, 10, 0.5, 3.0), epoch_end(1, 1, 3.1)]
    now = live_state(job)
    assert now.fraction == 0.15
    assert now.text.startswith("Epoch 2 of 10")
    assert len(now.history) == 1


def test_the_time_left_waits_for_a_steady_epoch_and_ignores_the_first():
    # Epoch 1 pays 40 s of compiling, then 2 s an epoch; epoch 2's end comes with
    # epoch 3's first progress, as the trainer sends it (validation runs alongside).
    job = Job("train", (), status="running")
    job.events += [EpochProgress(1, 10, 0.5, 30.0), epoch_end(1, 1, 40.0)]
    assert live_state(job, patience=3).text == (
        "Epoch 1 of 10 · 40 s so far · estimating the time left…"
    )
    job.events += [EpochProgress(2, 10, 0.5, 41.0), EpochProgress(2, 10, 1.0, 42.0)]
    job.events += [EpochProgress(3, 10, 0.5, 43.0), epoch_end(2, 2, 43.1)]
    now = live_state(job, patience=3)
    assert now.fraction == 0.25
    assert now.text == (
        "Epoch 3 of 10 · 43 s so far · 2 s an epoch · 5 s to 15 s left, depending on early stopping"
    )
    assert live_state(job).text == "Epoch 3 of 10 · 43 s so far · 2 s an epoch · about 15 s left"


def _live_view_of_a_run_in_epoch_3():
    """A run of 10 epochs whose epoch 1 compiled for 40 s, then trains 2 s an epoch."""
    from layerlab.report.records import RunRecord
    from layerlab.runs.pool_job import Job
    from layerlab.schema.run_events import EpochEnd, EpochProgress
    from layerlab.schema.spec import Feature, ModelSpec
    from layerlab_app import live

    spec = ModelSpec(
        target="y", task="regression", features=[Feature("x", "numeric")], epochs=10, patience=3
    )
    metrics = {"loss": 1.0, "mae": 0.8, "val_loss": 1.1, "val_mae": 0.9}
    job = Job("train", (), status="running")
    job.events += [
        EpochEnd(1, 10, metrics, 40.0, 1),
        EpochProgress(2, 10, 1.0, 42.0),
        EpochProgress(3, 10, 0.5, 43.0),
        EpochEnd(2, 10, metrics, 43.1, 2),
    ]
    live.render(job, "mae", RunRecord("run-1", "Run 1", 0.0, spec))


def test_the_live_view_shows_the_time_left_as_a_range_under_early_stopping():
    at = AppTest.from_function(_live_view_of_a_run_in_epoch_3).run()
    assert not at.exception
    [bar] = at.get("progress")
    assert bar.proto.text == (
        "Epoch 3 of 10 · 43 s so far · 2 s an epoch · 5 s to 15 s left, depending on early stopping"
    )
    assert bar.proto.value == 25
