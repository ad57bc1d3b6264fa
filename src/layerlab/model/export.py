"""The download bundle: everything needed to use, inspect and reproduce a trained model.

A folder (and the same as a zip) with ``model.keras`` (preprocessing inside; loads
with plain Keras in safe mode), ``spec.json``, ``metrics.json``, ``history.csv``,
``classes.json``, ``summary.txt``, and ``predict.py``, a standalone script that
needs only pandas and Keras/TensorFlow: ``python predict.py new.csv > predictions.csv``.
``predict.py`` is ``model/bundle_predict.py`` and reads files with the package
``layerlab_reading/``, which is ``tabular/``'s reading modules (``READING_MODULES``)
under ``tabular/bundle_reading.py`` as its ``__init__.py``: all are copied as they
are, so a bundle reads a file exactly as training did. With them: ``importance.csv``
and ``MODEL_CARD.md`` (``insights.py``), and ``train.py``, the same preprocessing and
network in plain pandas and Keras (``code_export.py``).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from layerlab.model.build import summary_text
from layerlab.model.insights import Insights, run_diagnosis, run_insights
from layerlab.model.runtime import configure_tensorflow
from layerlab.model.train import TrainingResult
from layerlab.schema.errors import BundleError, SpecError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.model_file import load_model_file, read_bundle_json
from layerlab.tabular.model_io import model_outputs
from layerlab.tabular.writing import write_csv

READING_PACKAGE = "layerlab_reading"
# The modules of ``layerlab.tabular`` a bundle's predict.py needs; each imports only the
# others (relatively), so the folder of them works where Layerlab is not installed.
READING_MODULES = (
    "errors.py",
    "values.py",
    "dates.py",
    "tidying.py",
    "parquet_reading.py",
    "reading.py",
    "writing.py",
    "model_io.py",
    "model_file.py",
)
# What a bundle folder holds at its top level: files, and the reading package.
BUNDLE_FILES = (
    "model.keras",
    "spec.json",
    "metrics.json",
    "history.csv",
    "classes.json",
    "summary.txt",
    "predict.py",
    READING_PACKAGE,
    "README.md",
    "importance.csv",
    "MODEL_CARD.md",
    "train.py",
)

# Every file of a bundle, by its path inside the bundle (and its zip).
BUNDLE_MEMBERS = (
    *(name for name in BUNDLE_FILES if name != READING_PACKAGE),
    *(f"{READING_PACKAGE}/{name}" for name in ("__init__.py", *READING_MODULES)),
)

_PACKAGE = Path(__file__).resolve().parent
# Shipped as they are: the bundle's predict.py, and the reading modules it imports.
PREDICT_SCRIPT_SOURCE = _PACKAGE / "bundle_predict.py"
READING_SOURCES = _PACKAGE.parent / "tabular"


def predict_script() -> str:
    """The bundle's standalone ``predict.py`` (``layerlab/bundle_predict.py``, as it is)."""
    return PREDICT_SCRIPT_SOURCE.read_text(encoding="utf-8")


def reading_package() -> dict[str, str]:
    """The files of the bundle's ``layerlab_reading/``, by name: the one reading rule, as it is."""
    files = {"__init__.py": (READING_SOURCES / "bundle_reading.py").read_text(encoding="utf-8")}
    for name in READING_MODULES:
        files[name] = (READING_SOURCES / name).read_text(encoding="utf-8")
    return files


def _json_safe(value):
    """NaN and infinity are not JSON; write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def write_bundle(
    result: TrainingResult,
    evaluation: Evaluation,
    directory: str | Path,
    insights: Insights | None = None,
    *,
    explain: bool = True,
    model_file: str | Path | None = None,
    summary: str | None = None,
) -> Path:
    """Write the bundle folder and return its path.

    ``insights``: the run's importance, model card and train.py, if already worked out
    (``insights.run_insights``); otherwise they are worked out here, unless ``explain``
    is False (a search trial's bundle goes without them). ``model_file`` and
    ``summary``: the model already saved and its summary text, when the run's folder has
    them (saving and describing a model of 2,000 columns took 9 s and 8 s: once is enough).
    """
    if insights is None and explain:
        insights = run_insights(result, evaluation)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if model_file is None:
        result.built.model.save(directory / "model.keras")
    else:
        shutil.copyfile(model_file, directory / "model.keras")
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
            "class_weights": result.class_weights,
            # The model trained on the training and validation rows together (``refit``).
            "refitted": result.refitted,
            "rows": {
                "train": len(result.splits.train),
                "validation": len(result.splits.validation),
                "test": len(result.splits.test),
            },
        },
        "diagnosis": [finding.to_dict() for finding in run_diagnosis(result)],
    }
    (directory / "metrics.json").write_text(json.dumps(_json_safe(metrics), indent=2) + "\n")
    write_csv(result.history_frame, directory / "history.csv")
    (directory / "classes.json").write_text(json.dumps(list(result.built.classes)) + "\n")
    (directory / "summary.txt").write_text((summary or summary_text(result.built)) + "\n")
    (directory / "predict.py").write_text(predict_script(), encoding="utf-8")
    package = directory / READING_PACKAGE
    package.mkdir(exist_ok=True)
    for name, source in reading_package().items():
        (package / name).write_text(source, encoding="utf-8")
    (directory / "README.md").write_text(_bundle_readme(result, evaluation))
    for name, data in (insights.files() if insights is not None else {}).items():
        (directory / name).write_bytes(data)
    return directory


def _bundle_readme(result: TrainingResult, evaluation: Evaluation) -> str:
    spec = result.spec
    return (
        f"# Layerlab model: predicting `{spec.target}` ({spec.task})\n\n"
        f"Network: {spec.describe()}\n\n{evaluation.headline()}\n\n"
        + (f"{evaluation.imbalance_headline()}\n\n" if evaluation.imbalance() else "")
        + "## Use it\n\n"
        "    python predict.py new.csv > predictions.csv\n\n"
        "or in Python, with Keras 3 (no Layerlab needed):\n\n"
        "    import json, keras, tensorflow as tf, layerlab_reading as reading\n"
        '    model = keras.saving.load_model("model.keras")\n'
        '    spec = json.load(open("spec.json"))\n'
        '    frame = reading.read_table("new.csv", max_bytes=None)  # or a .parquet file\n'
        '    features = [(f["name"], f["kind"]) for f in spec["features"]]\n'
        "    inputs = reading.model_inputs(frame, features)\n"
        "    outputs = model.predict({name: tf.constant(x) for name, x in inputs.items()})\n\n"
        "The model takes one input per column, each shaped (rows, 1): numbers as float32 "
        "(NaN = missing), categories as lower-case text (empty = missing). "
        "`layerlab_reading/` reads a CSV (or Parquet) file exactly as Layerlab read the training file "
        "(spreadsheet numbers, dates as parts, one spelling per category).\n\n"
        "Files: model.keras, spec.json (every setting; reload it with "
        "`python -m layerlab train DATA.csv --spec spec.json`), metrics.json, history.csv, "
        "classes.json (class labels in output order), summary.txt, predict.py, "
        "layerlab_reading/, importance.csv (which columns matter: how much worse the test "
        "score gets when each is shuffled), MODEL_CARD.md (data, scores with confidence "
        "intervals, warnings, intended use), train.py (the same preprocessing and network in "
        "plain pandas and Keras, trained with model.fit: `python train.py DATA.csv`).\n"
    )


def zip_directory(directory: str | Path) -> bytes:
    """The bundle folder as zip bytes, paths as in the folder (Python's caches left out)."""
    directory = Path(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            inside = path.relative_to(directory)
            if path.is_file() and "__pycache__" not in inside.parts:
                archive.write(path, arcname=inside.as_posix())
    return buffer.getvalue()


def bundle_zip(
    result: TrainingResult,
    evaluation: Evaluation,
    insights: Insights | None = None,
    *,
    explain: bool = True,
    model_file: str | Path | None = None,
    summary: str | None = None,
) -> bytes:
    """The whole bundle as zip bytes, written in a private temporary folder (see
    ``write_bundle``)."""
    with tempfile.TemporaryDirectory(prefix="layerlab-") as folder:
        written = write_bundle(
            result,
            evaluation,
            folder,
            insights,
            explain=explain,
            model_file=model_file,
            summary=summary,
        )
        return zip_directory(written)


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


def load_bundle(location: str | Path) -> LoadedBundle:
    """Read a bundle folder or zip back, refusing (``BundleError``) one that Layerlab did not write.

    The model is loaded in Keras's safe mode and checked against the spec; see
    ``model_file.load_model_file``.
    """
    location = Path(location)
    if location.is_file() and zipfile.is_zipfile(location):
        with tempfile.TemporaryDirectory(prefix="layerlab-") as folder:
            unpack_bundle(location, Path(folder))
            return load_bundle(folder)
    if not location.is_dir():
        raise BundleError(
            f"'{location}' is not a Layerlab bundle: expected the folder (or the zip) written "
            "by `python -m layerlab train` or downloaded from the app."
        )
    needed = ("model.keras", "spec.json", "classes.json")
    missing = [name for name in needed if not (location / name).is_file()]
    if missing:
        raise BundleError(
            f"'{location}' is not a Layerlab bundle: {', '.join(missing)} not found. Point to "
            "the folder written by `python -m layerlab train` (or an unzipped download)."
        )
    try:
        spec = ModelSpec.from_dict(read_bundle_json(location, "spec.json"))
        spec.validate()
    except SpecError as error:
        raise BundleError(
            f"spec.json in the bundle is not a valid Layerlab spec: {error}"
        ) from None
    classes = read_bundle_json(location, "classes.json")
    if not isinstance(classes, list) or not all(isinstance(label, str) for label in classes):
        raise BundleError("classes.json in the bundle is not a list of class labels.")
    configure_tensorflow()
    model = load_model_file(
        location / "model.keras",
        [(feature.name, feature.kind) for feature in spec.features],
        model_outputs(spec.task, classes),
    )
    return LoadedBundle(model=model, spec=spec, classes=tuple(classes))


def unpack_bundle(archive: str | Path, folder: str | Path) -> None:
    """Extract a bundle zip's own files (``BUNDLE_MEMBERS``, nothing else) into ``folder``."""
    folder = Path(folder)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                if name in BUNDLE_MEMBERS:
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_bytes(bundle.read(name))
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise BundleError(
            f"'{archive}' is a damaged zip ({error}). Download the bundle again."
        ) from None
