"""The live view of a training run: a progress bar and learning curves that grow per epoch.

Streamlit interrupts a running script at its next ``st`` call when the user
clicks anything, so these calls are also where Stop takes effect.
"""

from __future__ import annotations

import time

import streamlit as st

from layerlab.train import EpochEnd, EpochProgress
from layerlab_app.figures import learning_curves
from layerlab_app.progress import Throttle, done_fraction, progress_text

CHART_INTERVAL = 0.25  # at most ~4 redraws a second when epochs are short
BAR_INTERVAL = 0.1
# Shares of the training time the redraws may take (the chart's figure costs
# tens of milliseconds; more often would slow training down noticeably).
CHART_BUDGET = 0.03
BAR_BUDGET = 0.01


class LiveView:
    def __init__(self, metric: str, early_stopping: bool) -> None:
        self.metric = metric
        self.early_stopping = early_stopping
        self.bar = st.empty()
        self.chart = st.empty()
        self._chart_pace = Throttle(CHART_INTERVAL, budget=CHART_BUDGET)
        self._bar_pace = Throttle(BAR_INTERVAL, budget=BAR_BUDGET)
        self._draws = 0
        self._fraction = 0.0

    def preparing(self) -> None:
        self.bar.progress(0.0, text="Preparing the data and building the network…")

    def update(self, event: EpochEnd | EpochProgress, history: list[dict[str, float]]) -> None:
        last = isinstance(event, EpochEnd) and event.epoch == event.epochs
        if isinstance(event, EpochEnd):
            fraction = done_fraction(event.epoch, event.epochs)
            if self._chart_pace.ready() or last:
                started = time.perf_counter()
                self._draws += 1
                self.chart.plotly_chart(
                    learning_curves(history, self.metric, event.best_epoch),
                    key=f"live_curves_{self._draws}",
                )
                self._chart_pace.spent(time.perf_counter() - started)
        else:
            fraction = done_fraction(event.epoch, event.epochs, event.fraction)
        # An epoch's end can arrive just after the next epoch's first progress
        # (its validation runs alongside); the bar never moves backwards.
        if fraction < self._fraction:
            return
        self._fraction = fraction
        if self._bar_pace.ready() or last:
            started = time.perf_counter()
            self.bar.progress(
                fraction,
                text=progress_text(
                    event.epoch, event.epochs, event.elapsed_seconds, fraction, self.early_stopping
                ),
            )
            self._bar_pace.spent(time.perf_counter() - started)
