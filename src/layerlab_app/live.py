"""The live view of a training run that trains in a worker: progress bar and growing curves.

The Train page draws it inside a fragment that reruns every ``FOLLOW_SECONDS``
while the run trains, from the events the worker has sent so far; the rest of
the page and the app stay clickable, and a click never stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from layerlab.report.progress import done_fraction, progress_text, seconds_per_epoch
from layerlab.report.records import RunRecord
from layerlab.runs.pool_job import Job
from layerlab.schema.run_events import EpochEnd, EpochProgress, RefitProgress, StageReached
from layerlab.schema.vocabulary import RunStage
from layerlab_app import diagnosis_panel
from layerlab_app.figures import learning_curves

# Each epoch is on the chart within about this long after the worker sends it.
FOLLOW_SECONDS = 0.5
# After Stop, more often: the stopped run is kept within about half a second, and the page
# shows it as soon as it is.
STOPPING_FOLLOW_SECONDS = 0.2
# From the moment a run is on a worker until its first epoch is drawn, more often still: a
# compiled network's first epoch comes a fraction of a second after Train, and the empty
# chart is cheap to redraw. Then back to ``FOLLOW_SECONDS``, where each look redraws it all.
FIRST_POINT_FOLLOW_SECONDS = 0.1


def follow_seconds(job: Job) -> float:
    """How often the live view should look at ``job``'s events now.

    A queued run looks slowly (its wait can be long), unless it waits only for its own
    compile; a run on a worker looks fast until its first epoch ends; Stop looks often.
    """
    if job.stop_requested:
        return STOPPING_FOLLOW_SECONDS
    if job.status == "queued" and not job.waits_for_its_compile():
        return FOLLOW_SECONDS
    if any(isinstance(event, EpochEnd) for event in list(job.events)):
        return FOLLOW_SECONDS
    return FIRST_POINT_FOLLOW_SECONDS


@dataclass(frozen=True)
class LiveState:
    """What a job's events say so far: the history, the best epoch and the bar."""

    history: list[dict[str, float]]
    best_epoch: int | None
    fraction: float
    text: str
    naive_val_loss: float | None = None


def live_state(job: Job, patience: int = 0) -> LiveState:
    """Fold the job's events into the history and the progress bar's position and words.

    ``patience`` is the run's early stopping patience (0: none), for the time left.
    """
    history: list[dict[str, float]] = []
    best_epoch = naive_val_loss = None
    marks: list[tuple[float, float]] = []  # (epochs trained, seconds): the pace's measure
    latest: EpochEnd | EpochProgress | None = None
    within = 1.0
    for event in list(job.events):
        if isinstance(event, EpochEnd):
            history.append({"epoch": event.epoch, **event.metrics})
            best_epoch, naive_val_loss = event.best_epoch, event.naive_val_loss
            within_epoch = 1.0
        elif isinstance(event, EpochProgress):
            within_epoch = event.fraction
        else:
            continue
        # An epoch's end can come just after the next epoch's first progress (its
        # validation runs alongside); the bar never moves backwards.
        done = event.epoch - 1 + within_epoch
        if not marks or done >= marks[-1][0]:
            marks.append((done, event.elapsed_seconds))
            latest, within = event, within_epoch
    refitting = _refit_state(job)
    if refitting is not None:
        fraction, text = refitting
        return LiveState(history, best_epoch, fraction, text, naive_val_loss)
    if latest is None:
        return LiveState(history, best_epoch, 0.0, _waiting_text(job), naive_val_loss)
    text = progress_text(
        latest.epoch,
        latest.epochs,
        latest.elapsed_seconds,
        within,
        seconds_per_epoch(marks),
        patience,
        best_epoch,
    )
    fraction = done_fraction(latest.epoch, latest.epochs, within)
    return LiveState(history, best_epoch, fraction, text, naive_val_loss)


def _refit_state(job: Job) -> tuple[float, str] | None:
    """The bar's position and words once the final network trains on every row (a
    ``RefitProgress`` came: it follows every epoch's end), else None."""
    refits = [event for event in list(job.events) if isinstance(event, RefitProgress)]
    if not refits:
        return None
    last = refits[-1]
    return (
        done_fraction(last.epoch, last.epochs, last.fraction),
        f"Training the final network on all {last.rows:,} training and validation rows: "
        f"epoch {last.epoch:,} of the {last.epochs:,} validation chose…",
    )


# What a run does before its first epoch (``StageReached``), as the bar says it.
STAGE_TEXT = {
    RunStage.STARTING_ENGINE: "Starting the training engine (TensorFlow loads once, in seconds)…",
    RunStage.PREPARING: "Splitting the rows and building the network…",
    RunStage.COMPILING: "Compiling the training loop for this network; epoch 1 follows…",
    RunStage.FIRST_EPOCH: "Training epoch 1 (the network was compiled while you looked at it)…",
}


def _waiting_text(job: Job) -> str:
    """Why a queued run waits (its workspace's other run, or other people's), in the queue's
    own words; once it runs, the stage it has reached before its first epoch."""
    if job.status != "queued":
        stages = [event.stage for event in list(job.events) if isinstance(event, StageReached)]
        return STAGE_TEXT[stages[-1]] if stages else STAGE_TEXT[RunStage.PREPARING]
    if job.waits_for_its_compile():  # compiled ahead of the click, and not quite done
        return STAGE_TEXT[RunStage.COMPILING]
    reason = job.wait_reason()
    return reason.text() if reason is not None else "Waiting for a free training slot…"


def render_record(record: RunRecord, metric: str) -> None:
    """Draw a run another process trains from its record: the epochs written so far."""
    done = len(record.history)
    st.progress(
        min(done / record.spec.epochs, 1.0),
        text=f"Training in another process: epoch {done:,} of {record.spec.epochs:,}.",
    )
    if record.history:
        st.plotly_chart(
            learning_curves(record.history, metric, record.best_epoch), key="live_curves"
        )


def render(job: Job, metric: str, record: RunRecord) -> None:
    """Draw the bar and the learning curves of ``record``'s run, empty until the first
    epoch ends.

    The empty chart is there from the Train click on: the browser loads and sets up
    Plotly (a 4.7 MB script, seconds on a small machine) while the worker starts
    and builds the network, so the first epoch is drawn as soon as it arrives.
    """
    spec = record.spec
    now = live_state(job, spec.patience)
    text = (
        f"Stopping: keeping the best weights so far… · {now.text}"
        if job.stop_requested
        else now.text
    )
    st.progress(now.fraction, text=text)
    figure = learning_curves(now.history, metric, now.best_epoch)
    if not now.history:
        figure.add_annotation(
            text="The first epoch appears here.",
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            showarrow=False,
        )
    st.plotly_chart(figure, key="live_curves")
    diagnosis_panel.render(
        now.history,
        spec=spec,
        naive_val_loss=now.naive_val_loss,
        stop_reason=None,
        run_id=record.id,
        key="live",
    )
