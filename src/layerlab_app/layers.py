"""The layer editor's operations on plain lists of ``LayerSpec``, and the capacity presets.

Every function returns a new list, so the page can store the result as the
canonical spec and redraw the widgets from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from layerlab.schema.spec import LOSSES, LayerSpec

NEW_DENSE_UNITS = 32
NEW_DROPOUT_RATE = 0.2


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

LAYER_NAMES = {"dense": "Dense", "dropout": "Dropout", "batch_norm": "BatchNormalization"}


def new_layer(kind: str, layers: list[LayerSpec]) -> LayerSpec:
    """A sensible layer to append: a Dense layer copies the width of the last Dense layer."""
    if kind == "dense":
        widths = [layer.units for layer in layers if layer.kind == "dense" and layer.units]
        return LayerSpec.dense(widths[-1] if widths else NEW_DENSE_UNITS, "relu")
    if kind == "dropout":
        return LayerSpec.dropout(NEW_DROPOUT_RATE)
    if kind == "batch_norm":
        return LayerSpec.batch_norm()
    raise ValueError(f"Unknown layer kind {kind!r}; expected one of {', '.join(LAYER_NAMES)}.")


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
    kind: str,
    units: int | None = None,
    activation: str | None = None,
    rate: float | None = None,
    l2: float = 0.0,
) -> LayerSpec:
    """One row of the editor's widgets as a ``LayerSpec`` (values are checked by ``validate``).

    ``l2`` has no widget; it is carried over so a spec loaded from a file keeps it.
    """
    if kind == "dense":
        whole = int(units) if units is not None else None
        return LayerSpec.dense(whole, activation or "relu", l2)
    if kind == "dropout":
        return LayerSpec.dropout(float(rate) if rate is not None else rate)
    return LayerSpec(kind=kind)


def output_choices(task: str) -> list[tuple[str, str]]:
    """The (output activation, loss) pairs a task allows; the first is the derived default."""
    if task == "regression":
        return [("linear", loss) for loss in LOSSES["regression"]]
    if task == "binary":
        return [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy")]
    return [("softmax", "categorical_crossentropy")]


def output_units(activation: str, classes: int) -> int:
    """Units of the output layer: one per class for softmax, else one."""
    return max(classes, 2) if activation == "softmax" else 1
