"""Scoring new rows with a trained model: the checks of ``predict.py``, then a predictions
table, for the worker that scores rows for the app and for the CLI's ``predict``."""

from __future__ import annotations

import pandas as pd

from layerlab.model.build import predict_outputs
from layerlab.schema.errors import SchemaError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.model_io import (
    known_categories,
    prediction_table,
    unseen_categories_messages,
)
from layerlab.tabular.predict import check_columns, check_values


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


def unseen_categories(model, spec: ModelSpec, frame: pd.DataFrame) -> list[str]:
    """A warning per categorical column of ``frame`` holding values ``model`` never learned:
    its vocabularies, read from its config (``model_io.known_categories``)."""
    features = [(feature.name, feature.kind) for feature in spec.features]
    return unseen_categories_messages(frame, known_categories(model.get_config(), features))
