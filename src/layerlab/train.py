"""Training: seeded splits, a compiled training loop, events, early stopping and Stop.

Why not ``model.fit``? On the small tables analysts bring, ``fit`` spends nearly
all its time on per-step overhead. Here the whole epoch (or, for long epochs, a
slice of it) runs as one XLA-compiled ``tf.while_loop`` over shuffled batch
indices, with the data resident as tensors. The Keras optimizer updates the
weights in place, as in a hand-written Keras loop; BatchNormalization's moving
statistics and Dropout's seed state are threaded through the loop as values
(``stateless_call``). Dropout draws its masks with Threefry, because Keras's
default random algorithm is about 17x slower under XLA on CPU (see
``_training_network``), and TensorFlow runs on one intra-op thread (see
``runtime.py``).

Preprocessing has no trainable weights, so it runs once, before the loop, and
the loop trains only the ``network`` part of the model (see ``build.py``).

What the loop keeps from ``fit``: shuffling every epoch; the last partial batch
(padded with zero-weight rows, so the loss is the mean over real rows); the
same Keras layers, losses and optimizers; class weights as ``fit(class_weight=...)``
applies them; per-epoch events with training and validation metrics; early
stopping with restore-best-weights. What it adds: a
divergence guard that keeps the last good weights (for a NaN or infinite loss,
and for a finite one that explodes far past the naive answer's), and a
cooperative stop that works even when the event handler raises (Streamlit
interrupts a run that way).

Runs are reproducible bit for bit, whatever else runs: every random draw is
seeded per run (see ``build.py`` and the shuffling below), and the epoch's sums
are carried from slice to slice inside the loop, so they are added in the same
order however the clock slices the epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.build import BuiltModel, as_tensors, build_model, encode_target, model_inputs
from layerlab.errors import TrainingError
from layerlab.memory import check_memory
from layerlab.reading import as_category_text
from layerlab.spec import DEFAULT_LEARNING_RATES, ModelSpec
from layerlab.task import check_target, drop_missing_target

# Long epochs run in slices of about this many seconds, so progress is reported
# and Stop is honoured at least twice a second.
SLICE_SECONDS = 0.25
EVAL_BATCH = 32_768
# A finite loss this many times the naive answer's ends the run as diverged.
DIVERGENCE_FACTOR = 1000

STOP_REASONS = {
    "completed": "Training ran all {epochs} epochs.",
    "early_stopping": (
        "Validation loss has not improved for {patience} epochs, so training stopped early."
    ),
    "stopped": "Training was stopped on request.",
    "diverged": "Training stopped because the loss became NaN or infinite.",
}


@dataclass(frozen=True)
class Splits:
    """The three disjoint parts of the table: fit on train, tune on validation, report on test."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


@dataclass(frozen=True)
class EpochEnd:
    """Sent after every completed epoch."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    elapsed_seconds: float
    best_epoch: int


@dataclass(frozen=True)
class EpochProgress:
    """Sent after a slice of training unless another event went out within the last half
    slice, so a progress bar moves (and Stop is heard) between epoch ends.

    ``fraction`` is the share of ``epoch`` trained; 1.0 when the epoch is trained
    and its validation still runs. The previous epoch's ``EpochEnd`` can come
    after the first progress of the next: its validation runs while the next
    epoch trains.
    """

    epoch: int
    epochs: int
    fraction: float
    elapsed_seconds: float


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
    def main_metric(self) -> str:
        return main_metric(self.spec.task)


def main_metric(task: str) -> str:
    """The metric shown beside the loss: accuracy for classes, MAE for numbers."""
    return "mae" if task == "regression" else "accuracy"


def split_frame(frame: pd.DataFrame, spec: ModelSpec) -> Splits:
    """Seeded train/validation/test split, stratified by class for classification.

    Stratification is skipped when a class is too small for it; the split is
    then random but still seeded.
    """
    from sklearn.model_selection import train_test_split

    def split(part: pd.DataFrame, fraction: float, seed: int):
        stratify = None
        if spec.task != "regression":
            labels = as_category_text(part[spec.target])
            if pd.Series(labels).value_counts().min() >= 2:
                stratify = labels
        try:
            return train_test_split(part, test_size=fraction, random_state=seed, stratify=stratify)
        except ValueError:
            return train_test_split(part, test_size=fraction, random_state=seed)

    rest, test = split(frame, spec.test_split, spec.seed)
    train, validation = split(rest, spec.validation_split / (1 - spec.test_split), spec.seed + 1)
    return Splits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
    )


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" weights: ``n_rows / (n_classes * rows of the class)``.

    ``labels`` are the class indices of the training rows. Every class then adds
    the same total weight to the loss, and the weights average 1 over the rows,
    so the loss keeps its usual scale. A class with no training row (possible
    for a class of two or three rows) gets the largest weight, for validation.
    """
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = np.zeros(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    weights[weights == 0] = weights.max()
    return weights


def _class_weights(spec: ModelSpec, built: BuiltModel, train: pd.DataFrame) -> np.ndarray | None:
    """Per-class weights for the loss from the training rows, or None when the spec has none."""
    if spec.class_weight != "balanced" or spec.task == "regression":
        return None
    labels = np.asarray(encode_target(train[spec.target], built)).reshape(-1).astype("int64")
    return balanced_class_weights(labels, len(built.classes))


def _row_weights(class_weights: np.ndarray | None, y: np.ndarray) -> np.ndarray:
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


def _optimizer(spec: ModelSpec):
    import keras

    kwargs = {"learning_rate": spec.learning_rate}
    if spec.optimizer == "sgd":
        kwargs["momentum"] = spec.momentum
    return keras.optimizers.get({"class_name": spec.optimizer, "config": kwargs})


def _per_sample_loss(spec: ModelSpec):
    """The loss per row, as ``model.fit`` would compute it for this spec."""
    import keras

    _, loss = spec.resolved_output()
    if loss == "categorical_crossentropy":
        return keras.losses.sparse_categorical_crossentropy
    return {
        "mse": keras.losses.mean_squared_error,
        "mae": keras.losses.mean_absolute_error,
        "huber": keras.losses.huber,
        "binary_crossentropy": keras.losses.binary_crossentropy,
    }[loss]


def _per_sample_metric(built: BuiltModel):
    """Accuracy (0/1 per row) for classes, absolute error in the target's units for numbers."""
    from keras import ops

    spec = built.spec
    if spec.task == "regression":
        std = built.target_scaling.std
        return lambda y, p: ops.abs(ops.reshape(p - y, (-1,))) * std
    activation, _ = spec.resolved_output()
    if activation == "sigmoid":
        return lambda y, p: ops.cast(
            ops.equal(ops.reshape(ops.cast(p > 0.5, "float32"), (-1,)), ops.reshape(y, (-1,))),
            "float32",
        )
    return lambda y, p: ops.cast(
        ops.equal(ops.argmax(p, axis=-1), ops.cast(ops.reshape(y, (-1,)), "int64")), "float32"
    )


@dataclass(frozen=True)
class _NaiveLosses:
    """The loss of always predicting the training mean (or the training class shares)."""

    train: float
    validation: float
    answer: str  # what the naive model predicts, in words


def _naive_losses(built: BuiltModel, y_train, y_val) -> _NaiveLosses:
    """The loss a model without features gets, on the training and the validation rows."""
    spec = built.spec
    loss_fn = _per_sample_loss(spec)
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    if spec.task == "regression":
        answer, guess = "the training mean", np.zeros((1, 1), "float32")
    else:
        answer = "the class shares of the training rows"
        activation, _ = spec.resolved_output()
        if activation == "sigmoid":
            guess = np.full((1, 1), y_train.mean(), "float32")
        else:
            counts = np.bincount(y_train, minlength=max(len(built.classes), 2))
            guess = (counts / counts.sum()).astype("float32").reshape(1, -1)

    def mean_loss(y: np.ndarray) -> float:
        predictions = np.repeat(guess, len(y), axis=0)
        return float(np.mean(np.asarray(loss_fn(y, predictions), dtype="float64")))

    return _NaiveLosses(mean_loss(y_train), mean_loss(y_val), answer)


class _CompiledLoop:
    """The XLA-compiled slice of an epoch, and the compiled evaluation pass.

    Trainable weights and optimizer slots are updated in place by the Keras
    optimizer, as in a hand-written Keras loop. BatchNormalization's moving
    statistics and Dropout's seed state are carried through the loop as values
    (``stateless_call``) and handed back, instead of being written to variables
    at every step.
    """

    def __init__(self, built: BuiltModel, n_rows: int, batch_size: int, jit: bool) -> None:
        import tensorflow as tf

        self.network = network = _training_network(built)
        trainable_variables = network.trainable_variables
        self.optimizer = _optimizer(built.spec)
        self.optimizer.build(trainable_variables)
        loss_fn = _per_sample_loss(built.spec)
        metric_fn = _per_sample_metric(built)

        def forward(trainable, non_trainable, xb, yb, real, row_weights, training):
            """``real`` is 1 for a real row, 0 for padding; ``row_weights`` the class weights.

            As ``fit`` does with class weights, the loss is the weighted sum over the
            batch divided by its rows (not by the sum of the weights), so a batch
            without a rare row still counts the common class at its lower weight.
            """
            predictions, non_trainable, extra_losses = network.stateless_call(
                trainable, non_trainable, xb, training=training, return_losses=True
            )
            per_row = tf.reshape(loss_fn(yb, predictions), (-1,))
            data_loss = tf.reduce_sum(per_row * (real * row_weights)) / tf.reduce_sum(real)
            penalty = tf.add_n(extra_losses) if extra_losses else tf.constant(0.0)
            metric_sum = tf.reduce_sum(metric_fn(yb, predictions) * real)
            return data_loss, penalty, metric_sum, non_trainable

        def run_slice(non_trainable, x, y, row_weights, order, first_step, n_steps, sums):
            """Train steps ``first_step`` .. ``first_step + n_steps - 1`` of the epoch.

            ``sums`` (float64: loss x rows, data loss x rows, metric, rows) carries
            on from the previous slice, so it is added up step by step in the
            same order however the epoch is sliced: the history does not depend
            on the clock.
            """

            def keep_going(step, non_trainable, sums, ok):
                return tf.logical_and(step < first_step + n_steps, ok)

            def one_step(step, non_trainable, sums, ok):
                start = step * batch_size
                rows = tf.slice(order, [start], [batch_size])
                real = tf.cast(start + tf.range(batch_size) < n_rows, "float32")
                xb, yb = tf.gather(x, rows), tf.gather(y, rows)
                trainable = [variable.value for variable in trainable_variables]
                with tf.GradientTape() as tape:
                    tape.watch(trainable)
                    data_loss, penalty, batch_metric, new_non_trainable = forward(
                        trainable, non_trainable, xb, yb, real, tf.gather(row_weights, rows), True
                    )
                    total = data_loss + penalty
                grads = tape.gradient(total, trainable)
                self.optimizer.apply(grads, trainable_variables)
                n_real = tf.reduce_sum(real)
                step_sums = tf.stack([total * n_real, data_loss * n_real, batch_metric, n_real])
                return (
                    step + 1,
                    list(new_non_trainable),
                    sums + tf.cast(step_sums, "float64"),
                    tf.logical_and(ok, tf.math.is_finite(total)),
                )

            _, non_trainable, sums, ok = tf.while_loop(
                keep_going, one_step, (first_step, non_trainable, sums, tf.constant(True))
            )
            return non_trainable, sums, ok

        def evaluate(trainable, non_trainable, x, y, row_weights):
            real = tf.ones((tf.shape(x)[0],), "float32")
            data_loss, penalty, metric_sum, _ = forward(
                trainable, non_trainable, x, y, real, row_weights, False
            )
            return data_loss, penalty, metric_sum

        def read_state():
            return [tf.identity(variable) for variable in self.state_variables]

        self.n_trainable = len(trainable_variables)
        self.state_variables = [*trainable_variables, *self.optimizer.variables]
        self.run_slice = tf.function(run_slice, jit_compile=jit, reduce_retracing=True)
        self.evaluate = tf.function(evaluate, jit_compile=jit, reduce_retracing=True)
        self.read_state = tf.function(read_state)


def _training_network(built: BuiltModel):
    """``built.network`` with every Dropout swapped for one that draws its mask with Threefry.

    Keras's TensorFlow dropout uses the ``auto_select`` random algorithm, which
    XLA on CPU runs about 17x slower than Threefry; with it, one Dropout layer
    made an epoch 15x slower. Dropout has no weights, so the swap changes only
    how the mask is drawn, and the saved model keeps the plain Keras layer.
    """
    import keras

    x = inputs = keras.Input(shape=(built.n_features,))
    for layer in built.stack:
        if isinstance(layer, keras.layers.Dropout):
            layer = _threefry_dropout_class()(layer.rate, seed=layer.seed)
        x = layer(x)
    return keras.Model(inputs, x)


_THREEFRY_DROPOUT = None


def _threefry_dropout_class():
    """Defined on first use, so importing this module does not import Keras."""
    global _THREEFRY_DROPOUT
    if _THREEFRY_DROPOUT is None:
        import keras
        import tensorflow as tf

        class ThreefryDropout(keras.layers.Dropout):
            def call(self, inputs, training=False):
                if not training or self.rate == 0:
                    return inputs
                seed = tf.cast(tf.math.floormod(self.seed_generator.next(), 2**31 - 1), "int32")
                noise = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, alg="threefry")
                return tf.where(noise >= self.rate, inputs / (1 - self.rate), tf.zeros_like(inputs))

        _THREEFRY_DROPOUT = ThreefryDropout
    return _THREEFRY_DROPOUT


@dataclass(frozen=True)
class _Snapshot:
    """Copies of all training state at an epoch boundary: to restore best or last good weights.

    Weights and optimizer slots are read in one compiled call (19 separate
    ``.numpy()`` reads took a millisecond, 2% of a small epoch).
    """

    state: list[object]
    n_trainable: int
    non_trainable: list[object]

    @classmethod
    def take(cls, loop: _CompiledLoop, non_trainable) -> _Snapshot:
        return cls(list(loop.read_state()), loop.n_trainable, list(non_trainable))

    @property
    def trainable(self) -> list[object]:
        return self.state[: self.n_trainable]

    def restore(self, loop: _CompiledLoop) -> None:
        pairs = [
            (loop.state_variables, self.state),
            (loop.network.non_trainable_variables, self.non_trainable),
        ]
        for variables, values in pairs:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)


@dataclass(frozen=True)
class _PendingEpoch:
    """A trained epoch whose validation pass is still running on the helper thread."""

    epoch: int
    train_metrics: dict[str, float]
    train_data_loss: float  # the loss without the L2 penalty
    snapshot: _Snapshot
    validation: Future  # of (validation metrics, validation loss without the L2 penalty)


class TrainingRun:
    """One training run; create it, then call ``run()``.

    The run object keeps its history and best weights as it goes, so if the
    event handler raises (as Streamlit does when the user clicks Stop), the
    best model so far is still written back and available as ``result``.
    """

    def __init__(self, frame: pd.DataFrame, spec: ModelSpec, *, jit: bool = True) -> None:
        spec.validate()
        self.spec = spec
        frame = drop_missing_target(frame, spec.target)
        self.target_info = check_target(frame, spec.target, spec.task)
        check_memory(spec, frame)  # before anything large is made: refuse what cannot fit
        self.splits = split_frame(frame, spec)
        if len(self.splits.train) < 2 or len(self.splits.validation) < 1:
            raise TrainingError(
                f"Only {len(frame)} rows have a target, too few to split into training, "
                "validation and test sets. Add rows, or lower the validation and test splits."
            )
        self.built = build_model(spec, self.splits.train, self.target_info.classes)
        self.class_weights = _class_weights(spec, self.built, self.splits.train)
        self.jit = jit
        self.xla_failure: str | None = None  # why XLA could not compile, if it could not
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.result: TrainingResult | None = None
        self._divergence: str | None = None  # why a finite loss counts as diverged

    def run(
        self,
        on_event: Callable[[EpochEnd | EpochProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainingResult:
        """Train; send events as epochs end; return the result with the kept weights.

        Each epoch's validation pass runs on a helper thread while the next
        epoch trains (TensorFlow runs one intra-op thread, so the second core is
        otherwise idle), from a snapshot of the weights at the epoch's end. An
        epoch is *closed* (history, best weights, ``EpochEnd``, early stopping)
        once its validation is back, at the next slice boundary; training of
        the next epoch is then abandoned if the closed epoch ends the run.
        """
        import tensorflow as tf

        spec, built = self.spec, self.built
        self._started = self._last_event = time.perf_counter()
        self._on_event = on_event
        x_train = tf.constant(preprocess(built, self.splits.train))
        y_train = encode_target(self.splits.train[spec.target], built)
        y_val = encode_target(self.splits.validation[spec.target], built)
        # Validation is weighted as training is, so early stopping and the best epoch
        # follow the loss being minimised.
        w_train = tf.constant(_row_weights(self.class_weights, y_train))
        self._w_val = tf.constant(_row_weights(self.class_weights, y_val))
        y_train = tf.constant(y_train)
        self._x_val = tf.constant(preprocess(built, self.splits.validation))
        self._y_val = tf.constant(y_val)
        self._naive_losses = _naive_losses(built, y_train, self._y_val)
        n_rows = int(x_train.shape[0])
        batch_size = min(spec.batch_size, n_rows)
        self._loop = _CompiledLoop(built, n_rows, batch_size, self.jit)
        non_trainable = [variable.value for variable in self._loop.network.non_trainable_variables]
        self._last_good = _Snapshot.take(self._loop, non_trainable)
        self._best: _Snapshot | None = None
        self._best_loss = math.inf
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="layerlab-validation") as validator:
                reason = self._train(
                    x_train, y_train, w_train, batch_size, non_trainable, validator, should_stop
                )
        except BaseException:
            # The event handler was interrupted (Streamlit does this when a
            # button is clicked): keep the best model so far, then let it go on.
            self._finish("stopped")
            raise
        return self._finish(reason)

    def _train(
        self, x_train, y_train, w_train, batch_size, non_trainable, validator, should_stop
    ) -> str:
        """Run the epochs; return why training ended (a key of ``STOP_REASONS``)."""
        import tensorflow as tf

        spec, loop = self.spec, self._loop
        n_rows = int(x_train.shape[0])
        steps = math.ceil(n_rows / batch_size)
        padding = np.zeros(steps * batch_size - n_rows, dtype="int32")
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
        no_sums = tf.zeros(4, "float64")
        steps_per_slice = min(steps, 32)
        for epoch in range(1, spec.epochs + 1):
            order = tf.constant(np.concatenate([rng.permutation(n_rows), padding]), "int32")
            sums = no_sums
            step = 0
            while step < steps:
                n_steps = min(steps_per_slice, steps - step)
                slice_started = time.perf_counter()
                try:
                    non_trainable, slice_sums, ok = loop.run_slice(
                        non_trainable,
                        x_train,
                        y_train,
                        w_train,
                        order,
                        tf.constant(step),
                        tf.constant(n_steps),
                        sums,
                    )
                except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
                    if not (self.jit and epoch == 1 and step == 0):
                        raise
                    loop = self._fall_back_to_graph(error, n_rows, batch_size, non_trainable)
                    continue
                if not bool(ok):
                    return close_pending(wait=True) or "diverged"
                sums = slice_sums
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
            snapshot = _Snapshot.take(loop, non_trainable)
            reason = close_pending(wait=True)
            if reason is not None:
                return reason
            loss_sum, data_loss_sum, metric_sum, rows = (float(value) for value in sums.numpy())
            pending = _PendingEpoch(
                epoch,
                {"loss": loss_sum / rows, metric: metric_sum / rows},
                data_loss_sum / rows,
                snapshot,
                validator.submit(self._validate, snapshot),
            )
        return close_pending(wait=True) or "completed"

    def _fall_back_to_graph(self, error, n_rows, batch_size, non_trainable) -> _CompiledLoop:
        """XLA could not compile the first slice: run the same loop as a plain TensorFlow graph.

        Nothing has trained yet (compilation comes before the first step), so
        the run starts over with a fresh optimizer and loses nothing but speed.
        """
        self.jit = False
        self.xla_failure = str(error).strip().splitlines()[0][:300]
        self._loop = _CompiledLoop(self.built, n_rows, batch_size, jit=False)
        self._last_good = _Snapshot.take(self._loop, non_trainable)
        return self._loop

    def _validate(self, snapshot: _Snapshot) -> tuple[dict[str, float], float]:
        """Validation loss and metric of the weights in ``snapshot``, and the loss without the
        L2 penalty (runs on the helper thread)."""
        name = main_metric(self.spec.task)
        val_loss = val_metric = penalty = 0.0
        n_val = int(self._x_val.shape[0])
        for start in range(0, n_val, EVAL_BATCH):
            stop = min(start + EVAL_BATCH, n_val)
            data_loss, batch_penalty, batch_metric = self._loop.evaluate(
                snapshot.trainable,
                snapshot.non_trainable,
                self._x_val[start:stop],
                self._y_val[start:stop],
                self._w_val[start:stop],
            )
            val_loss += float(data_loss) * (stop - start)
            val_metric += float(batch_metric)
            penalty = float(batch_penalty)
        metrics = {"val_loss": val_loss / n_val + penalty, f"val_{name}": val_metric / n_val}
        return metrics, val_loss / n_val

    def _close_epoch(self, pending: _PendingEpoch) -> str | None:
        """Record a validated epoch and tell the listener; return a stop reason if it ends the run."""
        validation_metrics, val_data_loss = pending.validation.result()
        metrics = {**pending.train_metrics, **validation_metrics}
        if not math.isfinite(metrics["val_loss"]):
            return "diverged"
        self._divergence = self._explosion(pending.train_data_loss, val_data_loss)
        if self._divergence is not None:
            return "diverged"
        epoch = pending.epoch
        self._last_good = pending.snapshot
        self.history.append({"epoch": epoch, **metrics})
        if metrics["val_loss"] < self._best_loss:
            self._best_loss, self._best, self.best_epoch = (
                metrics["val_loss"],
                pending.snapshot,
                epoch,
            )
        self._send(EpochEnd(epoch, self.spec.epochs, metrics, self._elapsed(), self.best_epoch))
        if self._stop_requested():
            return "stopped"
        if self.spec.early_stopping and epoch - self.best_epoch >= self.spec.patience:
            return "early_stopping"
        return None

    def _explosion(self, train_data_loss: float, val_data_loss: float) -> str | None:
        """Why the epoch's finite loss counts as diverged, or None when it does not.

        A loss can grow to 1e24 without ever overflowing, and the model then predicts
        nonsense while training goes on. The yardstick is the naive answer (always the
        training mean, or the class shares), worth about 1 on the standardized target:
        the loss must be over ``DIVERGENCE_FACTOR`` times that (and over that many
        units) on the training rows and on the validation rows, so one wild outlier
        in validation is not enough. The L2 penalty is left out: a strong one on a
        wide network is large by itself. Cross-entropy is bounded (Keras clips the
        probabilities), so this only ever stops regression; a classifier that
        diverges ends in NaN, which the loop catches.
        """
        naive, factor = self._naive_losses, DIVERGENCE_FACTOR
        if train_data_loss <= factor * max(naive.train, 1.0):
            return None
        if val_data_loss <= factor * max(naive.validation, 1.0):
            return None
        return (
            f"Training stopped because the loss exploded: the validation loss reached "
            f"{val_data_loss:.3g}, over {factor:,} times the {naive.validation:.3g} of "
            f"always predicting {naive.answer}."
        )

    def _send(self, event: EpochEnd | EpochProgress) -> None:
        self._last_event = time.perf_counter()
        if self._on_event is not None:
            self._on_event(event)

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started

    def _finish(self, reason: str) -> TrainingResult:
        """Write the kept weights back into the model and record the outcome (once)."""
        if self.result is not None:
            return self.result
        keep_best = self._best is not None and (
            self.spec.restore_best_weights or reason in ("stopped", "diverged")
        )
        kept = self._best if keep_best else self._last_good
        kept.restore(self._loop)
        kept_epoch = self.best_epoch if keep_best else (len(self.history) or None)
        self.result = TrainingResult(
            built=self.built,
            splits=self.splits,
            history=list(self.history),
            best_epoch=self.best_epoch,
            stop_reason=reason,
            message=self._message(reason, kept_epoch),
            seconds=self._elapsed(),
            engine=_engine_label(self.jit),
            kept_epoch=kept_epoch,
            class_weights=None
            if self.class_weights is None
            else dict(zip(self.built.classes, map(float, self.class_weights), strict=True)),
        )
        return self.result

    def _message(self, reason: str, kept_epoch: int | None) -> str:
        spec = self.spec
        text = STOP_REASONS[reason].format(epochs=spec.epochs, patience=spec.patience)
        if reason == "diverged" and self._divergence is not None:
            text = self._divergence
        if reason == "diverged":
            suggestion = min(spec.learning_rate / 10, DEFAULT_LEARNING_RATES[spec.optimizer])
            text += (
                f" The learning rate {spec.learning_rate:g} is probably too high for "
                f"{spec.optimizer}; try {suggestion:g}."
            )
        if kept_epoch is not None:
            text += f" The weights of epoch {kept_epoch} are kept."
        elif reason in ("diverged", "stopped"):
            text += " No epoch finished, so the model is untrained."
        if self.xla_failure is not None:
            text += (
                " XLA could not compile this network, so it trained on TensorFlow's slower "
                "plain graph path (the same steps, only slower)."
            )
        return text


def _engine_label(jit: bool) -> str:
    return "compiled loop (XLA)" if jit else "compiled loop (graph, no XLA)"


def train(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    on_event: Callable[[EpochEnd | EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Split ``frame``, build the model for ``spec`` and train it.

    If no epoch could finish because the loss diverged at once, raises
    ``TrainingError`` with the suggested fix.
    """
    result = TrainingRun(frame, spec).run(on_event=on_event, should_stop=should_stop)
    if result.stop_reason == "diverged" and result.kept_epoch is None:
        raise TrainingError(result.message)
    return result
