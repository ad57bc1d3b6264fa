"""Plotly figures for the Train and Results pages, built from plain tables.

Class labels come from the data, and Plotly reads HTML in every label, tick and
hover, so each one goes through ``plotly_text``.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from layerlab.schema.numbers import label_numbers
from layerlab.schema.vocabulary import METRIC_WORDS, sentence_case
from layerlab.tabular.evaluation import sample_rows, thin_curve
from layerlab_app.text import plotly_text

METRIC_TITLES = {
    "accuracy": sentence_case(METRIC_WORDS["accuracy"]),
    "mae": sentence_case(METRIC_WORDS["mae"]) + ", in the target's units",
}
# A regression network trains on the standardized target (mean 0, spread 1), so its loss
# is in those units, not the target's: 0.02 there can be an error of thousands of dollars.
STANDARDIZED_LOSS_TITLE = "Loss, on the standardized target"
# Plain decimals on the axes, never 3e+3 or 7e-5; six digits, so that ticks at 2,004 and
# 2,006 do not both round to 2,000.
READABLE_TICKS = ",.6~r"
# Years, codes and IDs on an axis: whole numbers without separators.
LABEL_TICKS = "d"
TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"


def value_ticks(column: str, values) -> str:
    """The tick format of an axis of ``column``'s values: a year is 2004, not 2,004."""
    return LABEL_TICKS if label_numbers(column, values) else READABLE_TICKS


def learning_curves(
    history: list[dict[str, float]], metric: str, best_epoch: int | None = None
) -> go.Figure:
    """Loss and ``metric`` per epoch, training and validation, with the best epoch marked.

    Built as one figure spec (two side-by-side axes) rather than with
    ``make_subplots`` and ``add_vline``: it is redrawn live during training,
    and this way takes 2 ms instead of 17 ms.
    """
    epochs = [row["epoch"] for row in history]
    data = []
    for axis, name in (("", "loss"), ("2", metric)):
        for prefix, label, color in (
            ("", "training", TRAIN_COLOR),
            ("val_", "validation", VALIDATION_COLOR),
        ):
            data.append(
                {
                    "type": "scatter",
                    "x": epochs,
                    "y": [row.get(prefix + name) for row in history],
                    "mode": "lines+markers" if len(history) < 30 else "lines",
                    "name": label,
                    "legendgroup": label,
                    "showlegend": axis == "",
                    "line": {"color": color},
                    "xaxis": f"x{axis}",
                    "yaxis": f"y{axis}",
                }
            )
    loss_title = STANDARDIZED_LOSS_TITLE if metric == "mae" else "Loss"
    titles = (loss_title, METRIC_TITLES.get(metric, metric))
    annotations = [
        {
            "text": title,
            "x": x,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "showarrow": False,
            "xanchor": "center",
            "yanchor": "bottom",
            "font": {"size": 16},
        }
        for title, x in zip(titles, (0.225, 0.775), strict=True)
    ]
    shapes = []
    if best_epoch is not None:
        for axis in ("", "2"):
            shapes.append(
                {
                    "type": "line",
                    "x0": best_epoch,
                    "x1": best_epoch,
                    "xref": f"x{axis}",
                    "y0": 0,
                    "y1": 1,
                    "yref": f"y{axis} domain",
                    "line": {"dash": "dash", "color": "green"},
                }
            )
        annotations.append(
            {
                "text": f"best epoch {best_epoch}",
                "x": best_epoch,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "xshift": 4,
                "font": {"color": "green"},
            }
        )
    layout = {
        "xaxis": {"domain": [0, 0.45], "anchor": "y", "title": {"text": "epoch"}},
        "yaxis": {"domain": [0, 1], "anchor": "x", "tickformat": READABLE_TICKS},
        "xaxis2": {"domain": [0.55, 1], "anchor": "y2", "title": {"text": "epoch"}},
        "yaxis2": {"domain": [0, 1], "anchor": "x2", "tickformat": READABLE_TICKS},
        "annotations": annotations,
        "shapes": shapes,
        "height": 360,
        "margin": {"t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return go.Figure(data=data, layout=layout)


def confusion_heatmap(confusion: pd.DataFrame, threshold: float | None = None) -> go.Figure:
    """Counts of test rows by actual class (rows) and predicted class (columns).

    ``threshold``: the decision threshold the predictions were made with, for the title.
    """
    labels_x = [plotly_text(label) for label in confusion.columns]
    labels_y = [plotly_text(label) for label in confusion.index]
    counts = confusion.to_numpy()
    figure = go.Figure(
        go.Heatmap(
            z=counts,
            x=labels_x,
            y=labels_y,
            text=[[f"{count:,}" for count in row] for row in counts],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="actual %{y}, predicted %{x}: %{text} rows<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="predicted class", type="category")
    figure.update_yaxes(title_text="actual class", type="category", autorange="reversed")
    title = "Confusion matrix (test set)"
    if threshold is not None:
        title = f"Confusion matrix (test set, threshold {threshold:.2f})"
    figure.update_layout(title=title, height=380)
    return figure


def _finish_curve(
    figure: go.Figure, point: tuple[float, float, float] | None, axes: tuple[str, str], title: str
) -> go.Figure:
    """Mark ``point`` (x, y, threshold) when it is defined; name the unit axes and the chart."""
    if point is not None and all(math.isfinite(value) for value in point):
        x, y, threshold = point
        figure.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                name=f"threshold {threshold:.2f}",
                marker={"size": 11, "color": "black", "symbol": "x"},
            )
        )
    figure.update_xaxes(title_text=axes[0], range=[0, 1])
    figure.update_yaxes(title_text=axes[1], range=[0, 1.02])
    figure.update_layout(title=title, height=380)
    return figure


def roc_figure(
    curves: dict[str, pd.DataFrame], point: tuple[float, float, float] | None = None
) -> go.Figure:
    """One ROC curve per class (or the positive class), with the chance diagonal.

    ``point``: (false positive rate, true positive rate, threshold) to mark.
    """
    figure = go.Figure()
    for label, curve in curves.items():
        curve = thin_curve(curve, "fpr", "tpr")
        figure.add_trace(
            go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=plotly_text(label))
        )
    figure.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "gray"}
        )
    )
    axes = ("false positive rate", "true positive rate")
    return _finish_curve(figure, point, axes, "ROC curve (test set)")


def precision_recall_figure(
    curves: dict[str, pd.DataFrame],
    guessing: float | None = None,
    point: tuple[float, float, float] | None = None,
) -> go.Figure:
    """Precision against recall per class (or the positive class).

    ``guessing``: the precision of guessing (the positive class's share of the
    test rows), drawn as a flat line; ``point``: (recall, precision, threshold)
    to mark. On a rare class this curve shows what ROC hides: how many of the
    rows a model flags are really of the class.
    """
    figure = go.Figure()
    for label, curve in curves.items():
        curve = thin_curve(curve, "recall", "precision")
        figure.add_trace(
            go.Scatter(
                x=curve["recall"],
                y=curve["precision"],
                mode="lines",
                name=plotly_text(label),
                line={"shape": "hv"},
            )
        )
    if guessing is not None and math.isfinite(guessing):
        figure.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[guessing, guessing],
                mode="lines",
                name="guessing",
                line={"dash": "dot", "color": "gray"},
            )
        )
    return _finish_curve(
        figure, point, ("recall", "precision"), "Precision-recall curve (test set)"
    )


def _test_rows_title(title: str, shown: pd.DataFrame, predictions: pd.DataFrame) -> str:
    if len(shown) == len(predictions):
        return f"{title} (test set)"
    return f"{title} (test set: {len(shown):,} of its {len(predictions):,} rows)"


def predicted_vs_actual(predictions: pd.DataFrame) -> go.Figure:
    """Each test row as a point (``SCATTER_POINTS`` of them at most); a perfect model puts
    every point on the diagonal."""
    low = float(min(predictions["actual"].min(), predictions["predicted"].min()))
    high = float(max(predictions["actual"].max(), predictions["predicted"].max()))
    shown = sample_rows(predictions)
    figure = go.Figure(
        [
            go.Scattergl(
                x=shown["actual"],
                y=shown["predicted"],
                mode="markers",
                name="test rows",
            ),
            go.Scatter(
                x=[low, high],
                y=[low, high],
                mode="lines",
                name="perfect",
                line={"dash": "dot", "color": "gray"},
            ),
        ]
    )
    figure.update_xaxes(title_text="actual")
    figure.update_yaxes(title_text="predicted")
    figure.update_layout(
        title=_test_rows_title("Predicted vs actual", shown, predictions), height=380
    )
    return figure


def residuals_figure(predictions: pd.DataFrame) -> go.Figure:
    """Residual (actual - predicted) against the prediction; a good model shows no pattern."""
    shown = sample_rows(predictions)
    figure = go.Figure(
        go.Scattergl(x=shown["predicted"], y=shown["residual"], mode="markers", name="test rows")
    )
    figure.add_hline(y=0, line_dash="dot", line_color="gray")
    figure.update_xaxes(title_text="predicted")
    figure.update_yaxes(title_text="residual (actual - predicted)")
    figure.update_layout(
        title=_test_rows_title("Residuals", shown, predictions), height=380, showlegend=False
    )
    return figure


# One colour per run when runs are overlaid (Plotly's default sequence).
RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def compared_curves(runs: list[tuple[str, list[dict[str, float]]]], name: str) -> go.Figure:
    """``name`` (``loss`` or a metric) per epoch for several runs: validation solid, training
    dotted, one colour per run, so "did Wider beat Small?" is one look."""
    figure = go.Figure()
    for position, (label, history) in enumerate(runs):
        color = RUN_COLORS[position % len(RUN_COLORS)]
        epochs = [row["epoch"] for row in history]
        for prefix, part, dash in (("val_", "validation", "solid"), ("", "training", "dot")):
            figure.add_scatter(
                x=epochs,
                y=[row.get(prefix + name) for row in history],
                mode="lines",
                name=plotly_text(f"{label} ({part})"),
                legendgroup=plotly_text(label),
                line={"color": color, "dash": dash},
            )
    title = "Loss" if name == "loss" else METRIC_TITLES.get(name, name)
    figure.update_layout(
        title=title,
        xaxis_title="Epoch",
        yaxis_title=title,
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 40},
    )
    return figure


def importance_bars(table: pd.DataFrame) -> go.Figure:
    """Permutation importance per column (``importance.permutation_importances``), most
    important on top, with its spread over repeats as error bars; columns not measured in
    the time allowed (no importance) are left out, the sentence below counts them."""
    shown = table[table["importance"].notna()].iloc[::-1]  # Plotly draws the first at the bottom
    score = str(table["score"].iloc[0]) if len(table) else "score"
    figure = go.Figure(
        go.Bar(
            x=shown["importance"],
            y=[plotly_text(name) for name in shown["column"]],
            orientation="h",
            error_x={"type": "data", "array": shown["spread"], "visible": True},
            marker={"color": TRAIN_COLOR},
            hovertemplate="%{y}: %{x:,.3~r}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={
            "title": {"text": f"how much worse the test {score} gets when shuffled"},
            "tickformat": READABLE_TICKS,
        },
        height=max(220, 28 * len(shown) + 100),
        margin={"t": 20, "b": 40},
    )
    return figure
