"""The TensorFlow work the app hands to a worker process, and what comes back as plain values.

A worker (``workers.py``) runs one of ``JOBS`` at a time. What it returns holds
no Keras object: the trained model travels as the bytes of its ``.keras`` file,
next to its evaluation and its bundle, so the Streamlit server can show and
serve a run without ever importing TensorFlow (see ``workers.py`` for why).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from layerlab.spec import ModelSpec

if TYPE_CHECKING:
    from layerlab.evaluate import Evaluation
    from layerlab.leaks import SingleColumnScore

# How many loaded models a worker keeps for repeated scoring (what-if, new files).
LOADED_MODELS = 2


@dataclass(frozen=True)
class ModelSummary:
    """The network as Keras builds it for this data: parameter count and layers."""

    params: int
    rows: list[dict[str, object]]
    text: str


@dataclass(frozen=True)
class TrainedModel:
    """A finished training run, as plain values.

    ``model_file`` and ``bundle_file`` are the bytes of ``model.keras`` and of
    the download zip; ``evaluation`` is ``None`` when no epoch finished (then
    there is no model worth keeping and both files are empty). ``leak_suspect``
    is set only when the test score is suspiciously close to perfect: the
    feature that alone predicts the target best, with its own held-out score.
    """

    spec: ModelSpec
    classes: tuple[str, ...]
    history: list[dict[str, float]]
    best_epoch: int | None
    kept_epoch: int | None
    stop_reason: str
    message: str
    seconds: float
    engine: str
    rows: dict[str, int]  # train / validation / test
    summary: ModelSummary
    evaluation: Evaluation | None
    model_file: bytes
    bundle_file: bytes
    leak_suspect: SingleColumnScore | None = None

    @property
    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    @property
    def usable(self) -> bool:
        return self.kept_epoch is not None


class JobContext:
    """What a job may do besides computing: report events, and hear a request to stop."""

    def __init__(
        self,
        emit: Callable[[Any], None] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.emit = emit or (lambda event: None)
        self.stop_requested = stop_requested or (lambda: False)


def summarize_network(context: JobContext, frame: pd.DataFrame, spec: ModelSpec) -> ModelSummary:
    """Build the network exactly as training would and describe it."""
    from layerlab.train import TrainingRun

    return _summary(TrainingRun(frame, spec).built)


def train_model(context: JobContext, frame: pd.DataFrame, spec: ModelSpec) -> TrainedModel:
    """Train, then score the test split and the baselines, and write the bundle's bytes."""
    from layerlab.evaluate import evaluate
    from layerlab.export import bundle_zip, model_bytes
    from layerlab.leaks import strongest_feature, suspiciously_good
    from layerlab.train import TrainingRun

    run = TrainingRun(frame, spec)
    result = run.run(on_event=context.emit, should_stop=context.stop_requested)
    usable = result.kept_epoch is not None
    evaluation = evaluate(result) if usable else None
    leak_suspect = None
    if evaluation is not None and suspiciously_good(evaluation):
        leak_suspect = strongest_feature(result.splits.train, result.spec)
    return TrainedModel(
        spec=result.spec,
        classes=result.classes,
        history=list(result.history),
        best_epoch=result.best_epoch,
        kept_epoch=result.kept_epoch,
        stop_reason=result.stop_reason,
        message=result.message,
        seconds=result.seconds,
        engine=result.engine,
        rows={
            "train": len(result.splits.train),
            "validation": len(result.splits.validation),
            "test": len(result.splits.test),
        },
        summary=_summary(result.built),
        evaluation=evaluation,
        model_file=model_bytes(result) if usable else b"",
        bundle_file=bundle_zip(result, evaluation) if usable else b"",
        leak_suspect=leak_suspect,
    )


_loaded: OrderedDict[str, object] = OrderedDict()


def predict_rows(
    context: JobContext,
    model_file: bytes,
    spec: ModelSpec,
    classes: tuple[str, ...],
    frame: pd.DataFrame,
) -> pd.DataFrame:
    """Score ``frame`` with the model in ``model_file``; the loaded model is kept for next time."""
    from layerlab.predict import score

    return score(_load(model_file), spec, classes, frame)


def _load(model_file: bytes):
    """The Keras model in ``model_file``, loaded in safe mode, from a small cache by content."""
    key = hashlib.sha256(model_file).hexdigest()
    if key in _loaded:
        _loaded.move_to_end(key)
        return _loaded[key]
    from layerlab.runtime import configure_tensorflow

    configure_tensorflow()
    import keras

    with tempfile.TemporaryDirectory(prefix="layerlab-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(model_file)
        model = keras.saving.load_model(path)
    _loaded[key] = model
    while len(_loaded) > LOADED_MODELS:
        _loaded.popitem(last=False)
    return model


def forget_loaded_models() -> None:
    _loaded.clear()


def _summary(built) -> ModelSummary:
    from layerlab.build import summarize, summary_text

    return ModelSummary(built.model.count_params(), summarize(built), summary_text(built))


JOBS: dict[str, Callable[..., Any]] = {
    "summary": summarize_network,
    "train": train_model,
    "predict": predict_rows,
}
