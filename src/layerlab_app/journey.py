"""Where the user stands and what the next step needs, in plain words (no Streamlit here)."""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import StopReason, metric_words

PAGES = {
    "data": "app_pages/data.py",
    "model": "app_pages/model.py",
    "train": "app_pages/train.py",
    "results": "app_pages/results.py",
    "runs": "app_pages/runs.py",
}

_STOPS = {
    "completed": "Ran all {epochs}",
    "early_stopping": "Stopped early after {done} of {epochs}",
    "stopped": "Stopped by you after {done} of {epochs}",
    "diverged": "Diverged after {done} of {epochs}",
}


@dataclass(frozen=True)
class Step:
    """The next page to visit and why."""

    page: str
    label: str
    sentence: str


def next_step(
    *,
    has_data: bool,
    target: str | None,
    target_ok: bool,
    n_features: int,
    spec_problems: int,
    has_result: bool,
    result_current: bool,
) -> Step:
    """The first thing still missing on the way from a CSV file to a trained model."""
    if not has_data:
        return Step(PAGES["data"], "Data", "Load a CSV file or one of the samples.")
    if target is None:
        return Step(PAGES["data"], "Data", "Choose the column to predict.")
    if not target_ok:
        return Step(PAGES["data"], "Data", "Fix the target: see the message on the Data page.")
    if n_features == 0:
        return Step(PAGES["data"], "Data", "Choose at least one feature column.")
    if spec_problems:
        noun = "problem" if spec_problems == 1 else "problems"
        return Step(PAGES["model"], "Model", f"Fix the model settings ({spec_problems} {noun}).")
    if not has_result:
        return Step(PAGES["train"], "Train", "Train the network.")
    if not result_current:
        return Step(
            PAGES["train"], "Train", "The settings changed since the last run: train again."
        )
    return Step(PAGES["results"], "Results", "See how the model does on the test set.")


def describe_run(
    history: list[dict[str, float]],
    kept_epoch: int | None,
    stop_reason: str,
    epochs: int,
    metric: str,
) -> str:
    """One line about a finished run, e.g. "Stopped early after 23 of 200 epochs; epoch 13 kept
    (validation accuracy 0.84)"."""
    if stop_reason == StopReason.COMPLETED and epochs == 1:
        text = "Ran its one epoch"
    else:
        text = _STOPS.get(stop_reason, "Ran {done} of {epochs}").format(
            done=f"{len(history):,}", epochs=f"{epochs:,} epoch{'' if epochs == 1 else 's'}"
        )
    if kept_epoch is None or not 1 <= kept_epoch <= len(history):
        return text + "; no epoch finished."
    row = history[kept_epoch - 1]
    value = row.get(f"val_{metric}")
    label = metric_words(f"val_{metric}")
    score = f" ({label} {readable_number(value)})" if value is not None else ""
    return f"{text}; epoch {kept_epoch:,} kept{score}."
