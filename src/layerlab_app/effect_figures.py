"""Plotly pictures of how the prediction moves: ICE lines and decision surfaces.

Built from what ``layerlab.tabular.effects`` computes. Column names, categories and class labels
come from the data, and Plotly reads HTML in every label, tick and hover, so each one
goes through ``plotly_text``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from layerlab.schema.numbers import readable_percent
from layerlab.schema.vocabulary import FeatureKind
from layerlab.tabular.effects import Surface
from layerlab.tabular.values import as_category_text, parse_numbers
from layerlab_app.figures import LABEL_TICKS, READABLE_TICKS, RUN_COLORS, value_ticks
from layerlab_app.text import plotly_text

ICE_COLOR = "rgba(120, 120, 120, 0.35)"
MEAN_COLOR = "#d62728"
# Four significant digits in hovers, never 3e+3.
READABLE_HOVER = ",.4~r"
# Blue for the first class, red for the second: the probability runs from one to the other.
PROBABILITY_SCALE = "RdBu_r"


def ice_figure(curves: pd.DataFrame, column: str, target_label: str) -> go.Figure:
    """Each sampled row's prediction as ``column`` moves (thin grey lines), and their mean,
    the partial dependence (bold).

    ``curves`` is ``layerlab.tabular.effects.ice_curves``'s frame; ``target_label`` names the
    prediction: the target for regression, ``probability of <class>`` for classification.
    """
    categorical = curves.attrs.get("kind", "numeric") != FeatureKind.NUMERIC
    probability = curves.attrs.get("target_class") is not None
    lines = curves[~curves["mean"]]
    average = curves[curves["mean"]]

    x_values: list[object] = []
    y_values: list[object] = []
    for _, line in lines.groupby("line", sort=True):
        x_values += [_shown(value, categorical) for value in line["value"]] + [None]
        y_values += [*line["prediction"].tolist(), None]
    x_ticks = READABLE_TICKS if categorical else value_ticks(column, average["value"])
    x_hover = "%{x}" if categorical or x_ticks == LABEL_TICKS else "%{x:" + READABLE_HOVER + "}"
    y_hover = "%{y:.1%}" if probability else "%{y:" + READABLE_HOVER + "}"
    name, label = plotly_text(column), plotly_text(target_label)
    mode = "lines+markers" if categorical else "lines"
    figure = go.Figure(
        [
            go.Scatter(
                x=x_values,
                y=y_values,
                mode=mode,
                name=f"one row each ({lines['line'].nunique():,} rows)",
                line={"color": ICE_COLOR, "width": 1},
                marker={"size": 4},
                hovertemplate=f"{name} {x_hover}: {y_hover}<extra>one row</extra>",
            ),
            go.Scatter(
                x=[_shown(value, categorical) for value in average["value"]],
                y=average["prediction"].tolist(),
                mode=mode,
                name="average (partial dependence)",
                line={"color": MEAN_COLOR, "width": 4},
                marker={"size": 8},
                hovertemplate=f"{name} {x_hover}: {y_hover}<extra>average</extra>",
            ),
        ]
    )
    if categorical:
        figure.update_xaxes(title_text=name, type="category")
    else:
        figure.update_xaxes(title_text=name, tickformat=x_ticks)
    if probability:
        figure.update_yaxes(title_text=label, tickformat=".0%", range=[0, 1])
    else:
        figure.update_yaxes(title_text=label, tickformat=READABLE_TICKS)
    figure.update_layout(
        title=f"How the prediction moves with {name}",
        height=420,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def surface_figure(
    surface: Surface,
    test_points: pd.DataFrame,
    x_column: str,
    y_column: str,
    target: str,
    classes: tuple[str, ...],
) -> go.Figure:
    """What the model predicts over two columns (the others at typical values), with the
    test rows on top, coloured by their true class.

    A binary model's surface is the probability of the positive class, its decision
    boundary drawn where it crosses 0.5; a multiclass one's is the predicted class.
    """
    x_name, y_name = plotly_text(x_column), plotly_text(y_column)
    position = f"{x_name} %{{x:{READABLE_HOVER}}}, {y_name} %{{y:{READABLE_HOVER}}}"
    colors = {label: RUN_COLORS[index % len(RUN_COLORS)] for index, label in enumerate(classes)}
    traces: list[go.BaseTraceType] = []
    if surface.shown_class is not None:
        shown = plotly_text(surface.shown_class)
        traces.append(
            go.Heatmap(
                x=surface.x,
                y=surface.y,
                z=surface.probability,
                zmin=0,
                zmax=1,
                colorscale=PROBABILITY_SCALE,
                opacity=0.75,
                colorbar={"title": {"text": f"probability of {shown}"}, "tickformat": ".0%"},
                name=f"probability of {shown}",
                hovertemplate=f"{position}<br>probability of {shown}: %{{z:.1%}}<extra></extra>",
            )
        )
        traces.append(
            go.Contour(
                x=surface.x,
                y=surface.y,
                z=surface.probability,
                contours={"start": 0.5, "end": 0.5, "size": 1, "coloring": "none"},
                line={"color": "black", "width": 2},
                showscale=False,
                name="decision boundary",
                hoverinfo="skip",
            )
        )
    else:
        index = {label: code for code, label in enumerate(classes)}
        codes = np.vectorize(index.__getitem__, otypes=[float])(surface.predicted)
        text = [
            [
                f"predicted {plotly_text(label)} ({plotly_text(readable_percent(probability))})"
                for label, probability in zip(labels, probabilities, strict=True)
            ]
            for labels, probabilities in zip(surface.predicted, surface.probability, strict=True)
        ]
        traces.append(
            go.Heatmap(
                x=surface.x,
                y=surface.y,
                z=codes,
                zmin=-0.5,
                zmax=len(classes) - 0.5,
                colorscale=_class_scale([colors[label] for label in classes]),
                opacity=0.45,
                text=text,
                colorbar={
                    "title": {"text": "predicted class"},
                    "tickvals": list(range(len(classes))),
                    "ticktext": [plotly_text(label) for label in classes],
                },
                name="predicted class",
                hovertemplate=f"{position}<br>%{{text}}<extra></extra>",
            )
        )
    truth = pd.Series(as_category_text(test_points[target]), index=test_points.index)
    x_points = parse_numbers(test_points[x_column])
    y_points = parse_numbers(test_points[y_column])
    for label in classes:
        chosen = (truth == label).to_numpy()
        traces.append(
            go.Scatter(
                x=x_points[chosen],
                y=y_points[chosen],
                mode="markers",
                name=f"test rows: {plotly_text(label)}",
                marker={
                    "color": colors[label],
                    "size": 7,
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate=f"{position}<br>actual {plotly_text(label)}<extra></extra>",
            )
        )
    figure = go.Figure(traces)
    figure.update_xaxes(
        title_text=x_name,
        tickformat=value_ticks(x_column, x_points),
        range=[surface.x[0], surface.x[-1]],
    )
    figure.update_yaxes(
        title_text=y_name,
        tickformat=value_ticks(y_column, y_points),
        range=[surface.y[0], surface.y[-1]],
    )
    figure.update_layout(
        title=f"What the model predicts for {plotly_text(target)}, by {x_name} and {y_name}",
        height=480,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def side_by_side(figures: list[go.Figure], titles: list[str]) -> go.Figure:
    """The same picture for several runs next to each other, on shared axes (relu beside
    tanh, say). Each figure's traces go to its own panel; the legend and the colour bar
    are shown once, since the panels share them. ``titles`` come from the user (run
    names) and are escaped here.
    """
    if not figures or len(figures) != len(titles):
        raise ValueError(
            f"Expected one title per figure; got {len(figures)} figures and {len(titles)} titles."
        )
    combined = make_subplots(
        rows=1,
        cols=len(figures),
        shared_xaxes="all",
        shared_yaxes="all",
        subplot_titles=[plotly_text(title) for title in titles],
        horizontal_spacing=0.04,
    )
    for column, figure in enumerate(figures, start=1):
        for trace in figure.data:
            copy = type(trace)(trace)
            if column > 1:
                copy.showlegend = False
                if hasattr(copy, "showscale"):
                    copy.showscale = False
            copy.legendgroup = copy.name
            combined.add_trace(copy, row=1, col=column)
    first = figures[0].layout
    combined.update_xaxes(
        type=first.xaxis.type, tickformat=first.xaxis.tickformat, range=first.xaxis.range
    )
    combined.update_xaxes(title_text=first.xaxis.title.text)
    combined.update_yaxes(
        type=first.yaxis.type, tickformat=first.yaxis.tickformat, range=first.yaxis.range
    )
    combined.update_yaxes(title_text=first.yaxis.title.text, row=1, col=1)
    combined.update_layout(
        title=first.title.text,
        height=first.height or 420,
        legend={"orientation": "h", "y": -0.2},
    )
    return combined


def _shown(value: object, categorical: bool) -> object:
    return plotly_text(value) if categorical else value


def _class_scale(colors: list[str]) -> list[list[object]]:
    """A stepped colour scale: one flat band per class, for class codes 0..n-1."""
    if len(colors) == 1:
        return [[0, colors[0]], [1, colors[0]]]
    scale = []
    for position, color in enumerate(colors):
        scale.append([position / len(colors), color])
        scale.append([(position + 1) / len(colors), color])
    return scale
