"""The network as a forward-propagation diagram: inputs, hidden units and outputs as circles.

Inputs are grouped by raw column, the way ``layerlab.model.build`` feeds them to the network:
a numeric column is one standardized input, plus a "missing" indicator where training
had gaps; a categorical column is a group of one-hot inputs (the first catches unseen
categories); a boolean column is one 0/1 input. Each Dense layer is a column of
circles, with Dropout and BatchNormalization marked as a band on the layer they
follow. After training, each line's colour shows its weight: red positive, blue
negative, stronger for a larger ``|w|`` relative to the largest in its layer.

A wide network stays readable: at most ``MAX_DRAWN_UNITS`` circles per layer around
a "⋮", at most ``MAX_INPUT_SLOTS`` rows of inputs, at most ``MAX_EDGES`` lines (a
sample where units are elided), drawn as one trace per colour. Column names and class
labels come from the data, so each goes through ``plotly_text``.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go

from layerlab.schema.encoding import MAX_CATEGORIES, piecewise_bins
from layerlab.schema.spec import LayerSpec, ModelSpec
from layerlab.tabular.network_weights import InputGroup
from layerlab_app.text import plotly_text

MAX_DRAWN_UNITS = 8  # circles per layer; wider layers show 4, "⋮", 4
MAX_INPUT_SLOTS = 24  # rows of the input column, gaps between columns included
MAX_GROUP_INPUTS = 4  # a one-hot group wider than this shows 2, "⋮", the last
MAX_EDGES = 2000
MAX_LABEL_CHARS = 22
MIN_WIDTH = 560  # room for the note under the figure
MAX_WIDTH = 2000  # pixels; beyond it the columns move closer and their labels alternate rows

COLUMN_PX = 120
STAGGER_BELOW_PX = 100
SLOT_PX = 24
LINE_PX = 15
FONT_PX = 11
NODE_PX = 14
GROUP_GAP = 0.5

GREY_EDGE = "rgba(150, 150, 150, 0.45)"
# RdBu, light to strong, and how opaque and wide each strength is drawn.
POSITIVE_COLORS = ("#f4a582", "#e07b62", "#d6604d", "#b2182b")
NEGATIVE_COLORS = ("#92c5de", "#6aa9d0", "#4393c3", "#2166ac")
BIN_OPACITY = (0.3, 0.5, 0.7, 0.95)
BIN_WIDTH = (0.6, 1.0, 1.5, 2.2)
INPUT_COLORS = {"numeric": "#8fd19e", "categorical": "#c5b0e8", "boolean": "#f2d479"}
UNIT_COLOR = "#ffffff"
OUTPUT_COLOR = "#ffbb78"
BAND_COLOR = "rgba(255, 187, 120, 0.18)"
TEXT_COLOR = "#444444"


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
        if feature.kind == "numeric":
            inputs: int | None = 1 + int(profile is not None and profile.missing > 0)
            if spec.numeric_embedding == "piecewise" and profile is not None:
                inputs += piecewise_bins(profile.distinct)
        elif feature.kind == "categorical":
            inputs = min(profile.distinct, MAX_CATEGORIES) + 1 if profile is not None else None
        else:
            inputs = 1
        groups.append(InputGroup(feature.name, inputs))
    return groups


@dataclass
class _Slot:
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
class _Column:
    title: str
    caption: list[str]
    slots: list[_Slot]
    modifiers: list[str] = field(default_factory=list)
    # Text beside the circles (input names, class labels): (slot index, escaped text).
    labels: list[tuple[int, str]] = field(default_factory=list)

    @property
    def circles(self) -> list[_Slot]:
        return [slot for slot in self.slots if not slot.elided]

    @property
    def top(self) -> float:
        return self.slots[0].y

    @property
    def bottom(self) -> float:
        return self.slots[-1].y


@dataclass(frozen=True)
class _Geometry:
    """Sizes in pixels and where the text rows go, in y units (one row of circles is 1)."""

    column_px: float
    margin_left: int
    margin_right: int
    stagger: bool
    title_y: tuple[float, float]  # (even columns, odd columns)
    caption_y: tuple[float, float]
    y_range: tuple[float, float]


def network_figure(
    spec: ModelSpec,
    *,
    input_groups: Sequence[tuple[str, int | None]] | None = None,
    weights: Sequence[np.ndarray] | None = None,
    classes: tuple[str, ...] = (),
) -> go.Figure:
    """The network of ``spec`` as a diagram, left to right, inputs to output.

    ``input_groups``: (column, number of inputs) per feature, in spec order; from
    ``input_groups_from_built`` once built, else guessed by ``input_groups_from_spec``.
    ``weights``: the Dense kernels in order, each of shape (inputs, units), the output
    layer's last (``dense_kernels(built)``); without them the lines are grey.
    ``classes``: class labels in output order, to label the output units.

    The figure has its own width (it grows with the layers, up to ``MAX_WIDTH``); show
    it at that width, as a container-wide figure squeezes the labels together.
    """
    if input_groups is None:
        input_groups = input_groups_from_spec(spec)
    groups = [InputGroup(column, inputs) for column, inputs in input_groups]
    dense_layers = [layer for layer in spec.layers if layer.kind == "dense"]
    kernels = _checked_kernels(weights, dense_layers)
    columns = [_input_column(spec, groups)]
    for number, layer in enumerate(dense_layers, start=1):
        columns.append(_units_column(f"Dense {number}", layer.units, layer.activation or "linear"))
    columns.append(_output_column(spec, classes, kernels))
    _mark_modifiers(spec, columns)
    _place(columns)
    known = [group.inputs for group in groups if group.inputs is not None]
    total_inputs = sum(known) if len(known) == len(groups) else None
    geometry = _geometry(columns)
    data = [
        *_edges(columns, kernels, total_inputs),
        *_node_traces(columns),
        *_text_traces(columns, geometry),
    ]
    return go.Figure(data=data, layout=_layout(columns, geometry, coloured=kernels is not None))


# ----------------------------------------------------------------- columns
def _short(text: object) -> str:
    """One line of at most ``MAX_LABEL_CHARS``, escaped for Plotly (cut first, so no entity is cut)."""
    text = " ".join(str(text).split())
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "…"
    return plotly_text(text)


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}" + ("" if number == 1 else "s")


def _input_column(spec: ModelSpec, groups: list[InputGroup]) -> _Column:
    """One block of rows per raw column, a half-row gap between blocks, a "⋮" past the cap."""
    kinds = {feature.name: feature.kind for feature in spec.features}
    slots: list[_Slot] = []
    labels: list[tuple[int, str]] = []
    position = 0.0
    first_row: int | None = 0  # the group's first row of the first kernel, while sizes are known
    for number, group in enumerate(groups):
        group_slots, group_labels = _group_slots(group, kinds.get(group.column, "numeric"))
        if slots and position + len(group_slots) > MAX_INPUT_SLOTS:
            more = _count(len(groups) - number, "more column")
            labels.append((len(slots), more))
            slots.append(_Slot(hover=f"{more}, not drawn", elided=True, y=position))
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
        slots.append(_Slot(hover="No feature columns chosen yet", elided=True))
    known = [group.inputs for group in groups if group.inputs is not None]
    total = _count(sum(known), "input")
    if len(known) < len(groups):  # one-hot groups whose size the build sets
        total = f"{sum(known):,} + one-hot inputs" if known else "one-hot inputs"
    caption = [total, f"from {_count(len(groups), 'column')}"]
    return _Column("Inputs", caption, slots, labels=labels)


def _group_slots(group: InputGroup, kind: str) -> tuple[list[_Slot], list[tuple[int, str]]]:
    """The rows of one column's inputs (``row`` within the group) and the labels beside them."""
    name = _short(group.column)
    described = f"{plotly_text(group.column)} ({kind})"
    color = INPUT_COLORS.get(kind, INPUT_COLORS["numeric"])
    if kind == "categorical":
        return _one_hot_slots(group.inputs, name, described, color)
    if kind == "boolean":
        return [_Slot(f"{described}<br>1 for a true-like value, else 0", 0, color=color)], [
            (0, name)
        ]
    slots = [_Slot(f"{described}<br>standardized value", 0, color=color)]
    labels = [(0, name)]
    for row in range(1, group.inputs or 1):
        slots.append(_Slot(f"{described}<br>1 where the value is missing", row, color=color))
        labels.append((row, f"{name} missing"))
    return slots, labels


def _one_hot_slots(
    size: int | None, name: str, described: str, color: str
) -> tuple[list[_Slot], list[tuple[int, str]]]:
    """All inputs of a small group; else the first two, "⋮" and the last.

    The first one-hot input is ``StringLookup``'s slot for unseen (and cut rare) categories.
    """

    def circle(row: int | None) -> _Slot:
        if row == 0:
            return _Slot(f"{described}<br>one-hot: unseen or rare categories", 0, color=color)
        where = f"{row + 1:,} of {size:,}" if row is not None and size else "the last"
        return _Slot(f"{described}<br>one-hot input {where}", row, color=color)

    if size is not None and size <= MAX_GROUP_INPUTS:
        slots = [circle(row) for row in range(size)]
    else:
        hidden = f"{size - 3:,} more one-hot inputs" if size else "one input per category"
        elided = _Slot(f"{described}<br>{hidden}", elided=True)
        slots = [circle(0), circle(1), elided, circle(size - 1 if size else None)]
    inputs = _count(size, "input") if size is not None else "size set when built"
    return slots, [((len(slots) - 1) // 2, f"{name}<br>one-hot, {inputs}")]


def _unit_slots(title: str, units: int | None, activation: str, color: str) -> list[_Slot]:
    """All units of a narrow layer; else the first and last ``MAX_DRAWN_UNITS // 2`` around "⋮"."""
    width = _count(units, "unit") if units is not None else "one unit per class"

    def circle(unit: int | None) -> _Slot:
        which = f"unit {unit + 1:,} of {width}" if unit is not None else f"the last unit, {width}"
        return _Slot(f"{title}: {which}<br>activation {activation}", unit, color=color)

    if units is not None and units <= MAX_DRAWN_UNITS:
        return [circle(unit) for unit in range(units)]
    half = MAX_DRAWN_UNITS // 2
    if units is None:
        first, last, hidden = [0, 1], [None], "one unit per class"
    else:
        first, last = list(range(half)), list(range(units - half, units))
        hidden = f"{units - 2 * half:,} more units"
    elided = _Slot(f"{title}: {hidden}, not drawn", elided=True)
    return [*map(circle, first), elided, *map(circle, last)]


def _units_column(title: str, units: int, activation: str) -> _Column:
    slots = _unit_slots(title, units, activation, UNIT_COLOR)
    return _Column(title, [_count(units, "unit"), activation], slots)


def _output_column(
    spec: ModelSpec, classes: tuple[str, ...], kernels: list[np.ndarray] | None
) -> _Column:
    """One unit for regression or a sigmoid, one per class for softmax (as ``build`` makes it)."""
    activation, _ = spec.resolved_output()
    if kernels is not None:
        units: int | None = int(kernels[-1].shape[1])
    elif activation != "softmax":
        units = 1
    elif classes or spec.task == "binary":
        units = max(len(classes), 2)
    else:
        units = None
    slots = _unit_slots("Output", units, activation, OUTPUT_COLOR)
    caption = [_count(units, "unit") if units is not None else "one unit per class", activation]
    if spec.task == "regression":
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
    return _Column("Output", caption, slots, labels=labels)


def _mark_modifiers(spec: ModelSpec, columns: list[_Column]) -> None:
    """Dropout and batch norm as notes on the column they follow (the inputs if they come first)."""
    column = 0
    for layer in spec.layers:
        if layer.kind == "dense":
            column += 1
        elif layer.kind == "dropout":
            columns[column].modifiers.append(f"dropout {layer.rate:g}")
        else:
            columns[column].modifiers.append("batch norm")


def _place(columns: list[_Column]) -> None:
    """Every column centred on y = 0, its first row on top; inputs keep their gaps."""
    for position, column in enumerate(columns):
        if position:
            for row, slot in enumerate(column.slots):
                slot.y = float(row)
        middle = (column.slots[0].y + column.slots[-1].y) / 2
        for slot in column.slots:
            slot.y = middle - slot.y


# ------------------------------------------------------------------- edges
def _checked_kernels(
    weights: Sequence[np.ndarray] | None, dense_layers: list[LayerSpec]
) -> list[np.ndarray] | None:
    if weights is None:
        return None
    kernels = [np.asarray(kernel) for kernel in weights]
    expected = len(dense_layers) + 1
    if len(kernels) != expected:
        raise ValueError(
            f"weights must hold one kernel per Dense layer and one for the output, {expected} in "
            f"all, in order; got {len(kernels)}. dense_kernels(built) gives them."
        )
    widths = [layer.units for layer in dense_layers]
    for number, kernel in enumerate(kernels):
        title = f"Dense {number + 1}" if number < len(dense_layers) else "the output"
        rows = widths[number - 1] if number else kernel.shape[0] if kernel.ndim == 2 else None
        columns = widths[number] if number < len(widths) else kernel.shape[-1]
        if kernel.ndim != 2 or kernel.shape != (rows, columns):
            raise ValueError(
                f"The kernel of {title} must have shape ({rows or 'inputs'}, {columns}); "
                f"got {kernel.shape}."
            )
    return kernels


def _edge_budgets(sizes: list[int]) -> list[int]:
    """Share ``MAX_EDGES`` among the layer pairs: small pairs in full, the others alike."""
    budgets = [0] * len(sizes)
    left = MAX_EDGES
    for done, pair in enumerate(sorted(range(len(sizes)), key=sizes.__getitem__)):
        budgets[pair] = min(sizes[pair], left // (len(sizes) - done))
        left -= budgets[pair]
    return budgets


def _edges(
    columns: list[_Column], kernels: list[np.ndarray] | None, total_inputs: int | None
) -> list[go.Scatter]:
    """One line trace per colour, segments separated by gaps, behind the circles."""
    pairs = list(itertools.pairwise(columns))
    sizes = [len(left.circles) * len(right.circles) for left, right in pairs]
    parts: list[tuple[np.ndarray, ...]] = []
    for position, ((left, right), budget) in enumerate(
        zip(pairs, _edge_budgets(sizes), strict=True)
    ):
        if budget == 0:
            continue
        sources, targets = left.circles, right.circles
        # Evenly spread over all source-target pairs, so every drawn unit keeps some lines.
        chosen = np.linspace(0, len(sources) * len(targets) - 1, budget).round().astype(int)
        source_at, target_at = np.divmod(chosen, len(targets))
        source_y = np.array([slot.y for slot in sources])[source_at]
        target_y = np.array([slot.y for slot in targets])[target_at]
        bins = _weight_bins(kernels, position, sources, targets, source_at, target_at, total_inputs)
        parts.append((np.full(budget, float(position)), source_y, target_y, bins))
    if not parts:
        return []
    x, source_y, target_y, bins = (np.concatenate(values) for values in zip(*parts, strict=True))
    traces = []
    for value in np.unique(bins):
        chosen = bins == value
        gaps = np.full(int(chosen.sum()), np.nan)
        # x0, x1, gap, x0, x1, gap, ...: Plotly breaks the line at each gap (null in JSON).
        xs = np.column_stack([x[chosen], x[chosen] + 1, gaps]).ravel()
        ys = np.column_stack([source_y[chosen], target_y[chosen], gaps]).ravel()
        if value < 0:
            name, color, width = "weights", GREY_EDGE, 0.7
        else:
            strength = int(value) % 4
            sign, palette = (
                ("positive", POSITIVE_COLORS) if value >= 4 else ("negative", NEGATIVE_COLORS)
            )
            name = (
                f"{sign} weights, |w| {25 * strength}–{25 * strength + 25}% of the layer's largest"
            )
            color, width = _rgba(palette[strength], BIN_OPACITY[strength]), BIN_WIDTH[strength]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=name,
                line={"color": color, "width": width},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return traces


def _weight_bins(
    kernels: list[np.ndarray] | None,
    position: int,
    sources: list[_Slot],
    targets: list[_Slot],
    source_at: np.ndarray,
    target_at: np.ndarray,
    total_inputs: int | None,
) -> np.ndarray:
    """Each drawn edge's colour: 0-3 negative, 4-7 positive, weakest first; -1 (grey) if unknown."""
    grey = np.full(len(source_at), -1)
    if kernels is None:
        return grey
    kernel = kernels[position]
    source_rows = [slot.row for slot in sources]
    target_rows = [slot.row for slot in targets]
    # Input groups guessed from the spec cannot be matched to the kernel's rows.
    mismatched = position == 0 and kernel.shape[0] != total_inputs
    if mismatched or None in source_rows or None in target_rows:
        return grey
    largest = float(np.abs(kernel).max()) if kernel.size else 0.0
    if not largest or not np.isfinite(largest):
        return grey
    values = kernel[np.asarray(source_rows)[source_at], np.asarray(target_rows)[target_at]]
    strength = np.minimum((np.abs(values) / largest * 4).astype(int), 3)
    return np.where(values >= 0, 4 + strength, strength)


def _rgba(hex_color: str, opacity: float) -> str:
    red, green, blue = (int(hex_color[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {opacity})"


# ------------------------------------------------------------------ traces
def _node_traces(columns: list[_Column]) -> list[go.Scatter]:
    traces = []
    for name, chosen in (("inputs", columns[:1]), ("units", columns[1:])):
        circles = [
            (x, slot)
            for x, column in enumerate(columns)
            if column in chosen
            for slot in column.circles
        ]
        traces.append(
            go.Scatter(
                x=[x for x, _ in circles],
                y=[slot.y for _, slot in circles],
                mode="markers",
                name=name,
                marker={
                    "size": NODE_PX,
                    "color": [slot.color for _, slot in circles],
                    "line": {"color": TEXT_COLOR, "width": 1},
                },
                hovertext=[slot.hover for _, slot in circles],
                hovertemplate="%{hovertext}<extra></extra>",
                showlegend=False,
            )
        )
    elided = [(x, slot) for x, column in enumerate(columns) for slot in column.slots if slot.elided]
    traces.append(
        go.Scatter(
            x=[x for x, _ in elided],
            y=[slot.y for _, slot in elided],
            mode="text",
            name="elided",
            text=["⋮"] * len(elided),
            textfont={"size": 18, "color": TEXT_COLOR},
            hovertext=[slot.hover for _, slot in elided],
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        )
    )
    return traces


def _above(column: _Column) -> list[str]:
    return [*column.modifiers, f"<b>{column.title}</b>"]


def _text_traces(columns: list[_Column], geometry: _Geometry) -> list[go.Scatter]:
    """Titles and dropout/batch norm notes above, unit counts and activations below, names beside."""
    font = {"size": FONT_PX, "color": TEXT_COLOR}
    rows = [position % 2 if geometry.stagger else 0 for position in range(len(columns))]
    traces = []
    for name, lines, at, position in (
        ("layer titles", [_above(column) for column in columns], geometry.title_y, "top center"),
        (
            "layer captions",
            [column.caption for column in columns],
            geometry.caption_y,
            "bottom center",
        ),
    ):
        traces.append(
            go.Scatter(
                x=list(range(len(columns))),
                y=[at[row] for row in rows],
                mode="text",
                name=name,
                text=["<br>".join(column_lines) for column_lines in lines],
                textposition=position,
                textfont=font,
                hoverinfo="skip",
                cliponaxis=False,
                showlegend=False,
            )
        )
    beside = (NODE_PX / 2 + 4) / geometry.column_px
    for x, side, position, name in (
        (0, -beside, "middle left", "input names"),
        (len(columns) - 1, beside, "middle right", "output names"),
    ):
        column = columns[x]
        traces.append(
            go.Scatter(
                x=[x + side] * len(column.labels),
                y=[column.slots[index].y for index, _ in column.labels],
                mode="text",
                name=name,
                text=[text for _, text in column.labels],
                textposition=position,
                textfont=font,
                hoverinfo="skip",
                cliponaxis=False,
                showlegend=False,
            )
        )
    return traces


def _plain_width(text: str) -> int:
    """Characters in the widest line of an escaped label, each entity counted once."""
    return max(len(html.unescape(re.sub("<[^>]*>", "", line))) for line in text.split("<br>"))


def _geometry(columns: list[_Column]) -> _Geometry:
    """Room for the names beside, columns as far apart as the width cap allows, text rows."""
    char_px = FONT_PX * 0.6
    left = max((_plain_width(text) for _, text in columns[0].labels), default=0)
    right = max((_plain_width(text) for _, text in columns[-1].labels), default=0)
    margin_left = 20 + NODE_PX + int(left * char_px)
    margin_right = 20 + NODE_PX + int(right * char_px)
    span = len(columns) - 1 + 0.8
    column_px = min(COLUMN_PX, (MAX_WIDTH - margin_left - margin_right) / span)
    # Beside a narrow column, the next column's text goes one row further out.
    stagger = column_px < STAGGER_BELOW_PX
    line = LINE_PX / SLOT_PX
    above = max(len(_above(column)) for column in columns) * line + 0.2
    below = max(len(column.caption) for column in columns) * line + 0.2
    top = max(column.top for column in columns) + 0.6
    bottom = min(column.bottom for column in columns) - 0.6
    title_y = (top, top + above) if stagger else (top, top)
    caption_y = (bottom, bottom - below) if stagger else (bottom, bottom)
    return _Geometry(
        column_px=column_px,
        margin_left=margin_left,
        margin_right=margin_right,
        stagger=stagger,
        title_y=title_y,
        caption_y=caption_y,
        y_range=(caption_y[1] - below - 0.2, title_y[1] + above + 0.2),
    )


def _layout(columns: list[_Column], geometry: _Geometry, *, coloured: bool) -> dict[str, Any]:
    if coloured:
        note = (
            "Line colour: the weight after training, red positive, blue negative,<br>"
            "stronger for a larger |w| in its layer. ⋮ stands for units not drawn, and their lines."
        )
    else:
        note = "Each line is a weight.<br>⋮ stands for units not drawn, and their lines."
    low, high = geometry.y_range
    span = len(columns) - 1 + 0.8
    axis = {"visible": False, "fixedrange": True}
    return {
        "width": max(
            MIN_WIDTH, int(geometry.margin_left + geometry.margin_right + span * geometry.column_px)
        ),
        "height": int((high - low) * SLOT_PX) + 60,
        "margin": {"l": geometry.margin_left, "r": geometry.margin_right, "t": 10, "b": 50},
        "xaxis": {**axis, "range": [-0.4, len(columns) - 0.6]},
        "yaxis": {**axis, "range": [low, high]},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "dragmode": False,
        "hovermode": "closest",
        "shapes": [_band(x, column) for x, column in enumerate(columns) if column.modifiers],
        "annotations": [
            {
                "text": note,
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 0,
                "yshift": -8,
                "xanchor": "left",
                "align": "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": FONT_PX - 1, "color": TEXT_COLOR},
            }
        ],
    }


def _band(x: int, column: _Column) -> dict[str, Any]:
    """A shaded strip behind a layer that has dropout or batch norm after it."""
    return {
        "type": "rect",
        "x0": x - 0.3,
        "x1": x + 0.3,
        "y0": column.bottom - 0.6,
        "y1": column.top + 0.6,
        "fillcolor": BAND_COLOR,
        "line": {"width": 0},
        "layer": "below",
    }
