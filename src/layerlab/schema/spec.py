"""ModelSpec: everything a user chooses, as plain data a person can read and diff.

The spec is the single contract between the pages, the CLI and the core: widgets
produce a spec, the core consumes it. Like a Keras ``get_config()``, it round
trips through ``to_dict()`` / ``from_dict()`` and JSON, and carries a
``spec_version`` so files written today still load tomorrow.

Validation happens in one place, ``validate()``, which reports every problem at
once, each naming the field, what is allowed and what it got.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from layerlab.schema import limits
from layerlab.schema.errors import SpecError
from layerlab.schema.limits import ACTIVATIONS, CLASS_WEIGHTS, OPTIMIZERS, Limit

# 2 added ``class_weight``. Files of version 1 load unchanged (the field takes its default); the
# version tells an older Layerlab to update rather than call the field unknown.
# 3 added ``scaling``, ``numeric_embedding``, ``beta_2``, ``weight_decay``, ``lr_schedule``,
# ``label_smoothing`` and ``ensemble``. Files of versions 1 and 2 load as they trained: ``LEGACY_TRAINING``.
SPEC_VERSION = 3

# What a spec written before version 3 meant by the fields it did not have yet.
LEGACY_TRAINING = {
    "scaling": "standard",
    "numeric_embedding": "none",
    "beta_2": 0.999,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "label_smoothing": 0.0,
}
# Keras's AdamW decays weights by 0.004 unless told otherwise, so older AdamW specs did.
LEGACY_ADAMW_WEIGHT_DECAY = 0.004
# The optimizers that have Adam's second-moment decay ``beta_2``.
BETA_2_OPTIMIZERS = ("adam", "adamw", "nadam")

TASKS = ("regression", "binary", "multiclass")
FEATURE_KINDS = ("numeric", "categorical", "boolean")
LAYER_KINDS = ("dense", "dropout", "batch_norm")

# Where each optimizer usually works well; the UI warns outside these ranges.
DEFAULT_LEARNING_RATES = {
    "adam": 1e-3,
    "sgd": 1e-2,
    "rmsprop": 1e-3,
    "adagrad": 1e-2,
    "adamw": 1e-3,
    "nadam": 1e-3,
}
USUAL_LEARNING_RATE_RANGES = {
    "adam": (1e-5, 1e-2),
    "sgd": (1e-4, 0.5),
    "rmsprop": (1e-5, 1e-2),
    "adagrad": (1e-4, 0.5),
    "adamw": (1e-5, 1e-2),
    "nadam": (1e-5, 1e-2),
}

# Output layer and loss per task, with the overrides each task allows.
OUTPUT_ACTIVATIONS = {
    "regression": ("linear",),
    "binary": ("sigmoid", "softmax"),
    "multiclass": ("softmax",),
}
LOSSES = {
    "regression": ("mse", "mae", "huber"),
    "binary": ("binary_crossentropy", "categorical_crossentropy"),
    "multiclass": ("categorical_crossentropy",),
}
LOSS_NAMES = {
    "mse": "mean squared error",
    "mae": "mean absolute error",
    "huber": "Huber loss",
    "binary_crossentropy": "binary cross-entropy",
    "categorical_crossentropy": "categorical cross-entropy",
}

# Older names for four limits, still imported by tests.
MAX_UNITS = limits.UNITS.high
MAX_LAYERS = limits.LAYERS.high
MAX_EPOCHS = limits.EPOCHS.high
MAX_BATCH_SIZE = limits.BATCH_SIZE.high


@dataclass
class LayerSpec:
    """One hidden layer: ``dense`` (units, activation, l2), ``dropout`` (rate) or ``batch_norm``."""

    kind: str
    units: int | None = None
    activation: str | None = None
    l2: float = 0.0
    rate: float | None = None

    def __post_init__(self) -> None:
        _whole_numbers_as_floats(self, ("l2", "rate"))

    @classmethod
    def dense(cls, units: int, activation: str = "relu", l2: float = 0.0) -> LayerSpec:
        return cls(kind="dense", units=units, activation=activation, l2=l2)

    @classmethod
    def dropout(cls, rate: float) -> LayerSpec:
        return cls(kind="dropout", rate=rate)

    @classmethod
    def batch_norm(cls) -> LayerSpec:
        return cls(kind="batch_norm")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "dense":
            return {
                "kind": "dense",
                "units": self.units,
                "activation": self.activation,
                "l2": self.l2,
            }
        if self.kind == "dropout":
            return {"kind": "dropout", "rate": self.rate}
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LayerSpec:
        if not isinstance(config, dict):
            raise SpecError([f"Each layer must be an object with a 'kind'; got {config!r}."])
        allowed = {"kind", "units", "activation", "l2", "rate"}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise SpecError([f"Unknown layer setting(s) {unknown}; allowed are {sorted(allowed)}."])
        return cls(
            kind=config.get("kind", ""),
            units=config.get("units"),
            activation=config.get("activation", "relu" if config.get("kind") == "dense" else None),
            l2=config.get("l2", 0.0),
            rate=config.get("rate"),
        )

    def describe(self) -> str:
        """A short label such as ``Dense 64 relu`` for summaries and the sidebar."""
        if self.kind == "dense":
            text = f"Dense {self.units} {self.activation}"
            return text + (f" L2 {self.l2:g}" if self.l2 else "")
        if self.kind == "dropout":
            return f"Dropout {self.rate:g}"
        return "BatchNorm"


@dataclass
class Feature:
    """A raw input column and how the model reads it."""

    name: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind}


def default_layers() -> list[LayerSpec]:
    """Two modest ReLU layers: enough capacity for most small tables, quick to train."""
    return [LayerSpec.dense(64, "relu"), LayerSpec.dense(32, "relu")]


@dataclass
class ModelSpec:
    """Everything the user chooses about data roles, network and training.

    ``output_activation`` and ``loss`` are ``None`` to mean "derived from the
    task", which is what almost everyone wants; see ``resolved_output()``.
    ``patience`` 0 turns early stopping off. ``class_weight`` "balanced" makes
    every class count the same in the loss (classification only). ``scaling``,
    ``numeric_embedding`` (see ``layerlab.model.build``), ``beta_2`` (Adam, AdamW and
    Nadam only), ``weight_decay``, ``lr_schedule`` ("cosine": a warm-up over the
    first 5% of the planned steps, then a cosine decay to zero at the last epoch)
    and ``label_smoothing`` (classification only) are the "better by default"
    pieces of RealMLP (Holzmüller et al. 2024), each one field. ``ensemble`` k > 1
    trains k copies of the network from different starting weights side by side,
    each on its own loss, and the model predicts their average.
    """

    target: str
    task: str
    features: list[Feature]
    layers: list[LayerSpec] = field(default_factory=default_layers)
    output_activation: str | None = None
    loss: str | None = None
    class_weight: str = "none"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    beta_2: float = 0.999
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    label_smoothing: float = 0.0
    scaling: str = "standard"
    numeric_embedding: str = "none"
    ensemble: int = 1
    batch_size: int = 32
    epochs: int = 200
    validation_split: float = 0.2
    test_split: float = 0.2
    patience: int = 10
    restore_best_weights: bool = True
    seed: int = 42
    spec_version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        _whole_numbers_as_floats(
            self,
            (
                "learning_rate",
                "momentum",
                "beta_2",
                "weight_decay",
                "label_smoothing",
                "validation_split",
                "test_split",
            ),
        )

    # ----------------------------------------------------------------- derived
    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def early_stopping(self) -> bool:
        return self.patience > 0

    def resolved_output(self) -> tuple[str, str]:
        """The (output activation, loss) pair actually used for this task."""
        activation = self.output_activation or OUTPUT_ACTIVATIONS[self.task][0]
        if self.loss:
            loss = self.loss
        elif self.task == "regression":
            loss = "mse"
        elif self.task == "binary" and activation == "sigmoid":
            loss = "binary_crossentropy"
        else:
            loss = "categorical_crossentropy"
        return activation, loss

    def describe(self) -> str:
        """The whole network in one line, e.g. ``Dense 64 relu → Dense 32 relu → sigmoid``."""
        activation, _ = self.resolved_output()
        parts = [layer.describe() for layer in self.layers] + [f"output {activation}"]
        text = " → ".join(parts)
        return text if self.ensemble == 1 else f"{text}, {self.ensemble} averaged"

    # ------------------------------------------------------------ round trip
    def to_dict(self) -> dict[str, Any]:
        return {
            "spec_version": self.spec_version,
            "target": self.target,
            "task": self.task,
            "features": [feature.to_dict() for feature in self.features],
            "layers": [layer.to_dict() for layer in self.layers],
            "output_activation": self.output_activation,
            "loss": self.loss,
            "class_weight": self.class_weight,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "beta_2": self.beta_2,
            "weight_decay": self.weight_decay,
            "lr_schedule": self.lr_schedule,
            "label_smoothing": self.label_smoothing,
            "scaling": self.scaling,
            "numeric_embedding": self.numeric_embedding,
            "ensemble": self.ensemble,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "validation_split": self.validation_split,
            "test_split": self.test_split,
            "patience": self.patience,
            "restore_best_weights": self.restore_best_weights,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> ModelSpec:
        """Rebuild a spec; missing fields take their defaults, unknown ones are errors."""
        if not isinstance(config, dict):
            raise SpecError([f"A model spec must be a JSON object; got {type(config).__name__}."])
        version = config.get("spec_version", SPEC_VERSION)
        if not isinstance(version, int) or version > SPEC_VERSION:
            raise SpecError(
                [
                    f"This spec has spec_version {version!r}, but this Layerlab reads versions up "
                    f"to {SPEC_VERSION}. Update Layerlab, or write the spec again."
                ]
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise SpecError(
                [
                    f"Unknown spec field(s) {unknown}. Allowed fields are: {', '.join(sorted(known))}."
                ]
            )
        missing = [name for name in ("target", "task", "features") if name not in config]
        if missing:
            raise SpecError([f"The spec needs the field(s) {missing}."])
        features = config["features"]
        if not isinstance(features, list) or not all(
            isinstance(item, dict) and set(item) == {"name", "kind"} for item in features
        ):
            raise SpecError(
                ['\'features\' must be a list of objects like {"name": "age", "kind": "numeric"}.']
            )
        layers = config.get("layers", [layer.to_dict() for layer in default_layers()])
        if not isinstance(layers, list):
            raise SpecError([f"'layers' must be a list; got {type(layers).__name__}."])
        values = {key: value for key, value in config.items() if key not in ("features", "layers")}
        if version < 3:
            legacy = dict(LEGACY_TRAINING)
            if values.get("optimizer") == "adamw":
                legacy["weight_decay"] = LEGACY_ADAMW_WEIGHT_DECAY
            values = {**legacy, **values}
        values["spec_version"] = SPEC_VERSION
        return cls(
            features=[Feature(**item) for item in features],
            layers=[LayerSpec.from_dict(item) for item in layers],
            **values,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(
                [f"The spec file is not valid JSON ({error.msg} at line {error.lineno})."]
            ) from None
        return cls.from_dict(config)

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ validation
    def validate(self) -> ModelSpec:
        """Raise ``SpecError`` listing every invalid setting; return ``self`` when all is well."""
        problems: list[str] = []
        problems += _check_data_roles(self)
        for position, layer in enumerate(self.layers, start=1):
            problems += _check_layer(position, layer)
        if len(self.layers) > MAX_LAYERS:
            problems.append(
                f"The network may have at most {MAX_LAYERS} hidden layers; got {len(self.layers)}."
            )
        problems += _check_output(self)
        problems += _check_training(self)
        if problems:
            raise SpecError(problems)
        return self


def _whole_numbers_as_floats(record: Any, names: tuple[str, ...]) -> None:
    """Store ``1`` as ``1.0`` in fields that hold real numbers.

    JSON writes a whole number without a decimal point, and a person types
    ``"learning_rate": 1``; Keras insists on floats. Booleans (also ``int`` in
    Python) and other types are left for ``validate()`` to refuse by name.
    """
    for name in names:
        value = getattr(record, name)
        if _is_int(value) and abs(value) < 2**53:
            setattr(record, name, float(value))


# ----------------------------------------------------------------- checkers
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _check_limit(
    field: str, value: Any, limit: Limit, *, meaning: str = "", hint: str = ""
) -> list[str]:
    """One message template for every numeric setting: the field, what is allowed, what it got."""
    if limit.allows(value):
        return []
    return [f"The {field} must be {limit.describe()}{meaning}; got {value!r}.{hint}"]


def _check_data_roles(spec: ModelSpec) -> list[str]:
    problems = []
    if not isinstance(spec.target, str) or not spec.target:
        problems.append(f"The 'target' must be the name of a column; got {spec.target!r}.")
    if spec.task not in TASKS:
        problems.append(f"The 'task' must be one of {', '.join(TASKS)}; got {spec.task!r}.")
    if not spec.features:
        problems.append("Choose at least one feature column to predict from.")
    names = [feature.name for feature in spec.features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"Each feature may appear once; repeated: {duplicates}.")
    if spec.target in names:
        problems.append(
            f"The target '{spec.target}' is also listed as a feature; the model would see the "
            "answer. Remove it from the features."
        )
    for feature in spec.features:
        if feature.kind not in FEATURE_KINDS:
            problems.append(
                f"Feature '{feature.name}' has kind {feature.kind!r}; allowed kinds are "
                f"{', '.join(FEATURE_KINDS)}."
            )
    return problems


def _check_layer(position: int, layer: LayerSpec) -> list[str]:
    where = f"layer {position}"
    if layer.kind == "dense":
        problems = _check_limit(f"'units' of {where} (Dense)", layer.units, limits.UNITS)
        if layer.activation not in ACTIVATIONS:
            problems.append(
                f"The 'activation' of {where} (Dense) must be one of {', '.join(ACTIVATIONS)}; "
                f"got {layer.activation!r}."
            )
        problems += _check_limit(f"'l2' of {where} (Dense)", layer.l2, limits.L2)
        return problems
    if layer.kind == "dropout":
        return _check_limit(
            f"'rate' of {where} (Dropout)",
            layer.rate,
            limits.DROPOUT_RATE,
            meaning=" (the fraction of units dropped)",
        )
    if layer.kind == "batch_norm":
        return []
    return [f"The 'kind' of {where} must be one of {', '.join(LAYER_KINDS)}; got {layer.kind!r}."]


def _check_output(spec: ModelSpec) -> list[str]:
    if spec.task not in TASKS:
        return []
    problems = []
    allowed_activations = OUTPUT_ACTIVATIONS[spec.task]
    if spec.output_activation is not None and spec.output_activation not in allowed_activations:
        problems.append(
            f"For {spec.task}, the 'output_activation' must be one of "
            f"{', '.join(allowed_activations)}; got {spec.output_activation!r}."
        )
    allowed_losses = LOSSES[spec.task]
    if spec.loss is not None and spec.loss not in allowed_losses:
        problems.append(
            f"For {spec.task}, the 'loss' must be one of {', '.join(allowed_losses)}; "
            f"got {spec.loss!r}."
        )
    if spec.task == "binary" and not problems:
        activation, loss = spec.resolved_output()
        pairs = {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy"}
        if pairs[activation] != loss:
            problems.append(
                f"A {activation} output needs {LOSS_NAMES[pairs[activation]]} as its loss; got "
                f"{loss!r}. Use sigmoid with binary_crossentropy or softmax with "
                "categorical_crossentropy."
            )
    return problems


def _check_training(spec: ModelSpec) -> list[str]:
    problems = []
    if spec.optimizer not in OPTIMIZERS:
        problems.append(
            f"The 'optimizer' must be one of {', '.join(OPTIMIZERS)}; got {spec.optimizer!r}."
        )
    problems += _check_limit(
        "'learning_rate'",
        spec.learning_rate,
        limits.LEARNING_RATE,
        hint=f" Try {DEFAULT_LEARNING_RATES.get(spec.optimizer, 1e-3):g}.",
    )
    problems += _check_limit("'momentum'", spec.momentum, limits.MOMENTUM)
    problems += _check_limit("'beta_2'", spec.beta_2, limits.BETA_2)
    problems += _check_limit("'weight_decay'", spec.weight_decay, limits.WEIGHT_DECAY)
    problems += _check_limit("'ensemble'", spec.ensemble, limits.ENSEMBLE)
    problems += _check_limit("'label_smoothing'", spec.label_smoothing, limits.LABEL_SMOOTHING)
    if spec.label_smoothing and spec.task == "regression" and _is_number(spec.label_smoothing):
        problems.append(
            "The 'label_smoothing' applies only when predicting classes; set it to 0 for a "
            "regression."
        )
    for name, allowed in (
        ("lr_schedule", limits.LEARNING_RATE_SCHEDULES),
        ("scaling", limits.SCALINGS),
        ("numeric_embedding", limits.NUMERIC_EMBEDDINGS),
    ):
        if getattr(spec, name) not in allowed:
            problems.append(
                f"The '{name}' must be one of {', '.join(allowed)}; got {getattr(spec, name)!r}."
            )
    problems += _check_limit("'batch_size'", spec.batch_size, limits.BATCH_SIZE)
    problems += _check_limit("'epochs'", spec.epochs, limits.EPOCHS)
    problems += _check_limit("'validation_split'", spec.validation_split, limits.VALIDATION_SPLIT)
    problems += _check_limit("'test_split'", spec.test_split, limits.TEST_SPLIT)
    if (
        _is_number(spec.validation_split)
        and _is_number(spec.test_split)
        and spec.validation_split + spec.test_split > 1 - limits.MIN_TRAINING_SHARE
    ):
        problems.append(
            "The 'validation_split' and 'test_split' together must leave at least "
            f"{limits.MIN_TRAINING_SHARE:.0%} of the rows for training; got "
            f"{spec.validation_split:g} + {spec.test_split:g}."
        )
    problems += _check_limit("'patience'", spec.patience, limits.PATIENCE)
    if not isinstance(spec.restore_best_weights, bool):
        problems.append(
            f"The 'restore_best_weights' must be true or false; got {spec.restore_best_weights!r}."
        )
    problems += _check_class_weight(spec)
    problems += _check_limit("'seed'", spec.seed, limits.SEED)
    return problems


def _check_class_weight(spec: ModelSpec) -> list[str]:
    if spec.class_weight not in CLASS_WEIGHTS:
        return [
            f"The 'class_weight' must be one of {', '.join(CLASS_WEIGHTS)}; "
            f"got {spec.class_weight!r}."
        ]
    if spec.class_weight == "balanced" and spec.task == "regression":
        return [
            "The 'class_weight' can be balanced only when predicting classes (binary or "
            "multiclass); got 'balanced' for a regression task. Set it to none."
        ]
    return []


# ------------------------------------------------------------ layer strings
def parse_layers(text: str) -> list[LayerSpec]:
    """Parse the CLI's layer list: ``dense:64:relu,dropout:0.2,batchnorm``.

    Each item is ``dense:UNITS[:ACTIVATION]``, ``dropout:RATE`` or ``batchnorm``.
    Only the syntax is checked here; values are checked by ``ModelSpec.validate``.
    """
    layers: list[LayerSpec] = []
    problems: list[str] = []
    items = [item.strip() for item in text.split(",") if item.strip()]
    for position, item in enumerate(items, start=1):
        parts = [part.strip().lower() for part in item.split(":")]
        kind = parts[0]
        try:
            if kind == "dense" and len(parts) in (2, 3):
                activation = parts[2] if len(parts) == 3 else "relu"
                layers.append(LayerSpec.dense(int(parts[1]), activation))
            elif kind == "dropout" and len(parts) == 2:
                layers.append(LayerSpec.dropout(float(parts[1])))
            elif kind in ("batchnorm", "batch_norm") and len(parts) == 1:
                layers.append(LayerSpec.batch_norm())
            else:
                raise ValueError
        except ValueError:
            problems.append(
                f"Layer {position} {item!r} is not understood. Write dense:UNITS[:ACTIVATION], "
                "dropout:RATE or batchnorm, e.g. dense:64:relu,dropout:0.2,dense:32:tanh."
            )
    if problems:
        raise SpecError(problems)
    return layers


def format_layers(layers: list[LayerSpec]) -> str:
    """The inverse of ``parse_layers``."""
    items = []
    for layer in layers:
        if layer.kind == "dense":
            items.append(f"dense:{layer.units}:{layer.activation}")
        elif layer.kind == "dropout":
            items.append(f"dropout:{layer.rate:g}")
        else:
            items.append("batchnorm")
    return ",".join(items)


def default_spec(target: str, task: str, profiles: list) -> ModelSpec:
    """The starting spec for a table: every column its profile suggests as a feature, default network.

    ``profiles`` are ``layerlab.tabular.data.ColumnProfile`` objects (anything with
    ``name``, ``role`` and ``model_kind``).
    """
    features = [
        Feature(profile.name, profile.model_kind)
        for profile in profiles
        if profile.role == "feature" and profile.model_kind and profile.name != target
    ]
    return ModelSpec(target=target, task=task, features=features)
