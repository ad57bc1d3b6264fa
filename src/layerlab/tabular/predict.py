"""The checks new rows pass before a trained model scores them: the columns it needs, and
numbers where it reads numbers. Plain pandas, so the app checks an upload at once; the
scoring itself is ``scoring.score``'s, in a worker or the CLI.

The same rules serve the app's "score new data" panel, the CLI's ``predict``
command and the bundle's standalone ``predict.py``: they live in
``layerlab.tabular.model_io``, which the bundle ships. So does the warning about
categories the model never learned, which the app reads here from the model
file's config as plain JSON, without Keras.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd

from layerlab.schema.errors import SchemaError
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind
from layerlab.tabular.dates import date_part_source
from layerlab.tabular.keras_file_check import CONFIG_BYTES, CONFIG_FILE
from layerlab.tabular.model_io import (
    known_categories,
    missing_columns_message,
    non_number_message,
    unseen_categories_messages,
)


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
    numeric = [feature.name for feature in spec.features if feature.kind == FeatureKind.NUMERIC]
    message = non_number_message(frame, numeric)
    if message is not None:
        raise SchemaError(message)


def unseen_categories(frame: pd.DataFrame, spec: ModelSpec, model_file: str | Path) -> list[str]:
    """A warning per categorical column of ``frame`` holding values the model in
    ``model_file`` never learned (``model_io.unseen_categories_messages``).

    The vocabularies are read from the ``.keras`` file's config as plain JSON (at
    most ``CONFIG_BYTES``); a file that cannot be read so gives no warnings: the
    worker that scores it says what is wrong with it.
    """
    try:
        with zipfile.ZipFile(model_file) as archive, archive.open(CONFIG_FILE) as member:
            text = member.read(CONFIG_BYTES + 1)
        config = json.loads(text) if len(text) <= CONFIG_BYTES else {}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError):
        return []
    features = [(feature.name, feature.kind) for feature in spec.features]
    inner = config.get("config") if isinstance(config, dict) else None
    return unseen_categories_messages(frame, known_categories(inner or {}, features))
