"""The network as a forward-propagation diagram: inputs, hidden units and outputs as circles.

``network_columns`` decides which circles stand for what and where they sit; this module
draws them with the lines between, and the titles, captions and names around them. After
training, each line's colour shows its weight: red positive, blue negative, stronger for
a larger ``|w|`` relative to the largest in its layer. At most ``MAX_EDGES`` lines are
drawn (a sample where units are elided), as one trace per colour.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from layerlab.schema.spec import LayerSpec, ModelSpec
from layerlab.schema.vocabulary import LayerKind
from layerlab.tabular.network_weights import InputGroup
from layerlab_app.network_columns import Column, Slot, diagram_columns, input_groups_from_spec

MAX_EDGES = 2000
MIN_WIDTH = 560  # room for the note under the figure
MAX_WIDTH = 2000  # pixels; beyond it the columns move closer and their labels alternate rows

COLUMN_PX = 120
STAGGER_BELOW_PX = 100
SLOT_PX = 24
LINE_PX = 15
FONT_PX = 11
NODE_PX = 14

GREY_EDGE = "rgba(150, 150, 150, 0.45)"
# RdBu, light to strong, and how opaque and wide each strength is drawn.
POSITIVE_COLORS = ("#f4a582", "#e07b62", "#d6604d", "#b2182b")
NEGATIVE_COLORS = ("#92c5de", "#6aa9d0", "#4393c3", "#2166ac")
BIN_OPACITY = (0.3, 0.5, 0.7, 0.95)
BIN_WIDTH = (0.6, 1.0, 1.5, 2.2)
BAND_COLOR = "rgba(255, 187, 120, 0.18)"
TEXT_COLOR = "#444444"


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
    dense_layers = [layer for layer in spec.layers if layer.kind == LayerKind.DENSE]
    kernels = _checked_kernels(weights, dense_layers)
    columns = diagram_columns(spec, groups, classes, kernels)
    known = [group.inputs for group in groups if group.inputs is not None]
    total_inputs = sum(known) if len(known) == len(groups) else None
    geometry = _geometry(columns)
    data = [
        *_edges(columns, kernels, total_inputs),
        *_node_traces(columns),
        *_text_traces(columns, geometry),
    ]
    return go.Figure(data=data, layout=_layout(columns, geometry, coloured=kernels is not None))


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
    columns: list[Column], kernels: list[np.ndarray] | None, total_inputs: int | None
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
    sources: list[Slot],
    targets: list[Slot],
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
def _node_traces(columns: list[Column]) -> list[go.Scatter]:
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


def _above(column: Column) -> list[str]:
    return [*column.modifiers, f"<b>{column.title}</b>"]


def _text_traces(columns: list[Column], geometry: _Geometry) -> list[go.Scatter]:
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


def _geometry(columns: list[Column]) -> _Geometry:
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


def _layout(columns: list[Column], geometry: _Geometry, *, coloured: bool) -> dict[str, Any]:
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


def _band(x: int, column: Column) -> dict[str, Any]:
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
