"""The engine: the arithmetic of training, behind the few calls a training run makes.

A run (``train.py``) decides when to train, for how long, what to keep and what
to tell; an engine does the steps. ``Engine`` names what a run needs, so
another engine can plug in; ``CompiledLoopEngine`` is the one there is.

Why not ``model.fit``? On the small tables analysts bring, ``fit`` spends nearly
all its time on per-step overhead. Here a slice of an epoch runs as one
XLA-compiled ``tf.while_loop`` over shuffled batch indices, with the data
resident as tensors. The Keras optimizer updates the weights in place, as in a
hand-written Keras loop; BatchNormalization's moving statistics and Dropout's
seed state are threaded through the loop as values (``stateless_call``).
Dropout draws its masks with Threefry, because Keras's default random algorithm
is about 17x slower under XLA on CPU (see ``_training_network``).

What the loop keeps from ``fit``: the last partial batch (padded with
zero-weight rows, so the loss is the mean over real rows); the same Keras
layers, losses and optimizers; class weights as ``fit(class_weight=...)``
applies them. The epoch's sums are carried from slice to slice inside the loop,
so they are added in the same order however the clock slices the epoch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from layerlab.model.build import BuiltModel
from layerlab.schema.encoding import EVAL_BATCH
from layerlab.schema.spec import BETA_2_OPTIMIZERS, ModelSpec
from layerlab.schema.vocabulary import Task


@dataclass(frozen=True)
class Scores:
    """Means over the rows of an epoch's training or of a validation pass."""

    loss: float  # what is minimised: the data loss plus the L2 penalty
    data_loss: float  # the loss without the L2 penalty
    metric: float  # accuracy for classes, MAE in the target's units for numbers


class Engine(Protocol):
    """What a training run needs from whatever does the arithmetic.

    Snapshots are the engine's own objects; a run only keeps them and hands
    them back. ``evaluate`` may be called from another thread while the next
    slice trains, so it must read the weights from the snapshot it is given.
    """

    steps_per_epoch: int
    untrained: object  # a snapshot of the state before the first step
    xla_failure: str | None  # why XLA could not compile, if it could not

    @property
    def label(self) -> str:
        """How results name the engine."""

    def warm(self) -> None:
        """Compile now whatever the first epoch will run, changing no state (see
        ``TrainingRun.prepare``)."""

    def start_epoch(self, order: np.ndarray) -> None:
        """Begin an epoch over the training rows in ``order`` (a permutation of their indices)."""

    def train_slice(self, first_step: int, n_steps: int) -> bool:
        """Train steps ``first_step`` .. ``first_step + n_steps - 1``; False if the loss was
        not finite."""

    def epoch_scores(self) -> Scores:
        """The training scores of the epoch trained so far."""

    def set_learning_rate(self, rate: float) -> None:
        """The optimizer's constant learning rate from the next step on."""

    def snapshot(self) -> object:
        """Copies of all training state now (weights, optimizer, moving statistics)."""

    def restore(self, snapshot: object) -> None:
        """Put all training state back to ``snapshot``."""

    def evaluate(self, snapshot: object) -> Scores:
        """Validation scores of the weights in ``snapshot``."""

    def holding(self, snapshot: object) -> contextlib.AbstractContextManager[None]:
        """For the ``with`` block, the model's weights are those of ``snapshot`` (to save
        them); then they are put back."""


# The cosine schedule warms up over this share of the planned steps (at least one step).
WARMUP_SHARE = 0.05


def make_optimizer(spec: ModelSpec, steps_per_epoch: int = 1):
    """The Keras optimizer the spec asks for, with its learning-rate schedule.

    ``steps_per_epoch`` sizes the cosine schedule: it warms up linearly from 0 over the
    first ``WARMUP_SHARE`` of ``spec.epochs`` epochs' steps, then decays to 0 at the last.
    """
    import keras

    kwargs = {"learning_rate": learning_rate_schedule(spec, steps_per_epoch)}
    if spec.optimizer == "sgd":
        kwargs["momentum"] = spec.momentum
    if spec.optimizer in BETA_2_OPTIMIZERS:
        kwargs["beta_2"] = spec.beta_2
    if spec.weight_decay or spec.optimizer == "adamw":  # AdamW's own default is 0.004
        kwargs["weight_decay"] = spec.weight_decay
    return keras.optimizers.get({"class_name": spec.optimizer, "config": kwargs})


def learning_rate_schedule(spec: ModelSpec, steps_per_epoch: int = 1):
    """The spec's learning rate: a float, or a Keras ``CosineDecay`` with warm-up."""
    if spec.lr_schedule == "constant":
        return spec.learning_rate
    import keras

    total = max(int(spec.epochs * steps_per_epoch), 2)
    warmup = max(round(WARMUP_SHARE * total), 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total - warmup,
        warmup_target=spec.learning_rate,
        warmup_steps=warmup,
    )


def per_sample_loss(spec: ModelSpec, training: bool = False):
    """The loss per row, as ``model.fit`` would compute it for this spec.

    With ``training`` the labels are smoothed by ``spec.label_smoothing``, as Keras's
    ``label_smoothing`` argument does; what is reported and early-stopped on is the plain loss.
    """
    import keras
    from keras import ops

    _, loss = spec.resolved_output()
    smoothing = spec.label_smoothing if training else 0.0
    if loss == "categorical_crossentropy":
        if not smoothing:
            return keras.losses.sparse_categorical_crossentropy

        def smoothed(y, p):
            # Cross-entropy with the label (1 - s) one-hot + s / K: its share on the true class
            # plus s times the mean of -log p over all K classes.
            plain = keras.losses.sparse_categorical_crossentropy(y, p)
            spread = -ops.mean(ops.log(ops.clip(p, 1e-7, 1.0)), axis=-1)
            return (1.0 - smoothing) * plain + smoothing * spread

        return smoothed
    if loss == "binary_crossentropy" and smoothing:
        return lambda y, p: keras.losses.binary_crossentropy(y, p, label_smoothing=smoothing)
    return {
        "mse": keras.losses.mean_squared_error,
        "mae": keras.losses.mean_absolute_error,
        "huber": keras.losses.huber,
        "binary_crossentropy": keras.losses.binary_crossentropy,
    }[loss]


def per_sample_metric(built: BuiltModel):
    """Accuracy (0/1 per row) for classes, absolute error in the target's units for numbers."""
    from keras import ops

    spec = built.spec
    if spec.task == Task.REGRESSION:
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


class CompiledLoopEngine:
    """The compiled loop as an ``Engine``: the data resident as tensors, the epoch's state
    (row order, moving statistics, sums) carried from slice to slice.

    When XLA cannot compile the first slice, the same loop runs as a plain
    TensorFlow graph: nothing has trained yet (compilation comes before the
    first step), so the run starts over with a fresh optimizer and loses
    nothing but speed.
    """

    def __init__(
        self,
        built: BuiltModel,
        train: tuple[object, object, object],
        validation: tuple[object, object, object],
        batch_size: int,
        *,
        jit: bool,
    ) -> None:
        """``train`` and ``validation``: (features, targets, row weights) as tensors."""
        import tensorflow as tf

        self.built = built
        self._x, self._y, self._row_weights = train
        self._x_val, self._y_val, self._w_val = validation
        self.n_rows = int(self._x.shape[0])
        self.batch_size = batch_size
        self.steps_per_epoch = math.ceil(self.n_rows / batch_size)
        self._padding = np.zeros(self.steps_per_epoch * batch_size - self.n_rows, dtype="int32")
        self.jit = jit
        self.xla_failure: str | None = None
        self._loop = _CompiledLoop(built, self.n_rows, batch_size, jit)
        self._non_trainable = [
            variable.value for variable in self._loop.network.non_trainable_variables
        ]
        self.untrained = _Snapshot.take(self._loop, self._non_trainable)
        self._trained_once = False
        self._no_sums = tf.zeros(4, "float64")
        self._order = None
        self._sums = self._no_sums

    @property
    def label(self) -> str:
        return "compiled loop (XLA)" if self.jit else "compiled loop (graph, no XLA)"

    def warm(self) -> None:
        """Trace and XLA-compile the slice and the validation pass by running them as they
        will run, on the same shapes, with no step to take: a slice of zero steps leaves
        every weight, optimizer slot, moving statistic and dropout seed as it was, and a
        validation pass changes nothing. What XLA cannot compile falls back to the graph
        here, as it would at the first slice."""
        import tensorflow as tf

        order = tf.zeros(self.steps_per_epoch * self.batch_size, "int32")
        try:
            self._loop.run_slice(
                self._non_trainable,
                self._x,
                self._y,
                self._row_weights,
                order,
                tf.constant(0),
                tf.constant(0),
                self._no_sums,
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
            if not self.jit or self._trained_once:
                raise
            self._fall_back_to_graph(error)
            return self.warm()
        self.evaluate(self.untrained)

    def start_epoch(self, order: np.ndarray) -> None:
        import tensorflow as tf

        self._order = tf.constant(np.concatenate([order, self._padding]), "int32")
        self._sums = self._no_sums

    def train_slice(self, first_step: int, n_steps: int) -> bool:
        import tensorflow as tf

        try:
            non_trainable, sums, ok = self._loop.run_slice(
                self._non_trainable,
                self._x,
                self._y,
                self._row_weights,
                self._order,
                tf.constant(first_step),
                tf.constant(n_steps),
                self._sums,
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
            if not self.jit or self._trained_once:
                raise
            self._fall_back_to_graph(error)
            return self.train_slice(first_step, n_steps)
        self._trained_once = True
        self._non_trainable = non_trainable
        if not bool(ok):
            return False
        self._sums = sums
        return True

    def _fall_back_to_graph(self, error: Exception) -> None:
        self.jit = False
        self.xla_failure = str(error).strip().splitlines()[0][:300]
        self._loop = _CompiledLoop(self.built, self.n_rows, self.batch_size, jit=False)
        self.untrained = _Snapshot.take(self._loop, self._non_trainable)

    def epoch_scores(self) -> Scores:
        loss_sum, data_loss_sum, metric_sum, rows = (float(value) for value in self._sums.numpy())
        return Scores(loss_sum / rows, data_loss_sum / rows, metric_sum / rows)

    def set_learning_rate(self, rate: float) -> None:
        # A variable the compiled slice reads at each step (a constant rate; see
        # ``learning_rate_schedule``), so nothing is compiled again; snapshots carry it with
        # the optimizer's other variables.
        self._loop.optimizer.learning_rate = rate

    def snapshot(self) -> _Snapshot:
        return _Snapshot.take(self._loop, self._non_trainable)

    def restore(self, snapshot: _Snapshot) -> None:
        snapshot.restore(self._loop)

    def evaluate(self, snapshot: _Snapshot) -> Scores:
        loss = metric = penalty = 0.0
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
            loss += float(data_loss) * (stop - start)
            metric += float(batch_metric)
            penalty = float(batch_penalty)
        return Scores(loss / n_val + penalty, loss / n_val, metric / n_val)

    @contextlib.contextmanager
    def holding(self, snapshot: _Snapshot) -> Iterator[None]:
        """Only the model's weights change, between slices, while the loop is idle.

        Training reads the trainable weights from their variables (put back
        exactly, below) and carries the moving statistics as values, and
        ``evaluate`` reads only its snapshot, so neither sees the swap.
        """
        import tensorflow as tf

        network = self._loop.network
        variables = [*network.trainable_variables, *network.non_trainable_variables]
        current = [tf.identity(variable.value) for variable in variables]
        _assign(variables, [*snapshot.trainable, *snapshot.non_trainable])
        try:
            yield
        finally:
            _assign(variables, current)


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


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

        self.network = network = _training_network(built, jit)
        trainable_variables = network.trainable_variables
        self.optimizer = make_optimizer(built.spec, steps_per_epoch=-(-n_rows // batch_size))
        _sum_gradients_locally(self.optimizer)
        self.optimizer.build(trainable_variables)
        loss_fn = per_sample_loss(built.spec)
        training_loss_fn = per_sample_loss(built.spec, training=True)
        members = built.spec.ensemble
        metric_fn = per_sample_metric(built)

        def forward(trainable, non_trainable, xb, yb, real, row_weights, training):
            """``real`` is 1 for a real row, 0 for padding; ``row_weights`` the class weights.

            As ``fit`` does with class weights, the loss is the weighted sum over the
            batch divided by its rows (not by the sum of the weights), so a batch
            without a rare row still counts the common class at its lower weight.
            """
            predictions, non_trainable, extra_losses = network.stateless_call(
                trainable, non_trainable, xb, training=training, return_losses=True
            )
            weights = real * row_weights

            def mean_loss(fn, p):
                return tf.reduce_sum(tf.reshape(fn(yb, p), (-1,)) * weights) / tf.reduce_sum(real)

            # An ensemble's members sit side by side: each trains on its own loss (their
            # mean), while what is reported is the loss of their average, the model's output.
            parts = tf.split(predictions, members, axis=-1) if members > 1 else [predictions]
            predictions = tf.add_n(parts) / members if members > 1 else predictions
            data_loss = mean_loss(loss_fn, predictions)
            objective = data_loss
            if training and (members > 1 or training_loss_fn is not loss_fn):
                objective = tf.add_n([mean_loss(training_loss_fn, p) for p in parts]) / members
            penalty = tf.add_n(extra_losses) if extra_losses else tf.constant(0.0)
            metric_sum = tf.reduce_sum(metric_fn(yb, predictions) * real)
            return data_loss, objective, penalty, metric_sum, non_trainable

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
                    data_loss, objective, penalty, batch_metric, new_non_trainable = forward(
                        trainable, non_trainable, xb, yb, real, tf.gather(row_weights, rows), True
                    )
                    total = data_loss + penalty  # what the history reports
                    minimised = objective + penalty
                grads = tape.gradient(minimised, trainable)
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
            data_loss, _, penalty, metric_sum, _ = forward(
                trainable, non_trainable, x, y, real, row_weights, False
            )
            return data_loss, penalty, metric_sum

        def read_state():
            return [tf.identity(variable) for variable in self.state_variables]

        self.n_trainable = len(trainable_variables)
        self.state_variables = [*trainable_variables, *self.optimizer.variables]
        # No AutoGraph: the loop is an explicit ``tf.while_loop`` and every Python ``if`` here
        # (and in Keras, which turns it off for its own steps) is on Python values. Converting
        # the code first took 0.3-0.4 s of each new run's compilation, for nothing.
        compiled = {"jit_compile": jit, "reduce_retracing": True, "autograph": False}
        self.run_slice = tf.function(run_slice, **compiled)
        self.evaluate = tf.function(evaluate, **compiled)
        self.read_state = tf.function(read_state, autograph=False)


def _sum_gradients_locally(optimizer) -> None:
    """Skip the cross-replica sum of gradients in ``optimizer.apply``.

    Keras's TensorFlow optimizer sums the gradients over replicas with
    ``tf.distribute``'s all-reduce, which inside a ``tf.function`` registers a
    custom gradient in TensorFlow's process-wide gradient registry at every trace
    and never removes it; the registered function keeps the whole traced loop
    alive. Each trained network so stayed in memory for the life of the process
    (a worker grew about 7 MB per search trial). The loop runs on one device,
    where the sum over the one replica is the gradients as they are.
    """
    if hasattr(optimizer, "_all_reduce_sum_gradients"):
        optimizer._all_reduce_sum_gradients = list


def _training_network(built: BuiltModel, jit: bool = True):
    """``built.network`` with every Dropout swapped for one that draws its mask with Threefry
    (under XLA) or Philox (the plain graph loop).

    Keras's TensorFlow dropout uses the ``auto_select`` random algorithm, which
    XLA on CPU runs about 17x slower than Threefry; with it, one Dropout layer
    made an epoch 15x slower. TensorFlow's own CPU kernel has no Threefry (it
    refuses the seed: "counter must be a vector with length at least 2"), so
    without XLA the mask is drawn with Philox. Dropout has no weights, so the
    swap changes only how the mask is drawn, and the saved model keeps the plain
    Keras layer.
    """
    import keras

    inputs = keras.Input(shape=(built.n_features,))
    outputs = []
    for stack in built.members or (built.stack,):
        x = inputs
        for layer in stack:
            if isinstance(layer, keras.layers.Dropout):
                layer = _threefry_dropout_class()(layer.rate, seed=layer.seed)
                layer.algorithm = "threefry" if jit else "philox"
            x = layer(x)
        outputs.append(x)
    return keras.Model(
        inputs, outputs[0] if len(outputs) == 1 else keras.layers.Concatenate()(outputs)
    )


_THREEFRY_DROPOUT = None


def _threefry_dropout_class():
    """Defined on first use, so importing this module does not import Keras."""
    global _THREEFRY_DROPOUT
    if _THREEFRY_DROPOUT is None:
        import keras
        import tensorflow as tf

        class ThreefryDropout(keras.layers.Dropout):
            algorithm = "threefry"

            def call(self, inputs, training=False):
                if not training or self.rate == 0:
                    return inputs
                seed = tf.cast(tf.math.floormod(self.seed_generator.next(), 2**31 - 1), "int32")
                noise = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, alg=self.algorithm)
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
        _assign(loop.state_variables, self.state)
        _assign(loop.network.non_trainable_variables, self.non_trainable)
