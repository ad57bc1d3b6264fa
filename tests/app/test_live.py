"""The live view folds a worker's events into the curves and a bar that never goes back."""

from __future__ import annotations

from layerlab.model.train import EpochEnd, EpochProgress
from layerlab.runs.workers import Job
from layerlab_app.live import live_state


def epoch_end(epoch: int, best: int, elapsed: float) -> EpochEnd:
    return EpochEnd(epoch, 10, {"loss": 1.0 / epoch, "val_loss": 1.2 / epoch}, elapsed, best)


def test_a_queued_run_says_it_waits_and_a_started_one_that_it_prepares():
    job = Job("train", ())
    assert live_state(job, early_stopping=False).text == "Waiting for a free training slot…"
    job.status = "running"
    now = live_state(job, early_stopping=False)
    assert now.text == "Preparing the data and building the network…"
    assert (now.history, now.fraction) == ([], 0.0)


def test_events_become_the_history_the_best_epoch_and_the_bar():
    job = Job("train", (), status="running")
    job.events += [
        EpochProgress(1, 10, 0.5, 1.0),
        epoch_end(1, 1, 2.0),
        EpochProgress(2, 10, 0.5, 3.0),
        epoch_end(2, 2, 4.0),
    ]
    now = live_state(job, early_stopping=True)
    assert [row["epoch"] for row in now.history] == [1, 2]
    assert now.best_epoch == 2
    assert now.fraction == 0.2
    assert now.text.startswith("Epoch 2 of 10 · at most about")


def test_an_epoch_end_after_the_next_epochs_progress_does_not_move_the_bar_back():
    job = Job("train", (), status="running")
    job.events += [EpochProgress(2, 10, 0.5, 3.0), epoch_end(1, 1, 3.1)]
    now = live_state(job, early_stopping=False)
    assert now.fraction == 0.15
    assert now.text.startswith("Epoch 2 of 10")
    assert len(now.history) == 1
