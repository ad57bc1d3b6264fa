"""Plotly figures for the Train and Results pages, built from plain tables."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

METRIC_TITLES = {"accuracy": "Accuracy", "mae": "Mean absolute error"}
TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"


def learning_curves(
    history: list[dict[str, float]], metric: str, best_epoch: int | None = None
) -> go.Figure:
    """Loss and ``metric`` per epoch, training and validation, with the best epoch marked."""
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("Loss", METRIC_TITLES.get(metric, metric))
    )
    epochs = [row["epoch"] for row in history]
    for column, name in ((1, "loss"), (2, metric)):
        for prefix, label, color in (
            ("", "training", TRAIN_COLOR),
            ("val_", "validation", VALIDATION_COLOR),
        ):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[row.get(prefix + name) for row in history],
                    mode="lines+markers" if len(history) < 30 else "lines",
                    name=label,
                    legendgroup=label,
                    showlegend=column == 1,
                    line={"color": color},
                ),
                row=1,
                col=column,
            )
    if best_epoch is not None:
        for column in (1, 2):
            figure.add_vline(x=best_epoch, line_dash="dash", line_color="green", row=1, col=column)
        figure.add_annotation(
            text=f"best epoch {best_epoch}",
            x=best_epoch,
            y=1,
            xref="x",
            yref="paper",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            xshift=4,
            font={"color": "green"},
        )
    figure.update_xaxes(title_text="epoch")
    figure.update_layout(
        height=360, margin={"t": 40, "b": 40}, legend={"orientation": "h", "y": -0.2}
    )
    return figure


def confusion_heatmap(confusion: pd.DataFrame) -> go.Figure:
    """Counts of test rows by actual class (rows) and predicted class (columns)."""
    labels_x = [str(label) for label in confusion.columns]
    labels_y = [str(label) for label in confusion.index]
    figure = go.Figure(
        go.Heatmap(
            z=confusion.to_numpy(),
            x=labels_x,
            y=labels_y,
            text=confusion.to_numpy(),
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="actual %{y}, predicted %{x}: %{z} rows<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="predicted class", type="category")
    figure.update_yaxes(title_text="actual class", type="category", autorange="reversed")
    figure.update_layout(title="Confusion matrix (test set)", height=380)
    return figure


def roc_figure(curves: dict[str, pd.DataFrame]) -> go.Figure:
    """One ROC curve per class (or the positive class), with the chance diagonal."""
    figure = go.Figure()
    for label, curve in curves.items():
        figure.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=str(label)))
    figure.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "gray"}
        )
    )
    figure.update_xaxes(title_text="false positive rate", range=[0, 1])
    figure.update_yaxes(title_text="true positive rate", range=[0, 1.02])
    figure.update_layout(title="ROC curve (test set)", height=380)
    return figure


def predicted_vs_actual(predictions: pd.DataFrame) -> go.Figure:
    """Each test row as a point; a perfect model puts every point on the diagonal."""
    low = float(min(predictions["actual"].min(), predictions["predicted"].min()))
    high = float(max(predictions["actual"].max(), predictions["predicted"].max()))
    figure = go.Figure(
        [
            go.Scatter(
                x=predictions["actual"],
                y=predictions["predicted"],
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
    figure.update_layout(title="Predicted vs actual (test set)", height=380)
    return figure


def residuals_figure(predictions: pd.DataFrame) -> go.Figure:
    """Residual (actual - predicted) against the prediction; a good model shows no pattern."""
    figure = go.Figure(
        go.Scatter(
            x=predictions["predicted"], y=predictions["residual"], mode="markers", name="test rows"
        )
    )
    figure.add_hline(y=0, line_dash="dot", line_color="gray")
    figure.update_xaxes(title_text="predicted")
    figure.update_yaxes(title_text="residual (actual - predicted)")
    figure.update_layout(title="Residuals (test set)", height=380, showlegend=False)
    return figure
