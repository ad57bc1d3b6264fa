"""The domain's words as types: tasks, feature kinds, layer kinds, run statuses, stop reasons,
diagnosis kinds and the fixes a diagnosis offers.

Each is a ``StrEnum`` whose values are the strings Layerlab has always written, so spec files,
run records and JSON stay as they were: a member equals its string (``Task.BINARY ==
"binary"``), ``json.dumps`` writes it as the string, and ``Task("binary")`` reads it back. Code
names a member instead of retyping the string, so a typo fails at import, not at run time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Task(StrEnum):
    """What the target is: a number, one of two classes, or one of several."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"


class FeatureKind(StrEnum):
    """How the model reads a feature column (``layerlab.model.build`` encodes each)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


class LayerKind(StrEnum):
    """A hidden layer's kind; ``layerlab.schema.layers.LAYER_KINDS`` defines each one."""

    DENSE = "dense"
    DROPOUT = "dropout"
    BATCH_NORM = "batch_norm"


class RunStatus(StrEnum):
    """Where a run stands, as its record in a workspace stores it."""

    QUEUED = "queued"
    TRAINING = "training"
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# A run in one of these is still owned by a worker: it may change on disk at any moment.
ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.TRAINING)


class StopReason(StrEnum):
    """Why a trainer's epochs ended (``report.run_messages.STOP_REASONS`` says it in words)."""

    COMPLETED = "completed"
    EARLY_STOPPING = "early_stopping"
    STOPPED = "stopped"
    DIVERGED = "diverged"


class RunStage(StrEnum):
    """What a run does before its first epoch, in order (``run_events.StageReached``)."""

    STARTING_ENGINE = "starting_engine"  # a worker starts and imports TensorFlow
    PREPARING = "preparing"  # splitting the rows, building the network and its preprocessing
    COMPILING = "compiling"  # tracing and compiling the training loop
    FIRST_EPOCH = "first_epoch"  # compiled ahead of the Train click: stepping at once


class DiagnosisKind(StrEnum):
    """What ``report.diagnosis.diagnose`` can find in a run's learning curves."""

    LEARNING_RATE_TOO_HIGH = "learning_rate_too_high"
    PLATEAU = "plateau"
    UNDERFITTING = "underfitting"
    OVERFITTING = "overfitting"
    LEARNING_RATE_TOO_LOW = "learning_rate_too_low"
    EARLY_STOPPING = "early_stopping"


class FixAction(StrEnum):
    """A change a diagnosis suggests; ``report.fixes`` makes it on a copy of a spec and names
    it for the button. The app dispatches on the member, never on the button's words."""

    ADD_DROPOUT = "add_dropout"
    RAISE_DROPOUT = "raise_dropout"
    NARROWER = "narrower"
    WIDER = "wider"
    DEEPER = "deeper"
    HALVE_LEARNING_RATE = "halve_learning_rate"
    DIVIDE_LEARNING_RATE = "divide_learning_rate"
    DOUBLE_LEARNING_RATE = "double_learning_rate"
    MULTIPLY_LEARNING_RATE = "multiply_learning_rate"
    EASE_REGULARISATION = "ease_regularisation"


# Every metric's name as a person reads it: the same on every page, in the CLI's output
# and in the model card ("test mean absolute error", never "Test mae" beside "MAE").
METRIC_WORDS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "average_precision": "average precision",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1 score",
    "precision_macro": "precision",
    "recall_macro": "recall",
    "f1_macro": "F1 score",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "mae": "mean absolute error",
    "rmse": "root mean squared error",
    "r2": "R²",
}
# The part of a run a metric was measured on, by its prefix in a history ("val_loss").
_METRIC_PARTS = {"val_": "validation ", "test_": "test "}


def metric_words(name: str) -> str:
    """A metric's name in words: ``val_mae`` is "validation mean absolute error"."""
    for prefix, part in _METRIC_PARTS.items():
        if name.startswith(prefix):
            return part + metric_words(name.removeprefix(prefix))
    return METRIC_WORDS.get(name, name.replace("_", " "))


def sentence_case(words: str) -> str:
    """``words`` with a capital first letter and the rest as written: "ROC AUC" stays."""
    return words[:1].upper() + words[1:]


def member_or_value(kind: type[StrEnum], value: Any) -> Any:
    """``value`` as a member of ``kind`` when it is one of its strings, else unchanged, so a
    record can hold the member while ``validate()`` still names a wrong value as it was given."""
    if isinstance(value, str) and not isinstance(value, kind) and value in kind._value2member_map_:
        return kind(value)
    return value
