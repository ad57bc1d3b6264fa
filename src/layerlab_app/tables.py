"""Tables and sentences the Results page shows, built from the core's plain results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.schema.numbers import readable_number, readable_percent
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import METRIC_WORDS, FeatureKind, Task, sentence_case
from layerlab.tabular.evaluation import AHEAD, BASELINE_NAMES, BEHIND_STRONGEST, Evaluation
from layerlab.tabular.leaks import SingleColumnScore
from layerlab.tabular.model_io import scored_table
from layerlab.tabular.too_good import (
    baseline_too_good_sentence,
    suspiciously_good,
    too_good_sentence,
)
from layerlab.tabular.values import as_category_text, as_numeric
from layerlab_app.text import md

# What a metric's name does not say, for the Results page's table.
_METRIC_NOTES = {
    "balanced_accuracy": "mean recall over classes",
    "average_precision": "area under the precision-recall curve",
    "precision_macro": "average over classes",
    "recall_macro": "average over classes",
    "f1_macro": "average over classes",
    "log_loss": "lower is better",
    "r2": "1 is perfect",
}
# The test-set metrics in the order the table lists them, each named as everywhere else.
METRIC_NAMES = {
    name: sentence_case(METRIC_WORDS[name])
    + (f" ({_METRIC_NOTES[name]})" if name in _METRIC_NOTES else "")
    for name in (
        "accuracy",
        "balanced_accuracy",
        "average_precision",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "log_loss",
        "mae",
        "rmse",
        "r2",
    )
}


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    """One row per test-set metric: the network next to each baseline, named in words."""
    names = BASELINE_NAMES[evaluation.task]
    columns = {"This network": evaluation.metrics}
    for key, values in evaluation.baselines.items():
        columns[names.get(key, key).capitalize()] = values
    rows = [name for name in METRIC_NAMES if name in evaluation.metrics]
    table = pd.DataFrame(
        {label: [values.get(name, np.nan) for name in rows] for label, values in columns.items()},
        index=[METRIC_NAMES[name] for name in rows],
    )
    table.index.name = "Test-set metric"
    return table


def verdict(
    evaluation: Evaluation, leak_suspect: SingleColumnScore | None = None
) -> tuple[bool, str]:
    """Whether to congratulate the network, and one sentence saying why (or what to check or try).

    A test score close to perfect is not congratulated when it is unusual for the
    table: on real data it more often means a column that gives the answer away.
    ``leak_suspect`` is the feature that alone predicts the target best
    (``TrainedModel.leak_suspect``), when known; it clears an easy table's score.
    """
    if suspiciously_good(evaluation, leak_suspect):
        return False, too_good_sentence(evaluation, leak_suspect)
    baseline_too_good = baseline_too_good_sentence(evaluation, leak_suspect)
    if baseline_too_good is not None:
        return False, baseline_too_good
    outcome, sentence = evaluation.comparison()
    if outcome == AHEAD:
        return True, sentence
    if outcome == BEHIND_STRONGEST:
        return False, sentence + " Try the Search on the Model page, or use gradient boosting."
    return False, sentence + " What its learning curves say, and a change to try, is below."


def with_predictions(
    frame: pd.DataFrame, predictions: pd.DataFrame, keep: list[str] | None = None
) -> pd.DataFrame:
    """The predictions first, then the scored rows' columns ``keep`` (all when None).

    ``frame`` is the file as written (``read_csv(..., as_written=True)``), so its
    cells read as the person wrote them; see ``model_io.scored_table``.
    """
    return scored_table(predictions, frame, keep)


def id_like_columns(frame: pd.DataFrame, candidates: list[str]) -> list[str]:
    """The first of ``candidates`` (columns the model does not use) that can join predictions
    back to their rows: a value in every row, each different. What a download keeps by default.
    """
    for name in candidates:
        values = frame[name] if name in frame.columns else pd.Series(dtype=object)
        texts = values.astype(str).str.strip()
        if len(values) and values.notna().all() and (texts != "").all() and texts.is_unique:
            return [name]
    return []


@dataclass(frozen=True)
class WhatIfField:
    """One input of the "what if" form: a number with its default, or a choice of seen values."""

    name: str
    kind: str
    default: float | str
    options: tuple[str, ...] = ()
    whole_numbers: bool = False


def what_if_fields(train: pd.DataFrame, spec: ModelSpec) -> list[WhatIfField]:
    """A field per feature, defaulting to the training median (numbers) or most common value."""
    fields = []
    for feature in spec.features:
        column = train[feature.name]
        if feature.kind == FeatureKind.NUMERIC:
            numbers = as_numeric(column).astype(np.float64)
            numbers = numbers[np.isfinite(numbers)]
            # as_numeric gives float32; 6 significant digits undo its rounding noise (4.1499998).
            median = float(f"{np.median(numbers):.6g}") if numbers.size else 0.0
            whole = bool(numbers.size) and bool(np.all(np.mod(numbers, 1) == 0))
            fields.append(
                WhatIfField(feature.name, "numeric", round(median) if whole else median, (), whole)
            )
        else:
            texts = pd.Series(as_category_text(column))
            counts = texts[texts != ""].value_counts()
            options = tuple(str(value) for value in counts.index) or ("",)
            fields.append(WhatIfField(feature.name, feature.kind, options[0], options))
    return fields


def what_if_row(values: dict[str, float | str]) -> pd.DataFrame:
    """The form's values as a one-row table for ``layerlab.model.scoring.score``."""
    return pd.DataFrame({name: [value] for name, value in values.items()})


def prediction_sentence(task: str, prediction: pd.DataFrame) -> str:
    """The first row of a predictions table in words (Markdown)."""
    row = prediction.iloc[0]
    if task == Task.REGRESSION:
        return f"The model predicts {readable_number(row['prediction'], digits=4)}."
    probability = row.get(f"probability_{row['prediction']}")
    share = f" (probability {readable_percent(probability)})" if probability is not None else ""
    return f"The model predicts **{md(row['prediction'])}**{share}."
