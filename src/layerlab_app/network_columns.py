"""The network diagram's columns: which circles stand for which inputs and units, and where.

Inputs are grouped by raw column, the way ``layerlab.model.build`` feeds them to the network:
a numeric column is one standardized input, plus a "missing" indicator where training
had gaps; a categorical column is a group of one-hot inputs (the first catches unseen
categories); a boolean column is one 0/1 input. Each Dense layer is a column of
circles, with Dropout and BatchNormalization noted on the layer they follow.

A wide network stays readable: at most ``MAX_DRAWN_UNITS`` circles per layer around
a "⋮", at most ``MAX_INPUT_SLOTS`` rows of inputs. ``network_figure`` draws the columns.
Column names and class labels come from the data, so each goes through ``plotly_text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layerlab.schema.encoding import MAX_CATEGORIES, piecewise_bins
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind, LayerKind, Task
from layerlab.tabular.network_weights import InputGroup
from layerlab_app.text import plotly_text

MAX_DRAWN_UNITS = 8  # circles per layer; wider layers show 4, "⋮", 4
MAX_INPUT_SLOTS = 24  # rows of the input column, gaps between columns included
MAX_GROUP_INPUTS = 4  # a one-hot group wider than this shows 2, "⋮", the last
MAX_LABEL_CHARS = 22
GROUP_GAP = 0.5

INPUT_COLORS = {"numeric": "#8fd19e", "categorical": "#c5b0e8", "boolean": "#f2d479"}
UNIT_COLOR = "#ffffff"
OUTPUT_COLOR = "#ffbb78"


def input_groups_from_spec(
    spec: ModelSpec, column_profiles: Sequence[Any] | None = None
) -> list[InputGroup]:
    """A best guess at the inputs per column, before the model is built.

    ``column_profiles`` (``layerlab.tabular.data.ColumnProfile``: ``name``, ``missing``,
    ``distinct``) sharpen it: a numeric column with gaps gets its missing indicator, a
    categorical one its category count (capped like ``build``, plus the slot for
    unseen categories). The build sees only the training split, so this is an estimate.
    """
    profiles = {profile.name: profile for profile in column_profiles or ()}
    groups = []
    for feature in spec.features:
        profile = profiles.get(feature.name)
        if feature.kind == FeatureKind.NUMERIC:
            inputs: int | None = 1 + int(profile is not None and profile.missing > 0)
            if spec.numeric_embedding == "piecewise" and profile is not None:
                inputs += piecewise_bins(profile.distinct)
        elif feature.kind == FeatureKind.CATEGORICAL:
            inputs = min(profile.distinct, MAX_CATEGORIES) + 1 if profile is not None else None
        else:
            inputs = 1
        groups.append(InputGroup(feature.name, inputs))
    return groups


@dataclass
class Slot:
    """One row of a column: a circle or, where ``elided``, a "⋮" for the units not drawn.

    ``row`` is the circle's unit in its layer (for an input, its row of the first
    kernel); None where that is not known before the model is built.
    """

    hover: str
    row: int | None = None
    elided: bool = False
    color: str = UNIT_COLOR
    y: float = 0.0


@dataclass
class Column:
    title: str
    caption: list[str]
    slots: list[Slot]
    modifiers: list[str] = field(default_factory=list)
    # Text beside the circles (input names, class labels): (slot index, escaped text).
    labels: list[tuple[int, str]] = field(default_factory=list)

    @property
    def circles(self) -> list[Slot]:
        return [slot for slot in self.slots if not slot.elided]

    @property
    def top(self) -> float:
        return self.slots[0].y

    @property
    def bottom(self) -> float:
        return self.slots[-1].y


def diagram_columns(
    spec: ModelSpec,
    groups: list[InputGroup],
    classes: tuple[str, ...],
    kernels: list[np.ndarray] | None,
) -> list[Column]:
    """The diagram's columns, left to right: inputs, one per Dense layer, the output.

    Each is centred on y = 0 with its first row on top; ``kernels`` (checked by the caller)
    give the output's width once the model is built.
    """
    dense_layers = [layer for layer in spec.layers if layer.kind == LayerKind.DENSE]
    columns = [_input_column(spec, groups)]
    for number, layer in enumerate(dense_layers, start=1):
        columns.append(_units_column(f"Dense {number}", layer.units, layer.activation or "linear"))
    columns.append(_output_column(spec, classes, kernels))
    _mark_modifiers(spec, columns)
    _place(columns)
    return columns


def _short(text: object) -> str:
    """One line of at most ``MAX_LABEL_CHARS``, escaped for Plotly (cut first, so no entity is cut)."""
    text = " ".join(str(text).split())
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "…"
    return plotly_text(text)


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}" + ("" if number == 1 else "s")


def _input_column(spec: ModelSpec, groups: list[InputGroup]) -> Column:
    """One block of rows per raw column, a half-row gap between blocks, a "⋮" past the cap."""
    kinds = {feature.name: feature.kind for feature in spec.features}
    slots: list[Slot] = []
    labels: list[tuple[int, str]] = []
    position = 0.0
    first_row: int | None = 0  # the group's first row of the first kernel, while sizes are known
    for number, group in enumerate(groups):
        group_slots, group_labels = _group_slots(group, kinds.get(group.column, "numeric"))
        if slots and position + len(group_slots) > MAX_INPUT_SLOTS:
            more = _count(len(groups) - number, "more column")
            labels.append((len(slots), more))
            slots.append(Slot(hover=f"{more}, not drawn", elided=True, y=position))
            break
        for offset, slot in enumerate(group_slots):
            slot.y = position + offset
            if slot.row is not None:
                slot.row = None if first_row is None else first_row + slot.row
        labels += [(len(slots) + index, text) for index, text in group_labels]
        slots += group_slots
        position += len(group_slots) + GROUP_GAP
        first_row = None if first_row is None or group.inputs is None else first_row + group.inputs
    if not slots:
        slots.append(Slot(hover="No feature columns chosen yet", elided=True))
    known = [group.inputs for group in groups if group.inputs is not None]
    total = _count(sum(known), "input")
    if len(known) < len(groups):  # one-hot groups whose size the build sets
        total = f"{sum(known):,} + one-hot inputs" if known else "one-hot inputs"
    caption = [total, f"from {_count(len(groups), 'column')}"]
    return Column("Inputs", caption, slots, labels=labels)


def _group_slots(group: InputGroup, kind: str) -> tuple[list[Slot], list[tuple[int, str]]]:
    """The rows of one column's inputs (``row`` within the group) and the labels beside them."""
    name = _short(group.column)
    described = f"{plotly_text(group.column)} ({kind})"
    color = INPUT_COLORS.get(kind, INPUT_COLORS["numeric"])
    if kind == FeatureKind.CATEGORICAL:
        return _one_hot_slots(group.inputs, name, described, color)
    if kind == FeatureKind.BOOLEAN:
        return [Slot(f"{described}<br>1 for a true-like value, else 0", 0, color=color)], [
            (0, name)
        ]
    slots = [Slot(f"{described}<br>standardized value", 0, color=color)]
    labels = [(0, name)]
    for row in range(1, group.inputs or 1):
        slots.append(Slot(f"{described}<br>1 where the value is missing", row, color=color))
        labels.append((row, f"{name} missing"))
    return slots, labels


def _one_hot_slots(
    size: int | None, name: str, described: str, color: str
) -> tuple[list[Slot], list[tuple[int, str]]]:
    """All inputs of a small group; else the first two, "⋮" and the last.

    The first one-hot input is ``StringLookup``'s slot for unseen (and cut rare) categories.
    """

    def circle(row: int | None) -> Slot:
        if row == 0:
            return Slot(f"{described}<br>one-hot: unseen or rare categories", 0, color=color)
        where = f"{row + 1:,} of {size:,}" if row is not None and size else "the last"
        return Slot(f"{described}<br>one-hot input {where}", row, color=color)

    if size is not None and size <= MAX_GROUP_INPUTS:
        slots = [circle(row) for row in range(size)]
    else:
        hidden = f"{size - 3:,} more one-hot inputs" if size else "one input per category"
        elided = Slot(f"{described}<br>{hidden}", elided=True)
        slots = [circle(0), circle(1), elided, circle(size - 1 if size else None)]
    inputs = _count(size, "input") if size is not None else "size set when built"
    return slots, [((len(slots) - 1) // 2, f"{name}<br>one-hot, {inputs}")]


def _unit_slots(title: str, units: int | None, activation: str, color: str) -> list[Slot]:
    """All units of a narrow layer; else the first and last ``MAX_DRAWN_UNITS // 2`` around "⋮"."""
    width = _count(units, "unit") if units is not None else "one unit per class"

    def circle(unit: int | None) -> Slot:
        which = f"unit {unit + 1:,} of {width}" if unit is not None else f"the last unit, {width}"
        return Slot(f"{title}: {which}<br>activation {activation}", unit, color=color)

    if units is not None and units <= MAX_DRAWN_UNITS:
        return [circle(unit) for unit in range(units)]
    half = MAX_DRAWN_UNITS // 2
    if units is None:
        first, last, hidden = [0, 1], [None], "one unit per class"
    else:
        first, last = list(range(half)), list(range(units - half, units))
        hidden = f"{units - 2 * half:,} more units"
    elided = Slot(f"{title}: {hidden}, not drawn", elided=True)
    return [*map(circle, first), elided, *map(circle, last)]


def _units_column(title: str, units: int, activation: str) -> Column:
    slots = _unit_slots(title, units, activation, UNIT_COLOR)
    return Column(title, [_count(units, "unit"), activation], slots)


def _output_column(
    spec: ModelSpec, classes: tuple[str, ...], kernels: list[np.ndarray] | None
) -> Column:
    """One unit for regression or a sigmoid, one per class for softmax (as ``build`` makes it)."""
    activation, _ = spec.resolved_output()
    if kernels is not None:
        units: int | None = int(kernels[-1].shape[1])
    elif activation != "softmax":
        units = 1
    elif classes or spec.task == Task.BINARY:
        units = max(len(classes), 2)
    else:
        units = None
    slots = _unit_slots("Output", units, activation, OUTPUT_COLOR)
    caption = [_count(units, "unit") if units is not None else "one unit per class", activation]
    if spec.task == Task.REGRESSION:
        names = {0: f"{_short(spec.target)} (predicted)"}
    elif units == 1:
        names = {0: f"P({_short(classes[1]) if len(classes) == 2 else 'second class'})"}
    else:
        names = {position: _short(label) for position, label in enumerate(classes)}
    labels = []
    for index, slot in enumerate(slots):
        if not slot.elided and slot.row in names:
            slot.hover += f"<br>{names[slot.row]}"
            labels.append((index, names[slot.row]))
    return Column("Output", caption, slots, labels=labels)


def _mark_modifiers(spec: ModelSpec, columns: list[Column]) -> None:
    """Dropout and batch norm as notes on the column they follow (the inputs if they come first)."""
    column = 0
    for layer in spec.layers:
        if layer.kind == LayerKind.DENSE:
            column += 1
        else:
            columns[column].modifiers.append(layer.brief())


def _place(columns: list[Column]) -> None:
    """Every column centred on y = 0, its first row on top; inputs keep their gaps."""
    for position, column in enumerate(columns):
        if position:
            for row, slot in enumerate(column.slots):
                slot.y = float(row)
        middle = (column.slots[0].y + column.slots[-1].y) / 2
        for slot in column.slots:
            slot.y = middle - slot.y
