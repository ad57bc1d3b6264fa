"""The model card: what a trained model is, how well it does and where to be careful, on one page.

It travels with the model (``MODEL_CARD.md`` in the bundle) and is shown on the
Results page: the data (rows, the columns used and those left out, with reasons),
the splits, the test scores with bootstrap confidence intervals next to the
baselines, which columns matter, what the learning curves say, warnings, and the
use it is meant for.

Everything taken from the data (column names, labels, and the sentences that quote
them) goes through ``markdown.code_name`` or ``markdown.md``, so the card renders as a
document on the Results page and on GitHub while a column called ``**total**`` still
shows its asterisks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.report.markdown import code_name, md
from layerlab.schema.numbers import readable_interval, readable_number
from layerlab.schema.vocabulary import METRIC_WORDS, Task

BOOTSTRAP_ROUNDS = 500
# Cells of the index matrix drawn at once (rounds x test rows).
BOOTSTRAP_BLOCK_CELLS = 1_000_000
CONFIDENCE = 0.95
# Scores whose interval is given, by task, with the names a person reads.
INTERVAL_METRICS = {
    Task.REGRESSION: {name: METRIC_WORDS[name] for name in ("mae", "rmse", "r2")},
    "classification": {
        name: METRIC_WORDS[name] for name in ("accuracy", "balanced_accuracy", "log_loss")
    },
}
# The card's first line, invisible where Markdown is rendered: cards written before their
# data text was escaped lack it, and the Results page shows those as source, not markup.
ESCAPED_MARK = "<!-- Layerlab model card: text from the data is escaped -->"
BASELINE_LABELS = {
    "naive": "a guess that ignores every column",
    "linear": "a linear model",
    "boosting": "gradient boosting (the strongest simple model)",
}


@dataclass(frozen=True)
class Interval:
    """A score on the test rows and the range its bootstrap resamples put it in."""

    value: float
    low: float
    high: float

    def words(self) -> str:
        return (
            f"{readable_number(self.value)} "
            f"({CONFIDENCE:.0%} interval {readable_interval(self.low, self.high)})"
        )


def bootstrap_intervals(
    predictions: pd.DataFrame,
    task: str,
    classes: Sequence[str] = (),
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of the headline test scores.

    The test rows are drawn with replacement ``rounds`` times and each score is
    computed on every draw at once (one index matrix, no Python loop per round),
    so a 10,000-row test split takes milliseconds. ``predictions`` is
    ``Evaluation.predictions``: ``actual`` and ``predicted``, and for classes one
    ``probability_<class>`` column each. ``should_stop()`` is asked between blocks of
    rounds; when it is true, there are no intervals (an empty dict).
    """
    n = len(predictions)
    if n == 0:
        return {}
    if task == Task.REGRESSION:
        actual = predictions["actual"].to_numpy(dtype="float64")
        error = actual - predictions["predicted"].to_numpy(dtype="float64")
        values = {
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "r2": float(1 - (error**2).sum() / ((actual - actual.mean()) ** 2).sum())
            if n > 1
            else float("nan"),
        }

        def scores(draws: np.ndarray) -> dict[str, np.ndarray]:
            drawn_actual, drawn_error = actual[draws], error[draws]
            spread = ((drawn_actual - drawn_actual.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = 1 - (drawn_error**2).sum(axis=1) / spread
            return {
                "mae": np.abs(drawn_error).mean(axis=1),
                "rmse": np.sqrt((drawn_error**2).mean(axis=1)),
                "r2": r2,
            }
    else:
        index = {label: position for position, label in enumerate(classes)}
        actual = predictions["actual"].map(index).to_numpy()
        probabilities = predictions[[f"probability_{label}" for label in classes]].to_numpy()
        correct = (probabilities.argmax(axis=1) == actual).astype("float64")
        surprise = -np.log(np.clip(probabilities[np.arange(n), actual], 1e-7, 1.0))
        values = {
            "accuracy": float(correct.mean()),
            "log_loss": float(surprise.mean()),
            "balanced_accuracy": float(
                _balanced_accuracy(actual[None, :], correct[None, :], classes)[0]
            ),
        }

        def scores(draws: np.ndarray) -> dict[str, np.ndarray]:
            return {
                "accuracy": correct[draws].mean(axis=1),
                "log_loss": surprise[draws].mean(axis=1),
                "balanced_accuracy": _balanced_accuracy(actual[draws], correct[draws], classes),
            }

    # Rounds are drawn a block at a time: the same draws as one (rounds, n) matrix, but a
    # few MB alive at once instead of hundreds (a 20,000-row split: 80 MB of indices alone).
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_BLOCK_CELLS // n)
    blocks = []
    for done in range(0, rounds, block):
        if should_stop is not None and should_stop():
            return {}
        blocks.append(scores(rng.integers(0, n, size=(min(block, rounds - done), n))))
    per_draw = {name: np.concatenate([part[name] for part in blocks]) for name in values}
    tail = (1 - CONFIDENCE) / 2 * 100
    return {
        name: Interval(
            values[name],
            float(np.nanpercentile(per_draw[name], tail)),
            float(np.nanpercentile(per_draw[name], 100 - tail)),
        )
        for name in per_draw
    }


def _balanced_accuracy(
    actual: np.ndarray, correct: np.ndarray, classes: Sequence[str]
) -> np.ndarray:
    """Mean recall over the classes present in each draw (one row of ``actual`` per draw)."""
    recalls = []
    for position in range(len(classes)):
        members = actual == position
        count = members.sum(axis=1)
        hits = (correct * members).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            recalls.append(np.where(count > 0, hits / count, np.nan))
    return np.nanmean(np.stack(recalls), axis=0)


@dataclass(frozen=True)
class CardFacts:
    """What the card says, gathered where the run is kept (the worker that trained it)."""

    target: str
    task: str
    network: str
    rows: dict[str, int]  # train / validation / test
    used: list[tuple[str, str]]  # (column, kind)
    left_out: dict[str, str]  # column -> why
    intervals: dict[str, Interval]
    baselines: dict[str, dict[str, float]]
    importance: pd.DataFrame | None  # importance.permutation_importances
    diagnoses: list[str]  # sentences of diagnosis.diagnose
    warnings: list[str]


def card_markdown(facts: CardFacts) -> str:
    """The card as Markdown, for ``MODEL_CARD.md`` and the Results page."""
    family = "regression" if facts.task == Task.REGRESSION else "classification"
    kind = "a number" if facts.task == Task.REGRESSION else "a class"
    target = code_name(facts.target)
    rows = facts.rows
    total = sum(rows.values())
    lines = [
        ESCAPED_MARK,
        "",
        f"# Model card: predicting {target}",
        "",
        f"**Intended use:** predicting {kind} ({target}) for new rows that look "
        "like the training rows, as decision support; check it before relying on it for "
        "rows unlike those it saw.",
        "",
        f"**Network:** {md(facts.network)}.",
        "",
        "## Data",
        "",
        f"{total:,} rows with a target: {rows.get('train', 0):,} to train on, "
        f"{rows.get('validation', 0):,} to validate on (early stopping and the best epoch) "
        f"and {rows.get('test', 0):,} held out for the test scores below.",
        "",
        f"Columns used ({len(facts.used):,}): "
        + (", ".join(f"{code_name(name)} ({kind_})" for name, kind_ in facts.used) or "none")
        + ".",
    ]
    if facts.left_out:
        lines += ["", "Columns left out:", ""]
        lines += [f"- {code_name(name)}: {md(reason)}" for name, reason in facts.left_out.items()]
    lines += ["", "## Test scores", ""]
    names = INTERVAL_METRICS[family]
    for name, interval in facts.intervals.items():
        baseline_words = [
            f"{_label(BASELINE_LABELS, key)} {readable_number(scores[name])}"
            for key, scores in facts.baselines.items()
            if name in scores
        ]
        against = f"; {', '.join(baseline_words)}" if baseline_words else ""
        lines.append(f"- {_label(names, name)}: {interval.words()}{against}")
    lines += [
        "",
        f"The intervals come from {BOOTSTRAP_ROUNDS:,} bootstrap resamples of the test rows: "
        "with other rows like these, the score would most likely land in that range.",
    ]
    if facts.importance is not None and len(facts.importance):
        lines += ["", "## Which columns matter", "", *_importance_lines(facts.importance)]
    lines += ["", "## What the learning curves say", ""]
    lines += [f"- {md(sentence)}" for sentence in facts.diagnoses] or ["- Nothing stands out."]
    if facts.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {md(warning)}" for warning in facts.warnings]
    return "\n".join(lines) + "\n"


def _label(labels: dict[str, str], key: str) -> str:
    """Our words for a score or baseline; a key we have no words for (from a run file) as text."""
    return labels[key] if key in labels else md(key)


def _importance_lines(table: pd.DataFrame) -> list[str]:
    """The measured columns with their importance, and how many were not measured in the
    time importance may take (``importance.permutation_importances``)."""
    score = md(table["score"].iloc[0])
    measured = table[table["importance"].notna()]
    rows = table["rows"].iloc[0] if "rows" in table else np.nan
    judged = f", on {int(rows):,} test rows" if pd.notna(rows) else ""
    lines = [
        f"How much worse the test {score} gets when a column's values are shuffled "
        f"(mean ± spread over repeats{judged}):",
        "",
    ]
    lines += [
        f"- {code_name(row.column)}: "
        f"{readable_number(row.importance)} ± {readable_number(row.spread)}"
        for row in measured.itertuples()
    ]
    unmeasured = len(table) - len(measured)
    if unmeasured:
        lines.append(
            f"- {unmeasured:,} other column{'s were' if unmeasured > 1 else ' was'} not "
            "measured: importance may take only a share of the training time, and the "
            "columns likeliest to matter went first."
        )
    return lines
