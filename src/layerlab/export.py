"""The download bundle: everything needed to use, inspect and reproduce a trained model.

A folder (and the same as a zip) with ``model.keras`` (preprocessing inside; loads
with plain Keras in safe mode), ``spec.json``, ``metrics.json``, ``history.csv``,
``classes.json``, ``summary.txt`` and ``predict.py``, a standalone script that
needs only pandas and Keras/TensorFlow: ``python predict.py new.csv > predictions.csv``.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from layerlab.build import summary_text
from layerlab.errors import LayerlabError
from layerlab.evaluate import Evaluation
from layerlab.predict import non_number_message
from layerlab.reading import _DECIMAL_COMMA, MISSING_VALUES, _tidy, category_text
from layerlab.runtime import configure_tensorflow
from layerlab.spec import ModelSpec
from layerlab.train import TrainingResult

BUNDLE_FILES = (
    "model.keras",
    "spec.json",
    "metrics.json",
    "history.csv",
    "classes.json",
    "summary.txt",
    "predict.py",
    "README.md",
)

PREDICT_SCRIPT = '''"""Predict with a model trained in Layerlab.

    python predict.py new.csv > predictions.csv

Needs pandas and Keras 3 with TensorFlow; Layerlab itself is not needed. The
CSV must have the columns listed in spec.json ("features"); other columns are
ignored, empty cells count as missing, and unseen categories are fine; values
that are not numbers in a numeric column are refused, by column.
"""

from __future__ import annotations

import csv
import json
import numbers
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter quiet
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
MISSING_VALUES = {missing_values!r}
_DECIMAL_COMMA = re.compile({decimal_comma!r})


{category_text}

{tidy}

{non_number_message}

def read_table(path):
    """Read the CSV the way Layerlab read the training data."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        sample = handle.read(65536)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    frame = pd.read_csv(
        path,
        sep=delimiter,
        keep_default_na=False,
        na_values=MISSING_VALUES,
        skipinitialspace=True,
        encoding="utf-8-sig",
        index_col=False,
    )
    frame.columns = [str(name).strip() for name in frame.columns]
    return _tidy(frame, decimal_comma=delimiter != ",")


def model_inputs(frame, features):
    import tensorflow as tf

    inputs = {{}}
    for feature in features:
        values = frame[feature["name"]].astype(object)
        if feature["kind"] == "numeric":
            values = values.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
            array = pd.to_numeric(values, errors="coerce").to_numpy(np.float32, na_value=np.nan)
        else:
            array = np.array([category_text(value) for value in values], dtype=object)
        inputs[feature["name"]] = tf.constant(array.reshape(-1, 1))
    return inputs


def predict(frame):
    import keras

    spec = json.loads((HERE / "spec.json").read_text())
    classes = json.loads((HERE / "classes.json").read_text())
    missing = [f["name"] for f in spec["features"] if f["name"] not in frame.columns]
    if missing:
        sys.exit(f"error: the CSV lacks the column(s) the model needs: {{missing}}")
    numeric = [f["name"] for f in spec["features"] if f["kind"] == "numeric"]
    problem = non_number_message(frame, numeric)
    if problem is not None:
        sys.exit(f"error: {{problem}}")
    model = keras.saving.load_model(HERE / "model.keras")
    outputs = model.predict(model_inputs(frame, spec["features"]), verbose=0)
    if spec["task"] == "regression":
        return pd.DataFrame({{"prediction": outputs.reshape(-1)}})
    if outputs.shape[-1] == 1:
        outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
    table = pd.DataFrame({{"prediction": [classes[i] for i in outputs.argmax(axis=1)]}})
    for position, label in enumerate(classes):
        table[f"probability_{{label}}"] = outputs[:, position]
    return table


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python predict.py new.csv > predictions.csv")
    predict(read_table(sys.argv[1])).to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main()
'''


def predict_script() -> str:
    """The standalone script, with Layerlab's own reading, category and number checks copied in
    verbatim."""
    return PREDICT_SCRIPT.format(
        missing_values=list(MISSING_VALUES),
        decimal_comma=_DECIMAL_COMMA.pattern,
        category_text=inspect.getsource(category_text),
        tidy=inspect.getsource(_tidy),
        non_number_message=inspect.getsource(non_number_message),
    )


def _json_safe(value):
    """NaN and infinity are not JSON; write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def write_bundle(result: TrainingResult, evaluation: Evaluation, directory: str | Path) -> Path:
    """Write the bundle folder and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    result.built.model.save(directory / "model.keras")
    (directory / "spec.json").write_text(result.spec.to_json() + "\n")
    metrics = {
        **evaluation.to_dict(),
        "training": {
            "stop_reason": result.stop_reason,
            "message": result.message,
            "best_epoch": result.best_epoch,
            "kept_epoch": result.kept_epoch,
            "epochs_run": len(result.history),
            "seconds": round(result.seconds, 3),
            "rows": {
                "train": len(result.splits.train),
                "validation": len(result.splits.validation),
                "test": len(result.splits.test),
            },
        },
    }
    (directory / "metrics.json").write_text(json.dumps(_json_safe(metrics), indent=2) + "\n")
    result.history_frame.to_csv(directory / "history.csv", index=False)
    (directory / "classes.json").write_text(json.dumps(list(result.built.classes)) + "\n")
    (directory / "summary.txt").write_text(summary_text(result.built) + "\n")
    (directory / "predict.py").write_text(predict_script())
    (directory / "README.md").write_text(_bundle_readme(result, evaluation))
    return directory


def _bundle_readme(result: TrainingResult, evaluation: Evaluation) -> str:
    spec = result.spec
    return (
        f"# Layerlab model: predicting `{spec.target}` ({spec.task})\n\n"
        f"Network: {spec.describe()}\n\n{evaluation.headline()}\n\n"
        "## Use it\n\n"
        "    python predict.py new.csv > predictions.csv\n\n"
        "or in Python, with Keras 3 (no Layerlab needed):\n\n"
        "    import keras\n"
        '    model = keras.saving.load_model("model.keras")\n'
        "    # one input per raw column, each shaped (rows, 1): numbers as float32\n"
        "    # (NaN = missing), everything else as strings (empty = missing)\n\n"
        "Files: model.keras, spec.json (every setting; reload it with "
        "`python -m layerlab train DATA.csv --spec spec.json`), metrics.json, history.csv, "
        "classes.json (class labels in output order), summary.txt.\n"
    )


def zip_directory(directory: str | Path) -> bytes:
    """The bundle folder as zip bytes (files at the top level of the archive)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(directory).iterdir()):
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def bundle_zip(result: TrainingResult, evaluation: Evaluation) -> bytes:
    """The whole bundle as zip bytes, written in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="layerlab-") as folder:
        return zip_directory(write_bundle(result, evaluation, folder))


def model_bytes(result: TrainingResult) -> bytes:
    """Just ``model.keras``, as bytes."""
    with tempfile.TemporaryDirectory(prefix="layerlab-") as folder:
        path = Path(folder) / "model.keras"
        result.built.model.save(path)
        return path.read_bytes()


@dataclass
class LoadedBundle:
    """A bundle read back from disk: enough to score new data."""

    model: object
    spec: ModelSpec
    classes: tuple[str, ...]


def load_bundle(directory: str | Path) -> LoadedBundle:
    directory = Path(directory)
    needed = ("model.keras", "spec.json", "classes.json")
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise LayerlabError(
            f"'{directory}' is not a Layerlab bundle: {', '.join(missing)} not found. Point to "
            "the folder written by `python -m layerlab train` (or an unzipped download)."
        )
    configure_tensorflow()
    import keras

    return LoadedBundle(
        model=keras.saving.load_model(directory / "model.keras"),
        spec=ModelSpec.from_json((directory / "spec.json").read_text()),
        classes=tuple(json.loads((directory / "classes.json").read_text())),
    )
