"""Training: seeded splits, a compiled training loop, events, early stopping and Stop.

Why not ``model.fit``? On the small tables analysts bring, ``fit`` spends nearly
all its time on per-step Python overhead. Here the whole epoch (or, for long
epochs, a slice of it) runs as one XLA-compiled ``tf.while_loop`` over shuffled
batch indices, with the data resident as tensors. The loop is *stateless*: the
weights, the optimizer slots, BatchNormalization's moving statistics and
Dropout's seed state are threaded through the loop as values and written back
to the Keras variables only when training ends. Variable writes inside a
compiled loop are what make Dropout and BatchNormalization slow otherwise.

Preprocessing has no trainable weights, so it runs once, before the loop, and
the loop trains only the ``network`` part of the model (see ``build.py``).

What the loop keeps from ``fit``: shuffling every epoch; the last partial batch
(padded with zero-weight rows, so the loss is the mean over real rows); the
same Keras layers, losses and optimizers; per-epoch events with training and
validation metrics; early stopping with restore-best-weights. What it adds: a
divergence guard that keeps the last good weights, and a cooperative stop that
works even when the event handler raises (Streamlit interrupts a run that way).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.build import BuiltModel, as_tensors, build_model, encode_target, model_inputs
from layerlab.data import as_category_text
from layerlab.errors import TrainingError
from layerlab.spec import DEFAULT_LEARNING_RATES, ModelSpec
from layerlab.task import check_target, drop_missing_target

# Long epochs run in slices of about this many seconds, so progress is reported
# and Stop is honoured at least twice a second.
SLICE_SECONDS = 0.25
EVAL_BATCH = 32_768

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
    """Sent during long epochs, so a progress bar can move between epoch ends."""

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


def preprocess(built: BuiltModel, frame: pd.DataFrame) -> np.ndarray:
    """Run the model's preprocessing once: raw columns -> float32 feature matrix."""
    if len(frame) == 0:
        return np.zeros((0, built.n_features), dtype="float32")
    return built.preprocessor.predict(
        as_tensors(model_inputs(frame, built.spec)), batch_size=EVAL_BATCH, verbose=0
    ).astype("float32")


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

        def forward(trainable, non_trainable, xb, yb, weights, training):
            predictions, non_trainable, extra_losses = network.stateless_call(
                trainable, non_trainable, xb, training=training, return_losses=True
            )
            per_row = tf.reshape(loss_fn(yb, predictions), (-1,))
            data_loss = tf.reduce_sum(per_row * weights) / tf.reduce_sum(weights)
            penalty = tf.add_n(extra_losses) if extra_losses else tf.constant(0.0)
            metric_sum = tf.reduce_sum(metric_fn(yb, predictions) * weights)
            return data_loss, penalty, metric_sum, non_trainable

        def run_slice(non_trainable, x, y, order, first_step, n_steps):
            def keep_going(step, non_trainable, loss_sum, metric_sum, count, ok):
                return tf.logical_and(step < first_step + n_steps, ok)

            def one_step(step, non_trainable, loss_sum, metric_sum, count, ok):
                start = step * batch_size
                rows = tf.slice(order, [start], [batch_size])
                weights = tf.cast(start + tf.range(batch_size) < n_rows, "float32")
                xb, yb = tf.gather(x, rows), tf.gather(y, rows)
                trainable = [variable.value for variable in trainable_variables]
                with tf.GradientTape() as tape:
                    tape.watch(trainable)
                    data_loss, penalty, batch_metric, new_non_trainable = forward(
                        trainable, non_trainable, xb, yb, weights, True
                    )
                    total = data_loss + penalty
                grads = tape.gradient(total, trainable)
                self.optimizer.apply(grads, trainable_variables)
                n_real = tf.reduce_sum(weights)
                return (
                    step + 1,
                    list(new_non_trainable),
                    loss_sum + total * n_real,
                    metric_sum + batch_metric,
                    count + n_real,
                    tf.logical_and(ok, tf.math.is_finite(total)),
                )

            zero = tf.constant(0.0)
            _, non_trainable, loss_sum, metric_sum, count, ok = tf.while_loop(
                keep_going,
                one_step,
                (first_step, non_trainable, zero, zero, zero, tf.constant(True)),
            )
            return non_trainable, loss_sum, metric_sum, count, ok

        def evaluate(non_trainable, x, y):
            trainable = [variable.value for variable in trainable_variables]
            weights = tf.ones((tf.shape(x)[0],), "float32")
            data_loss, penalty, metric_sum, _ = forward(
                trainable, non_trainable, x, y, weights, False
            )
            return data_loss, penalty, metric_sum

        self.run_slice = tf.function(run_slice, jit_compile=jit, reduce_retracing=True)
        self.evaluate = tf.function(evaluate, jit_compile=jit, reduce_retracing=True)


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
    """Copies of all training state at an epoch boundary: to restore best or last good weights."""

    trainable: list[np.ndarray]
    non_trainable: list[object]
    optimizer: list[np.ndarray]

    @classmethod
    def take(cls, network, non_trainable, optimizer) -> _Snapshot:
        return cls(
            trainable=[variable.numpy() for variable in network.trainable_variables],
            non_trainable=list(non_trainable),
            optimizer=[variable.numpy() for variable in optimizer.variables],
        )

    def restore(self, network, optimizer) -> None:
        pairs = [
            (network.trainable_variables, self.trainable),
            (network.non_trainable_variables, self.non_trainable),
            (optimizer.variables, self.optimizer),
        ]
        for variables, values in pairs:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)


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
        self.splits = split_frame(frame, spec)
        if len(self.splits.train) < 2 or len(self.splits.validation) < 1:
            raise TrainingError(
                f"Only {len(frame)} rows have a target, too few to split into training, "
                "validation and test sets. Add rows, or lower the validation and test splits."
            )
        self.built = build_model(spec, self.splits.train, self.target_info.classes)
        self.jit = jit
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.result: TrainingResult | None = None

    def run(
        self,
        on_event: Callable[[EpochEnd | EpochProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainingResult:
        import tensorflow as tf

        spec, built = self.spec, self.built
        started = time.perf_counter()
        x_train = tf.constant(preprocess(built, self.splits.train))
        y_train = tf.constant(encode_target(self.splits.train[spec.target], built))
        x_val = tf.constant(preprocess(built, self.splits.validation))
        y_val = tf.constant(encode_target(self.splits.validation[spec.target], built))
        n_rows = int(x_train.shape[0])
        batch_size = min(spec.batch_size, n_rows)
        steps = math.ceil(n_rows / batch_size)
        loop = _CompiledLoop(built, n_rows, batch_size, self.jit)
        self._loop = loop
        network = loop.network

        non_trainable = [variable.value for variable in network.non_trainable_variables]
        self._last_good = _Snapshot.take(network, non_trainable, loop.optimizer)
        self._best: _Snapshot | None = None
        best_loss = math.inf
        rng = np.random.default_rng(spec.seed)
        reason = "completed"
        steps_per_slice = min(steps, 32)
        try:
            for epoch in range(1, spec.epochs + 1):
                padding = np.zeros(steps * batch_size - n_rows, dtype="int32")
                order = tf.constant(np.concatenate([rng.permutation(n_rows), padding]), "int32")
                loss_sum = metric_sum = count = 0.0
                step, last_report = 0, time.perf_counter()
                while step < steps:
                    n_steps = min(steps_per_slice, steps - step)
                    slice_started = time.perf_counter()
                    non_trainable, slice_loss, slice_metric, slice_count, ok = loop.run_slice(
                        non_trainable,
                        x_train,
                        y_train,
                        order,
                        tf.constant(step),
                        tf.constant(n_steps),
                    )
                    if not bool(ok):
                        reason = "diverged"
                        break
                    loss_sum += float(slice_loss)
                    metric_sum += float(slice_metric)
                    count += float(slice_count)
                    step += n_steps
                    if epoch > 1 or step > n_steps:  # the very first slice includes compilation
                        per_step = max((time.perf_counter() - slice_started) / n_steps, 1e-6)
                        steps_per_slice = max(1, min(steps, int(SLICE_SECONDS / per_step)))
                    if should_stop is not None and should_stop():
                        reason = "stopped"
                        break
                    now = time.perf_counter()
                    if step < steps and on_event is not None and now - last_report >= SLICE_SECONDS:
                        last_report = now
                        on_event(EpochProgress(epoch, spec.epochs, step / steps, now - started))
                if reason != "completed":
                    break
                metrics = self._epoch_metrics(
                    non_trainable, loss_sum, metric_sum, count, x_val, y_val
                )
                if not math.isfinite(metrics["val_loss"]):
                    reason = "diverged"
                    break
                self._last_good = _Snapshot.take(network, non_trainable, loop.optimizer)
                self.history.append({"epoch": epoch, **metrics})
                if metrics["val_loss"] < best_loss:
                    best_loss, self._best, self.best_epoch = (
                        metrics["val_loss"],
                        self._last_good,
                        epoch,
                    )
                if on_event is not None:
                    elapsed = time.perf_counter() - started
                    on_event(EpochEnd(epoch, spec.epochs, metrics, elapsed, self.best_epoch))
                if should_stop is not None and should_stop():
                    reason = "stopped"
                    break
                if spec.early_stopping and epoch - self.best_epoch >= spec.patience:
                    reason = "early_stopping"
                    break
        except BaseException:
            # The event handler was interrupted (Streamlit does this when a
            # button is clicked): keep the best model so far, then let it go on.
            self._finish("stopped", started)
            raise
        return self._finish(reason, started)

    def _epoch_metrics(self, non_trainable, loss_sum, metric_sum, count, x_val, y_val):
        name = main_metric(self.spec.task)
        val_loss = val_metric = penalty = 0.0
        n_val = int(x_val.shape[0])
        for start in range(0, n_val, EVAL_BATCH):
            stop = min(start + EVAL_BATCH, n_val)
            data_loss, batch_penalty, batch_metric = self._loop.evaluate(
                non_trainable, x_val[start:stop], y_val[start:stop]
            )
            val_loss += float(data_loss) * (stop - start)
            val_metric += float(batch_metric)
            penalty = float(batch_penalty)
        return {
            "loss": loss_sum / count,
            name: metric_sum / count,
            "val_loss": val_loss / n_val + penalty,
            f"val_{name}": val_metric / n_val,
        }

    def _finish(self, reason: str, started: float) -> TrainingResult:
        """Write the kept weights back into the model and record the outcome (once)."""
        if self.result is not None:
            return self.result
        keep_best = self._best is not None and (
            self.spec.restore_best_weights or reason in ("stopped", "diverged")
        )
        kept = self._best if keep_best else self._last_good
        kept.restore(self._loop.network, self._loop.optimizer)
        kept_epoch = self.best_epoch if keep_best else (len(self.history) or None)
        self.result = TrainingResult(
            built=self.built,
            splits=self.splits,
            history=list(self.history),
            best_epoch=self.best_epoch,
            stop_reason=reason,
            message=self._message(reason, kept_epoch),
            seconds=time.perf_counter() - started,
            engine=_engine_label(self.jit),
            kept_epoch=kept_epoch,
        )
        return self.result

    def _message(self, reason: str, kept_epoch: int | None) -> str:
        spec = self.spec
        text = STOP_REASONS[reason].format(epochs=spec.epochs, patience=spec.patience)
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
