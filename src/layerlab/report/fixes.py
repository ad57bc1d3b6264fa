"""The changes a diagnosis suggests: which one fits a spec, its button's words, and making it.

Kept apart from ``diagnosis.py``, which reads learning curves: this module only edits specs.
Each ``FixAction`` has one function here (``FIXES``) and one label (``FIX_LABELS``); the app
shows the label and dispatches on the action, so rewording a button changes nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from layerlab.schema import limits
from layerlab.schema.spec import USUAL_LEARNING_RATE_RANGES, LayerSpec, ModelSpec
from layerlab.schema.vocabulary import FixAction, LayerKind

SUGGESTED_DROPOUT = 0.2
DROPOUT_STEP = 0.1
MAX_SUGGESTED_DROPOUT = 0.5
# The width of the layer "deeper" adds to a network without a Dense layer.
DEEPER_UNITS = 32

# Regularisation this strong can hold a network back by itself: an L2 factor of 0.01 or more
# on a Dense layer's weights, or a Dropout rate of one half or more.
STRONG_L2 = 0.01
STRONG_DROPOUT = 0.5

FIX_LABELS: dict[FixAction, str] = {
    FixAction.ADD_DROPOUT: f"Add dropout {SUGGESTED_DROPOUT:g}",
    FixAction.RAISE_DROPOUT: f"Raise dropout by {DROPOUT_STEP:g}",
    FixAction.NARROWER: "Make it narrower",
    FixAction.WIDER: "Make it wider",
    FixAction.DEEPER: "Make it deeper",
    FixAction.HALVE_LEARNING_RATE: "Halve the learning rate",
    FixAction.DIVIDE_LEARNING_RATE: "Divide the learning rate by 10",
    FixAction.DOUBLE_LEARNING_RATE: "Double the learning rate",
    FixAction.MULTIPLY_LEARNING_RATE: "Multiply the learning rate by 10",
    FixAction.EASE_REGULARISATION: "Ease the regularisation",
}


def apply_fix(spec: ModelSpec, action: FixAction | str) -> ModelSpec:
    """A validated copy of ``spec`` with ``action`` done; ``spec`` is untouched.

    Raises ``ValueError`` for an unknown action and ``SpecError`` if the spec was invalid to
    begin with.
    """
    if action not in FIXES:
        raise ValueError(f"Unknown fix {action!r}; the fixes are: {', '.join(FIXES)}.")
    return FIXES[FixAction(action)](copy.deepcopy(spec)).validate()


# ------------------------------------------------------------ the changes
def _add_dropout(spec: ModelSpec) -> ModelSpec:
    """A Dropout(0.2) after each Dense (after its batch norm, if any) that has none."""
    room = int(limits.LAYERS.high) - len(spec.layers)
    layers: list[LayerSpec] = []
    for index, layer in enumerate(spec.layers):
        layers.append(layer)
        after = spec.layers[index + 1] if index + 1 < len(spec.layers) else None
        ends_block = after is None or after.kind == LayerKind.DENSE
        if room > 0 and ends_block and needs_dropout(spec.layers, index):
            layers.append(LayerSpec.dropout(SUGGESTED_DROPOUT))
            room -= 1
    return spec.replace(layers=layers)


def needs_dropout(layers: list[LayerSpec], index: int) -> bool:
    """Whether the block of layers ending at ``index`` has a Dense and no Dropout."""
    for layer in reversed(layers[: index + 1]):
        if layer.kind == LayerKind.DROPOUT:
            return False
        if layer.kind == LayerKind.DENSE:
            return True
    return False


def _raise_dropout(spec: ModelSpec) -> ModelSpec:
    def stronger(layer: LayerSpec) -> LayerSpec:
        if layer.kind != LayerKind.DROPOUT:
            return layer
        rate = min(round(layer.rate + DROPOUT_STEP, 2), max(layer.rate, MAX_SUGGESTED_DROPOUT))
        return LayerSpec.dropout(rate)

    return spec.replace(layers=[stronger(layer) for layer in spec.layers])


def _ease_regularisation(spec: ModelSpec) -> ModelSpec:
    """A tenth of each strong L2 factor and half of each strong Dropout rate; the rest stays."""

    def eased(layer: LayerSpec) -> LayerSpec:
        if layer.kind == LayerKind.DENSE and (layer.l2 or 0.0) >= STRONG_L2:
            return LayerSpec.dense(layer.units, layer.activation, layer.l2 / 10)
        if layer.kind == LayerKind.DROPOUT and layer.rate >= STRONG_DROPOUT:
            return LayerSpec.dropout(round(layer.rate / 2, 2))
        return layer

    return spec.replace(layers=[eased(layer) for layer in spec.layers])


def _scale_units(factor: float) -> Callable[[ModelSpec], ModelSpec]:
    def scale(spec: ModelSpec) -> ModelSpec:
        def scaled(layer: LayerSpec) -> LayerSpec:
            if layer.kind != LayerKind.DENSE:
                return layer
            units = min(max(int(layer.units * factor), 1), int(limits.UNITS.high))
            return LayerSpec.dense(units, layer.activation, layer.l2)

        return spec.replace(layers=[scaled(layer) for layer in spec.layers])

    return scale


def _deeper(spec: ModelSpec) -> ModelSpec:
    """One more ReLU layer as wide as the last Dense (32 units in a network without one)."""
    dense = [layer for layer in spec.layers if layer.kind == LayerKind.DENSE]
    units = dense[-1].units if dense else DEEPER_UNITS
    return spec.replace(layers=[*spec.layers, LayerSpec.dense(units, "relu")])


def _scale_learning_rate(factor: float) -> Callable[[ModelSpec], ModelSpec]:
    def scale(spec: ModelSpec) -> ModelSpec:
        rate = min(spec.learning_rate * factor, limits.LEARNING_RATE.high)
        if not limits.LEARNING_RATE.allows(rate):
            return spec
        return spec.replace(learning_rate=rate)

    return scale


FIXES: dict[FixAction, Callable[[ModelSpec], ModelSpec]] = {
    FixAction.ADD_DROPOUT: _add_dropout,
    FixAction.RAISE_DROPOUT: _raise_dropout,
    FixAction.NARROWER: _scale_units(0.5),
    FixAction.WIDER: _scale_units(2),
    FixAction.DEEPER: _deeper,
    FixAction.HALVE_LEARNING_RATE: _scale_learning_rate(0.5),
    FixAction.DIVIDE_LEARNING_RATE: _scale_learning_rate(0.1),
    FixAction.DOUBLE_LEARNING_RATE: _scale_learning_rate(2),
    FixAction.MULTIPLY_LEARNING_RATE: _scale_learning_rate(10),
    FixAction.EASE_REGULARISATION: _ease_regularisation,
}


# ------------------------------------------------------- which fix fits
def raising_fix(spec: ModelSpec | None) -> FixAction:
    """Ten times for a rate near the bottom of its optimizer's usual range (doubling 0.00001
    would take many runs to matter); double otherwise."""
    if spec is not None and spec.learning_rate <= 10 * usual_learning_rates(spec)[0]:
        return FixAction.MULTIPLY_LEARNING_RATE
    return FixAction.DOUBLE_LEARNING_RATE


def regularising_fix(spec: ModelSpec | None) -> FixAction | None:
    """Dropout first, since it costs no capacity; then more of it; then fewer units (None for
    a network without a Dense layer: nothing to regularise)."""
    if spec is None:
        return FixAction.ADD_DROPOUT
    layers = spec.layers
    if not any(layer.kind == LayerKind.DENSE for layer in layers):
        return None
    if (
        len(layers) < limits.LAYERS.high
        and any(needs_dropout(layers, i) for i in range(len(layers)))
        and not any(layer.kind == LayerKind.DROPOUT for layer in layers)
    ):
        return FixAction.ADD_DROPOUT
    if any(
        layer.kind == LayerKind.DROPOUT and layer.rate < MAX_SUGGESTED_DROPOUT for layer in layers
    ):
        return FixAction.RAISE_DROPOUT
    return FixAction.NARROWER


def capacity_fix(spec: ModelSpec | None) -> FixAction | None:
    """Wider while there is room; deeper when there is no Dense to widen or all are at the cap."""
    if spec is None:
        return FixAction.WIDER
    dense = [layer for layer in spec.layers if layer.kind == LayerKind.DENSE]
    if dense and any(layer.units < limits.UNITS.high for layer in dense):
        return FixAction.WIDER
    return FixAction.DEEPER if len(spec.layers) < limits.LAYERS.high else None


def usual_learning_rates(spec: ModelSpec) -> tuple[float, float]:
    """Where the spec's optimizer usually works well (Adam's range for an unknown one)."""
    return USUAL_LEARNING_RATE_RANGES.get(spec.optimizer, (1e-5, 1e-2))
