"""Scoring new rows with a trained model: column checks and a predictions table.

The same rules serve the app's "score new data" panel, the CLI's ``predict``
command and (copied into it) the bundle's standalone ``predict.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.build import predict_outputs
from layerlab.errors import SchemaError
from layerlab.reading import MISSING_VALUES
from layerlab.spec import ModelSpec


def check_columns(frame: pd.DataFrame, spec: ModelSpec) -> list[str]:
    """Raise ``SchemaError`` if a feature column is missing; return the extra columns, which are ignored."""
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"The file is missing {len(missing)} column(s) the model needs: "
            f"{', '.join(repr(name) for name in missing)}. The model was trained on: "
            f"{', '.join(repr(name) for name in spec.feature_names)}. Add the missing "
            "column(s) with the same names (empty cells are fine: they count as missing values)."
        )
    return [
        name for name in frame.columns if name not in spec.feature_names and name != spec.target
    ]


def non_number_message(frame: pd.DataFrame, numeric_columns: list[str]) -> str | None:
    """Say which numeric columns hold values that are neither numbers nor missing, or None.

    Empty cells and the usual missing markers (``MISSING_VALUES``) are missing
    values, which the model handles. Anything else that is not a number (``abc``),
    or is too large for the model's 32-bit floats (``1e999``), would be read as
    missing without a word, so it is named here instead, with a count and up to
    three examples per column. The bundle's ``predict.py`` carries a verbatim copy,
    so it needs only numpy, pandas and ``MISSING_VALUES``.
    """
    largest = float(np.finfo(np.float32).max)
    missing = set(MISSING_VALUES)

    def examples(values):
        texts = pd.unique(values.map(lambda v: " ".join(str(v).split())))[:3]
        return ", ".join(f'"{t[:29]}…"' if len(t) > 30 else f'"{t}"' for t in texts)

    problems = []
    for name in numeric_columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            values = values[~np.isnan(numbers)]
            numbers = numbers[~np.isnan(numbers)]
        else:  # text, or a mix: read each value as the model's input does
            values = values.astype(object)
            values = values[values.notna()]
            values = values[~values.map(lambda v: isinstance(v, str) and v.strip() in missing)]
            as_numbers = values.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
            numbers = pd.to_numeric(as_numbers, errors="coerce").to_numpy(dtype="float64")
        not_numbers = values[np.isnan(numbers)]
        too_large = values[np.abs(np.nan_to_num(numbers)) > largest]
        if len(not_numbers):
            count = len(not_numbers)
            are = "1 value is not a number" if count == 1 else f"{count} values are not numbers"
            problems.append(f'Column "{name}" (numeric): {are}, e.g. {examples(not_numbers)}.')
        if len(too_large):
            are = "1 value is" if len(too_large) == 1 else f"{len(too_large)} values are"
            problems.append(
                f'Column "{name}" (numeric): {are} too large for the model (over 3.4e38), '
                f"e.g. {examples(too_large)}."
            )
    if not problems:
        return None
    return (
        " ".join(problems) + " The model expects a number in every cell of its numeric columns; "
        "empty cells and missing markers such as NA are fine and count as missing. Correct "
        "these values, or empty their cells to score those rows with the value missing."
    )


def check_values(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise ``SchemaError`` if a numeric feature holds values that are not numbers."""
    numeric = [feature.name for feature in spec.features if feature.kind == "numeric"]
    message = non_number_message(frame, numeric)
    if message is not None:
        raise SchemaError(message)


def prediction_table(task: str, classes: tuple[str, ...], outputs: np.ndarray) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, plus ``probability_<class>`` for classes."""
    if task == "regression":
        return pd.DataFrame({"prediction": np.asarray(outputs, dtype=float).reshape(-1)})
    table = pd.DataFrame({"prediction": [classes[i] for i in outputs.argmax(axis=1)]})
    for position, label in enumerate(classes):
        table[f"probability_{label}"] = outputs[:, position]
    return table


def score(model, spec: ModelSpec, classes: tuple[str, ...], frame: pd.DataFrame) -> pd.DataFrame:
    """Predict every row of ``frame``; missing values and unseen categories are fine, values
    that are not numbers in a numeric column are refused (``check_values``).

    ``model`` is the full Keras model (``BuiltModel.model`` or a loaded ``model.keras``).
    """
    check_columns(frame, spec)
    if len(frame) == 0:
        raise SchemaError("The file has a header but no rows to score. Add at least one row.")
    check_values(frame, spec)
    return prediction_table(spec.task, classes, predict_outputs(model, spec, frame))
