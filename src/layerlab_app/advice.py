"""Warnings, one plain sentence each, for model choices that usually hurt.

Validity is ``ModelSpec.validate``'s job (softmax in a hidden layer, once
allowed, is refused there); this module only looks at settings that are allowed
but rarely wise, so the Model page can say so before training.
"""

from __future__ import annotations

import math

from layerlab.schema.spec import (
    DEFAULT_LEARNING_RATES,
    USUAL_LEARNING_RATE_RANGES,
    LayerSpec,
    ModelSpec,
)
from layerlab.schema.vocabulary import LayerKind

SATURATING = ("sigmoid", "tanh")
# From this many sigmoid/tanh layers on, gradients typically vanish before the first layers.
SATURATING_STACK = 3


def advise(spec: ModelSpec, training_rows: int | None = None) -> list[str]:
    """Every warning that applies to ``spec``; ``training_rows`` enables the batch-size check."""
    return [
        *_vanishing_gradients(spec.layers),
        *_learning_rate(spec),
        *_batch_size(spec, training_rows),
    ]


def estimated_training_rows(rows: int, validation_split: float, test_split: float) -> int:
    """Rows left for training after the test and validation splits (as the trainer splits them)."""
    test = math.ceil(rows * test_split)
    rest = rows - test
    validation = math.ceil(rest * validation_split / (1 - test_split))
    return max(rest - validation, 0)


def _positions(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Layer {numbers[0]} uses"
    listed = ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"
    return f"Layers {listed} use"


def _vanishing_gradients(layers: list[LayerSpec]) -> list[str]:
    saturating = [
        layer
        for layer in layers
        if layer.kind == LayerKind.DENSE and layer.activation in SATURATING
    ]
    if len(saturating) < SATURATING_STACK:
        return []
    names = " and ".join(sorted({layer.activation for layer in saturating}))
    return [
        f"The network stacks {len(saturating)} {names} layers, whose gradients shrink at every "
        "layer on the way back (vanishing gradients), so the first layers barely learn; use relu "
        "for deep stacks."
    ]


def _learning_rate(spec: ModelSpec) -> list[str]:
    usual = USUAL_LEARNING_RATE_RANGES.get(spec.optimizer)
    rate = spec.learning_rate
    if usual is None or isinstance(rate, bool) or not isinstance(rate, int | float):
        return []
    if not math.isfinite(rate) or rate <= 0:
        return []  # invalid, and validate() says so
    low, high = usual
    suggestion = f"try {DEFAULT_LEARNING_RATES[spec.optimizer]:g}"
    where = f"the usual range for {spec.optimizer} ({low:g} to {high:g})"
    if rate > high:
        return [
            f"A learning rate of {rate:g} is above {where}, so the loss will likely jump around "
            f"or blow up; {suggestion}."
        ]
    if rate < low:
        return [
            f"A learning rate of {rate:g} is below {where}, so training will barely move; "
            f"{suggestion}."
        ]
    return []


def _batch_size(spec: ModelSpec, training_rows: int | None) -> list[str]:
    batch_size = spec.batch_size
    if not training_rows or not isinstance(batch_size, int) or batch_size <= training_rows:
        return []
    suggestion = 2 ** max(0, int(math.log2(max(training_rows // 4, 1))))
    return [
        f"The batch size ({batch_size}) is larger than the training set (about {training_rows} "
        "rows), so every epoch makes a single weight update and learning is slow; try "
        f"{suggestion}."
    ]
