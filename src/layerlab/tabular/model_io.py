"""What goes into a Layerlab model and what comes out: its inputs, and its predictions as a table.

A table to score must have the columns the model was trained on and numbers in
its numeric ones; the messages here say which are not, by column, and which
categories the model never learned. Shipped in every bundle (see
``bundle_reading``), so a bundle's predict.py refuses, warns and predicts as the
app does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dates import date_part_source
from .errors import SchemaError, shorten
from .values import MISSING_SET, as_category_keys, as_category_text, as_numeric, parse_numbers

# How many values of a column an unseen-category warning names.
UNSEEN_EXAMPLES = 3


def input_name(column: str) -> str:
    """A column's name as its ``keras.Input`` has it: as it is, but Keras refuses a "/".

    The model's inputs are a dict keyed by the raw column name, so callers still
    pass the column under its own name.
    """
    return column.replace("/", "\u2215")  # DIVISION SLASH, which reads the same


def model_inputs(frame: pd.DataFrame, features: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """A table's columns as the Keras model's inputs, each shaped (rows, 1).

    ``features`` are (name, kind) pairs, as in ``spec.json``: numeric columns
    as float32 (NaN = missing), categorical and boolean ones as category keys.
    """
    inputs = {}
    for name, kind in features:
        if kind == "numeric":
            inputs[name] = as_numeric(frame[name]).reshape(-1, 1)
        else:
            inputs[name] = as_category_keys(frame[name]).reshape(-1, 1)
    return inputs


def non_number_message(frame: pd.DataFrame, numeric_columns: list[str]) -> str | None:
    """Say which numeric columns hold values that are neither numbers nor missing, or None.

    Empty cells and the usual missing markers (``MISSING_VALUES``) are missing
    values, which the model handles. Anything else that is not a number (``abc``),
    or is too large for the model's 32-bit floats (``1e999``), would be read as
    missing without a word, so it is named here instead, with a count and up to
    three examples per column. A bundle's ``predict.py`` says the same, from this
    very function.
    """
    largest = float(np.finfo(np.float32).max)

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
            values = values[~values.map(lambda v: isinstance(v, str) and v.strip() in MISSING_SET)]
            numbers = parse_numbers(values)
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


def missing_columns_message(frame: pd.DataFrame, feature_names: list[str]) -> str | None:
    """Say which columns the model needs that ``frame`` lacks, or None when none are missing.

    A date column's parts (``signup (year)``) are named by their date column.
    """
    missing = [name for name in feature_names if name not in frame.columns]
    if not missing:
        return None
    needed: list[str] = []
    unread_dates: list[str] = []
    for name in missing:
        source = date_part_source(name)
        if source is not None and source in frame.columns:
            unread_dates.append(source)
        needed.append(f'"{source}" (a date)' if source is not None else f'"{name}"')
    needed = list(dict.fromkeys(needed))
    trained = list(dict.fromkeys(date_part_source(name) or name for name in feature_names))
    message = (
        f"The file is missing {len(needed)} column(s) the model needs: {', '.join(needed)}. "
        f"The model was trained on: {', '.join(repr(name) for name in trained)}. Add the "
        "missing column(s) with the same names (empty cells are fine: they count as missing "
        "values)."
    )
    for source in dict.fromkeys(unread_dates):
        message += (
            f' Column "{source}" is there, but its values could not be read as dates: '
            "write them as in the training file (for example 2024-03-01)."
        )
    return message


def known_categories(
    model_config: dict, features: list[tuple[str, str]]
) -> dict[str, frozenset[str]]:
    """The categories each categorical column's one-hot input knows, by column name.

    ``model_config`` is a Keras model's config: ``model.get_config()``, or the
    "config" of a ``.keras`` file's ``config.json``, read as plain JSON without
    Keras. Each categorical column feeds one ``StringLookup`` whose vocabulary is
    the training split's category keys (``values.category_key``): its most
    frequent ones where it had more than a column keeps. A column whose lookup is
    not found is left out, so it is never warned about.
    """
    columns = {input_name(name): name for name, kind in features if kind == "categorical"}
    known: dict[str, frozenset[str]] = {}
    for layer in model_config.get("layers", []) if isinstance(model_config, dict) else []:
        if not isinstance(layer, dict) or layer.get("class_name") != "StringLookup":
            continue
        config = layer.get("config") or {}
        vocabulary = config.get("vocabulary")
        if config.get("output_mode") != "one_hot" or not isinstance(vocabulary, list | tuple):
            continue
        try:
            source = layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0]
        except (KeyError, IndexError, TypeError):
            continue
        if source in columns:
            known[columns[source]] = frozenset(str(word) for word in vocabulary)
    return known


def unseen_categories_messages(frame: pd.DataFrame, known: dict[str, frozenset[str]]) -> list[str]:
    """One warning per column whose values include categories the model never learned.

    ``known`` is ``known_categories``'s. Values are compared as the model reads
    them (``category_key``: "MALE" is "male"), missing cells are not counted, and
    each warning gives the rows and up to ``UNSEEN_EXAMPLES`` values, as written,
    most frequent first. The model scores such a value as an unknown category.
    """
    messages = []
    for name, words in known.items():
        if name not in frame.columns:
            continue
        keys = as_category_keys(frame[name])
        unseen = (keys != "") & ~pd.Series(keys).isin(words).to_numpy()
        if not unseen.any():
            continue
        texts = pd.Series(as_category_text(frame[name][unseen])).value_counts(sort=True)
        examples = ", ".join(
            f'"{shorten(text, 30)}" ({_rows(int(count))})'
            for text, count in texts.head(UNSEEN_EXAMPLES).items()
        )
        others = len(texts) - UNSEEN_EXAMPLES
        if others > 0:
            examples += f" and {others:,} other value{'s' if others > 1 else ''}"
        count = int(unseen.sum())
        hold = "1 row holds a value" if count == 1 else f"{count:,} rows hold values"
        messages.append(
            f'Column "{name}": {hold} the model never saw in training: {examples}. It scores '
            "them as an unknown category, so their predictions rest on the other columns."
        )
    return messages


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"


def scored_table(
    predictions: pd.DataFrame, inputs: pd.DataFrame, keep: list[str] | None = None
) -> pd.DataFrame:
    """The predictions first, then the input columns ``keep`` (all of them when None).

    ``inputs`` is the table as written (``read_csv(..., as_written=True)``), so
    the kept cells read as the person wrote them; row for row with
    ``predictions``. An input column named like a prediction column comes out as
    "<name> (input)". ``SchemaError`` names a ``keep`` column the table lacks.
    """
    names = list(inputs.columns) if keep is None else list(dict.fromkeys(keep))
    missing = [name for name in names if name not in inputs.columns]
    if missing:
        raise SchemaError(
            f"The file has no column(s) {', '.join(repr(name) for name in missing)} to keep "
            f"beside the predictions. Its columns are: "
            f"{', '.join(repr(name) for name in inputs.columns)}."
        )
    kept = inputs[names].reset_index(drop=True)
    kept.columns = [
        f"{name} (input)" if name in predictions.columns else name for name in kept.columns
    ]
    return pd.concat([predictions.reset_index(drop=True), kept], axis=1)


def prediction_table(task: str, classes: list[str], outputs: np.ndarray) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, plus ``probability_<class>`` for classes.

    Classification ``outputs`` hold one probability column per class, in class order.
    """
    if task == "regression":
        return pd.DataFrame({"prediction": np.asarray(outputs, dtype=float).reshape(-1)})
    table = pd.DataFrame({"prediction": [classes[i] for i in outputs.argmax(axis=1)]})
    for position, label in enumerate(classes):
        table[f"probability_{label}"] = outputs[:, position]
    return table


def model_outputs(task: str, classes: list[str]) -> int:
    """How many outputs a Layerlab model has for ``task``: 1 for numbers, one per class."""
    return 1 if task == "regression" else max(len(classes), 2)
