"""Scoring new rows with a trained model: column checks and a predictions table.

The same rules serve the app's "score new data" panel, the CLI's ``predict``
command and the bundle's standalone ``predict.py``: they live in
``layerlab.reading``, which the bundle ships.
"""

from __future__ import annotations

import pandas as pd

from layerlab.build import predict_outputs
from layerlab.errors import SchemaError
from layerlab.reading import (
    date_part_source,
    missing_columns_message,
    non_number_message,
    prediction_table,
)
from layerlab.spec import ModelSpec


def check_columns(frame: pd.DataFrame, spec: ModelSpec) -> list[str]:
    """Raise ``SchemaError`` if a feature column is missing; return the extra columns, which are ignored."""
    message = missing_columns_message(frame, spec.feature_names)
    if message is not None:
        raise SchemaError(message)
    used = {*spec.feature_names, spec.target}
    used |= {date_part_source(name) for name in spec.feature_names}  # a date, through its parts
    return [name for name in frame.columns if name not in used]


def check_values(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise ``SchemaError`` if a numeric feature holds values that are not numbers."""
    numeric = [feature.name for feature in spec.features if feature.kind == "numeric"]
    message = non_number_message(frame, numeric)
    if message is not None:
        raise SchemaError(message)


def score(model, spec: ModelSpec, classes: tuple[str, ...], frame: pd.DataFrame) -> pd.DataFrame:
    """Predict every row of ``frame``; missing values and unseen categories are fine, values
    that are not numbers in a numeric column are refused (``check_values``).

    ``model`` is the full Keras model (``BuiltModel.model`` or a loaded ``model.keras``).
    """
    check_columns(frame, spec)
    if len(frame) == 0:
        raise SchemaError("The file has a header but no rows to score. Add at least one row.")
    check_values(frame, spec)
    return prediction_table(spec.task, list(classes), predict_outputs(model, spec, frame))
