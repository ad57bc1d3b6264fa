"""A search space: which settings a search varies, and over what, as plain data.

Hyperparameters are not learned, so they are searched, and sampled at random
rather than on a grid (the lessons Layerlab is built on). A space names, for
each setting it varies, either a list of choices or a range:

    {"hidden_layers": {"low": 1, "high": 3},
     "units": [16, 32, 64, 128],            (or a log range: {"low": 8, "high": 256})
     "activations": ["relu", "tanh"],
     "dropout_rate": {"low": 0, "high": 0.3, "step": 0.1},   (0: no dropout layer)
     "optimizers": ["adam", "rmsprop"],
     "learning_rate": {"low": 0.0001, "high": 0.01},         (always a log range)
     "batch_sizes": [16, 32, 64]}

A setting the space leaves out keeps the value of the spec the search starts
from. Like ``ModelSpec``, a space round trips through ``to_dict()`` /
``from_dict()`` and JSON, and ``validate()`` reports every problem at once,
each against the limits in ``limits.py`` that the spec itself is checked by.

``sample(trial, base_spec)`` draws one network from an Optuna trial, under the
same parameter names every time (``hidden_layers``, ``units_1`` ... ``units_N``,
``activation``, ``dropout_rate``, ``optimizer``, ``learning_rate``,
``batch_size``), so Optuna's storage and its figures see one search.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerlab.schema import limits
from layerlab.schema.errors import SpecError
from layerlab.schema.limits import ACTIVATIONS, OPTIMIZERS, Limit
from layerlab.schema.spec import LayerSpec, ModelSpec
from layerlab.schema.vocabulary import LayerKind

if TYPE_CHECKING:
    import optuna

# The width of an added layer when the space varies the depth but not the widths and the
# starting network has no dense layer to copy.
DEFAULT_UNITS = 32
# A dropout range without a step moves in tenths, so that 0 (no dropout layer) can be drawn.
DEFAULT_DROPOUT_STEP = 0.1

SETTINGS = (
    "hidden_layers",
    "units",
    "activations",
    "dropout_rate",
    "optimizers",
    "learning_rate",
    "batch_sizes",
)
_NETWORK = ("hidden_layers", "units", "activations", "dropout_rate")
_RANGE_KEYS = {"low", "high", "step"}


class SearchSpaceError(SpecError):
    """A search space with one or more invalid settings; ``problems`` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        if len(self.problems) > 1:
            self.args = (
                "The search space has {} problems:\n- {}".format(
                    len(self.problems), "\n- ".join(self.problems)
                ),
            )


@dataclass(frozen=True)
class Range:
    """The values from ``low`` to ``high``; ``step`` only for the dropout rate."""

    low: Any
    high: Any
    step: Any = None

    def to_dict(self) -> dict[str, Any]:
        values = {"low": self.low, "high": self.high}
        return values if self.step is None else {**values, "step": self.step}

    def describe(self) -> str:
        step = "" if self.step is None else f" in steps of {self.step:g}"
        return f"{self.low:g} to {self.high:g}{step}"


@dataclass(frozen=True)
class SearchSpace:
    """What a search varies. ``None``: the setting keeps the starting spec's value."""

    hidden_layers: Range | None = None
    units: tuple[int, ...] | Range | None = None  # a Range of units is searched on a log scale
    activations: tuple[str, ...] | None = None
    dropout_rate: Range | None = None
    optimizers: tuple[str, ...] | None = None
    learning_rate: Range | None = None  # always searched on a log scale
    batch_sizes: tuple[int, ...] | None = None

    # ------------------------------------------------------------ round trip
    def to_dict(self) -> dict[str, Any]:
        """The settings the space names, as JSON values (left-out settings are left out)."""
        values: dict[str, Any] = {}
        for name in SETTINGS:
            value = getattr(self, name)
            if isinstance(value, Range):
                values[name] = value.to_dict()
            elif value is not None:
                values[name] = list(value)
        return values

    @classmethod
    def from_dict(cls, config: Any) -> SearchSpace:
        """Read a space, checked; ``SearchSpaceError`` lists every problem, of shape and value."""
        if not isinstance(config, dict):
            raise SearchSpaceError(
                [
                    "A search space must be a JSON object such as "
                    '{"units": [16, 32, 64], "learning_rate": {"low": 0.0001, "high": 0.01}}; '
                    f"got {type(config).__name__}."
                ]
            )
        problems = []
        unknown = sorted(set(config) - set(SETTINGS))
        if unknown:
            problems.append(
                f"Unknown search setting(s) {', '.join(map(repr, unknown))}; the settings a "
                f"search can vary are {', '.join(SETTINGS)}."
            )
        values = {}
        for name in SETTINGS:
            if name not in config or config[name] is None:
                continue
            value, problem = _read_setting(name, config[name])
            values[name] = value
            if problem:
                problems.append(problem)
        space = cls(**values)
        problems += space.problems()
        if problems:
            raise SearchSpaceError(problems)
        return space

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise SearchSpaceError(
                [f"The search space file is not valid JSON ({error.msg} at line {error.lineno})."]
            ) from None
        return cls.from_dict(config)

    # ------------------------------------------------------------ validation
    def validate(self) -> SearchSpace:
        """Raise ``SearchSpaceError`` listing every invalid setting; return ``self`` if none."""
        problems = self.problems()
        if problems:
            raise SearchSpaceError(problems)
        return self

    def problems(self) -> list[str]:
        """Every problem with the space, one sentence each: what, what is allowed, what it got."""
        problems: list[str] = []
        problems += _check_range("hidden_layers", self.hidden_layers, limits.LAYERS)
        if isinstance(self.units, Range):
            problems += _check_range("units", self.units, limits.UNITS)
        else:
            problems += _check_choices("units", self.units, limits.UNITS)
        problems += _check_names("activations", self.activations, ACTIVATIONS)
        problems += _check_range("dropout_rate", self.dropout_rate, limits.DROPOUT_RATE, step=True)
        problems += _check_names("optimizers", self.optimizers, OPTIMIZERS)
        problems += _check_range("learning_rate", self.learning_rate, limits.LEARNING_RATE)
        problems += _check_choices("batch_sizes", self.batch_sizes, limits.BATCH_SIZE)
        if not problems:
            problems += self._check_depth()
        if not problems and not self.varied():
            problems.append(
                "The search space varies nothing: give at least one setting two or more "
                "values (a list of choices, or a range whose low is below its high)."
            )
        return problems

    def _check_depth(self) -> list[str]:
        """Dense layers and their dropout layers together stay within the network's limit."""
        if self.hidden_layers is None:
            return []
        # Without a dropout range, the starting network's dropout (if any) follows each layer.
        per_layer = 1 if self.dropout_rate is not None and self.dropout_rate.high == 0 else 2
        deepest = self.hidden_layers.high * per_layer
        if deepest <= limits.LAYERS.high:
            return []
        return [
            f"The 'hidden_layers' may reach at most {limits.LAYERS.high // per_layer} when each "
            f"may get a dropout layer after it (a network has at most {limits.LAYERS.high} "
            f"layers); got a high of {self.hidden_layers.high}. For deeper networks, set the "
            '\'dropout_rate\' to {"low": 0, "high": 0}.'
        ]

    # ------------------------------------------------------------ reading it
    def varied(self) -> list[str]:
        """The settings that take more than one value."""
        names = []
        for name in SETTINGS:
            value = getattr(self, name)
            if isinstance(value, Range):
                if value.low != value.high:
                    names.append(name)
            elif value is not None and len(set(value)) > 1:
                names.append(name)
        return names

    def describe(self) -> list[str]:
        """One line per setting the space names, e.g. ``units: 16, 32, 64``."""
        lines = []
        for name in SETTINGS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Range):
                scale = " (log scale)" if name in ("units", "learning_rate") else ""
                lines.append(f"{name}: {value.describe()}{scale}")
            else:
                lines.append(f"{name}: {', '.join(str(item) for item in value)}")
        return lines

    def replace(self, **changes: Any) -> SearchSpace:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ sampling
    def sample(self, trial: optuna.trial.BaseTrial, base_spec: ModelSpec) -> ModelSpec:
        """The spec of one trial: ``base_spec`` with the varied settings drawn from ``trial``.

        Only settings with a real choice are asked of the trial; a setting with one
        value takes it, and a setting the space leaves out keeps the base's value.
        """
        changes: dict[str, Any] = {}
        if any(getattr(self, name) is not None for name in _NETWORK):
            changes["layers"] = self._sample_layers(trial, base_spec)
        if self.optimizers is not None:
            changes["optimizer"] = _choose(trial, "optimizer", self.optimizers)
        if self.learning_rate is not None:
            changes["learning_rate"] = _draw_float(trial, "learning_rate", self.learning_rate)
        if self.batch_sizes is not None:
            changes["batch_size"] = _choose(trial, "batch_size", self.batch_sizes)
        return base_spec.replace(**changes).validate()

    def params_of(self, spec: ModelSpec) -> dict[str, Any]:
        """The trial parameters under which ``sample`` draws ``spec``'s own settings, for each
        setting the space can draw it at: enqueued, they make a search's first trial the
        starting network itself, so the search is measured against it. A network ``sample``
        cannot draw (widths off the space's list, one activation per layer) comes out as
        near as the space allows: the parameters left out are drawn."""
        dense = [layer for layer in spec.layers if layer.kind == LayerKind.DENSE]
        rates = [layer.rate for layer in spec.layers if layer.kind == LayerKind.DROPOUT]
        wanted: dict[str, tuple[Any, Any]] = {
            "hidden_layers": (self.hidden_layers, len(dense)),
            **{
                f"units_{position}": (self.units, layer.units)
                for position, layer in enumerate(dense, start=1)
            },
            "activation": (self.activations, dense[0].activation if dense else None),
            "dropout_rate": (self.dropout_rate, rates[0] if rates else 0.0),
            "optimizer": (self.optimizers, spec.optimizer),
            "learning_rate": (self.learning_rate, spec.learning_rate),
            "batch_size": (self.batch_sizes, spec.batch_size),
        }
        return {
            name: value
            for name, (allowed, value) in wanted.items()
            if allowed is not None and value is not None and _within(value, allowed)
        }

    def _sample_layers(self, trial: optuna.trial.BaseTrial, base: ModelSpec) -> list[LayerSpec]:
        dense = [layer for layer in base.layers if layer.kind == LayerKind.DENSE]
        dropout = [layer.rate for layer in base.layers if layer.kind == LayerKind.DROPOUT]
        if self.hidden_layers is None:
            depth = len(dense)
        else:
            depth = _draw_int(trial, "hidden_layers", self.hidden_layers)
        if self.activations is None:
            activation = dense[0].activation if dense else "relu"
        else:
            activation = _choose(trial, "activation", self.activations)
        if self.dropout_rate is None:
            rate = dropout[0] if dropout else 0.0
        else:
            rate = _draw_float(trial, "dropout_rate", self.dropout_rate)
        layers = []
        for position in range(1, depth + 1):
            if isinstance(self.units, Range):
                units = _draw_int(trial, f"units_{position}", self.units, log=True)
            elif self.units is not None:
                units = _choose(trial, f"units_{position}", self.units)
            elif dense:
                units = dense[min(position, len(dense)) - 1].units
            else:
                units = DEFAULT_UNITS
            layers.append(LayerSpec.dense(int(units), activation))
            if rate > 0:
                layers.append(LayerSpec.dropout(rate))
        return layers


def default_space() -> SearchSpace:
    """The lessons' search: depth, width, activation, dropout, optimizer, learning rate (on a
    log scale) and batch size, each over the values that usually matter for a small table."""
    return SearchSpace(
        hidden_layers=Range(1, 3),
        units=(16, 32, 64, 128, 256),
        activations=("relu", "tanh", "elu"),
        dropout_rate=Range(0.0, 0.3, DEFAULT_DROPOUT_STEP),
        optimizers=("adam", "rmsprop"),
        learning_rate=Range(1e-4, 3e-2),
        batch_sizes=(16, 32, 64),
    )


# ------------------------------------------------------------------ drawing
def _within(value: Any, allowed: Range | tuple) -> bool:
    if isinstance(allowed, Range):
        return allowed.low <= value <= allowed.high
    return value in allowed


def _choose(trial: optuna.trial.BaseTrial, name: str, choices: tuple) -> Any:
    distinct = list(dict.fromkeys(choices))
    return distinct[0] if len(distinct) == 1 else trial.suggest_categorical(name, distinct)


def _draw_int(trial: optuna.trial.BaseTrial, name: str, values: Range, *, log: bool = False) -> int:
    if values.low == values.high:
        return int(values.low)
    return trial.suggest_int(name, int(values.low), int(values.high), log=log)


def _draw_float(trial: optuna.trial.BaseTrial, name: str, values: Range) -> float:
    if values.low == values.high:
        return float(values.low)
    if name == "learning_rate":
        # Three significant figures: 0.000412 trains as 0.000411555 would, and reads as
        # what it is on the Runs page, the Model page and in the spec.
        drawn = trial.suggest_float(name, float(values.low), float(values.high), log=True)
        return min(max(float(f"{drawn:.3g}"), float(values.low)), float(values.high))
    step = DEFAULT_DROPOUT_STEP if values.step is None else values.step
    return round(trial.suggest_float(name, float(values.low), float(values.high), step=step), 10)


# ------------------------------------------------------------------ reading and checking
def _read_setting(name: str, raw: Any) -> tuple[Any, str | None]:
    """A setting as the space holds it (a tuple of choices or a ``Range``), and a problem with
    its shape, if any; values are checked later, by ``problems()``."""
    takes_range = name in ("hidden_layers", "units", "dropout_rate", "learning_rate")
    takes_list = name in ("units", "activations", "optimizers", "batch_sizes")
    if isinstance(raw, list) and takes_list:
        return tuple(raw), None
    if isinstance(raw, dict) and takes_range:
        keys = set(raw)
        allowed = _RANGE_KEYS if name == "dropout_rate" else {"low", "high"}
        if {"low", "high"} <= keys <= allowed:
            return Range(raw["low"], raw["high"], raw.get("step")), None
        return None, (
            f"The '{name}' range takes {', '.join(sorted(allowed))}; got "
            f"{', '.join(sorted(map(str, keys))) or 'no keys'}."
        )
    shapes = []
    if takes_list:
        shapes.append("a list of choices such as " + _EXAMPLES[name][0])
    if takes_range:
        shapes.append("a range such as " + _EXAMPLES[name][-1])
    return None, f"The '{name}' must be {' or '.join(shapes)}; got {raw!r}."


_EXAMPLES = {
    "hidden_layers": ['{"low": 1, "high": 3}'],
    "units": ["[16, 32, 64]", '{"low": 8, "high": 256}'],
    "activations": ['["relu", "tanh"]'],
    "dropout_rate": ['{"low": 0, "high": 0.3, "step": 0.1}'],
    "optimizers": ['["adam", "rmsprop"]'],
    "learning_rate": ['{"low": 0.0001, "high": 0.01}'],
    "batch_sizes": ["[16, 32, 64]"],
}


def _check_range(name: str, values: Range | None, limit: Limit, *, step: bool = False) -> list[str]:
    if values is None:
        return []
    problems = [
        f"The '{name}' {end} must be {limit.describe()}; got {value!r}."
        for end, value in (("low", values.low), ("high", values.high))
        if not limit.allows(value)
    ]
    if problems:
        return problems
    if values.low > values.high:
        return [
            f"The '{name}' low must be at most its high; got low {values.low!r} and high "
            f"{values.high!r}."
        ]
    if step and values.step is not None:
        return _check_step(name, values)
    return []


def _check_step(name: str, values: Range) -> list[str]:
    step = values.step
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
        return [f"The '{name}' step must be a number above 0; got {step!r}."]
    spans = (values.high - values.low) / step
    if not math.isclose(spans, round(spans), abs_tol=1e-9):
        return [
            f"The '{name}' range from {values.low:g} to {values.high:g} must be a whole number "
            f"of steps; got a step of {step:g}. Try a step of "
            f"{(values.high - values.low) / max(1, round(spans)):g}."
        ]
    return []


def _check_choices(name: str, choices: tuple | None, limit: Limit) -> list[str]:
    if choices is None:
        return []
    if not choices:
        return [f"The '{name}' must list at least one choice; got an empty list."]
    wrong = [value for value in choices if not limit.allows(value)]
    if wrong:
        return [
            f"Each of the '{name}' must be {limit.describe()}; got {', '.join(map(repr, wrong))}."
        ]
    return []


def _check_names(name: str, choices: tuple | None, allowed: tuple[str, ...]) -> list[str]:
    if choices is None:
        return []
    if not choices:
        return [f"The '{name}' must list at least one choice; got an empty list."]
    wrong = [value for value in choices if value not in allowed]
    if wrong:
        return [
            f"Each of the '{name}' must be one of {', '.join(allowed)}; got "
            f"{', '.join(map(repr, wrong))}."
        ]
    return []
