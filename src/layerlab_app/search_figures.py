"""The Search panel's figures, drawn from a search's trials in the app's words.

Trials are numbered from 1, as a person counts them (Optuna's own numbers start at 0),
on axes with whole-number ticks; each setting is named as on the Model page
(``setting_label``: "Units in layer 1", "Learning rate"); the objective is the
validation loss.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from layerlab.runs.study import TrialRow, scored, setting_label, varied_settings
from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import Task
from layerlab_app.figures import (
    READABLE_TICKS,
    STANDARDIZED_LOSS_TITLE,
    TRAIN_COLOR,
    VALIDATION_COLOR,
)
from layerlab_app.text import plotly_text

# A trial axis shows at most about this many ticks, each a whole trial number.
MOST_TRIAL_TICKS = 12
# Settings drawn on a log scale (the search draws them so: ``search_space.py``).
LOG_SETTINGS = ("learning_rate",)
# The value shown for a setting a trial did not have (units of a layer its network lacks).
NONE_TEXT = "none"


def loss_title(rows: list[TrialRow]) -> str:
    """ "Validation loss", saying so when it is in the standardized target's units."""
    if any(row.spec is not None and row.spec.task == Task.REGRESSION for row in rows):
        return f"Validation {STANDARDIZED_LOSS_TITLE[0].lower()}{STANDARDIZED_LOSS_TITLE[1:]}"
    return "Validation loss"


def trial_axis(last: int) -> dict[str, Any]:
    """An x axis of trials 1 to ``last``: whole numbers only, never 0.5 or 1.5."""
    return {
        "title": {"text": "Trial"},
        "tickmode": "linear",
        "tick0": 1,
        "dtick": max(1, math.ceil(last / MOST_TRIAL_TICKS)),
        "tickformat": "d",
        "range": [0.5, max(last, 1) + 0.5],
    }


def history_figure(rows: list[TrialRow]) -> go.Figure:
    """Each finished trial's validation loss by its number, and the best so far as a step."""
    done = scored(rows)
    numbers = [row.shown_number for row in done]
    losses = [row.validation_loss for row in done]
    best = [min(losses[: index + 1]) for index in range(len(losses))]
    figure = go.Figure()
    figure.add_scatter(
        x=numbers,
        y=losses,
        mode="markers",
        name="each trial",
        marker={"color": TRAIN_COLOR, "size": 8},
        hovertemplate="trial %{x}: validation loss %{y:,.4~r}<extra></extra>",
    )
    figure.add_scatter(
        x=numbers,
        y=best,
        mode="lines",
        line={"shape": "hv", "color": VALIDATION_COLOR},
        name="best so far",
        hovertemplate="best after trial %{x}: %{y:,.4~r}<extra></extra>",
    )
    last = max((row.shown_number for row in rows), default=1)
    figure.update_layout(
        xaxis=trial_axis(last),
        yaxis={"title": {"text": loss_title(rows)}, "tickformat": READABLE_TICKS},
        height=360,
        margin={"t": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )
    return figure


def _dimension(name: str, values: list[Any]) -> dict[str, Any]:
    """One axis of the settings figure: numbers as numbers (the learning rate on a log
    scale), words as evenly spaced choices, and a setting a trial lacked as "none"."""
    present = [value for value in values if value is not None]
    label = plotly_text(setting_label(name))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if numeric and name in LOG_SETTINGS:
        logs = [math.log10(value) for value in values]
        low, high = min(logs), max(logs)
        steps = [  # 1, 3, 10, 30 ... times a power of ten, within the values drawn
            step * 10.0**power
            for power in range(math.floor(low), math.ceil(high) + 1)
            for step in (1, 3)
        ]
        ticks = [step for step in steps if low - 1e-9 <= math.log10(step) <= high + 1e-9]
        return {
            "label": label,
            "values": logs,
            "tickvals": [math.log10(step) for step in ticks],
            "ticktext": [readable_number(step) for step in ticks],
        }
    if numeric:
        distinct = sorted(set(present))
        missing = len(present) < len(values)
        shown = [0, *distinct] if missing else distinct
        dimension: dict[str, Any] = {
            "label": label,
            "values": [0 if value is None else value for value in values],
        }
        if len(shown) <= MOST_TRIAL_TICKS:
            dimension["tickvals"] = shown
            dimension["ticktext"] = [NONE_TEXT if missing and v == 0 else f"{v:g}" for v in shown]
        return dimension
    words = sorted({str(value) for value in present})
    if len(present) < len(values):
        words = [NONE_TEXT, *words]
    codes = {word: code for code, word in enumerate(words)}
    return {
        "label": label,
        "values": [codes[NONE_TEXT if value is None else str(value)] for value in values],
        "tickvals": list(range(len(words))),
        "ticktext": [plotly_text(word) for word in words],
    }


def settings_figure(rows: list[TrialRow]) -> go.Figure | None:
    """Every finished trial as a line through the settings it tried and its validation loss,
    coloured by that loss; None until two finished trials differ in a setting."""
    done, varied = scored(rows), varied_settings(rows)
    if not varied:
        return None
    dimensions = [_dimension(name, [row.params.get(name) for row in done]) for name in varied]
    losses = [row.validation_loss for row in done]
    title = loss_title(rows)
    dimensions.append({"label": plotly_text(title), "values": losses})
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": losses,
                "colorscale": "Viridis",
                "reversescale": True,
                "showscale": True,
                "colorbar": {"title": {"text": title}, "tickformat": READABLE_TICKS},
            },
        )
    )
    figure.update_layout(height=400, margin={"t": 60, "l": 60, "r": 40})
    return figure


def importance_figure(importances: dict[str, float]) -> go.Figure:
    """Each setting's share of how the validation loss moved, the largest at the top."""
    ranked = sorted(importances.items(), key=lambda item: item[1])
    figure = go.Figure(
        go.Bar(
            x=[share for _, share in ranked],
            y=[plotly_text(setting_label(name)) for name, _ in ranked],
            orientation="h",
            marker={"color": TRAIN_COLOR},
            hovertemplate="%{y}: %{x:.0%}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={
            "title": {"text": "Share of the validation loss's variation it explains"},
            "tickformat": ".0%",
            "rangemode": "tozero",
        },
        height=max(220, 28 * len(ranked) + 100),
        margin={"t": 20, "b": 40},
    )
    return figure
