"""Training: seeded splits, the epochs, events, Stop, and what is kept.

A ``TrainingRun`` splits the table, builds the model, and runs the epochs: it
slices each epoch by the clock, so progress is reported and Stop is honoured
between slices; it validates each epoch on a helper thread while the next one
trains; and it closes each epoch with the checks of ``training_guards.py``
(divergence, best weights, early stopping). The arithmetic is the engine's
(``engine.py``: a compiled loop, not ``model.fit``); the sentence that says how
the run ended is ``run_messages.py``'s.

Preprocessing has no trainable weights, so it runs once, before the loop, and
the loop trains only the ``network`` part of the model (see ``build.py``).

What the run keeps from ``fit``: shuffling every epoch; per-epoch events with
training and validation metrics; early stopping with restore-best-weights.
What it adds: a divergence guard that keeps the last good weights (for a NaN or
infinite loss, and for a finite one that explodes far past the naive answer's),
a cooperative stop that works even when the event handler raises (Streamlit
interrupts a run that way), and, when asked, the kept weights saved to disk as
they change.

Runs are reproducible bit for bit, whatever else runs: every random draw is
seeded per run (see ``build.py`` and the shuffling below), and the engine adds
up an epoch's sums in the same order however the clock slices it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from layerlab.model.boosting import start_boosting_baseline
from layerlab.model.build import BuiltModel, as_tensors, build_model, encode_target, model_inputs
from layerlab.model.engine import EVAL_BATCH, CompiledLoopEngine, Engine
from layerlab.model.engine import make_optimizer as _optimizer  # noqa: F401 (bench/train_speed.py)
from layerlab.model.engine import per_sample_loss as _per_sample_loss  # noqa: F401 (the same)
from layerlab.model.refit import REFIT_AFTER, refit, refit_rows
from layerlab.model.training_guards import (
    DIVERGENCE_FACTOR,
    BestWeights,
    Divergence,
    DivergenceGuard,
    EarlyStopping,
    Plateau,
    naive_losses,
)
from layerlab.report.run_messages import STOP_REASONS, lowering_sentence, run_message
from layerlab.schema.errors import TrainingError
from layerlab.schema.files import replacing
from layerlab.schema.run_events import (
    CheckpointSaved,
    EpochEnd,
    EpochProgress,
    TrainingEvent,
    main_metric,
)
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import StopReason, Task
from layerlab.tabular.memory import check_memory
from layerlab.tabular.splits import Splits, split_frame
from layerlab.tabular.task import check_target, drop_missing_target

__all__ = [
    "DIVERGENCE_FACTOR",
    "EVAL_BATCH",
    "SLICE_SECONDS",
    "STOP_REASONS",
    "CheckpointSaved",
    "EpochEnd",
    "EpochProgress",
    "Splits",
    "TrainingResult",
    "TrainingRun",
    "balanced_class_weights",
    "main_metric",
    "preprocess",
    "row_weights",
    "spec_class_weights",
    "split_frame",
    "train",
]

# Long epochs run in slices of about this many seconds, so progress is reported
# and Stop is honoured at least twice a second.
SLICE_SECONDS = 0.25


@dataclass
class TrainingResult:
    built: BuiltModel
    splits: Splits
    history: list[dict[str, float]]
    best_epoch: int | None
    stop_reason: str
    message: str
    seconds: float
    engine: str
    kept_epoch: int | None = None
    class_weights: dict[str, float] | None = None  # learned from the training rows
    naive_val_loss: float | None = None  # as in ``EpochEnd``
    # The boosting baseline's test predictions, fitted while the network trained (see
    # ``boosting.start_boosting_baseline``); None: ``evaluate`` fits it.
    boosting: Future | None = None
    # The training rows as the network reads them (the tensor it trained on), for
    # ``evaluate``'s linear baseline: preprocessing them again took 0.1 s on 60,000 rows.
    # None: ``evaluate`` makes them.
    train_inputs: object | None = None
    # The model is a fresh network trained on the training and validation rows together,
    # for the epochs validation chose (``refit``); the curves are the first network's.
    refitted: bool = False

    def __getstate__(self) -> dict:
        # A Future does not travel between processes; without it, ``evaluate`` refits.
        # The inputs stay where they were made: ``evaluate`` makes them again if it must.
        return {**self.__dict__, "boosting": None, "train_inputs": None}

    @property
    def classes(self) -> tuple[str, ...]:
        """Class labels in output order (empty for regression)."""
        return self.built.classes

    @property
    def spec(self) -> ModelSpec:
        return self.built.spec

    @property
    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    @property
    def fitted_rows(self) -> pd.DataFrame:
        """The rows the model learned from, which its baselines learn from too."""
        return refit_rows(self) if self.refitted else self.splits.train

    @property
    def main_metric(self) -> str:
        return main_metric(self.spec.task)


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" weights: ``n_rows / (n_classes * rows of the class)``.

    ``labels`` are the class indices of the training rows. Every class then adds
    the same total weight to the loss, and the weights average 1 over the rows,
    so the loss keeps its usual scale. A class with no training row (possible
    for a class of two or three rows) gets the largest weight, for validation.
    """
    # Not at the top: scikit-learn takes 0.7 s to import, and `predict` imports this module.
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = np.zeros(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    weights[weights == 0] = weights.max()
    return weights


def spec_class_weights(
    spec: ModelSpec, built: BuiltModel, train: pd.DataFrame
) -> np.ndarray | None:
    """Per-class weights for the loss from ``train`` (the rows the network learns from), or
    None when the spec has none."""
    if spec.class_weight != "balanced" or spec.task == Task.REGRESSION:
        return None
    labels = np.asarray(encode_target(train[spec.target], built)).reshape(-1).astype("int64")
    return balanced_class_weights(labels, len(built.classes))


def row_weights(class_weights: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """Each row's weight in the loss: its class's weight, or 1 for every row."""
    if class_weights is None:
        return np.ones(len(y), dtype="float32")
    return class_weights[np.asarray(y).reshape(-1).astype("int64")].astype("float32")


def preprocess(built: BuiltModel, frame: pd.DataFrame) -> np.ndarray:
    """Run the model's preprocessing once: raw columns -> float32 feature matrix.

    The preprocessor is called eagerly, in chunks, not with ``predict``: it runs
    once per split, so tracing it into a graph costs more than it saves (2.6 s
    against 0.3 s for a table with 200 columns).
    """
    chunks = [np.zeros((0, built.n_features), dtype="float32")]
    for start in range(0, len(frame), EVAL_BATCH):
        inputs = as_tensors(model_inputs(frame.iloc[start : start + EVAL_BATCH], built.spec))
        chunks.append(np.asarray(built.preprocessor(inputs, training=False), dtype="float32"))
    return np.concatenate(chunks)


@dataclass(frozen=True)
class _PendingEpoch:
    """A trained epoch whose validation pass is still running on the helper thread."""

    epoch: int
    train_metrics: dict[str, float]
    train_data_loss: float  # the loss without the L2 penalty
    snapshot: object  # the engine's, of the weights at the epoch's end
    validation: Future  # of (validation metrics, validation loss without the L2 penalty)


class TrainingRun:
    """One training run; create it, then call ``run()``.

    The run object keeps its history and best weights as it goes, so if the
    event handler raises (as Streamlit does when the user clicks Stop), the
    best model so far is still written back and available as ``result``.

    ``checkpoint_path``: where to save the whole model (as ``model.keras`` is
    saved) with the weights the run would keep, each time they change, at most
    once every ``checkpoint_seconds``, and once more at the end if the kept
    epoch was not yet written. None (the default) saves nothing.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        spec: ModelSpec,
        *,
        jit: bool = True,
        checkpoint_path: str | Path | None = None,
        checkpoint_seconds: float = 5.0,
    ) -> None:
        spec.validate()
        self.spec = spec
        self._checkpoints = (
            None if checkpoint_path is None else _Checkpoints(checkpoint_path, checkpoint_seconds)
        )
        frame = drop_missing_target(frame, spec.target)
        self.target_info = check_target(frame, spec.target, spec.task)
        check_memory(spec, frame)  # before anything large is made: refuse what cannot fit
        self.splits = split_frame(frame, spec)
        if len(self.splits.train) < 2 or len(self.splits.validation) < 1:
            raise TrainingError(
                f"Only {len(frame)} rows have a target, too few to split into training, "
                "validation and test sets. Add rows, or lower the validation and test splits."
            )
        self._boosting = start_boosting_baseline(
            spec,
            refit_rows(self) if spec.refit else self.splits.train,
            self.splits.test,
            self.target_info.classes,
        )
        self.built = build_model(spec, self.splits.train, self.target_info.classes)
        self.class_weights = spec_class_weights(spec, self.built, self.splits.train)
        self.jit = jit
        self.history: list[dict[str, float]] = []
        self.result: TrainingResult | None = None
        self._weights: BestWeights[object] = BestWeights(spec.restore_best_weights)
        self._early_stopping = EarlyStopping(spec.patience)
        self._plateau = Plateau.for_spec(spec)
        self._learning_rate = spec.learning_rate
        # A lowering decided when epoch N closes (on the helper's validation, during epoch
        # N + 1 or at its end) applies from epoch N + 2 on: the same epoch however the
        # clock slices, so a seed still gives the same run.
        self._lower_next_epoch = False
        self._divergence: Divergence | None = None
        self._engine: Engine | None = None
        self._train_inputs: object | None = None

    @property
    def best_epoch(self) -> int | None:
        return self._weights.best_epoch

    @property
    def xla_failure(self) -> str | None:
        """Why XLA could not compile, if it could not."""
        return None if self._engine is None else self._engine.xla_failure

    def run(
        self,
        on_event: Callable[[TrainingEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainingResult:
        """Train; send events as epochs end; return the result with the kept weights.

        Each epoch's validation pass runs on a helper thread while the next
        epoch trains (TensorFlow runs one intra-op thread, so the second core is
        otherwise idle), from a snapshot of the weights at the epoch's end. An
        epoch is *closed* (history, best weights, ``EpochEnd``, checkpoint, early
        stopping) once its validation is back, at the next slice boundary;
        training of the next epoch is then abandoned if the closed epoch ends
        the run.
        """
        self._started = self._last_event = time.perf_counter()
        self._on_event = on_event
        self._ready_engine()
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="layerlab-validation") as validator:
                reason = self._train(validator, should_stop)
        except BaseException:
            # The event handler was interrupted (Streamlit does this when a
            # button is clicked): keep the best model so far, then let it go on.
            self._finish("stopped")
            with contextlib.suppress(OSError):  # the interruption is what to report
                self._checkpoint_kept(announce=False)
            raise
        result = self._finish(reason)
        if self.spec.refit and reason in REFIT_AFTER:
            result = self.result = refit(
                result, jit=self.jit, on_event=self._on_event, should_stop=should_stop
            )
            self.built = result.built
        elif self.spec.refit:
            result = self.result = dataclasses.replace(result, boosting=None)  # it saw more rows
        self._checkpoint_kept(announce=True, refitted=result.refitted)
        return result

    def prepare(self) -> None:
        """Build the training loop and compile it now, before ``run``, training nothing.

        A worker does this while the person still looks at the Train page, so that
        Train starts stepping at once: compiling a new network takes one to two
        seconds. The state is exactly what ``run`` would have built (every weight is
        seeded from the spec, and compiling moves no weight, optimizer slot or
        dropout seed), so a prepared run trains to the same bits as one that is not.
        """
        self._ready_engine().warm()

    def checkpoint_to(self, path: str | Path, seconds: float = 5.0) -> None:
        """Save checkpoints to ``path`` from now on (a prepared run learns its folder late)."""
        self._checkpoints = _Checkpoints(path, seconds)

    def _ready_engine(self) -> Engine:
        """The engine, with the splits as tensors: built once, by ``prepare`` or ``run``."""
        if self._engine is not None:
            return self._engine
        # Not at the top: TensorFlow is first imported by configure_tensorflow (see runtime.py).
        import tensorflow as tf

        spec, built = self.spec, self.built
        x_train = self._train_inputs = tf.constant(preprocess(built, self.splits.train))
        y_train = encode_target(self.splits.train[spec.target], built)
        y_val = encode_target(self.splits.validation[spec.target], built)
        # Validation is weighted as training is, so early stopping and the best epoch
        # follow the loss being minimised.
        w_train = tf.constant(row_weights(self.class_weights, y_train))
        w_val = tf.constant(row_weights(self.class_weights, y_val))
        x_val = tf.constant(preprocess(built, self.splits.validation))
        self._guard = DivergenceGuard(naive_losses(built, y_train, y_val))
        self._engine = CompiledLoopEngine(
            built,
            (x_train, tf.constant(y_train), w_train),
            (x_val, tf.constant(y_val), w_val),
            min(spec.batch_size, len(self.splits.train)),
            jit=self.jit,
        )
        return self._engine

    def _train(self, validator: ThreadPoolExecutor, should_stop) -> str:
        """Run the epochs; return why training ended (a key of ``STOP_REASONS``)."""
        spec, engine = self.spec, self._engine
        n_rows, steps = len(self.splits.train), engine.steps_per_epoch
        rng = np.random.default_rng(spec.seed)
        stop_requested = self._stop_requested = should_stop or (lambda: False)
        pending: _PendingEpoch | None = None

        def close_pending(wait: bool) -> str | None:
            """Close the epoch awaiting validation; return a stop reason if it ends the run."""
            nonlocal pending
            if pending is None or not (wait or pending.validation.done()):
                return None
            closing, pending = pending, None
            return self._close_epoch(closing)

        metric = main_metric(spec.task)
        steps_per_slice = min(steps, 32)
        for epoch in range(1, spec.epochs + 1):
            if self._lower_next_epoch:
                # Six significant digits: the rate reads as 0.0003, not 0.00030000000000000003.
                self._learning_rate = float(f"{self._learning_rate * self._plateau.factor:.6g}")
                engine.set_learning_rate(self._learning_rate)
                self._lower_next_epoch = False
            engine.start_epoch(rng.permutation(n_rows))
            step = 0
            while step < steps:
                n_steps = min(steps_per_slice, steps - step)
                slice_started = time.perf_counter()
                if not engine.train_slice(step, n_steps):
                    return close_pending(wait=True) or "diverged"
                step += n_steps
                if epoch > 1 or step > n_steps:  # the very first slice includes compilation
                    per_step = max((time.perf_counter() - slice_started) / n_steps, 1e-6)
                    steps_per_slice = max(1, min(steps, int(SLICE_SECONDS / per_step)))
                reason = close_pending(wait=False)
                if reason is not None:
                    return reason
                if stop_requested():  # the unfinished epoch is dropped, even if only just
                    return close_pending(wait=True) or "stopped"
                # Something is heard after every slice (so at least every SLICE_SECONDS),
                # also at an epoch's end, whose EpochEnd waits for its validation;
                # only an event sent within the last half slice makes progress redundant.
                if time.perf_counter() - self._last_event >= SLICE_SECONDS / 2:
                    self._send(EpochProgress(epoch, spec.epochs, step / steps, self._elapsed()))
            snapshot = engine.snapshot()
            reason = close_pending(wait=True)
            if reason is not None:
                return reason
            scores = engine.epoch_scores()
            train_metrics = {"loss": scores.loss, metric: scores.metric}
            if self._plateau.active:  # the rate this epoch trained at, as Keras's history has it
                train_metrics["learning_rate"] = self._learning_rate
            pending = _PendingEpoch(
                epoch,
                train_metrics,
                scores.data_loss,
                snapshot,
                validator.submit(self._validate, snapshot),
            )
            if epoch == 1:
                # The first point is the one a person waits for: close it now rather than
                # after a slice of epoch 2 (up to SLICE_SECONDS more), at the cost of one
                # validation pass not run alongside training.
                reason = close_pending(wait=True)
                if reason is not None:
                    return reason
        return close_pending(wait=True) or "completed"

    def _validate(self, snapshot: object) -> tuple[dict[str, float], float]:
        """Validation loss and metric of the weights in ``snapshot``, and the loss without the
        L2 penalty (runs on the helper thread)."""
        scores = self._engine.evaluate(snapshot)
        metrics = {"val_loss": scores.loss, f"val_{main_metric(self.spec.task)}": scores.metric}
        return metrics, scores.data_loss

    def _close_epoch(self, pending: _PendingEpoch) -> str | None:
        """Record a validated epoch and tell the listener; return a stop reason if it ends the run."""
        validation_metrics, val_data_loss = pending.validation.result()
        metrics = {**pending.train_metrics, **validation_metrics}
        if "learning_rate" in metrics:  # last, after the scores (as history.csv shows it)
            metrics["learning_rate"] = metrics.pop("learning_rate")
        self._divergence = self._guard.check(
            metrics["val_loss"], pending.train_data_loss, val_data_loss
        )
        if self._divergence is not None:
            return "diverged"
        epoch = pending.epoch
        self.history.append({"epoch": epoch, **metrics})
        self._weights.update(epoch, metrics["val_loss"], pending.snapshot)
        self._send(
            EpochEnd(
                epoch,
                self.spec.epochs,
                metrics,
                self._elapsed(),
                self.best_epoch,
                self._guard.naive.validation,
            )
        )
        self._checkpoint_if_due()
        if self._stop_requested():
            return "stopped"
        if self._plateau.should_lower(epoch, self.best_epoch):
            self._lower_next_epoch = True
        if self._early_stopping.should_stop(epoch, self.best_epoch):
            return "early_stopping"
        return None

    def _checkpoint_if_due(self) -> None:
        """Save the weights the run would keep, if they are new and the last save is old enough.

        It runs between slices, while the engine is idle: the model holds the
        kept weights only while it is saved.
        """
        checkpoints = self._checkpoints
        epoch, snapshot = self._weights.kept()
        if checkpoints is None or not checkpoints.due(epoch):
            return
        with self._engine.holding(snapshot):
            saved = checkpoints.write(self.built.model, epoch)
        self._send(saved)

    def _checkpoint_kept(self, *, announce: bool, refitted: bool = False) -> None:
        """At the end: save the kept weights (the model holds them now) unless already saved;
        a refitted model is always saved (it is not the network the checkpoints held)."""
        checkpoints, epoch = self._checkpoints, self.result.kept_epoch
        if checkpoints is None or epoch is None:
            return
        if epoch == checkpoints.written_epoch and not refitted:
            return
        saved = checkpoints.write(self.built.model, epoch, refitted=refitted)
        if announce:
            self._send(saved)

    def _send(self, event: TrainingEvent) -> None:
        self._last_event = time.perf_counter()
        if self._on_event is not None:
            self._on_event(event)

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started

    def _finish(self, reason: str) -> TrainingResult:
        """Write the kept weights back into the model and record the outcome (once)."""
        if self.result is not None:
            return self.result
        engine, spec = self._engine, self.spec
        kept_epoch, kept = self._weights.kept(reason)
        engine.restore(kept if kept is not None else engine.untrained)
        self.result = TrainingResult(
            built=self.built,
            splits=self.splits,
            history=list(self.history),
            best_epoch=self.best_epoch,
            stop_reason=reason,
            message=run_message(
                reason,
                epochs=spec.epochs,
                patience=spec.patience,
                optimizer=spec.optimizer,
                learning_rate=spec.learning_rate,
                kept_epoch=kept_epoch,
                divergence=self._divergence,
                xla_failed=engine.xla_failure is not None,
            )
            + lowering_sentence(self.history),
            seconds=self._elapsed(),
            engine=engine.label,
            kept_epoch=kept_epoch,
            class_weights=None
            if self.class_weights is None
            else dict(zip(self.built.classes, map(float, self.class_weights), strict=True)),
            naive_val_loss=float(self._guard.naive.validation),
            boosting=self._boosting,
            train_inputs=self._train_inputs,
        )
        return self.result


class _Checkpoints:
    """Where the kept weights are saved, and how often."""

    def __init__(self, path: str | Path, seconds: float) -> None:
        self.path = Path(path)
        if self.path.suffix != ".keras":
            raise TrainingError(
                f"The checkpoint path must end in .keras, the only kind of file Keras saves a "
                f"whole model to; got '{self.path}'. Try '{self.path.with_suffix('.keras')}'."
            )
        self.seconds = seconds
        self.written_epoch: int | None = None
        self._written_at = -float("inf")

    def due(self, epoch: int | None) -> bool:
        """Whether the weights of ``epoch`` are to be saved now: the first always are."""
        if epoch is None or epoch == self.written_epoch:
            return False
        return time.perf_counter() - self._written_at >= self.seconds

    def write(self, model, epoch: int, *, refitted: bool = False) -> CheckpointSaved:
        save_model_atomically(model, self.path)
        self.written_epoch, self._written_at = epoch, time.perf_counter()
        return CheckpointSaved(epoch, str(self.path), refitted)


def save_model_atomically(model, path: Path) -> None:
    """``model.save(path)``, so that ``path`` always holds a whole model, the old or the new."""
    with replacing(path, suffix=".keras") as partial:  # Keras saves only to names ending .keras
        model.save(partial)


def train(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    on_event: Callable[[TrainingEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Split ``frame``, build the model for ``spec`` and train it.

    If no epoch could finish because the loss diverged at once, raises
    ``TrainingError`` with the suggested fix.
    """
    result = TrainingRun(frame, spec).run(on_event=on_event, should_stop=should_stop)
    if result.stop_reason == StopReason.DIVERGED and result.kept_epoch is None:
        raise TrainingError(result.message)
    return result
