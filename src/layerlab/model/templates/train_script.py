"""Train the network again in plain Keras: the same columns, splits, preprocessing and settings.

    python train.py DATA.csv                  # writes model.keras in the current folder
    python train.py DATA.csv --out my.keras   # or where you say

DATA.csv is the table the model was trained on: it needs the target column and
the feature columns named in CONFIG below (other columns are ignored). The
script needs pandas and Keras 3 with TensorFlow (numpy comes with both); it
does not need Layerlab or scikit-learn. It prints the validation and test
scores in words and as lines a program can read (``validation_loss=0.4321``).

The steps, each a function below:

1. ``read_table``: read the CSV and drop the rows without a target.
2. ``split_rows``: the same training, validation and test rows as Layerlab
   (``shuffle_split`` draws them as scikit-learn's ``train_test_split`` does,
   with the same fractions, seeds and stratification by class).
3. ``build_model``: preprocessing learned from the training rows only (the
   mean and spread of each number, the categories of each text column),
   inside the model, followed by the network.
4. ``train``: ``model.fit`` with early stopping on the validation loss.
5. ``score``: the loss and the main metric on the validation and test rows.

The saved ``model.keras`` reads raw columns, one input per feature column
shaped (rows, 1): numbers as float32 (NaN = missing), categorical and boolean
columns as lower-case text (empty = missing); ``model_inputs`` below makes
them from a table. To predict with it (``read_table`` and ``model_inputs`` are
this file's)::

    model = keras.saving.load_model("model.keras")
    outputs = model.predict(model_inputs(read_table("new.csv", need_target=False)))

Regression outputs are in the target's units; classification outputs are the
probability of each class, in the order ``class_names`` gives (sorted; for a
binary sigmoid output, one column: the second class's).

Where this script differs from Layerlab, so scores agree within training noise
rather than digit for digit:

- Reading is plain ``pandas.read_csv`` with commas. Layerlab's reader also
  takes other delimiters and encodings, and reads spreadsheet numbers such as
  "$5", "1,234" or "12%"; here a value that is not a plain number counts as
  missing (the script says how many per column). Layerlab also merges class
  labels that differ only in letter case or spaces ("Yes" and "yes"); here
  they are two classes. Date parts such as "signup (year)" are computed with
  ``pandas.to_datetime``, which may read an ambiguous date such as 01/03/2024
  the other way round.
- Training: Layerlab runs its own compiled loop, which shuffles the rows and
  draws dropout masks from other random streams than ``model.fit``; it also
  stops a run whose loss explodes. The network, its starting weights, the
  data and every setting are the same.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter quiet

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

# --- CONFIG: the model's settings, written by Layerlab. Change any to try another. ---
TARGET = "churned"  # the column to predict
TASK = "binary"  # "regression", "binary" (two classes) or "multiclass"
# The columns the network reads, and how: "numeric" (standardized), "categorical"
# (one-hot) or "boolean" (1 for a true-like value, else 0).
FEATURES = [
    ("age", "numeric"),
    ("region", "categorical"),
    ("contract", "categorical"),
    ("tenure_months", "numeric"),
    ("monthly_charges", "numeric"),
    ("support_calls", "numeric"),
    ("payment_method", "categorical"),
    ("paperless_billing", "boolean"),
]
# The hidden layers, in order; the output layer follows them.
LAYERS = [
    {"kind": "dense", "units": 64, "activation": "relu", "l2": 0.0},
    {"kind": "dense", "units": 32, "activation": "relu", "l2": 0.0},
]
OUTPUT_ACTIVATION = "sigmoid"
LOSS = "binary_crossentropy"
CLASS_WEIGHT = "none"  # "balanced": every class weighs the same in the loss, however rare
OPTIMIZER = "adam"
LEARNING_RATE = 0.001
MOMENTUM = 0.9  # used by "sgd" only
BETA_2 = 0.999  # Adam's decay of its squared gradients (used by "adam", "adamw", "nadam")
WEIGHT_DECAY = 0.0  # each step shrinks every weight by learning rate x this
LR_SCHEDULE = "constant"  # "cosine": warm up, then decay to 0 at the last epoch
WARMUP_SHARE = 0.05  # of all planned steps, for the cosine schedule
LABEL_SMOOTHING = 0.0  # share of each class label spread over all classes in training
SCALING = "standard"  # numbers: "standard" (mean, std) or "robust" (median, IQR, smooth clip)
SMOOTH_CLIP = 3.0  # robust scaling squashes values towards +-this
NUMERIC_EMBEDDING = "none"  # "piecewise": also encode each number over quantile bins
PIECEWISE_BINS = 16
ENSEMBLE = 4  # networks trained side by side from their own starting weights, then averaged
BATCH_SIZE = 32
EPOCHS = 200
PATIENCE = 10  # epochs without a better validation loss before stopping (0: never stop early)
LR_PLATEAU_FACTOR = 0.3  # rate x this after PATIENCE // 2 epochs without progress (1: never)
REFIT = True  # then a fresh network on training + validation rows for the epochs chosen
RESTORE_BEST_WEIGHTS = True  # keep the weights of the epoch with the best validation loss
TEST_SPLIT = 0.2  # share of the rows held out to report on, never trained on
VALIDATION_SPLIT = 0.2  # share of the rows that choose the epoch (early stopping)
SEED = 42
MAX_CATEGORIES = 100  # a column keeps its most frequent categories; the rest share one slot
TRUE_WORDS = ("1", "on", "t", "true", "y", "yes")
# --- end of CONFIG ---

MISSING_VALUES = ["", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "Null"]
MISSING_VALUES += ["None", "none", "?", "-", "#N/A"]
DATE_PART = re.compile(
    r"^(?P<column>.+) \((?P<part>year|month|day of week|day of year|hour|days since 1970)\)$"
)
MAIN_METRIC = "mae" if TASK == "regression" else "accuracy"


# ------------------------------------------------------------------------- reading
def read_table(path: str, need_target: bool = True) -> pd.DataFrame:
    """The CSV as a table, with the rows that have no target dropped."""
    frame = pd.read_csv(
        path,
        keep_default_na=False,  # only MISSING_VALUES mean "no value"
        na_values=MISSING_VALUES,
        skipinitialspace=True,
        low_memory=False,
    )
    frame.columns = [str(name).strip() for name in frame.columns]
    for name, _ in FEATURES:
        part = None if name in frame.columns else date_part(frame, name)
        if part is not None:
            frame[name] = part
    needed = [name for name, _ in FEATURES] + ([TARGET] if need_target else [])
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        sys.exit(f"error: {path} lacks the column(s) {missing}; expected {needed}.")
    for name, kind in FEATURES:
        if kind == "numeric":
            unread = frame[name].notna() & np.isnan(numbers(frame[name]))
            if unread.any():
                print(
                    f'note: column "{name}": {int(unread.sum())} value(s) are not plain '
                    f"numbers and count as missing, e.g. {frame[name][unread].iloc[0]!r}.",
                    file=sys.stderr,
                )
    if not need_target:
        return frame
    target = frame[TARGET]
    blank = target.map(lambda value: isinstance(value, str) and not value.strip())
    return frame[~(target.isna() | blank.astype(bool))].reset_index(drop=True)


def date_part(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """A part of a date column, such as "signup (year)", or None if ``name`` is not one."""
    match = DATE_PART.match(name)
    if match is None or match["column"] not in frame.columns:
        return None
    moments = pd.to_datetime(frame[match["column"]], errors="coerce", utc=True, format="mixed")
    days = (moments - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
    parts = {
        "year": moments.dt.year,
        "month": moments.dt.month,
        "day of week": moments.dt.dayofweek,
        "day of year": moments.dt.dayofyear,
        "hour": moments.dt.hour + moments.dt.minute / 60,
        "days since 1970": days,
    }
    return parts[match["part"]].to_numpy(dtype="float64", na_value=np.nan)


def numbers(column: pd.Series) -> np.ndarray:
    """A column as float32; NaN where a value is missing or not a plain number."""
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        column = column.astype("string").str.strip()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float32", na_value=np.nan)


def label(value: object) -> str:
    """A value as text: 3 and 3.0 are both "3", True is "true", missing is ""."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if pd.isna(value):
        return ""
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def category_keys(column: pd.Series) -> np.ndarray:
    """What a categorical or boolean input holds: the text, lower case, spaces collapsed."""
    return np.array([" ".join(label(value).split()).casefold() for value in column], dtype=object)


def class_names(target: pd.Series) -> list[str]:
    """The classes in output order: by value when all are numbers (2 before 10), else by text."""
    names = set(target.map(label))
    try:
        return sorted(names, key=lambda name: (float(name), name))
    except ValueError:
        return sorted(names)


def input_name(column: str) -> str:
    return column.replace("/", "\u2215")  # Keras refuses a "/" in a name; this slash reads the same


def model_inputs(frame: pd.DataFrame) -> dict[str, object]:
    """The model's inputs from a table: one (rows, 1) tensor per feature column.

    Tensors, not NumPy arrays: Keras takes no NumPy array of Python strings.
    """
    inputs = {}
    for name, kind in FEATURES:
        if kind == "numeric":
            values, dtype = numbers(frame[name]), "float32"
        else:
            values, dtype = category_keys(frame[name]), "string"
        inputs[input_name(name)] = ops.convert_to_tensor(values.reshape(-1, 1), dtype=dtype)
    return inputs


# ------------------------------------------------------------------------- splitting
def split_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Training, validation and test rows, seeded; each class in the same share in all three.

    The test rows are set aside first; validation rows are then taken from the
    rest. Stratifying (keeping the class shares) needs two rows of each class.
    """

    def split(part: pd.DataFrame, fraction: float, seed: int):
        labels = None if TASK == "regression" else part[TARGET].map(label).to_numpy(dtype=object)
        kept, held_out = shuffle_split(len(part), fraction, seed, labels)
        return part.iloc[kept], part.iloc[held_out]

    rest, test = split(frame, TEST_SPLIT, SEED)
    train, validation = split(rest, VALIDATION_SPLIT / (1 - TEST_SPLIT), SEED + 1)
    return tuple(part.reset_index(drop=True) for part in (train, validation, test))


def shuffle_split(n_rows: int, fraction: float, seed: int, labels: np.ndarray | None = None):
    """Positions of the rows kept and of the ``fraction`` held out, drawn exactly as
    scikit-learn's ``train_test_split(test_size=fraction, random_state=seed,
    stratify=labels)`` draws them (``ShuffleSplit``, or ``StratifiedShuffleSplit``
    with labels), which is how Layerlab splits. A class with fewer than two rows, or
    more classes than rows on either side, gives a plain random split."""
    n_held_out = math.ceil(fraction * n_rows)
    n_kept = n_rows - n_held_out
    rng = np.random.RandomState(seed)
    if labels is not None:
        classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if counts.min() >= 2 and min(n_kept, n_held_out) >= len(classes):
            by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
            kept_counts = approximate_mode(counts, n_kept, rng)
            held_out_counts = approximate_mode(counts - kept_counts, n_held_out, rng)
            kept, held_out = [], []
            for rows, n_k, n_h in zip(by_class, kept_counts, held_out_counts, strict=True):
                shuffled = rows[rng.permutation(len(rows))]
                kept.extend(shuffled[:n_k])
                held_out.extend(shuffled[n_k : n_k + n_h])
            return rng.permutation(kept), rng.permutation(held_out)
    order = rng.permutation(n_rows)
    return order[n_held_out : n_held_out + n_kept], order[:n_held_out]


def approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``draws`` rows each class gives, in proportion to ``counts``: the whole
    parts first, then one more row for the largest remainders (ties broken by ``rng``), as
    scikit-learn's stratified split shares them."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    to_add = int(draws - floored.sum())
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1]:
        if to_add <= 0:
            break
        (tied,) = np.where(remainder == value)
        now = min(len(tied), to_add)
        floored[rng.choice(tied, size=now, replace=False)] += 1
        to_add -= now
    return floored.astype(int)


# ------------------------------------------------------------------------- the model
def build_model(train: pd.DataFrame, classes: list[str]):
    """The preprocessing (learned from ``train``), the network, and both wired as one model.

    Returns ``(preprocessing, network, model, target_scale)``: ``preprocessing``
    turns raw columns into one vector of numbers per row; ``network`` is what
    training optimizes; ``model`` is raw columns -> preprocessing -> network,
    the one to save. They share their layers, so training ``network`` trains
    ``model``.
    """
    raw_inputs, encoded = {}, []
    for name, kind in FEATURES:
        if kind == "numeric":
            values = numbers(train[name])
            finite = values[np.isfinite(values)]
            raw = keras.Input(shape=(1,), name=input_name(name), dtype="float32")
            encoded += numeric_encoding(raw, finite)
            if not np.isfinite(values).all():
                # A 0/1 "was missing" column, so the network can learn what a gap means.
                encoded.append(ops.cast(ops.logical_not(ops.isfinite(raw)), "float32"))
        elif kind == "categorical":
            # One-hot: one 0/1 column per category seen in training, plus one slot for
            # any other (rare, or never seen: a new file may hold one).
            counts = pd.Series(category_keys(train[name])).value_counts(sort=True)
            vocabulary = sorted(str(value) for value in counts.index[:MAX_CATEGORIES])
            raw = keras.Input(shape=(1,), name=input_name(name), dtype="string")
            lookup = layers.StringLookup(
                vocabulary=vocabulary, num_oov_indices=1, output_mode="one_hot"
            )
            encoded.append(lookup(raw))
        else:  # boolean: 1 for a true-like value seen in training, else 0 (false, missing)
            seen = set(category_keys(train[name]))
            true_values = sorted(value for value in seen if value in TRUE_WORDS) or ["true"]
            raw = keras.Input(shape=(1,), name=input_name(name), dtype="string")
            lookup = layers.StringLookup(
                vocabulary=true_values, num_oov_indices=1, output_mode="multi_hot"
            )
            encoded.append(ops.max(lookup(raw)[:, 1:], axis=-1, keepdims=True))
        raw_inputs[input_name(name)] = raw
    features = layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]

    # The output layer: sigmoid gives the probability of the second class (with binary
    # cross-entropy); softmax one probability per class that sum to 1 (with categorical
    # cross-entropy); linear any number (with mean squared error, for regression).
    units = max(len(classes), 2) if OUTPUT_ACTIVATION == "softmax" else 1
    # ENSEMBLE networks, each from its own starting weights; the model averages them.
    stacks = []
    for member in range(ENSEMBLE):
        stack = hidden_layers(member)
        start = glorot(len(LAYERS), member)
        stack.append(layers.Dense(units, activation=OUTPUT_ACTIVATION, kernel_initializer=start))
        stacks.append(stack)

    def wire(x):
        outputs = []
        for stack in stacks:
            y = x
            for layer in stack:
                y = layer(y)
            outputs.append(y)
        return outputs

    network_input = keras.Input(shape=(int(features.shape[-1]),))
    # Training sees each member's output (one loss each); the saved model their average.
    outputs = wire(network_input)
    network = keras.Model(network_input, outputs[0] if ENSEMBLE == 1 else outputs)
    prediction = wire(features)
    prediction = prediction[0] if ENSEMBLE == 1 else layers.Average()(prediction)
    target_scale = None
    if TASK == "regression":
        # The network learns the standardized target (mean 0, std 1), which suits its
        # starting weights; the saved model turns its output back into the target's units.
        target = numbers(train[TARGET])
        target = target[np.isfinite(target)]
        std = float(target.std()) if target.size > 1 else 1.0
        target_scale = (float(target.mean()), std if std > 1e-12 else 1.0)
        prediction = layers.Rescaling(scale=target_scale[1], offset=target_scale[0])(prediction)
    model = keras.Model(raw_inputs, prediction)
    preprocessing = keras.Model(raw_inputs, features)
    return preprocessing, network, model, target_scale


def numeric_encoding(raw, finite: np.ndarray) -> list:
    """One number on a common scale, so no column dominates the gradients by its units; and,
    with NUMERIC_EMBEDDING "piecewise", how far along each of its quantile bins it lies."""
    if SCALING == "robust":
        # A missing number becomes the median; (x - median) / IQR, then x / sqrt(1 + (x/3)^2)
        # squashes extreme values smoothly, so one outlier cannot squeeze all the others.
        if finite.size:
            low, centre, high = (float(q) for q in np.quantile(finite, [0.25, 0.5, 0.75]))
            spread = high - low
            if spread <= 1e-12:
                spread = float(finite.max() - finite.min()) / 2
        else:
            centre, spread = 0.0, 1.0
        spread = spread if spread > 1e-12 else 1.0
        imputed = ops.nan_to_num(raw, nan=centre, posinf=centre, neginf=centre)
        scaled = layers.Normalization(mean=centre, variance=spread**2)(imputed)
        scaled = scaled / ops.sqrt(1.0 + ops.square(scaled / SMOOTH_CLIP))
    else:
        # A missing number becomes the training mean; then (x - mean) / std.
        mean = float(finite.mean()) if finite.size else 0.0
        variance = float(finite.var()) if finite.size > 1 else 1.0
        variance = variance if variance > 1e-12 else 1.0
        imputed = ops.nan_to_num(raw, nan=mean, posinf=mean, neginf=mean)
        scaled = layers.Normalization(mean=mean, variance=variance)(imputed)
    parts = [scaled]
    if NUMERIC_EMBEDDING == "piecewise" and finite.size:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, PIECEWISE_BINS + 1)))
        if len(edges) >= 3:
            # Bin t: (x - its lower edge) / its width, clipped to [0, 1].
            lower, width = edges[:-1], np.diff(edges)
            tiled = ops.tile(imputed, (1, len(lower)))
            position = layers.Normalization(mean=lower, variance=width**2)(tiled)
            parts.append(ops.clip(position, 0.0, 1.0))
    return parts


def hidden_layers(member: int = 0) -> list:
    stack = []
    for position, spec in enumerate(LAYERS):
        if spec["kind"] == "dense":
            penalty = keras.regularizers.L2(spec["l2"]) if spec["l2"] else None
            stack.append(
                layers.Dense(
                    spec["units"],
                    activation=spec["activation"],
                    kernel_initializer=glorot(position, member),
                    kernel_regularizer=penalty,
                )
            )
        elif spec["kind"] == "dropout":
            # Zeroes a random share of the units at each training step (never when
            # predicting), so the network cannot lean on any one of them.
            stack.append(layers.Dropout(spec["rate"], seed=SEED + position + 1000 * member))
        elif spec["kind"] == "batch_norm":
            # Re-centres and re-scales each unit's outputs over the batch.
            stack.append(layers.BatchNormalization())
        else:
            raise ValueError(f"Unknown layer kind {spec['kind']!r} in LAYERS.")
    return stack


def glorot(position: int, member: int = 0):
    """Keras's default Glorot-uniform start, seeded from SEED and the layer's position (and
    the ensemble member, after the first)."""
    seed = np.random.SeedSequence([SEED, position] + ([member] if member else [])).generate_state(
        1
    )[0]
    return keras.initializers.GlorotUniform(seed=int(seed) & 0x7FFF_FFFF)


# ------------------------------------------------------------------------- training
def encode_target(part: pd.DataFrame, classes: list[str], target_scale) -> np.ndarray:
    """Targets as the network learns them: standardized numbers, 0/1, or class indices."""
    if TASK == "regression":
        mean, std = target_scale
        return ((numbers(part[TARGET]) - mean) / std).reshape(-1, 1)
    index = {name: position for position, name in enumerate(classes)}
    indices = np.array([index[name] for name in part[TARGET].map(label)], dtype="int32")
    return indices.astype("float32").reshape(-1, 1) if OUTPUT_ACTIVATION == "sigmoid" else indices


def class_weights(y_train: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """ "balanced": rows / (classes x rows of the class), so every class weighs the same."""
    if CLASS_WEIGHT != "balanced":
        return None
    labels = y_train.reshape(-1).astype("int64")
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    weights[~present] = weights.max()  # a class with no training row weighs its validation rows
    return {position: float(weight) for position, weight in enumerate(weights)}


def make_optimizer(steps_per_epoch: int):
    rate = LEARNING_RATE
    if LR_SCHEDULE == "cosine":
        total = max(EPOCHS * steps_per_epoch, 2)
        warmup = max(round(WARMUP_SHARE * total), 1)
        rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=LEARNING_RATE, warmup_steps=warmup
        )
    config = {"learning_rate": rate}
    if OPTIMIZER == "sgd":
        config["momentum"] = MOMENTUM
    if OPTIMIZER in ("adam", "adamw", "nadam"):
        config["beta_2"] = BETA_2
    if WEIGHT_DECAY or OPTIMIZER == "adamw":
        config["weight_decay"] = WEIGHT_DECAY
    return keras.optimizers.get({"class_name": OPTIMIZER, "config": config})


def keras_loss(smoothing: float = 0.0):
    # The targets are class indices, not one-hot rows: the "sparse" form of the same loss.
    if LOSS == "categorical_crossentropy":
        if not smoothing:
            return "sparse_categorical_crossentropy"

        def smoothed(y, p):  # cross-entropy against (1 - s) one-hot + s / classes
            plain = keras.losses.sparse_categorical_crossentropy(y, p)
            spread = -ops.mean(ops.log(ops.clip(p, 1e-7, 1.0)), axis=-1)
            return (1.0 - smoothing) * plain + smoothing * spread

        return smoothed
    if LOSS == "binary_crossentropy" and smoothing:
        return keras.losses.BinaryCrossentropy(label_smoothing=smoothing)
    return LOSS


def row_weights(y: np.ndarray, weights: dict[int, float] | None) -> np.ndarray | None:
    if weights is None:
        return None
    return np.array([weights[int(value)] for value in y.reshape(-1)], dtype="float32")


def compile_network(network, rows):
    """Seed, then compile ``network`` to train on ``rows`` rows with the chosen optimizer."""
    keras.utils.set_random_seed(SEED)  # the shuffling of the rows each epoch, and dropout
    metrics = [] if TASK == "regression" or ENSEMBLE > 1 else ["accuracy"]
    steps_per_epoch = -(-rows // min(BATCH_SIZE, rows))
    network.compile(
        optimizer=make_optimizer(steps_per_epoch),
        loss=[keras_loss(LABEL_SMOOTHING)] * ENSEMBLE,  # labels softened in training only
        loss_weights=None if ENSEMBLE == 1 else [1 / ENSEMBLE] * ENSEMBLE,  # the members' mean
        metrics=metrics,
    )


def train(network, x_train, y_train, x_val, y_val, weights):
    """``model.fit`` on the training rows, watching the loss on the validation rows.

    Early stopping ends training once PATIENCE epochs pass without a lower
    validation loss, and puts back the weights of the best epoch: the
    validation rows choose when to stop, the test rows stay unseen. After half
    that without a lower one, the learning rate is lowered (LR_PLATEAU_FACTOR).
    """
    compile_network(network, len(x_train))
    callbacks = []
    if PATIENCE or RESTORE_BEST_WEIGHTS:  # PATIENCE 0 with restore: keep the best, never stop
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=PATIENCE or EPOCHS,
                restore_best_weights=RESTORE_BEST_WEIGHTS,
            )
        )
    if PATIENCE and LR_PLATEAU_FACTOR < 1 and LR_SCHEDULE == "constant":
        # Layerlab lowers the rate from the second epoch after the stall (its validation
        # runs beside the next epoch); Keras from the next. min_delta 0, as its early stopping.
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=LR_PLATEAU_FACTOR,
                patience=max(1, PATIENCE // 2),
                min_delta=0,
            )
        )
    # With class weights, validation rows are weighted as training rows are, so early
    # stopping follows the loss being minimised.
    validation = (x_val, y_val) if weights is None else (x_val, y_val, row_weights(y_val, weights))
    sample_weight = None
    if ENSEMBLE > 1:
        # One target (and weights) per member. Early stopping here follows the members' mean
        # loss; Layerlab's follows the loss of their average, a close cousin.
        if weights is not None:
            sample_weight = [row_weights(y_train, weights)] * ENSEMBLE
            validation = (x_val, [y_val] * ENSEMBLE, [row_weights(y_val, weights)] * ENSEMBLE)
            weights = None
        else:
            validation = (x_val, [y_val] * ENSEMBLE)
        y_train = [y_train] * ENSEMBLE
    history = network.fit(
        x_train,
        y_train,
        batch_size=min(BATCH_SIZE, len(x_train)),
        epochs=EPOCHS,
        validation_data=validation,
        class_weight=weights,
        sample_weight=sample_weight,
        callbacks=callbacks,
        shuffle=True,
        verbose=2,
    )
    return history.history


def refit(network, x_rows, y_rows, weights, rates):
    """Every row used (REFIT): a fresh network trains on the training and validation rows
    together for as many epochs as validation chose, each epoch at the learning rate the
    first network had in it (``rates``). Nothing is held out to watch: the epochs are chosen.
    """
    compile_network(network, len(x_rows))
    callbacks = []
    if LR_SCHEDULE == "constant":  # a schedule sets its own rate, step by step
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch: float(rates[epoch])))
    sample_weight = None
    if ENSEMBLE > 1:  # one target (and weights) per member, as in ``train``
        if weights is not None:
            sample_weight = [row_weights(y_rows, weights)] * ENSEMBLE
            weights = None
        y_rows = [y_rows] * ENSEMBLE
    network.fit(
        x_rows,
        y_rows,
        batch_size=min(BATCH_SIZE, len(x_rows)),
        epochs=len(rates),
        class_weight=weights,
        sample_weight=sample_weight,
        callbacks=callbacks,
        shuffle=True,
        verbose=2,
    )


def score(preprocessing, network, model, part, classes, target_scale, weights):
    """The loss (as training minimised it, with plain labels) and the main metric (in the
    target's units)."""
    x = np.asarray(preprocessing(model_inputs(part)))
    y = encode_target(part, classes, target_scale)
    loss_fn = keras.losses.get(keras_loss())
    outputs = network.predict(x, verbose=0)
    outputs = np.mean(outputs, axis=0) if ENSEMBLE > 1 else outputs  # the members' average
    per_row = np.asarray(loss_fn(y, outputs)).reshape(-1)
    sample_weights = row_weights(y, weights)
    loss = float(np.mean(per_row * (1.0 if sample_weights is None else sample_weights)))
    loss += float(sum(np.asarray(penalty) for penalty in network.losses))  # L2, if any
    outputs = np.asarray(model.predict(model_inputs(part), verbose=0))
    if TASK == "regression":
        metric = float(np.nanmean(np.abs(outputs.reshape(-1) - numbers(part[TARGET]))))
    else:
        predicted = (
            (outputs[:, 0] > 0.5).astype(int) if outputs.shape[-1] == 1 else outputs.argmax(1)
        )
        actual = encode_target(part, classes, target_scale).reshape(-1).astype(int)
        metric = float(np.mean(predicted == actual))
    return loss, metric


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the CSV file, with the target column")
    parser.add_argument("--out", default="model.keras", help="where to save the model (.keras)")
    args = parser.parse_args(argv)
    if not args.out.endswith(".keras"):
        parser.error(f"--out must end in .keras, the file type Keras saves; got {args.out!r}.")

    frame = read_table(args.data)
    classes = [] if TASK == "regression" else class_names(frame[TARGET])
    train_rows, validation_rows, test_rows = split_rows(frame)
    print(
        f"rows: {len(train_rows)} training, {len(validation_rows)} validation, "
        f"{len(test_rows)} test"
    )
    preprocessing, network, model, target_scale = build_model(train_rows, classes)
    # Preprocessing has no weights to train, so it runs once, before training.
    x_train = np.asarray(preprocessing(model_inputs(train_rows)))
    x_val = np.asarray(preprocessing(model_inputs(validation_rows)))
    y_train = encode_target(train_rows, classes, target_scale)
    y_val = encode_target(validation_rows, classes, target_scale)
    weights = class_weights(y_train, len(classes)) if classes else None
    history = train(network, x_train, y_train, x_val, y_val, weights)
    kept = int(np.argmin(history["val_loss"])) + 1 if RESTORE_BEST_WEIGHTS else None
    print(
        f"trained {len(history['val_loss'])} epoch(s); kept the weights of epoch {kept or 'last'}"
    )
    values = {"rows_train": len(train_rows), "rows_validation": len(validation_rows)}
    values["rows_test"] = len(test_rows)
    values["epochs_run"] = len(history["val_loss"])
    # The validation scores are the network's that chose the epochs, before any refit.
    scored = [("validation", validation_rows, preprocessing, network, model, target_scale, weights)]
    if REFIT:
        epochs = kept or len(history["val_loss"])
        rates = history.get("learning_rate", [LEARNING_RATE] * epochs)[:epochs]
        rows = pd.concat([train_rows, validation_rows])
        preprocessing, network, model, target_scale = build_model(rows, classes)
        y_rows = encode_target(rows, classes, target_scale)
        weights = class_weights(y_rows, len(classes)) if classes else None
        print(
            f"refit: a fresh network on all {len(rows)} training and validation rows for "
            f"{epochs} epoch(s)"
        )
        refit(network, np.asarray(preprocessing(model_inputs(rows))), y_rows, weights, rates)
    scored.append(("test", test_rows, preprocessing, network, model, target_scale, weights))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    model.save(args.out)
    for name, part, preprocessing, network, model, target_scale, weights in scored:
        loss, metric = score(preprocessing, network, model, part, classes, target_scale, weights)
        print(f"{name}: loss {loss:.4f}, {MAIN_METRIC} {metric:.4f}")
        values[f"{name}_loss"], values[f"{name}_{MAIN_METRIC}"] = loss, metric
    print(f"saved {args.out}")
    for key, value in values.items():  # one key=value per line, for programs to read
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
