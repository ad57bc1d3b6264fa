"""Predict with a model trained in Layerlab.

    python predict.py new.csv > predictions.csv

This file is a bundle's ``predict.py``. It needs pandas and Keras 3 with
TensorFlow; Layerlab itself is not needed. It reads the CSV with the package
``layerlab_reading/`` beside it, the very modules Layerlab read the training
file with, so encodings, delimiters, spreadsheet numbers, dates and categories
are read the same way; a Parquet file (it needs pyarrow) is read by the same
column rules. The table must have the columns listed in spec.json
("features"); other columns are ignored, empty cells count as missing, and
categories the model never saw in training are scored as unknown ones, with a
warning per column on stderr; values that are not numbers in a numeric column
are refused, by column. Text that a spreadsheet would run as a formula is
written with a leading quote.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter quiet
sys.path.insert(0, str(HERE))

import layerlab_reading as reading  # noqa: E402  (shipped beside this file)
import numpy as np  # noqa: E402

USAGE = "usage: python predict.py new.csv > predictions.csv  (or new.parquet, with pyarrow)"


def predict(frame, warn=None):
    """The predictions table for every row of ``frame``, or ``ValueError`` saying why not.

    ``warn`` is called with each warning about values the model never saw in
    training (one per column), e.g. ``warn=print``.
    """
    spec = reading.read_bundle_json(HERE, "spec.json")
    classes = reading.read_bundle_json(HERE, "classes.json")
    features = [(feature["name"], feature["kind"]) for feature in spec["features"]]
    problem = reading.missing_columns_message(frame, [name for name, _ in features])
    if problem is None and len(frame) == 0:
        problem = "The file has a header but no rows to score. Add at least one row."
    if problem is None:
        problem = reading.non_number_message(
            frame, [name for name, kind in features if kind == "numeric"]
        )
    if problem is not None:
        raise reading.SchemaError(problem)
    _import_keras_quietly()
    model = reading.load_model_file(
        HERE / "model.keras", features, reading.model_outputs(spec["task"], classes)
    )
    import tensorflow as tf

    if warn is not None:
        known = reading.known_categories(model.get_config(), features)
        for message in reading.unseen_categories_messages(frame, known):
            warn(message)

    inputs = {
        name: tf.constant(values) for name, values in reading.model_inputs(frame, features).items()
    }
    outputs = model.predict(inputs, verbose=0)
    if spec["task"] != "regression" and outputs.shape[-1] == 1:
        outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
    return reading.prediction_table(spec["task"], classes, outputs)


def _import_keras_quietly() -> None:
    """Import Keras and TensorFlow with the process's stderr held back.

    On some CPUs TensorFlow's C++ start-up writes notices to stderr (oneDNN, and
    absl's "All log messages before absl::InitializeLog()") whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says; they would bury this script's own message.
    They are shown after all if the import fails.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.buffer.write(held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        table = predict(reading.read_table(argv[0], max_bytes=None), warn=_warn)
    except (reading.DataError, reading.BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    reading.write_csv(table, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
