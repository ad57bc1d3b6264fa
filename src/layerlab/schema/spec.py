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
from layerlab.schema.layers import LayerSpec, check_layer, format_layers, parse_layers, plain
from layerlab.schema.limits import CLASS_WEIGHTS, OPTIMIZERS, check_limit
from layerlab.schema.numbers import whole_numbers_as_floats
from layerlab.schema.vocabulary import FeatureKind, Task, member_or_value

# ``LayerSpec`` and the CLI's layer strings live in ``layers``, with the layer kinds; they are
# named here too because every caller that knows the spec knows them from here.
__all__ = [
    "BETA_2_OPTIMIZERS",
    "DEFAULT_LEARNING_RATES",
    "DEFAULT_RECIPE",
    "FEATURE_KINDS",
    "LOSSES",
    "LOSS_NAMES",
    "OUTPUT_ACTIVATIONS",
    "PLAIN_RECIPE",
    "SPEC_VERSION",
    "TASKS",
    "USUAL_LEARNING_RATE_RANGES",
    "Feature",
    "LayerSpec",
    "ModelSpec",
    "default_layers",
    "default_spec",
    "format_layers",
    "parse_layers",
]

# 2 added ``class_weight``. Files of version 1 load unchanged (the field takes its default); the
# version tells an older Layerlab to update rather than call the field unknown.
# 3 added ``scaling``, ``numeric_embedding``, ``beta_2``, ``weight_decay``, ``lr_schedule``,
# ``label_smoothing`` and ``ensemble``. Files of versions 1 and 2 load as they trained: ``LEGACY_TRAINING``.
# 4 added ``lr_plateau_factor`` and ``refit``. Files of versions 1 to 3 load as they trained
# (1.0: never lowered; no refit).
SPEC_VERSION = 4

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

TASKS = tuple(Task)
FEATURE_KINDS = tuple(FeatureKind)

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
    Task.REGRESSION: ("linear",),
    Task.BINARY: ("sigmoid", "softmax"),
    Task.MULTICLASS: ("softmax",),
}
LOSSES = {
    Task.REGRESSION: ("mse", "mae", "huber"),
    Task.BINARY: ("binary_crossentropy", "categorical_crossentropy"),
    Task.MULTICLASS: ("categorical_crossentropy",),
}
LOSS_NAMES = {
    "mse": "mean squared error",
    "mae": "mean absolute error",
    "huber": "Huber loss",
    "binary_crossentropy": "binary cross-entropy",
    "categorical_crossentropy": "categorical cross-entropy",
}

# Older names for three limits, still imported by tests and validate().
MAX_UNITS = limits.UNITS.high
MAX_LAYERS = limits.LAYERS.high
MAX_EPOCHS = limits.EPOCHS.high


@dataclass
class Feature:
    """A raw input column and how the model reads it."""

    name: str
    kind: FeatureKind

    def __post_init__(self) -> None:
        self.kind = member_or_value(FeatureKind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


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
    ``lr_plateau_factor`` below 1 multiplies a constant learning rate by itself each time
    the validation loss has not improved for half the patience, as Keras's
    ``ReduceLROnPlateau`` does before ``EarlyStopping`` ends the run. ``refit``: once
    validation has chosen the epoch, a fresh network trains on the training and validation
    rows together for that many epochs and becomes the model (``layerlab.model.refit``).
    """

    target: str
    task: Task
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
    lr_plateau_factor: float = 1.0
    restore_best_weights: bool = True
    refit: bool = False
    seed: int = 42
    spec_version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        self.task = member_or_value(Task, self.task)
        whole_numbers_as_floats(
            self,
            (
                "learning_rate",
                "momentum",
                "beta_2",
                "weight_decay",
                "label_smoothing",
                "lr_plateau_factor",
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
        elif self.task == Task.REGRESSION:
            loss = "mse"
        elif self.task == Task.BINARY and activation == "sigmoid":
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
        """Every field as plain JSON data, ``spec_version`` first so a reader meets it first."""
        values = {f.name: _plain_data(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"spec_version": values.pop("spec_version"), **values}

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
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in config]
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
        if version < 4:
            values = {"lr_plateau_factor": 1.0, "refit": False, **values}
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
            problems += check_layer(position, layer)
        if len(self.layers) > MAX_LAYERS:
            problems.append(
                f"The network may have at most {MAX_LAYERS} hidden layers; got {len(self.layers)}."
            )
        problems += _check_output(self)
        problems += _check_training(self)
        if problems:
            raise SpecError(problems)
        return self


# ----------------------------------------------------------------- checkers
def _plain_data(value: Any) -> Any:
    """A field's value as JSON data: records through their own ``to_dict``, lists item by item."""
    if isinstance(value, list):
        return [_plain_data(item) for item in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return plain(value)


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return isinstance(value, int) or math.isfinite(value)


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
    if spec.task == Task.BINARY and not problems:
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
    problems += check_limit(
        "'learning_rate'",
        spec.learning_rate,
        limits.LEARNING_RATE,
        hint=f" Try {DEFAULT_LEARNING_RATES.get(spec.optimizer, 1e-3):g}.",
    )
    problems += check_limit("'momentum'", spec.momentum, limits.MOMENTUM)
    problems += check_limit("'beta_2'", spec.beta_2, limits.BETA_2)
    problems += check_limit("'weight_decay'", spec.weight_decay, limits.WEIGHT_DECAY)
    problems += check_limit("'ensemble'", spec.ensemble, limits.ENSEMBLE)
    problems += check_limit("'label_smoothing'", spec.label_smoothing, limits.LABEL_SMOOTHING)
    if spec.label_smoothing and spec.task == Task.REGRESSION and _is_number(spec.label_smoothing):
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
    problems += check_limit("'batch_size'", spec.batch_size, limits.BATCH_SIZE)
    problems += check_limit("'epochs'", spec.epochs, limits.EPOCHS)
    problems += check_limit("'validation_split'", spec.validation_split, limits.VALIDATION_SPLIT)
    problems += check_limit("'test_split'", spec.test_split, limits.TEST_SPLIT)
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
    problems += check_limit("'patience'", spec.patience, limits.PATIENCE)
    problems += check_limit(
        "'lr_plateau_factor'",
        spec.lr_plateau_factor,
        limits.LR_PLATEAU_FACTOR,
        meaning=" (what the learning rate is multiplied by when validation stalls; 1 keeps it)",
    )
    for name in ("restore_best_weights", "refit"):
        if not isinstance(getattr(spec, name), bool):
            problems.append(f"The '{name}' must be true or false; got {getattr(spec, name)!r}.")
    problems += _check_class_weight(spec)
    problems += check_limit("'seed'", spec.seed, limits.SEED)
    return problems


def _check_class_weight(spec: ModelSpec) -> list[str]:
    if spec.class_weight not in CLASS_WEIGHTS:
        return [
            f"The 'class_weight' must be one of {', '.join(CLASS_WEIGHTS)}; "
            f"got {spec.class_weight!r}."
        ]
    if spec.class_weight == "balanced" and spec.task == Task.REGRESSION:
        return [
            "The 'class_weight' can be balanced only when predicting classes (binary or "
            "multiclass); got 'balanced' for a regression task. Set it to none."
        ]
    return []


# What a new table's spec turns on beyond ``ModelSpec``'s own defaults (which stay those of
# a plain Keras loop, as a spec written before these fields trained). On the ten tables of
# bench/QUALITY.md: refitting on every row bettered the test loss on 8 and lost on 1 (by
# under a point); lowering the rate on a plateau bettered 2 and lost on none; the three
# with an ensemble of 4 brought the network within 2% of the best scikit-learn model on 7
# tables instead of 5, for 1.3 to 2.5 times the seconds.
DEFAULT_RECIPE = {"lr_plateau_factor": 0.3, "refit": True, "ensemble": 4}
# The same fields as a plain Keras loop has them (``ModelSpec``'s own defaults): one network,
# trained on the training rows, its rate never lowered. What a search trial trains, and what
# a test of something other than the recipe trains in a fifth of the time.
PLAIN_RECIPE = {"lr_plateau_factor": 1.0, "refit": False, "ensemble": 1}


def default_spec(target: str, task: str, profiles: list) -> ModelSpec:
    """The starting spec for a table: every column its profile suggests as a feature, the
    default network, and ``DEFAULT_RECIPE``.

    ``profiles`` are ``layerlab.tabular.data.ColumnProfile`` objects (anything with
    ``name``, ``role`` and ``model_kind``).
    """
    features = [
        Feature(profile.name, profile.model_kind)
        for profile in profiles
        if profile.role == "feature" and profile.model_kind and profile.name != target
    ]
    return ModelSpec(target=target, task=task, features=features, **DEFAULT_RECIPE)
