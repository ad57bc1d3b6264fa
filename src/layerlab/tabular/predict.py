"""The checks new rows pass before a trained model scores them: the columns it needs, and
numbers where it reads numbers. Plain pandas, so the app checks an upload at once; the
scoring itself is ``scoring.score``'s, in a worker or the CLI.

The same rules serve the app's "score new data" panel, the CLI's ``predict``
command and the bundle's standalone ``predict.py``: they live in
``layerlab.tabular.model_io``, which the bundle ships.
"""

from __future__ import annotations

import pandas as pd

from layerlab.schema.errors import SchemaError
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind
from layerlab.tabular.dates import date_part_source
from layerlab.tabular.model_io import missing_columns_message, non_number_message


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
