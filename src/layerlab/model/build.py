"""From a ModelSpec and the training split to a Keras model that reads raw columns.

Preprocessing lives inside the model, so the saved ``.keras`` file predicts from
raw CSV values on its own: numeric columns are imputed with the training mean
and standardized (plus a missing-value indicator where training had gaps), or,
with ``spec.scaling == "robust"``, imputed with the median, scaled by the
interquartile range and smoothly clipped to about ±3 (RealMLP's recipe: one
extreme value no longer squeezes the rest), and with ``spec.numeric_embedding ==
"piecewise"`` also encoded piecewise-linearly over quantile bins (Gorishniy et
al. 2022), so the first layer can bend where the data bends;
categorical columns are one-hot encoded with an out-of-vocabulary slot that
also catches categories never seen in training; booleans become 0/1. Every
statistic comes from the training split only, like scikit-learn's fitted
``scale_``. Only built-in layers and ``keras.ops`` are used, so the file loads
with plain ``keras.saving.load_model`` in safe mode, without Layerlab.

Every random draw is seeded per run, from ``spec.seed`` and the layer's
position: each Dense kernel gets its own seeded ``GlorotUniform``, each Dropout
its own seed. Nothing reads the process-wide random state, which another run
in another thread (or any library) may reseed or consume at any moment.

The same layer objects are wired twice:

- ``model``: raw inputs -> preprocessing -> hidden layers -> output (in the
  target's own units for regression). This is what is saved and used to predict.
- ``network``: preprocessed feature vector -> hidden layers -> output (on the
  standardized target for regression). This is what the trainer optimizes,
  because preprocessing has no trainable weights and is computed once.

With ``spec.ensemble`` k > 1 there are k stacks of hidden and output layers,
each seeded apart (the first exactly as a single network is): ``model`` averages
their outputs, and ``network`` puts them side by side, k blocks of the output's
width, so the trainer gives each its own loss (``engine.py``).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.model.runtime import configure_tensorflow
from layerlab.schema.encoding import (
    MAX_CATEGORIES,
    piecewise_edges,
)
from layerlab.schema.spec import LayerSpec, ModelSpec
from layerlab.schema.vocabulary import FeatureKind, LayerKind, Task
from layerlab.tabular.model_io import input_name
from layerlab.tabular.model_io import model_inputs as column_inputs
from layerlab.tabular.values import as_category_keys, as_numeric, class_indices

TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "on"})
# Robust scaling clips smoothly towards ±SMOOTH_CLIP: x / sqrt(1 + (x / 3)²).
SMOOTH_CLIP = 3.0


@dataclass(frozen=True)
class TargetScaling:
    """How the regression target was standardized for training (training split only)."""

    mean: float
    std: float


@dataclass
class BuiltModel:
    """The two wirings of one set of layers, and what was learned from the training split."""

    spec: ModelSpec
    model: object  # keras.Model: raw columns -> prediction
    network: object  # keras.Model: feature vector -> training output
    preprocessor: object  # keras.Model: raw columns -> feature vector
    stack: list[object]  # the hidden layers and the output layer, shared by model and network
    classes: tuple[str, ...]
    target_scaling: TargetScaling | None
    # How many columns of the feature vector each of the spec's features gives, in order.
    input_widths: tuple[int, ...] = ()
    # Every member's stack, the first being ``stack`` (one member unless spec.ensemble > 1).
    members: tuple[list[object], ...] = ()

    @property
    def n_features(self) -> int:
        return int(self.preprocessor.output.shape[-1])

    def count_params(self) -> int:
        return int(self.model.count_params())


def _layer_stems(columns: list[str]) -> dict[str, str]:
    """A Keras-safe, unique stem of layer names for each column.

    ``Größe`` and ``Gräße`` both clean to ``Gr_e``; the second gets ``Gr_e_2``, so two
    layers never share a name (Keras refuses a model where they do).
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        stem = re.sub(r"[^0-9A-Za-z_]+", "_", column).strip("_")[:40] or "column"
        name, count = stem, 1
        while name in taken:
            count += 1
            name = f"{stem}_{count}"
        taken.add(name)
        names[column] = name
    return names


def _category_vocabulary(texts: np.ndarray) -> list[str]:
    counts = pd.Series(texts).value_counts(sort=True)
    kept = counts.index[:MAX_CATEGORIES]
    return sorted(str(value) for value in kept)


def model_inputs(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Raw columns as the model's named inputs: float32 for numbers, text otherwise, shape (n, 1).

    Text inputs are object arrays; ``as_tensors`` turns them into what Keras expects.
    """
    return column_inputs(frame, [(feature.name, feature.kind) for feature in spec.features])


def as_tensors(inputs: dict[str, np.ndarray]) -> dict[str, object]:
    import tensorflow as tf

    return {name: tf.constant(values) for name, values in inputs.items()}


def build_model(
    spec: ModelSpec, train_frame: pd.DataFrame, classes: tuple[str, ...] = ()
) -> BuiltModel:
    """Build (untrained) model, network and preprocessor for ``spec``.

    ``train_frame`` must be the training split: its statistics become constants
    of the model. ``classes`` are the class labels in output order (empty for
    regression).
    """
    spec.validate()
    configure_tensorflow()
    import keras
    from keras import layers, ops

    raw_inputs: dict[str, object] = {}
    encoded: list[object] = []
    widths: list[int] = []
    layer_stems = _layer_stems([feature.name for feature in spec.features])
    for feature in spec.features:
        stem = layer_stems[feature.name]
        values = train_frame[feature.name]
        parts_before = len(encoded)
        if feature.kind == FeatureKind.NUMERIC:
            numbers = as_numeric(values)
            finite = numbers[np.isfinite(numbers)]
            raw = keras.Input(shape=(1,), name=input_name(feature.name), dtype="float32")
            encoded += _numeric_encoding(spec, raw, finite, stem)
            if not np.isfinite(numbers).all():
                encoded.append(ops.cast(ops.logical_not(ops.isfinite(raw)), "float32"))
        elif feature.kind == FeatureKind.CATEGORICAL:
            vocabulary = _category_vocabulary(as_category_keys(values))
            raw = keras.Input(shape=(1,), name=input_name(feature.name), dtype="string")
            encoded.append(
                layers.StringLookup(
                    vocabulary=vocabulary,
                    num_oov_indices=1,
                    output_mode="one_hot",
                    name=f"{stem}_one_hot",
                )(raw)
            )
        else:  # boolean: 1 for a true-like value, 0 for false, missing or unknown
            seen = set(as_category_keys(values))
            true_values = sorted(v for v in seen if v.lower() in TRUE_WORDS) or ["true"]
            raw = keras.Input(shape=(1,), name=input_name(feature.name), dtype="string")
            flags = layers.StringLookup(
                vocabulary=true_values,
                num_oov_indices=1,
                output_mode="multi_hot",
                name=f"{stem}_is_true",
            )(raw)
            encoded.append(ops.max(flags[:, 1:], axis=-1, keepdims=True))
        raw_inputs[feature.name] = raw
        widths.append(sum(int(part.shape[-1]) for part in encoded[parts_before:]))

    features = layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    n_features = int(features.shape[-1])

    activation, _ = spec.resolved_output()
    units = max(len(classes), 2) if activation == "softmax" else 1
    members = tuple(_member_stack(spec, member, units) for member in range(spec.ensemble))

    def outputs(x):
        return [chain(stack, x) for stack in members]

    network_input = keras.Input(shape=(n_features,), name="features")
    side_by_side = outputs(network_input)
    if len(side_by_side) > 1:
        side_by_side = [layers.Concatenate(name="members")(side_by_side)]
    network = keras.Model(network_input, side_by_side[0], name="network")

    prediction = outputs(features)
    prediction = (
        prediction[0] if len(prediction) == 1 else layers.Average(name="average")(prediction)
    )
    target_scaling = None
    if spec.task == Task.REGRESSION:
        target_scaling = _target_scaling(train_frame[spec.target])
        prediction = layers.Rescaling(
            scale=target_scaling.std, offset=target_scaling.mean, name="target_units"
        )(prediction)
    with warnings.catch_warnings():
        # Inputs are keyed by the raw column name; Keras asks the tensor's name to match,
        # which it cannot where the name holds a "/" (see reading.input_name). The key is what counts.
        warnings.filterwarnings("ignore", "When providing `inputs` as a dict", UserWarning)
        model = keras.Model(raw_inputs, prediction, name="layerlab_model")
        preprocessor = keras.Model(raw_inputs, features, name="preprocessing")
    return BuiltModel(
        spec=spec,
        model=model,
        network=network,
        preprocessor=preprocessor,
        stack=members[0],
        members=members,
        classes=tuple(classes),
        target_scaling=target_scaling,
        input_widths=tuple(widths),
    )


def _numeric_encoding(spec: ModelSpec, raw, finite: np.ndarray, stem: str) -> list[object]:
    """The scaled value of one numeric input, then its piecewise-linear bins if asked for.

    Missing and infinite values are imputed with the centre the scaling uses (mean or
    median), so they land on 0; the missing-value flag, added by the caller, tells them apart.
    """
    from keras import layers, ops

    if spec.scaling == "robust":
        centre, spread = _robust_centre_and_spread(finite)
        imputed = ops.nan_to_num(raw, nan=centre, posinf=centre, neginf=centre)
        scaled = layers.Normalization(mean=centre, variance=spread**2, name=f"{stem}_scaled")(
            imputed
        )
        scaled = scaled / ops.sqrt(1.0 + ops.square(scaled / SMOOTH_CLIP))
    else:
        mean = float(finite.mean()) if finite.size else 0.0
        variance = float(finite.var()) if finite.size > 1 else 1.0
        variance = variance if variance > 1e-12 else 1.0
        imputed = ops.nan_to_num(raw, nan=mean, posinf=mean, neginf=mean)
        scaled = layers.Normalization(mean=mean, variance=variance, name=f"{stem}_standardized")(
            imputed
        )
    parts = [scaled]
    edges = piecewise_edges(finite) if spec.numeric_embedding == "piecewise" else np.array([])
    if len(edges) >= 3:
        # Bin t reads (x - lower_t) / width_t, clipped to [0, 1]: 1 for bins below x, 0 above.
        lower, width = edges[:-1], np.diff(edges)
        tiled = ops.tile(imputed, (1, len(lower)))
        position = layers.Normalization(mean=lower, variance=width**2, name=f"{stem}_bins")(tiled)
        parts.append(ops.clip(position, 0.0, 1.0))
    return parts


def _robust_centre_and_spread(finite: np.ndarray) -> tuple[float, float]:
    """The median, and the interquartile range (half the full range if that is 0; else 1)."""
    if finite.size == 0:
        return 0.0, 1.0
    low, centre, high = np.quantile(finite, [0.25, 0.5, 0.75])
    spread = float(high - low)
    if spread <= 1e-12:
        spread = float(finite.max() - finite.min()) / 2
    return float(centre), spread if spread > 1e-12 else 1.0


def chain(stack: list[object], x):
    """``x`` through each layer of ``stack`` in turn."""
    for layer in stack:
        x = layer(x)
    return x


# Dropout seeds of ensemble member m > 0 are offset by m times this (member 0 keeps the
# single network's seeds).
MEMBER_SEED_STRIDE = 1000


def _member_stack(spec: ModelSpec, member: int, units: int) -> list[object]:
    """One member's hidden layers and output layer; names get ``_member_M`` after the first."""
    from keras import layers

    suffix = f"_member_{member + 1}" if member else ""
    stack = []
    counts: dict[LayerKind, int] = {}
    for position, layer in enumerate(spec.layers):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        name = f"{layer.kind}_{counts[layer.kind]}{suffix}"
        stack.append(KERAS_LAYERS[layer.kind](layer, LayerPlace(spec, position, member, name)))
    activation, _ = spec.resolved_output()
    stack.append(
        layers.Dense(
            units,
            activation=activation,
            kernel_initializer=_kernel_initializer(spec, len(spec.layers), member),
            name=f"output{suffix}",
        )
    )
    return stack


@dataclass(frozen=True)
class LayerPlace:
    """Where a hidden layer sits, which is what seeds and names it: the spec, its position
    among the hidden layers, the ensemble member, and its Keras name (``dense_2``)."""

    spec: ModelSpec
    position: int
    member: int
    name: str


def _dense(layer: LayerSpec, place: LayerPlace) -> object:
    from keras import layers, regularizers

    return layers.Dense(
        layer.units,
        activation=layer.activation,
        kernel_initializer=_kernel_initializer(place.spec, place.position, place.member),
        kernel_regularizer=regularizers.L2(layer.l2) if layer.l2 else None,
        name=place.name,
    )


def _dropout(layer: LayerSpec, place: LayerPlace) -> object:
    from keras import layers

    seed = place.spec.seed + place.position + place.member * MEMBER_SEED_STRIDE
    return layers.Dropout(layer.rate, seed=seed, name=place.name)


def _batch_norm(layer: LayerSpec, place: LayerPlace) -> object:
    from keras import layers

    return layers.BatchNormalization(name=place.name)


# The Keras layer of each layer kind (``layerlab.schema.layers`` defines the kinds); a test
# fails when a kind has none.
KERAS_LAYERS: dict[LayerKind, Callable[[LayerSpec, LayerPlace], object]] = {
    LayerKind.DENSE: _dense,
    LayerKind.DROPOUT: _dropout,
    LayerKind.BATCH_NORM: _batch_norm,
}


def _kernel_initializer(spec: ModelSpec, position: int, member: int = 0):
    """Keras's default Glorot uniform kernel, seeded from the spec's seed and the layer's position
    (and, for ensemble members after the first, the member).

    The seed is mixed with ``SeedSequence``, so layer 2 of seed 42 does not start like
    layer 1 of seed 43.
    """
    from keras import initializers

    entropy = [spec.seed, position] + ([member] if member else [])
    seed = np.random.SeedSequence(entropy).generate_state(1)[0]
    return initializers.GlorotUniform(seed=int(seed) & 0x7FFF_FFFF)


def _target_scaling(target: pd.Series) -> TargetScaling:
    numbers = as_numeric(target)
    numbers = numbers[np.isfinite(numbers)]
    std = float(numbers.std()) if numbers.size > 1 else 1.0
    return TargetScaling(mean=float(numbers.mean()), std=std if std > 1e-12 else 1.0)


def encode_target(target: pd.Series, built: BuiltModel) -> np.ndarray:
    """Targets in the form the network trains on.

    Regression: standardized float32, shape (n, 1). Binary with a sigmoid output:
    0/1 float32, shape (n, 1). Otherwise: class indices, int32, shape (n,).
    """
    spec = built.spec
    if spec.task == Task.REGRESSION:
        scaling = built.target_scaling
        return ((as_numeric(target) - scaling.mean) / scaling.std).astype("float32").reshape(-1, 1)
    labels = class_indices(target, built.classes).astype("int32")
    activation, _ = spec.resolved_output()
    if activation == "sigmoid":
        return labels.astype("float32").reshape(-1, 1)
    return labels


def predict_frame(built: BuiltModel, frame: pd.DataFrame) -> np.ndarray:
    """Predictions from raw columns with a freshly built or trained model; see ``predict_outputs``."""
    return predict_outputs(built.model, built.spec, frame)


def predict_outputs(model, spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    """Values for regression, class probabilities otherwise.

    Classification always returns one probability column per class, in class
    order, also for a single sigmoid output.

    The model is called directly, not through ``model.predict``: each new
    model's first ``predict`` traces a function first (0.5 s for 20,000 rows
    where calling it takes 0.1 s), and every run, bundle and score makes a new
    model. Each direct call runs the layers one by one from Python, about 25 ms
    whatever the rows, so the rows go in as few calls as memory allows (see
    ``rows_per_call``): 100,000 rows in 4,096-row chunks took 0.65 s, in one
    call 0.07 s.
    """
    inputs = as_tensors(model_inputs(frame, spec))
    step = rows_per_call(model)
    chunks = [
        np.asarray(
            model(
                {name: values[start : start + step] for name, values in inputs.items()},
                training=False,
            )
        )
        for start in range(0, len(frame), step)
    ]
    outputs = np.concatenate(chunks) if chunks else _empty_outputs(model)
    if spec.task == Task.REGRESSION:
        return outputs.reshape(-1)
    if outputs.shape[-1] == 1:
        positive = outputs.reshape(-1)
        return np.stack([1.0 - positive, positive], axis=1)
    return outputs


# One call's widest layer output holds about this many values (32 MB of float32).
PREDICT_CALL_CELLS = 8_000_000
MIN_ROWS_PER_CALL = 4096


def rows_per_call(model) -> int:
    """How many rows one model call takes: ``PREDICT_CALL_CELLS`` over the widest layer's output
    (one-hot inputs and Dense units alike), at least ``MIN_ROWS_PER_CALL``."""
    import keras

    widths = [1]
    for layer in model.layers:
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            for output in keras.tree.flatten(layer.output):
                widths.append(int(output.shape[-1] or 1))
    return max(MIN_ROWS_PER_CALL, PREDICT_CALL_CELLS // max(widths))


def _empty_outputs(model) -> np.ndarray:
    """What the model gives for no rows: an empty array with its output's width."""
    return np.zeros((0, *model.outputs[0].shape[1:]), dtype="float32")


def summarize(built: BuiltModel) -> list[dict[str, object]]:
    """The model's layers as rows: name, type, output shape and parameter count."""
    rows = []
    for layer in built.model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None and hasattr(shape, "shape") else None
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output_shape": str(shape).replace("None", "batch") if shape else "",
                "params": int(layer.count_params()),
            }
        )
    return rows


def summary_text(built: BuiltModel) -> str:
    """Keras's own ``model.summary()`` as plain text."""
    lines: list[str] = []
    built.model.summary(print_fn=lambda line, **_: lines.append(line), line_length=100)
    return "\n".join(lines)
