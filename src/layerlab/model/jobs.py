"""The TensorFlow work the app hands to a worker process, and what comes back as plain values.

A worker (``workers.py``) runs one of ``JOBS`` at a time. A training job writes
its files (``model.keras``, the bundle zip, the evaluation as JSON) straight
into the run's folder in the workspace and sends back only plain values, so the
Streamlit server can show and serve a run without ever importing TensorFlow
(see ``workers.py`` for why) and without holding a model in its memory.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from layerlab.model.build import build_model, predict_frame, summarize, summary_text
from layerlab.model.code_export import train_script
from layerlab.model.evaluate import evaluate
from layerlab.model.export import bundle_zip
from layerlab.model.insights import run_insights
from layerlab.model.refit import refit_rows
from layerlab.model.runtime import configure_tensorflow
from layerlab.model.scoring import score
from layerlab.model.train import TrainingResult, TrainingRun, spec_class_weights
from layerlab.report.records import evaluation_to_json
from layerlab.report.run_files import RUN_FILES, ModelSummary, TrainedModel
from layerlab.report.run_messages import COMPLETING_SENTENCE
from layerlab.schema.errors import BundleError, TrainingError
from layerlab.schema.files import replacing, write_atomically
from layerlab.schema.run_events import StageReached
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import RunStage, StopReason
from layerlab.tabular.data import ColumnProfile, profile_columns
from layerlab.tabular.effects import opening_predictions_json
from layerlab.tabular.evaluation import BASELINE_NAMES, Evaluation
from layerlab.tabular.leaks import strongest_feature
from layerlab.tabular.model_file import load_model_file
from layerlab.tabular.model_io import model_outputs
from layerlab.tabular.network_weights import network_bytes
from layerlab.tabular.too_good import close_to_perfect

# How many loaded models a worker keeps for repeated scoring (what-if, new files).
LOADED_MODELS = 2


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
    return _summary(TrainingRun(frame, spec).built)


def train_model(
    context: JobContext,
    frame: pd.DataFrame,
    spec: ModelSpec,
    folder: str | Path,
    jit: bool = True,
    insights: bool = True,
    prepared_key: str | None = None,
) -> TrainedModel:
    """Train, saving the best weights to ``folder`` as they improve; then score the test split
    and the baselines and write the model, the bundle and the evaluation into ``folder``.

    ``jit``: compile the training loop with XLA (see ``train.TrainingRun``). ``insights``:
    also work out its importance, model card and train.py (``keep_files``).
    ``prepared_key``: the key of a run ``prepare_run`` may have compiled in this worker
    for the same table and spec; it starts from that one when it is here."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run = take_prepared(prepared_key, frame, spec, jit)
    if run is None:
        context.emit(StageReached(RunStage.PREPARING))
        run = TrainingRun(frame, spec, jit=jit)
        context.emit(StageReached(RunStage.COMPILING))
    else:
        context.emit(StageReached(RunStage.FIRST_EPOCH))
    run.checkpoint_to(folder / RUN_FILES["checkpoint"])
    result = run.run(on_event=context.emit, should_stop=context.stop_requested)
    if insights and result.stop_reason == StopReason.STOPPED and result.kept_epoch is not None:
        # Stop answers at once: the model, its test scores and its bundle are kept now, and
        # the parts that take seconds follow in a job of their own ("complete": rebuild_files).
        return keep_files(result, folder, completes_later=True)
    return keep_files(result, folder, insights=insights, should_stop=context.stop_requested)


# The one run this worker has compiled ahead of its Train click (``prepare_run``), by key.
_prepared: dict[str, tuple[TrainingRun, pd.DataFrame]] = {}


def prepare_run(
    context: JobContext, frame: pd.DataFrame, spec: ModelSpec, key: str, jit: bool = True
) -> str:
    """Split, build and compile ``spec``'s run on ``frame`` now, training nothing, and keep it
    here for the training job of the same ``key`` (``TrainingRun.prepare``); returns ``key``.

    A worker holds one: a new one replaces the last, and any other job drops it."""
    forget_prepared()
    run = TrainingRun(frame, spec, jit=jit)
    run.prepare()
    _prepared[key] = (run, frame)
    return key


def take_prepared(
    key: str | None, frame: pd.DataFrame, spec: ModelSpec, jit: bool
) -> TrainingRun | None:
    """The run prepared here under ``key``, if it was built from the same rows, spec and
    compilation (the key says so; this makes sure); the worker holds none afterwards."""
    held = _prepared.pop(key, None) if key is not None else None
    forget_prepared()
    if held is None:
        return None
    run, prepared_frame = held
    if run.spec != spec or run.jit != jit or not prepared_frame.equals(frame):
        return None
    return run


def forget_prepared() -> None:
    _prepared.clear()


def finish_interrupted(
    context: JobContext,
    frame: pd.DataFrame,
    spec: ModelSpec,
    history: list[dict[str, float]],
    checkpoint_epoch: int,
    folder: str | Path,
    refitted: bool = False,
) -> TrainedModel:
    """Make a run that the server lost mid-training whole again, from its checkpoint.

    The split is seeded and the model is rebuilt from the same rows (the training rows, or
    with ``refitted`` the training and validation rows the refit's checkpoint learned
    from), so the checkpoint's weights fit it exactly; the run is then scored and bundled
    as if it had been stopped at the checkpoint's epoch.
    """
    folder = Path(folder)
    checkpoint = folder / RUN_FILES["checkpoint"]
    if not checkpoint.is_file():
        raise TrainingError(
            "This run was interrupted before its first checkpoint was saved, so there are no "
            "weights to keep. Train it again."
        )
    run = TrainingRun(frame, spec)
    built, class_weights = _network_as_trained(run, spec, refitted)
    saved = _load(checkpoint, spec, built.classes)
    built.model.set_weights(saved.get_weights())
    kept = [row for row in history if row["epoch"] <= checkpoint_epoch]
    result = TrainingResult(
        built=built,
        splits=run.splits,
        history=kept,
        best_epoch=min(kept, key=lambda row: row["val_loss"])["epoch"] if kept else None,
        stop_reason="stopped",
        message=(
            f"The server stopped while this run trained; the weights of epoch "
            f"{checkpoint_epoch}, saved as it trained, are kept."
            if not refitted
            else "The server stopped after this run's final network, trained on every "
            "training and validation row, was saved; that network is kept."
        ),
        seconds=0.0,
        engine="compiled loop (restored from its checkpoint)",
        kept_epoch=checkpoint_epoch,
        class_weights=class_weights,
        refitted=refitted,
    )
    return keep_files(result, folder, should_stop=context.stop_requested)


def rebuild_files(
    context: JobContext,
    frame: pd.DataFrame,
    spec: ModelSpec,
    record: dict[str, Any],
    folder: str | Path,
    save_model: bool = True,
) -> TrainedModel:
    """Make every file Layerlab derives from a run (its bundle, train.py, model card, scores
    against every baseline, importance and pictures) from its table, its spec and the
    weights in its ``model.keras``. ``record`` holds the run's own ``history``, epochs,
    stop reason, message, seconds and engine.

    Two jobs do this. ``rebuild``: a run of an uploaded workspace. An upload brings data
    only (``layerlab.runs.archive``): a bundle or a script from it would be served as its
    author wrote it. ``complete``: a run Stop kept at once without its baselines,
    importance and model card (``train_model``).

    The network is built from the spec, as training built it (the split is seeded: the
    same rows), and the ``model.keras`` (counted before Keras builds it, see
    ``reading.load_model_file``) lends it its weights, which must fit it exactly; then
    ``keep_files`` writes everything again: ``save_model`` False leaves ``model.keras`` as
    it is (a completion's was saved by its own training run; rewriting it would make the
    scoring worker load it again).
    """
    folder = Path(folder)
    run = TrainingRun(frame, spec)
    refitted = bool(record.get("refitted"))
    built, class_weights = _network_as_trained(run, spec, refitted)
    uploaded = _load(folder / RUN_FILES["model"], spec, built.classes)
    try:
        built.model.set_weights(uploaded.get_weights())
    except ValueError:
        raise BundleError(
            "The uploaded model.keras holds weights that do not fit the network its settings "
            "describe, so it was not made by Layerlab for this run or was changed after. "
            "Train the run again."
        ) from None
    result = TrainingResult(
        built=built,
        splits=run.splits,
        history=list(record["history"]),
        best_epoch=record.get("best_epoch"),
        stop_reason=record.get("stop_reason") or "stopped",
        message=record.get("message") or "",
        seconds=float(record.get("seconds") or 0.0),
        engine=record.get("engine") or "",
        kept_epoch=record["kept_epoch"],
        class_weights=class_weights,
        refitted=refitted,
    )
    return keep_files(result, folder, should_stop=context.stop_requested, save_model=save_model)


def _network_as_trained(run: TrainingRun, spec: ModelSpec, refitted: bool):
    """The network a run's saved weights belong to, unweighted, and its class weights by
    class: a refitted model read its preprocessing (scales, categories) from the training and
    validation rows, the first network from the training rows alone."""
    if refitted:
        rows = refit_rows(run)
        built = build_model(spec, rows, run.built.classes)
        class_weights = spec_class_weights(spec, built, rows)
    else:
        built, class_weights = run.built, run.class_weights
    if class_weights is None:
        return built, None
    return built, dict(zip(built.classes, map(float, class_weights), strict=True))


def keep_files(
    result: TrainingResult,
    folder: str | Path,
    evaluation: Evaluation | None = None,
    *,
    insights: bool = True,
    should_stop: Callable[[], bool] | None = None,
    completes_later: bool = False,
    save_model: bool = True,
) -> TrainedModel:
    """Score a trained run (unless ``evaluation`` is given) and write its files into
    ``folder``; what goes back to the server is plain values.

    ``insights``: also write its importance, model card, train.py and the weights for its
    picture (seconds on a large table; a search trial, which is compared only by its
    validation loss, goes without them).

    ``should_stop``: Stop pressed after the epochs. What was trained is kept all the
    same: the model, its test scores and the bundle are always written; the parts that
    take seconds on a wide table (the linear and boosting baselines, importance, the
    model card, the picture's weights and predictions) are skipped once it says yes,
    asked between them and inside their loops, and the run's message says which.

    ``completes_later``: keep only what Stop keeps, at once, and say instead that the rest
    is being worked out (the "complete" job, ``rebuild_files``, adds it). ``save_model``
    False: ``model.keras`` in ``folder`` already holds these weights.
    """

    if completes_later:
        should_stop = _at_once

    def stopped() -> bool:
        return should_stop is not None and should_stop()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    usable = result.kept_epoch is not None
    if evaluation is None and usable:
        evaluation = evaluate(result, should_stop=should_stop)
    leak_suspect = None
    if evaluation is not None and close_to_perfect(evaluation) and not stopped():
        leak_suspect = strongest_feature(result.splits.train, result.spec)
    summary = _summary(result.built)
    write = _run_file_writer(folder)
    write("summary", json.dumps(summary.to_dict()).encode())
    skipped: list[str] = []
    if evaluation is not None:
        model_path = folder / RUN_FILES["model"]
        if save_model:
            with replacing(model_path, suffix=".keras") as partial:  # Keras saves only to .keras
                result.built.model.save(partial)
        if stopped():  # baselines are left out only once Stop is heard (``evaluate``)
            names = BASELINE_NAMES[evaluation.task]
            skipped += [names[key] for key in names if key not in evaluation.baselines]
        explained = None
        if insights:
            explained = (
                None
                if stopped()
                else run_insights(result, evaluation, leak_suspect, should_stop=should_stop)
            )
            if explained is None:
                skipped += ["importance", "the model card"]
                write("train_script", train_script(result.spec).encode("utf-8"))
            else:
                files = explained.files()
                write("importance", explained.importance.to_json(orient="records").encode())
                write("card", files[RUN_FILES["card"]])
                write("train_script", files[RUN_FILES["train_script"]])
        bundle = bundle_zip(
            result,
            evaluation,
            explained,
            explain=False,
            model_file=model_path,
            summary=summary.text,
        )
        write("bundle", bundle)
        if insights:
            opening = None
            if not stopped():
                network = network_bytes(result.built)
                if network is not None:
                    write("network", network)
                opening = opening_predictions_json(
                    result.splits.test,
                    result.spec,
                    lambda rows: predict_frame(result.built, rows),
                    should_stop,
                )
            if opening is None:
                skipped.append("the picture of the network and its first predictions")
            else:
                write("effects", opening)
        write("evaluation", evaluation_to_json(evaluation).encode())
    return TrainedModel(
        spec=result.spec,
        classes=result.classes,
        history=list(result.history),
        best_epoch=result.best_epoch,
        kept_epoch=result.kept_epoch,
        stop_reason=result.stop_reason,
        message=result.message
        + (COMPLETING_SENTENCE if completes_later else skipped_sentence(skipped)),
        seconds=result.seconds,
        engine=result.engine,
        rows={
            "train": len(result.splits.train),
            "validation": len(result.splits.validation),
            "test": len(result.splits.test),
        },
        summary=summary,
        evaluation=evaluation,
        folder=str(folder),
        leak_suspect=leak_suspect,
        naive_val_loss=result.naive_val_loss,
        completes_later=completes_later,
        refitted=result.refitted,
    )


def _at_once() -> bool:
    """A ``should_stop`` that is already true: keep only what Stop keeps."""
    return True


def skipped_sentence(skipped: list[str]) -> str:
    """What Stop, pressed while a run was kept, left out of it (" ..." to add to its message),
    or "" when nothing was."""
    if not skipped:
        return ""
    listed = skipped[0] if len(skipped) == 1 else ", ".join(skipped[:-1]) + " and " + skipped[-1]
    return (
        f" Stop was pressed while the run was being kept, so {listed} "
        f"{'was' if len(skipped) == 1 else 'were'} skipped; the model, its test scores and "
        "its bundle are kept."
    )


def _run_file_writer(folder: Path) -> Callable[[str, bytes], None]:
    """Write a run file by its role, whole or not at all (a crash leaves the old file or none)."""

    def write(role: str, data: bytes) -> None:
        write_atomically(folder / RUN_FILES[role], data)

    return write


_loaded: OrderedDict[tuple, object] = OrderedDict()


def predict_rows(
    context: JobContext,
    model_file: str | Path,
    spec: ModelSpec,
    classes: tuple[str, ...],
    frame: pd.DataFrame,
) -> pd.DataFrame:
    """Score ``frame`` with the model in ``model_file``; the loaded model is kept for next time."""
    return score(_load(Path(model_file), spec, classes), spec, classes, frame)


def _load(path: Path, spec: ModelSpec, classes: tuple[str, ...]):
    """The Keras model in ``path``, loaded in safe mode and checked against its spec (a
    workspace can be uploaded, so its files are not trusted), from a small cache by file
    and version."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _loaded:
        _loaded.move_to_end(key)
        return _loaded[key]
    configure_tensorflow()
    model = load_model_file(
        path,
        [(feature.name, feature.kind) for feature in spec.features],
        model_outputs(spec.task, classes),
    )
    _loaded[key] = model
    while len(_loaded) > LOADED_MODELS:
        _loaded.popitem(last=False)
    return model


def forget_loaded_models() -> None:
    _loaded.clear()


def _summary(built) -> ModelSummary:
    return ModelSummary(built.model.count_params(), summarize(built), summary_text(built))


def profile_table(
    context: JobContext, frame: pd.DataFrame, target_column: str | None
) -> list[ColumnProfile]:
    """The table's column profiles (``data.profile_columns``), stopping when asked."""
    return profile_columns(frame, target_column, should_stop=context.stop_requested)


JOBS: dict[str, Callable[..., Any]] = {
    "profile": profile_table,
    "summary": summarize_network,
    "train": train_model,
    "prepare": prepare_run,
    "complete": rebuild_files,
    "finish": finish_interrupted,
    "rebuild": rebuild_files,
    "predict": predict_rows,
}
