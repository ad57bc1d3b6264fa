"""The Model page's Search panel: a random search or the capacity ladder, every trial a run.

The search belongs to the server (``layerlab.runs.search_board``), as runs do: it goes on
through page switches and reloads, and only Stop ends it. This panel sets it up,
follows it (the best score so far, its trials drawn in the app's words, the ladder), and retrains
the winner on all the rows in one click.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from layerlab.runs import job_limits
from layerlab.runs.search_board import SearchEntry, shared_board
from layerlab.runs.search_settings import SAMPLERS, SearchSettings, full_training_spec
from layerlab.runs.search_space import Range, SearchSpace, default_space
from layerlab.runs.study import (
    TrialRow,
    best_row,
    importance_note,
    scored,
    setting_importances,
    trial_rows,
)
from layerlab.schema import limits
from layerlab.schema.errors import LayerlabError, SpecError
from layerlab.schema.spec import ModelSpec
from layerlab_app import state
from layerlab_app.search_figures import history_figure, importance_figure, settings_figure
from layerlab_app.text import md

if TYPE_CHECKING:
    import optuna

REFRESH_SECONDS = 1.5
UNIT_CHOICES = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_CHOICES = (8, 16, 32, 64, 128, 256, 512)
RATE_STEPS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
# The widgets' bounds where the server sets no cap (a local install); a shared server's caps
# (``job_limits.search_max_trials``, ``search_max_minutes``) are lower.
MAX_TRIALS = 500
MAX_MINUTES = 24 * 60
KIND_LABELS = {
    "search": "Random search over the settings ticked below",
    "capacity": "Capacity ladder: start small, widen, then deepen while it helps",
}
SAMPLER_LABELS = {
    "random": "Random (recommended: it beats a grid for the same number of trials)",
    "tpe": "TPE (Optuna learns from the trials so far which settings look good)",
}
STATUS_WORDS = {
    "running": "running",
    "finished": "finished",
    "stopped": "stopped",
    "failed": "failed",
    "interrupted": "interrupted",
}


def loss_text(value: float | None) -> str:
    """A validation loss as a person reads it: four significant digits, never 3.02e+03."""
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 3 - math.floor(math.log10(abs(value)))) if value else 1
    return f"{value:,.{min(digits, 8)}f}"


# --------------------------------------------------------------------------- setting up
def _choices(label: str, options: tuple, default: tuple, key: str) -> tuple:
    return tuple(st.multiselect(label, options, default=list(default), key=key))


def _space_from_widgets() -> SearchSpace:
    """The space the ticked settings describe; unticked settings keep the spec's value."""
    values = {}
    default = default_space()
    if st.checkbox("Number of hidden layers", value=True, key="search_vary_layers"):
        low, high = st.slider(
            "Hidden layers, from and to", 1, 8, (default.hidden_layers.low, 3), key="search_layers"
        )
        values["hidden_layers"] = Range(low, high)
    if st.checkbox("Units per layer", value=True, key="search_vary_units"):
        values["units"] = _choices("Units to try", UNIT_CHOICES, default.units, "search_units")
    if st.checkbox("Activation", value=True, key="search_vary_activations"):
        values["activations"] = _choices(
            "Activations to try", limits.ACTIVATIONS, default.activations, "search_activations"
        )
    if st.checkbox("Dropout rate", value=False, key="search_vary_dropout"):
        low, high = st.slider(
            "Dropout rate, from and to (0 means no dropout layer)",
            0.0,
            0.5,
            (0.0, 0.3),
            step=0.1,
            key="search_dropout",
        )
        values["dropout_rate"] = Range(low, high, 0.1)
    if st.checkbox("Optimizer", value=False, key="search_vary_optimizers"):
        values["optimizers"] = _choices(
            "Optimizers to try", limits.OPTIMIZERS, default.optimizers, "search_optimizers"
        )
    if st.checkbox("Learning rate", value=True, key="search_vary_rate"):
        low, high = st.select_slider(
            "Learning rate, from and to (searched on a log scale)",
            options=RATE_STEPS,
            value=(1e-4, 3e-2),
            format_func=lambda rate: f"{rate:g}",
            key="search_rate",
        )
        values["learning_rate"] = Range(low, high)
    if st.checkbox("Batch size", value=False, key="search_vary_batch"):
        values["batch_sizes"] = _choices(
            "Batch sizes to try", BATCH_CHOICES, default.batch_sizes, "search_batch"
        )
    return SearchSpace(**values)


def _settings_from_widgets(spec: ModelSpec) -> SearchSettings:
    left, middle, right = st.columns(3)
    most_trials = job_limits.search_max_trials() or MAX_TRIALS
    cap = job_limits.search_max_minutes()
    most_minutes = max(1, math.floor(cap)) if cap else MAX_MINUTES
    capped = bool(cap)
    trials = left.number_input(
        "Trials",
        1,
        most_trials,
        min(12, most_trials),
        step=1,
        key="search_trials",
        help=f"How many networks to try (at most {most_trials:,} here).",
    )
    minutes = middle.number_input(
        f"Minutes at most (0: this server's limit, {most_minutes})"
        if capped
        else "Minutes at most (0: no limit)",
        0,
        most_minutes,
        0,
        step=5,
        key="search_minutes",
        help="No trial starts after this; those still training then are stopped and kept.",
    )
    epochs = right.number_input(
        "Epochs per trial",
        1,
        limits.EPOCHS.high,
        min(30, spec.epochs),
        step=5,
        key="search_epochs",
    )
    sample = st.slider(
        "Share of the rows each trial trains on",
        0.05,
        1.0,
        0.3,
        step=0.05,
        key="search_sample",
        format="%.2f",
    )
    st.caption(
        "While searching, few epochs on a sample of the rows tell good settings from bad ones "
        "in a fraction of the time; the winner then trains on all the rows."
    )
    sampler = st.radio(
        "How trials are drawn",
        SAMPLERS,
        format_func=SAMPLER_LABELS.get,
        key="search_sampler",
    )
    return SearchSettings(
        trials=int(trials),
        minutes=float(minutes) if minutes else None,
        sample=float(sample),
        epochs=int(epochs),
        seed=spec.seed,
        sampler=sampler,
    )


def _start(kind: str, spec: ModelSpec, space: SearchSpace, settings: SearchSettings) -> None:
    """Start a search (or the capacity ladder, ``kind``) from ``spec`` on this tab's table."""
    focus = state.session().focus.replace(spec=spec)
    try:
        state.service().start_search(
            focus, state.frame(), settings, space if kind == "search" else None
        )
    except SpecError as error:
        st.session_state["search_problems"] = list(error.problems)
    except LayerlabError as error:
        st.session_state["search_problems"] = [str(error)]
    else:
        st.session_state["search_problems"] = []


def _setup(spec: ModelSpec, valid: bool) -> None:
    kind = st.radio(
        "What to search", tuple(KIND_LABELS), format_func=KIND_LABELS.get, key="search_kind"
    )
    if kind == "search":
        st.caption(
            "Settings such as layers, units and the learning rate are not learned, so they are "
            "searched; tick the ones to vary. The others keep this page's values."
        )
        space = _space_from_widgets()
    else:
        st.caption(
            "Start with one layer of 8 units, double its width while the validation loss improves "
            "by more than chance, then add layers, and step back to the last one that helped."
        )
        space = None
    settings = _settings_from_widgets(spec)
    problems = []
    try:
        if space is not None:
            space.validate()
        settings.validate()
    except SpecError as error:
        problems = list(error.problems)
    for problem in problems:
        st.error(md(problem))
    if not valid:
        st.info("Fix the network above first: a search starts from it.")
    st.button(
        "Start the search" if kind == "search" else "Start the capacity ladder",
        type="primary",
        key="search_start",
        disabled=bool(problems) or not valid,
        on_click=_start,
        args=(kind, spec, space, settings),
    )
    for problem in st.session_state.get("search_problems", []):
        st.error(md(problem))


# --------------------------------------------------------------------------- following
def _progress(entry: SearchEntry) -> None:
    board, store = shared_board(), state.store()
    if entry.kind == "search":
        study = board.study(store, entry.id)  # read once for the line, the best and the figures
        rows = trial_rows(study) if study is not None else []
        done = [row for row in rows if row.status != "running"]
        training = len(rows) - len(done)
        budget = entry.settings.get("trials")
        best_trial = best_row(study) if study is not None else None
        best = best_trial.spec if best_trial is not None else None
        scored = [row.validation_loss for row in done if row.validation_loss is not None]
        line = f"**{md(entry.label)}** ({STATUS_WORDS.get(entry.status, entry.status)}): "
        line += f"{len(done):,} of {budget:,} trials done" if budget else f"{len(done):,} done"
        if training:
            line += f", {training:,} training"
        if scored:
            line += f"; best validation loss so far {loss_text(min(scored))}"
        st.markdown(line + ".")
        if study is not None:
            _figures(entry, study, rows)
    else:
        steps = entry.ladder
        line = f"**{md(entry.label)}** ({STATUS_WORDS.get(entry.status, entry.status)}): "
        line += f"{len(steps):,} step{'s' if len(steps) != 1 else ''} so far."
        st.markdown(line)
        if entry.noise is not None:
            st.caption(
                f"Noise: two seeds of the starting network differ by {loss_text(entry.noise)} in "
                "validation loss; a bigger network counts as better only when it beats the best "
                "by more than that."
            )
        if steps:
            st.plotly_chart(ladder_figure(steps), key=f"ladder_{entry.id}")
        best = board.best_spec(store, entry.id)
    if entry.message:
        (st.error if entry.status == "failed" else st.info)(md(entry.message))
    st.caption("Every trial is a run: the Runs page lists them, with their curves and results.")
    if entry.running:
        st.button(
            "Stop the search",
            key="search_stop",
            on_click=state.service().stop_search,
            args=(entry.id,),
            help="No new trial starts; those training now stop and are kept.",
        )
    elif best is not None and st.button(
        "Train the best one on all the data",
        type="primary",
        key="search_train_best",
        help="The best network, with this page's epochs and patience, on every row.",
    ):
        _train_best(entry, best)


FIGURE_TABS = {
    "history": "Validation loss, trial by trial",
    "settings": "Settings of every trial",
    "importance": "Which settings mattered",
}


def _importances(entry: SearchEntry, study: optuna.Study, finished: int) -> dict[str, float]:
    """``setting_importances``, worked out once for each number of finished trials."""
    key = f"search_importances_{entry.id}"
    kept = st.session_state.get(key)
    if kept is None or kept[0] != finished:
        kept = (finished, setting_importances(study))
        st.session_state[key] = kept
    return kept[1]


def _figures(entry: SearchEntry, study: optuna.Study, rows: list[TrialRow]) -> None:
    """The trials so far in the app's words; which settings mattered once enough finished."""
    finished = scored(rows)
    if not finished:
        return
    settings = settings_figure(rows)
    note = importance_note(rows)
    # The settings and which mattered need a setting that took two values.
    shown = ["history"] if settings is None else list(FIGURE_TABS)
    for tab, name in zip(st.tabs([FIGURE_TABS[name] for name in shown]), shown, strict=True):
        with tab:
            if name == "history":
                st.plotly_chart(history_figure(rows), key=f"search_history_{entry.id}")
            elif name == "settings":
                st.plotly_chart(settings, key=f"search_settings_{entry.id}")
            elif note is not None:
                st.info(md(note))
            else:
                importances = _importances(entry, study, len(finished))
                if not importances:
                    continue
                st.plotly_chart(importance_figure(importances), key=f"search_importance_{entry.id}")
                st.caption(
                    f"From {len(finished):,} finished trials. A setting's share is how much of "
                    "the spread in validation loss it explains: it says which settings to "
                    "search with care, not which value is best."
                )


def ladder_figure(steps: list[dict]) -> go.Figure:
    """Validation loss by parameter count, one point per step, the chosen one marked."""
    scored = [step for step in steps if step.get("validation_loss") is not None]
    figure = go.Figure()
    figure.add_scatter(
        x=[step["parameters"] for step in scored],
        y=[step["validation_loss"] for step in scored],
        mode="lines+markers+text",
        text=[f"{step['hidden_layers']} × {step['units']:,}" for step in scored],
        textposition="top center",
        name="steps",
        hovertemplate="%{text}<br>%{x:,} parameters<br>validation loss %{y:,.4f}<extra></extra>",
    )
    chosen = [step for step in scored if step.get("chosen")]
    if chosen:
        figure.add_scatter(
            x=[chosen[0]["parameters"]],
            y=[chosen[0]["validation_loss"]],
            mode="markers",
            marker={"size": 16, "symbol": "star"},
            name="chosen",
            hoverinfo="skip",
        )
    figure.update_layout(
        xaxis_title="Parameters (log scale)",
        yaxis_title="Best validation loss",
        xaxis_type="log",
        xaxis_tickformat=",",
        height=360,
        margin={"t": 30},
    )
    return figure


def _train_best(entry: SearchEntry, best: ModelSpec) -> None:
    base = ModelSpec.from_dict(entry.base_spec)
    if best.target != state.target():
        st.error(
            f"The search predicted '{best.target}', but the Data page now predicts "
            f"'{state.target()}'. Choose '{best.target}' again to train its best network."
        )
        return
    if state.is_training():
        st.error("A run of this tab is still training; stop it or wait for it on the Train page.")
        return
    state.set_spec(full_training_spec(best, base))
    state.forget(*state.SPEC_WIDGETS, prefix="layer_")
    state.start_training()
    message = state.train_message()
    if message is not None and message[0] == "error":
        st.error(md(message[1]))
        return
    st.switch_page("app_pages/train.py")


def _follow() -> None:
    entry = shared_board().latest(state.store())
    if entry is None:
        return
    was_running = st.session_state.get("search_was_running")
    st.session_state["search_was_running"] = entry.running
    if was_running and not entry.running:
        st.rerun()  # the whole page: the set-up form comes back
    _progress(entry)


def render(spec: ModelSpec, valid: bool) -> None:
    """The Search panel, below the network: set up a search, or follow the one running."""
    st.subheader("Search")
    entry = shared_board().latest(state.store())
    running = entry is not None and entry.running
    st.session_state["search_was_running"] = running
    if entry is not None:
        st.fragment(_follow, run_every=REFRESH_SECONDS if running else None)()
    if not running:
        with st.expander("Search for a better network", expanded=entry is None):
            _setup(spec, valid)
