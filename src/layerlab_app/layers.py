"""The layer editor's operations on plain lists of ``LayerSpec``, and the capacity presets.

Every function returns a new list, so the page can store the result as the
canonical spec and redraw the widgets from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerlab.schema.layers import LAYER_KINDS, definition_of
from layerlab.schema.spec import LOSSES, LayerSpec
from layerlab.schema.vocabulary import LayerKind, Task


@dataclass(frozen=True)
class Preset:
    label: str
    sentence: str
    make: Callable[[], list[LayerSpec]]


# The classic capacity workflow: a baseline, then small, then wider, then deeper, then regularized.
PRESETS: dict[str, Preset] = {
    "linear": Preset(
        "No hidden layer",
        "A linear (or logistic) model: the baseline every network should beat.",
        list,
    ),
    "small": Preset(
        "Small",
        "One layer of 16 units: start here.",
        lambda: [LayerSpec.dense(16, "relu")],
    ),
    "wider": Preset(
        "Wider",
        "One layer of 128 units: more capacity in a single layer.",
        lambda: [LayerSpec.dense(128, "relu")],
    ),
    "deeper": Preset(
        "Deeper",
        "Three layers of 64 units: capacity through depth.",
        lambda: [LayerSpec.dense(64, "relu") for _ in range(3)],
    ),
    "regularized": Preset(
        "Regularized",
        "Two layers with dropout after each: for when training beats validation by a lot.",
        lambda: [
            LayerSpec.dense(64, "relu"),
            LayerSpec.dropout(0.3),
            LayerSpec.dense(32, "relu"),
            LayerSpec.dropout(0.3),
        ],
    ),
}


def new_layer(kind: LayerKind | str, layers: list[LayerSpec]) -> LayerSpec:
    """A sensible layer to append: each setting's ``new_value``, or, where the kind says so,
    the last such layer's value (a Dense layer copies the width of the last Dense layer)."""
    definition = definition_of(kind)
    if definition is None:
        raise ValueError(f"Unknown layer kind {kind!r}; expected one of {', '.join(LAYER_KINDS)}.")
    same_kind = [layer for layer in layers if layer.kind == definition.kind]
    values = {}
    for setting in definition.settings:
        earlier = [getattr(layer, setting.name) for layer in same_kind]
        earlier = [value for value in earlier if value] if setting.carried_to_new else []
        values[setting.name] = earlier[-1] if earlier else setting.new_value
    return LayerSpec(kind=definition.kind, **values)


def add_layer(layers: list[LayerSpec], kind: str) -> list[LayerSpec]:
    return [*layers, new_layer(kind, layers)]


def remove_layer(layers: list[LayerSpec], position: int) -> list[LayerSpec]:
    return [layer for index, layer in enumerate(layers) if index != position]


def move_layer(layers: list[LayerSpec], position: int, offset: int) -> list[LayerSpec]:
    """Move the layer at ``position`` by ``offset`` places; moves past either end do nothing."""
    target = position + offset
    if not (0 <= position < len(layers) and 0 <= target < len(layers)):
        return list(layers)
    moved = list(layers)
    moved[position], moved[target] = moved[target], moved[position]
    return moved


def layer_from_row(
    kind: LayerKind | str,
    units: int | None = None,
    activation: str | None = None,
    rate: float | None = None,
    l2: float = 0.0,
) -> LayerSpec:
    """One row of the editor's widgets as a ``LayerSpec``; see ``layer_from_widgets``."""
    return layer_from_widgets(
        kind, {"units": units, "activation": activation, "rate": rate, "l2": l2}
    )


def layer_from_widgets(kind: LayerKind | str, values: dict[str, Any]) -> LayerSpec:
    """The values of one row of the editor as a ``LayerSpec`` (checked later by ``validate``).

    Numbers come back from a widget as floats, so a whole-number setting is made whole; an
    empty value takes the setting's default (an empty ``units`` stays empty, for ``validate``
    to name). A setting without a widget (``l2``) is passed in, so a loaded spec keeps it.
    """
    definition = definition_of(kind)
    if definition is None:
        return LayerSpec(kind=kind)
    settings = {}
    for setting in definition.settings:
        value = values.get(setting.name)
        if value is None or value == "":
            value = setting.default
        elif setting.limit is not None:
            value = int(value) if setting.limit.whole else float(value)
        settings[setting.name] = value
    return LayerSpec(kind=definition.kind, **settings)


def output_choices(task: str) -> list[tuple[str, str]]:
    """The (output activation, loss) pairs a task allows; the first is the derived default."""
    if task == Task.REGRESSION:
        return [("linear", loss) for loss in LOSSES[Task.REGRESSION]]
    if task == Task.BINARY:
        return [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy")]
    return [("softmax", "categorical_crossentropy")]


def output_units(activation: str, classes: int) -> int:
    """Units of the output layer: one per class for softmax, else one."""
    return max(classes, 2) if activation == "softmax" else 1
