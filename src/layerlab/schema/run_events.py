"""What a training run tells as it goes, as plain values: the events a trainer sends, and the
metric shown beside the loss.

Kept apart from ``train.py`` (which imports Keras) so that the Streamlit server, which
follows runs through these events and never imports TensorFlow, can name them.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.schema.vocabulary import RunStage, Task


@dataclass(frozen=True)
class EpochEnd:
    """Sent after every completed epoch."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    elapsed_seconds: float
    best_epoch: int
    # The validation loss of the answer that ignores every column, the yardstick for
    # "learns nothing" (``diagnosis.diagnose``).
    naive_val_loss: float | None = None


@dataclass(frozen=True)
class CheckpointSaved:
    """Sent after the kept weights of ``epoch`` were written to ``path`` (a ``.keras`` file);
    ``refitted``: they are the refit's network (``model.refit``), whose preprocessing read the
    training and validation rows, not the first network's."""

    epoch: int
    path: str
    refitted: bool = False


@dataclass(frozen=True)
class EpochProgress:
    """Sent after a slice of training unless another event went out within the last half
    slice, so a progress bar moves (and Stop is heard) between epoch ends.

    ``fraction`` is the share of ``epoch`` trained; 1.0 when the epoch is trained
    and its validation still runs. The previous epoch's ``EpochEnd`` can come
    after the first progress of the next: its validation runs while the next
    epoch trains.
    """

    epoch: int
    epochs: int
    fraction: float
    elapsed_seconds: float


@dataclass(frozen=True)
class StageReached:
    """Sent as a run gets ready, before its first epoch: what it does now, so the page says
    more than one still sentence through the seconds a fresh engine or a compile takes."""

    stage: RunStage


@dataclass(frozen=True)
class RefitProgress:
    """Sent as the final network trains on every training and validation row (``refit``),
    after validation chose ``epochs``: ``fraction`` of ``epoch`` done, on ``rows`` rows."""

    epoch: int
    epochs: int
    fraction: float
    rows: int
    elapsed_seconds: float


TrainingEvent = EpochEnd | EpochProgress | CheckpointSaved | StageReached | RefitProgress


def main_metric(task: str) -> str:
    """The metric shown beside the loss: accuracy for classes, MAE for numbers."""
    return "mae" if task == Task.REGRESSION else "accuracy"
