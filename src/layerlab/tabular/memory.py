"""How much memory a training run needs, and a refusal with a smaller network when it will not fit.

The estimate is arithmetic on the spec and the table, done before anything is
built: the Model page can show it beside the parameter count, and a run that
would take the server down is refused before it starts. It follows what
``train.py`` holds at each phase of a run, and what ``jobs.keep_files`` holds
after it, while the run is scored against its baselines (see ``_estimate``). The constants
below were fitted to peaks measured with ``python -m bench.memory``, which checks
the estimate against five networks of different shapes (``bench/MEMORY.md``).

Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.schema.encoding import EVAL_BATCH, MAX_CATEGORIES, piecewise_bins
from layerlab.schema.errors import LayerlabError, TrainingError
from layerlab.schema.machine_memory import BUDGET_VARIABLE, budget_is_the_machines
from layerlab.schema.spec import LayerSpec, ModelSpec
from layerlab.schema.vocabulary import FeatureKind, LayerKind, Task
from layerlab.tabular.values import as_numeric

# Streamlit Community Cloud gives an app 2.7 GB for all its visitors together.
# The server takes about 300 MB and each training worker about 500 MB for
# TensorFlow itself before any run, so two workers leave about 1.4 GB for two
# runs at once: 600 MB for one run's own needs keeps both under the limit with
# room for the sessions' tables.
DEFAULT_BUDGET_MB = 600
MB = 1_000_000

FLOAT = 4  # bytes: every tensor the trainer holds is float32

# Optimizer slots per trainable weight, as Keras keeps them. RMSprop keeps a
# second slot only with momentum, which train.py never passes to it; SGD keeps
# one with momentum.
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "nadam": 2, "rmsprop": 1, "adagrad": 1, "sgd": 1}

# Copies of all weights and optimizer slots alive while an epoch trains, once the
# validation loss has stopped improving: the last good epoch, the best epoch,
# and the epoch whose validation still runs. (While it improves, the best is
# the last good one: measured 2 copies, not 3.) A fourth, taken at an epoch's
# end before the pending one closes, would need a validation pass slower than a
# whole epoch of training; it is forward only, on a third of the rows.
SNAPSHOTS = 3
# Per trainable weight during a step: its gradient and the update's temporaries
# (measured 1.8 copies, with SGD and with Adam alike).
GRADIENT_COPIES = 2
# Floats per hidden unit and batch row in a training step. XLA fuses each
# activation into its layer and reuses the backward pass's buffers: measured
# 1.4 to 1.5 with batches of 2,048 to 8,192 rows.
ACTIVATION_COPIES = 1.5
# Copies of a chunk's features alive while ``train.preprocess`` makes it: the
# one-hot columns, their concatenation, its NumPy copy, TensorFlow's temporaries.
PREPROCESS_COPIES = 4
# Copies of the raw table while the splits are made: the rows that have a
# target, and the splits themselves.
SPLIT_COPIES = 2
# What compiling the training and validation programs with XLA leaves resident,
# whatever the widths: a base, and an amount per layer that grows with the ops in
# it (BatchNormalization threads its statistics through the loop, Dropout draws
# a mask). Measured with 1 to 31 layers of 64 units.
RUN_OVERHEAD = 33 * MB
LAYER_OVERHEAD = {"dense": 3 * MB, "dropout": 6 * MB, "batch_norm": 12 * MB}

# After training, ``evaluate`` fits the baselines one after the other (``_evaluation``).
# Gradient boosting (``boosting.py``) holds, per raw cell of the training and test rows,
# the float64 frame ``boosting_frames`` makes, scikit-learn's float64 array of it, and the
# uint8 bins; beyond 10,000 training rows its early-stopping split copies the array once
# more.
BOOSTING_CELL_BYTES = 8 + 8 + 1
BOOSTING_SPLIT_ROWS = 10_000
# ... and per raw column, its histograms: 256 bins of 20 bytes for each node whose
# histograms a tree keeps at once (measured: about 24 of the 61 nodes of 31 leaves).
BOOSTING_COLUMN_BYTES = 20 * 256 * 24
# The linear baseline on the model's inputs: for numbers, scikit-learn's least squares
# works on a float64 copy of the training matrix, centred, and LAPACK's own copy of it;
# logistic regression reads the float32 matrix as it is.
LINEAR_REGRESSION_COPIES = 2
# Permutation importance: the test rows' inputs (at most ``importance.MAX_ROWS`` rows)
# and a call's shuffled copies (``importance.CHUNK_CELLS`` float32) with their outputs.
IMPORTANCE_ROWS = 2_000
IMPORTANCE_CHUNK_CELLS = 2_000_000  # importance.CHUNK_CELLS
IMPORTANCE_REPEATS = 5  # importance's shuffles per column

# A suggestion keeps at least this many units per layer, rows per batch and rows.
MIN_UNITS = 8
MIN_BATCH_SIZE = 32
MIN_ROWS = 1_000


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training run needs at its peak, beyond the worker's own TensorFlow.

    The parts are what is held at the peak, which comes in one of three phases
    (``phase``): ``"splitting"`` the table, ``"preprocessing"`` it, or
    ``"training"``. Parts that are not alive then are 0; the parts add up to
    ``total``.

    - ``weights``: every weight of the network as float32.
    - ``optimizer_state``: the optimizer's slots per trainable weight.
    - ``gradients``: a step's gradients and the update's temporaries.
    - ``snapshots``: the copies of weights and optimizer state the trainer keeps
      (last good, best, and the epoch being validated).
    - ``batch_activations``: a training step's layer outputs and their gradients.
    - ``evaluation_activations``: the validation pass over one chunk of rows.
    - ``resident_data``: the raw table's copies and splits, and the preprocessed
      float32 matrices of the training and validation rows.
    - ``overhead``: the compiled XLA programs for this network.
    - ``evaluation``: after training (phase ``"evaluation"``), the largest of what
      the test scores and baselines need at once: gradient boosting's copies of the
      raw columns and its histograms, the linear baseline's design matrix,
      importance's shuffled copies, the bootstrap's draws.
    """

    weights: int
    optimizer_state: int
    gradients: int
    snapshots: int
    batch_activations: int
    evaluation_activations: int
    resident_data: int
    overhead: int
    evaluation: int
    phase: str
    parameters: int
    rows: int
    n_features: int

    @property
    def total(self) -> int:
        return sum(self.parts().values())

    def parts(self) -> dict[str, int]:
        """The parts in bytes, by name, in the order above."""
        return {name: getattr(self, name) for name in PART_NAMES}

    def describe(self) -> str:
        """``about 340 MB``: the total, for people."""
        return f"about {format_bytes(self.total)}"


PART_NAMES = (
    "weights",
    "optimizer_state",
    "gradients",
    "snapshots",
    "batch_activations",
    "evaluation_activations",
    "resident_data",
    "overhead",
    "evaluation",
)


def format_bytes(n: float) -> str:
    """``512 bytes``, ``4.5 MB``, ``340 MB``, ``1.2 GB``, ``1,234 GB``: decimal units, for people."""
    n = max(float(n), 0.0)
    units = (("kB", 1e3), ("MB", 1e6), ("GB", 1e9))
    if n < 1e3:
        return f"{round(n):,} bytes"
    index = max(i for i, (_, size) in enumerate(units) if n >= size)
    while True:
        unit, size = units[index]
        value = n / size
        text = f"{value:.1f}".removesuffix(".0") if value < 9.95 else f"{round(value):,}"
        if text.replace(",", "") != "1000" or index == len(units) - 1:
            return f"{text} {unit}"
        index += 1  # 999.7 MB reads as 1 GB, not 1,000 MB


# ------------------------------------------------------------------- the table
@dataclass(frozen=True)
class _Table:
    """What the estimate needs from the table: its sizes, not its values."""

    rows: int  # rows with a target
    n_features: int  # columns of the preprocessed feature matrix
    n_outputs: int  # units of the output layer
    frame_bytes: int  # one copy of the raw table
    n_columns: int = 1  # raw feature columns (what gradient boosting reads)

    def with_rows(self, rows: int) -> _Table:
        share = rows / max(self.rows, 1)
        return _Table(
            rows, self.n_features, self.n_outputs, int(self.frame_bytes * share), self.n_columns
        )


def _feature_width(values: pd.Series, kind: str, spec: ModelSpec) -> int:
    """Columns that build.py encodes this feature into."""
    if kind == FeatureKind.NUMERIC:
        numbers = as_numeric(values)
        finite = np.isfinite(numbers)
        width = 1 if finite.all() else 2  # the scaled value, and a missing-value flag
        if spec.numeric_embedding == "piecewise":
            width += piecewise_bins(len(np.unique(numbers[finite])))
        return width
    if kind == FeatureKind.CATEGORICAL:
        # The kept categories (missing, "", among them) and the out-of-vocabulary slot.
        return min(int(values.nunique(dropna=False)), MAX_CATEGORIES) + 1
    return 1


def _describe_table(spec: ModelSpec, frame: pd.DataFrame) -> _Table:
    target = frame[spec.target] if spec.target in frame else pd.Series(dtype=float)
    has_target = target.notna()
    n_features = sum(
        _feature_width(frame[feature.name], feature.kind, spec)
        for feature in spec.features
        if feature.name in frame
    )
    activation, _ = spec.resolved_output()
    n_outputs = max(int(target[has_target].nunique()), 2) if activation == "softmax" else 1
    return _Table(
        rows=int(has_target.sum()),
        n_features=max(n_features, 1),
        n_outputs=n_outputs,
        frame_bytes=int(frame.memory_usage(deep=True, index=True).sum()),
        n_columns=max(sum(feature.name in frame for feature in spec.features), 1),
    )


# -------------------------------------------------------------- the arithmetic
def _split_rows(spec: ModelSpec, rows: int) -> tuple[int, int]:
    """Training and validation rows, rounded as scikit-learn's ``train_test_split`` does."""
    test = math.ceil(rows * spec.test_split)
    rest = rows - test
    validation = math.ceil(rest * spec.validation_split / (1 - spec.test_split))
    return max(rest - validation, 0), validation


def _parameters(layers: list[LayerSpec], n_features: int, n_outputs: int) -> tuple[int, int]:
    """(trainable, non-trainable) weights of the hidden layers and the output layer."""
    width, trainable, frozen = n_features, 0, 0
    for layer in layers:
        held, fixed, width = layer.weights(width)
        trainable, frozen = trainable + held, frozen + fixed
    trainable += width * n_outputs + n_outputs
    return trainable, frozen


def _optimizer_slots(spec: ModelSpec) -> int:
    if spec.optimizer == "sgd" and not spec.momentum:
        return 0
    return OPTIMIZER_SLOTS.get(spec.optimizer, 2)


def _estimate(spec: ModelSpec, table: _Table) -> MemoryEstimate:
    """The parts held at the largest of a run's four phases.

    1. Splitting: copies of the raw table.
    2. Preprocessing: the splits, the new weights, and a split's feature matrix
       while it is made in chunks, then joined (two copies at once).
    3. Training: the splits, the float32 features, weights, optimizer slots,
       snapshots, a step's gradients and activations, a validation chunk (on
       the helper thread, at the same time), and the compiled programs.
    4. Evaluation: the splits and features still held, the weights and programs,
       and the largest of the baselines' and insights' needs (``_evaluation``).
    """
    n_train, n_val = _split_rows(spec, table.rows)
    batch = max(min(spec.batch_size, n_train), 1)
    trainable, frozen = _parameters(spec.layers, table.n_features, table.n_outputs)
    trainable, frozen = trainable * spec.ensemble, frozen * spec.ensemble
    slots = _optimizer_slots(spec)
    snapshot = FLOAT * (trainable * (1 + slots) + frozen)
    row = FLOAT * table.n_features

    widths = [table.n_features]
    for layer in spec.layers:
        widths.append(layer.weights(widths[-1])[2])
    widths.append(table.n_outputs)
    # The gathered batch (and its gradient), then every layer's output and its gradient.
    activations = ACTIVATION_COPIES * sum(widths[1:]) * spec.ensemble
    step = int(FLOAT * batch * (2 * table.n_features + activations))
    # A validation chunk's rows, and two layers' outputs at a time.
    validation = FLOAT * min(EVAL_BATCH, n_val) * (table.n_features + 2 * max(widths[1:]))

    def making(rows: int) -> int:
        """Peak bytes of one split's feature matrix while ``preprocess`` makes it."""
        return row * max(rows + (PREPROCESS_COPIES - 1) * min(EVAL_BATCH, rows), 2 * rows)

    preprocessing = max(making(n_train), row * n_train + making(n_val))
    resident = table.frame_bytes + (row + FLOAT) * (n_train + n_val)  # with the targets
    weights = FLOAT * (trainable + frozen)
    optimizer_state = FLOAT * trainable * slots
    overhead = RUN_OVERHEAD + LAYER_OVERHEAD["dense"]  # the output layer's
    overhead += sum(LAYER_OVERHEAD[layer.kind] for layer in spec.layers)
    phases = {
        "splitting": dict(resident_data=SPLIT_COPIES * table.frame_bytes),
        "preprocessing": dict(resident_data=table.frame_bytes + preprocessing, weights=weights),
        "training": dict(
            resident_data=resident,
            weights=weights,
            optimizer_state=optimizer_state,
            gradients=FLOAT * trainable * GRADIENT_COPIES,
            snapshots=SNAPSHOTS * snapshot,
            batch_activations=step,
            evaluation_activations=validation,
            overhead=overhead,
        ),
        "evaluation": dict(
            resident_data=resident,
            weights=weights,
            optimizer_state=optimizer_state,
            overhead=overhead,
            evaluation=_evaluation(spec, table, n_train, table.rows - n_train - n_val),
        ),
    }
    phase = max(phases, key=lambda name: sum(phases[name].values()))
    return MemoryEstimate(
        **{**dict.fromkeys(PART_NAMES, 0), **phases[phase]},
        phase=phase,
        parameters=trainable + frozen,
        rows=table.rows,
        n_features=table.n_features,
    )


def _evaluation(spec: ModelSpec, table: _Table, n_train: int, n_test: int) -> int:
    """Bytes the largest step after training adds: ``evaluate`` fits gradient boosting,
    then the linear baseline; importance and the bootstrap follow (``jobs.keep_files``).

    Gradient boosting reads the raw columns, so a wide table of numbers costs it more
    than the network's float32 inputs do: 12,000 x 2,000 numbers, 600 MB at its peak.
    """
    row = FLOAT * table.n_features
    cells = table.n_columns * (n_train + n_test)
    boosting = cells * BOOSTING_CELL_BYTES + table.n_columns * BOOSTING_COLUMN_BYTES
    if n_train > BOOSTING_SPLIT_ROWS:
        boosting += 8 * table.n_columns * n_train
    linear = row * n_test  # the test rows' inputs
    if spec.task == Task.REGRESSION:
        linear += LINEAR_REGRESSION_COPIES * 2 * row * n_train  # float64: twice float32
    # The shuffled copies predicted at once (and their copy on the way in): at most a chunk,
    # and no more than every column's shuffles of the sampled rows together.
    judged = min(n_test, IMPORTANCE_ROWS)
    copies = min(
        IMPORTANCE_CHUNK_CELLS, judged * table.n_features * table.n_columns * IMPORTANCE_REPEATS
    )
    importance = row * judged + 2 * FLOAT * copies
    bootstrap = 3 * 8 * min(500 * n_test, 1_000_000)  # draws, and the scores gathered
    return int(max(boosting, linear, importance, bootstrap))


def estimate_training_memory(spec: ModelSpec, frame: pd.DataFrame) -> MemoryEstimate:
    """The memory that training ``spec`` on ``frame`` needs at its peak, from their sizes alone.

    Feature widths come from the columns' distinct values, encoded as
    ``build.py`` would. Nothing is built and TensorFlow is not imported: this
    takes milliseconds for a table of 100,000 rows.
    """
    spec.validate()
    return _estimate(spec, _describe_table(spec, frame))


# ------------------------------------------------------------------- the budget
def memory_budget_bytes() -> int:
    """The memory one training run may use: ``LAYERLAB_MEMORY_BUDGET_MB`` megabytes, or 600."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return DEFAULT_BUDGET_MB * MB
    try:
        megabytes = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        megabytes = math.nan
    if not math.isfinite(megabytes) or megabytes <= 0:
        raise LayerlabError(
            f"{BUDGET_VARIABLE} must be a number of megabytes above 0, such as 2000 for "
            f"2 GB; got '{text}'. Unset it to use the default of {DEFAULT_BUDGET_MB} MB."
        )
    return int(megabytes * MB)


@dataclass(frozen=True)
class Suggestion:
    """A smaller run that fits: the changed spec, a row sample if one is needed, and its estimate."""

    spec: ModelSpec
    rows: int | None  # train on a sample of this many rows; None: on all of them
    estimate: MemoryEstimate
    text: str  # "Try 2 layers of 256 units (about 180 MB)."


def suggest_smaller(
    spec: ModelSpec, frame: pd.DataFrame, budget_bytes: int | None = None
) -> Suggestion | None:
    """A run close to ``spec`` whose estimate fits the budget; None if even a tiny one does not.

    When the table's own size dominates (or what scoring it against the baselines
    needs, which grows with its rows and raw columns), it suggests a sample of the rows.
    Otherwise it shrinks the network one step at a time: a smaller batch while
    the batch's activations dominate, else narrower widest layers or one Dense
    layer fewer, whichever saves more (see ``_shrink``).
    """
    spec.validate()
    budget = memory_budget_bytes() if budget_bytes is None else budget_bytes
    table = _describe_table(spec, frame)
    estimate = _estimate(spec, table)
    data = estimate.resident_data + estimate.evaluation_activations + estimate.evaluation
    if data > estimate.total / 2:
        rows = _rows_that_fit(spec, table, budget)
        if rows is not None:
            return _suggestion(spec, spec, table, rows)
    smaller = _shrink(spec, table, budget)
    if _estimate(smaller, table).total <= budget:
        return _suggestion(spec, smaller, table, None)
    rows = _rows_that_fit(smaller, table, budget)
    return None if rows is None else _suggestion(spec, smaller, table, rows)


def check_memory(
    spec: ModelSpec, frame: pd.DataFrame, budget_bytes: int | None = None
) -> MemoryEstimate:
    """Return the estimate if the run fits the budget; else raise ``TrainingError`` saying
    what it needs, the budget, and a smaller run that fits.

    ``budget_bytes`` None reads ``memory_budget_bytes()``.
    """
    budget = memory_budget_bytes() if budget_bytes is None else budget_bytes
    estimate = estimate_training_memory(spec, frame)
    if estimate.total <= budget:
        return estimate
    if budget_is_the_machines():
        allowed = f"the {format_bytes(budget)} this machine has free for one run"
    else:
        allowed = f"the {format_bytes(budget)} one run may use here"
    message = (
        f"This training run needs {estimate.describe()} of memory, more than {allowed} "
        f"(set {BUDGET_VARIABLE} to change it)."
    )
    suggestion = suggest_smaller(spec, frame, budget)
    if suggestion is not None:
        message += f" {suggestion.text}"
    else:
        message += (
            f" Even a network of one small layer needs more, so raise {BUDGET_VARIABLE} "
            "or train where more memory is free."
        )
    raise TrainingError(message)


# --------------------------------------------------------------- the shrinking
def _shrink(spec: ModelSpec, table: _Table, budget: int) -> ModelSpec:
    """Shrink one step at a time until the estimate fits, or nothing is left to shrink.

    While the batch's activations are the largest part, halve the batch size;
    otherwise take whichever saves more, halving the widest layers or dropping
    the last Dense layer; when neither can be done, halve the batch size anyway.
    """
    current = spec
    while (estimate := _estimate(current, table)).total > budget:
        parts = estimate.parts()
        smaller_batch = _halve_batch(current)
        if smaller_batch is not None and parts["batch_activations"] == max(parts.values()):
            current = smaller_batch
            continue
        options = [_halve_widest(current), _drop_last_dense(current)]
        options = [option for option in options if option is not None]
        if options:
            current = min(options, key=lambda option: _estimate(option, table).total)
        elif smaller_batch is not None:
            current = smaller_batch
        else:
            break
    return current


def _dense_units(spec: ModelSpec) -> list[int]:
    return [layer.units for layer in spec.layers if layer.kind == LayerKind.DENSE]


def _halve_widest(spec: ModelSpec) -> ModelSpec | None:
    units = _dense_units(spec)
    widest = max(units, default=0)
    if widest <= MIN_UNITS:
        return None
    narrower = max(widest // 2, MIN_UNITS)
    layers = [
        LayerSpec.dense(narrower, layer.activation, layer.l2)
        if layer.kind == LayerKind.DENSE and layer.units == widest
        else layer
        for layer in spec.layers
    ]
    return spec.replace(layers=layers)


def _drop_last_dense(spec: ModelSpec) -> ModelSpec | None:
    """Without the last Dense layer and the Dropout or BatchNorm layers after it."""
    positions = [i for i, layer in enumerate(spec.layers) if layer.kind == LayerKind.DENSE]
    if len(positions) < 2:
        return None
    return spec.replace(layers=spec.layers[: positions[-1]])


def _halve_batch(spec: ModelSpec) -> ModelSpec | None:
    if spec.batch_size <= MIN_BATCH_SIZE:
        return None
    return spec.replace(batch_size=max(spec.batch_size // 2, MIN_BATCH_SIZE))


def _rows_that_fit(spec: ModelSpec, table: _Table, budget: int) -> int | None:
    """The most rows (two significant digits, at least ``MIN_ROWS``) that fit; None if none."""
    if table.rows <= MIN_ROWS or _estimate(spec, table.with_rows(MIN_ROWS)).total > budget:
        return None
    low, high = MIN_ROWS, table.rows  # low fits, high does not
    while high - low > 1:
        middle = (low + high) // 2
        fits = _estimate(spec, table.with_rows(middle)).total <= budget
        low, high = (middle, high) if fits else (low, middle)
    digits = 10 ** max(len(str(low)) - 2, 0)
    return max(low // digits * digits, MIN_ROWS)


def _suggestion(original: ModelSpec, spec: ModelSpec, table: _Table, rows: int | None):
    estimate = _estimate(spec, table if rows is None else table.with_rows(rows))
    changes = []
    if _dense_units(spec) != _dense_units(original):
        changes.append(_describe_dense(_dense_units(spec)))
    if spec.batch_size != original.batch_size:
        changes.append(f"a batch size of {spec.batch_size:,}")
    if rows is not None:
        changes.append(f"a random sample of {rows:,} of the {table.rows:,} rows")
    text = f"Try {' and '.join(changes)} ({estimate.describe()})."
    return Suggestion(spec=spec, rows=rows, estimate=estimate, text=text)


def _describe_dense(units: list[int]) -> str:
    """``2 layers of 256 units``, ``3 layers of 512, 256 and 64 units``."""
    count = f"{len(units)} layer{'s' if len(units) > 1 else ''}"
    if len(set(units)) == 1:
        return f"{count} of {units[0]:,} units"
    listed = ", ".join(f"{u:,}" for u in units[:-1]) + f" and {units[-1]:,}"
    return f"{count} of {listed} units"
