"""The reading rules as a bundle ships them: this file is the bundle's ``layerlab_reading/__init__.py``.

A bundle's ``predict.py`` (and the Python use its README shows) reads, checks
and writes tables through these names, with the modules they come from copied
beside this file as they are (``model.export.READING_MODULES``). So every module
named here imports only the standard library, numpy, pandas and its siblings
(relatively), with Layerlab's own errors where Layerlab is installed; a bundle
runs where it is not.
"""

from __future__ import annotations

from .errors import BundleError, DataError, SchemaError
from .model_file import load_model_file, read_bundle_json
from .model_io import (
    known_categories,
    missing_columns_message,
    model_inputs,
    model_outputs,
    non_number_message,
    prediction_table,
    scored_table,
    unseen_categories_messages,
)
from .reading import read_csv, read_table
from .values import MISSING_VALUES, category_key, category_text
from .writing import write_csv

__all__ = [
    "MISSING_VALUES",
    "BundleError",
    "DataError",
    "SchemaError",
    "category_key",
    "category_text",
    "known_categories",
    "load_model_file",
    "missing_columns_message",
    "model_inputs",
    "model_outputs",
    "non_number_message",
    "prediction_table",
    "read_bundle_json",
    "read_csv",
    "read_table",
    "scored_table",
    "unseen_categories_messages",
    "write_csv",
]
