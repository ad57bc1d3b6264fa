"""Scoring new rows with a trained model: column checks and a predictions table.

The same rules serve the app's "score new data" panel, the CLI's ``predict``
command and (copied into it) the bundle's standalone ``predict.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.build import predict_outputs
from layerlab.errors import SchemaError
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


def prediction_table(task: str, classes: tuple[str, ...], outputs: np.ndarray) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, plus ``probability_<class>`` for classes."""
    if task == "regression":
        return pd.DataFrame({"prediction": np.asarray(outputs, dtype=float).reshape(-1)})
    table = pd.DataFrame({"prediction": [classes[i] for i in outputs.argmax(axis=1)]})
    for position, label in enumerate(classes):
        table[f"probability_{label}"] = outputs[:, position]
    return table


def score(model, spec: ModelSpec, classes: tuple[str, ...], frame: pd.DataFrame) -> pd.DataFrame:
    """Predict every row of ``frame``; missing values and unseen categories are fine.

    ``model`` is the full Keras model (``BuiltModel.model`` or a loaded ``model.keras``).
    """
    check_columns(frame, spec)
    if len(frame) == 0:
        raise SchemaError("The file has a header but no rows to score. Add at least one row.")
    return prediction_table(spec.task, classes, predict_outputs(model, spec, frame))
