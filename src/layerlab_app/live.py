"""The live view of a training run: a progress bar and learning curves that grow per epoch.

Streamlit interrupts a running script at its next ``st`` call when the user
clicks anything, so these calls are also where Stop takes effect.
"""

from __future__ import annotations

import streamlit as st

from layerlab.train import EpochEnd, EpochProgress
from layerlab_app.figures import learning_curves
from layerlab_app.progress import Throttle, done_fraction, progress_text

CHART_INTERVAL = 0.25  # at most ~4 redraws a second when epochs are short
BAR_INTERVAL = 0.1


class LiveView:
    def __init__(self, metric: str, early_stopping: bool) -> None:
        self.metric = metric
        self.early_stopping = early_stopping
        self.bar = st.empty()
        self.chart = st.empty()
        self._chart_pace = Throttle(CHART_INTERVAL)
        self._bar_pace = Throttle(BAR_INTERVAL)
        self._draws = 0

    def preparing(self) -> None:
        self.bar.progress(0.0, text="Preparing the data and building the network…")

    def update(self, event: EpochEnd | EpochProgress, history: list[dict[str, float]]) -> None:
        last = isinstance(event, EpochEnd) and event.epoch == event.epochs
        if isinstance(event, EpochEnd):
            fraction = done_fraction(event.epoch, event.epochs)
            if self._chart_pace.ready() or last:
                self._draws += 1
                self.chart.plotly_chart(
                    learning_curves(history, self.metric, event.best_epoch),
                    key=f"live_curves_{self._draws}",
                )
        else:
            fraction = done_fraction(event.epoch, event.epochs, event.fraction)
        if self._bar_pace.ready() or last:
            self.bar.progress(
                fraction,
                text=progress_text(
                    event.epoch, event.epochs, event.elapsed_seconds, fraction, self.early_stopping
                ),
            )
