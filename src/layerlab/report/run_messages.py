"""The sentence that tells a person how a training run ended, from the run's plain facts."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import DEFAULT_LEARNING_RATES
from layerlab.schema.vocabulary import StopReason

if TYPE_CHECKING:  # the trainer's record of a divergence; its module needs the engine
    from layerlab.model.training_guards import Divergence

STOP_REASONS = {
    StopReason.COMPLETED: "Training ran all {epochs} epochs.",
    "early_stopping": (
        "Validation loss has not improved for {patience} epochs, so training stopped early."
    ),
    "stopped": "Training was stopped on request.",
    "diverged": "Training stopped because the loss became NaN or infinite.",
}

# Added to a stopped run's message while its baselines, importance and model card are worked
# out after it was kept (``RunRecord.completing``), and taken off once they are.
COMPLETING_SENTENCE = (
    " Its baselines, importance and model card are being worked out; they appear on the "
    "Results page in a moment."
)

NAIVE_ANSWERS = {
    "mean": "the training mean",
    "class_shares": "the class shares of the training rows",
}


def run_message(
    stop_reason: str,
    *,
    epochs: int,
    patience: int,
    optimizer: str,
    learning_rate: float,
    kept_epoch: int | None,
    divergence: Divergence | None = None,
    xla_failed: bool = False,
) -> str:
    """Why training ended, what to try when it diverged, which weights are kept, and whether it
    ran without XLA. ``stop_reason`` is a key of ``STOP_REASONS``."""
    text = STOP_REASONS[stop_reason].format(epochs=f"{epochs:,}", patience=f"{patience:,}")
    if stop_reason == StopReason.DIVERGED:
        if divergence is not None and divergence.exploded_to is not None:
            text = _explosion_sentence(divergence)
        suggestion = min(learning_rate / 10, DEFAULT_LEARNING_RATES[optimizer])
        text += (
            f" The learning rate {readable_number(learning_rate)} is probably too high for "
            f"{optimizer}; try {readable_number(suggestion)}."
        )
    if kept_epoch is not None:
        text += f" The weights of epoch {kept_epoch:,} are kept."
    elif stop_reason in (StopReason.DIVERGED, StopReason.STOPPED):
        text += " No epoch finished, so the model is untrained."
    if xla_failed:
        text += (
            " XLA could not compile this network, so it trained on TensorFlow's slower "
            "plain graph path (the same steps, only slower)."
        )
    return text


def lowering_sentence(history: list[dict[str, float]]) -> str:
    """Where the learning rate was lowered on a plateau (``lr_plateau_factor``), read from the
    rate each epoch trained at: one sentence with a leading space, "" when it never was."""
    changes = [
        (row["epoch"], row["learning_rate"])
        for before, row in itertools.pairwise(history)
        if "learning_rate" in row and row["learning_rate"] != before.get("learning_rate")
    ]
    if not changes:
        return ""
    steps = ", then ".join(
        f"from epoch {epoch:,} to {readable_number(rate)}" for epoch, rate in changes
    )
    return f" The validation loss stalled, so the learning rate was lowered {steps}."


def _explosion_sentence(divergence: Divergence) -> str:
    naive = divergence.naive
    return (
        f"Training stopped because the loss exploded: the validation loss reached "
        f"{readable_number(divergence.exploded_to)}, over {divergence.factor:,} times the "
        f"{readable_number(naive.validation)} of always predicting {NAIVE_ANSWERS[naive.predicts]}."
    )
