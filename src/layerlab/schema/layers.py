"""Hidden layers: each kind defined once, and ``LayerSpec``, one layer of a spec.

A ``LayerKindDefinition`` says everything about a kind that is plain data: its settings
with their limits and defaults, its name, the sentence that explains it, how the CLI
writes it and which settings get a widget. Validation, the round trip, the summary, the
CLI's layer strings and the app's layer editor all read it, so adding a kind is one entry
in ``LAYER_KINDS`` here and one builder in ``layerlab.model.build.KERAS_LAYERS`` (a test
fails where either is missing), plus the ``LayerSpec`` field a new setting needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from layerlab.schema import limits
from layerlab.schema.errors import SpecError
from layerlab.schema.limits import Limit, check_limit
from layerlab.schema.numbers import whole_numbers_as_floats
from layerlab.schema.vocabulary import LayerKind, member_or_value


@dataclass(frozen=True)
class LayerSetting:
    """One setting of a layer kind, named as its ``LayerSpec`` field.

    ``limit`` (numbers) or ``choices`` (words) is what ``validate()`` allows and what the
    widget offers. ``default`` fills a setting a file or the CLI leaves out (None: it must
    be given); ``new_value`` is a new layer's value in the editor. ``summary`` says how
    ``describe()`` shows it: the bare value, or ``label`` and value only when not zero.
    ``widget`` false keeps a setting off the editor (a file's value is carried over);
    ``in_cli`` false, off the CLI's layer string.
    """

    name: str
    label: str
    limit: Limit | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    new_value: Any = None
    meaning: str = ""
    help: str | None = None
    summary: Literal["value", "when_set"] = "value"
    widget: bool = True
    in_cli: bool = True
    # A new layer copies this setting from the last layer of its kind, when there is one.
    carried_to_new: bool = False
    # Words once among the choices, each with why it is refused now: old files still load.
    retired: dict[str, str] = dataclasses.field(default_factory=dict)


def _passes_width_on(layer: LayerSpec, width: int) -> tuple[int, int, int]:
    return 0, 0, width


@dataclass(frozen=True)
class LayerKindDefinition:
    """Everything about one kind of hidden layer that is not Keras code.

    ``name`` is the kind in messages, summaries and the editor's Add button; ``keras_name``
    the Keras class, the heading of the editor's row; ``description`` what the kind does, the
    Add button's help (and the row's caption where the kind has no setting); ``cli_names``
    what the CLI's layer string accepts (the first is what ``format_layers`` writes);
    ``brief`` the layer in a network's one-line name (``str.format`` of its settings);
    ``weights`` what the layer holds given the width it receives: (trainable, non-trainable,
    the width it passes on), for the parameter count and the memory estimate.
    """

    kind: LayerKind
    name: str
    keras_name: str
    description: str
    settings: tuple[LayerSetting, ...] = ()
    cli_names: tuple[str, ...] = ()
    brief: str = ""
    weights: Callable[[LayerSpec, int], tuple[int, int, int]] = _passes_width_on

    @property
    def setting_names(self) -> tuple[str, ...]:
        return tuple(setting.name for setting in self.settings)

    def cli_syntax(self) -> str:
        """``dense:UNITS[:ACTIVATION]``: optional settings (those with a default) in brackets."""
        text = self.cli_names[0]
        for setting in self.settings:
            if setting.in_cli:
                part = f":{setting.name.upper()}"
                text += part if setting.default is None else f"[{part}]"
        return text


def _dense_weights(layer: LayerSpec, width: int) -> tuple[int, int, int]:
    return width * layer.units + layer.units, 0, layer.units  # kernel and bias


def _batch_norm_weights(layer: LayerSpec, width: int) -> tuple[int, int, int]:
    return 2 * width, 2 * width, width  # gamma and beta; the moving mean and variance


DENSE = LayerKindDefinition(
    kind=LayerKind.DENSE,
    name="Dense",
    keras_name="Dense",
    description="A Dense layer connects every input to every unit; relu is the usual activation.",
    settings=(
        LayerSetting("units", "Units", limit=limits.UNITS, new_value=32, carried_to_new=True),
        LayerSetting(
            "activation",
            "Activation",
            choices=limits.ACTIVATIONS,
            retired=limits.RETIRED_ACTIVATIONS,
            default="relu",
            new_value="relu",
        ),
        LayerSetting(
            "l2",
            "L2",
            limit=limits.L2,
            default=0.0,
            new_value=0.0,
            summary="when_set",
            widget=False,
            in_cli=False,
        ),
    ),
    cli_names=("dense",),
    brief="{units} {activation}",
    weights=_dense_weights,
)
_DROPOUT_SENTENCE = (
    "Dropout switches off this fraction of the previous layer's outputs at random during "
    "training, which discourages memorising the training rows."
)
DROPOUT = LayerKindDefinition(
    kind=LayerKind.DROPOUT,
    name="Dropout",
    keras_name="Dropout",
    description=_DROPOUT_SENTENCE,
    settings=(
        LayerSetting(
            "rate",
            "Dropout rate",
            limit=limits.DROPOUT_RATE,
            new_value=0.2,
            meaning=" (the fraction of units dropped)",
            help=_DROPOUT_SENTENCE,
        ),
    ),
    cli_names=("dropout",),
    brief="dropout {rate:g}",
)
BATCH_NORM = LayerKindDefinition(
    kind=LayerKind.BATCH_NORM,
    name="BatchNorm",
    keras_name="BatchNormalization",
    description=(
        "Batch normalization re-centres and re-scales the previous layer's outputs, which often "
        "lets deeper networks train faster."
    ),
    cli_names=("batchnorm", "batch_norm"),
    brief="batch norm",
    weights=_batch_norm_weights,
)

# Every kind, in the order the editor offers them.
LAYER_KINDS: dict[LayerKind, LayerKindDefinition] = {
    definition.kind: definition for definition in (DENSE, DROPOUT, BATCH_NORM)
}


# Settings that hold real numbers, which a file may write as whole ones (``"rate": 1``).
_REAL_SETTINGS = tuple(
    sorted(
        {
            setting.name
            for definition in LAYER_KINDS.values()
            for setting in definition.settings
            if setting.limit is not None and not setting.limit.whole
        }
    )
)


def definition_of(kind: Any) -> LayerKindDefinition | None:
    """The definition of ``kind`` (a ``LayerKind`` or its string); None for an unknown kind."""
    return LAYER_KINDS.get(kind) if isinstance(kind, str) else None


@dataclass
class LayerSpec:
    """One hidden layer: a ``kind`` and the settings ``LAYER_KINDS[kind]`` names (the others
    stay at their defaults and are not written)."""

    kind: LayerKind
    units: int | None = None
    activation: str | None = None
    l2: float = 0.0
    rate: float | None = None

    def __post_init__(self) -> None:
        self.kind = member_or_value(LayerKind, self.kind)
        whole_numbers_as_floats(self, _REAL_SETTINGS)

    @classmethod
    def of(cls, kind: LayerKind | str, **settings: Any) -> LayerSpec:
        """A layer of ``kind``: the settings given, the definition's defaults for the rest."""
        definition = definition_of(kind)
        defaults = {s.name: s.default for s in definition.settings} if definition else {}
        return cls(kind=kind, **{**defaults, **settings})

    @classmethod
    def dense(cls, units: int, activation: str = "relu", l2: float = 0.0) -> LayerSpec:
        return cls(kind=LayerKind.DENSE, units=units, activation=activation, l2=l2)

    @classmethod
    def dropout(cls, rate: float) -> LayerSpec:
        return cls(kind=LayerKind.DROPOUT, rate=rate)

    @classmethod
    def batch_norm(cls) -> LayerSpec:
        return cls(kind=LayerKind.BATCH_NORM)

    @property
    def definition(self) -> LayerKindDefinition | None:
        return definition_of(self.kind)

    def to_dict(self) -> dict[str, Any]:
        """The kind and its settings, as plain values (a kind without a definition: only it)."""
        definition = self.definition
        names = definition.setting_names if definition else ()
        return {
            f.name: plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name == "kind" or f.name in names
        }

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LayerSpec:
        if not isinstance(config, dict):
            raise SpecError([f"Each layer must be an object with a 'kind'; got {config!r}."])
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise SpecError([f"Unknown layer setting(s) {unknown}; allowed are {sorted(allowed)}."])
        return cls.of(config.get("kind", ""), **{k: v for k, v in config.items() if k != "kind"})

    def brief(self) -> str:
        """The layer in a network's one-line name: ``64 relu``, ``dropout 0.2``."""
        definition = self.definition
        if definition is None:
            return str(self.kind)
        return definition.brief.format(
            **{s.name: getattr(self, s.name) for s in definition.settings}
        )

    def weights(self, width: int) -> tuple[int, int, int]:
        """(trainable, non-trainable, width passed on) for an input ``width`` wide."""
        return self.definition.weights(self, width)

    def describe(self) -> str:
        """A short label such as ``Dense 64 relu`` for summaries and the sidebar."""
        definition = self.definition
        if definition is None:
            return str(self.kind)
        parts = [definition.name]
        for setting in definition.settings:
            value = getattr(self, setting.name)
            if setting.summary == "value":
                parts.append(_text(value))
            elif setting.summary == "when_set" and value:
                parts.append(f"{setting.label} {_text(value)}")
        return " ".join(parts)


def plain(value: Any) -> Any:
    """An enum member as its string, so a spec's dict is plain JSON data like Keras's configs."""
    return value.value if isinstance(value, Enum) else value


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_layer(position: int, layer: LayerSpec) -> list[str]:
    """Every problem of one layer, each naming the setting, what is allowed and what it got."""
    where = f"layer {position}"
    definition = layer.definition
    if definition is None:
        return [
            f"The 'kind' of {where} must be one of {', '.join(LAYER_KINDS)}; got {layer.kind!r}."
        ]
    problems: list[str] = []
    for setting in definition.settings:
        value = getattr(layer, setting.name)
        named = f"'{setting.name}' of {where} ({definition.name})"
        if setting.limit is not None:
            problems += check_limit(named, value, setting.limit, meaning=setting.meaning)
        elif value in setting.retired:
            problems.append(f"The {named} cannot be {value!r}: {setting.retired[value]}.")
        elif value not in setting.choices:
            problems.append(
                f"The {named} must be one of {', '.join(setting.choices)}; got {value!r}."
            )
    return problems


# ------------------------------------------------------------ layer strings
def parse_layers(text: str) -> list[LayerSpec]:
    """Parse the CLI's layer list: ``dense:64:relu,dropout:0.2,batchnorm``.

    Each item is a kind's CLI name, then its CLI settings in order, separated by colons
    (see ``LayerKindDefinition.cli_syntax``). Only the syntax is checked here; values are
    checked by ``ModelSpec.validate``.
    """
    by_name = {name: d for d in LAYER_KINDS.values() for name in d.cli_names}
    layers: list[LayerSpec] = []
    problems: list[str] = []
    items = [item.strip() for item in text.split(",") if item.strip()]
    for position, item in enumerate(items, start=1):
        parts = [part.strip().lower() for part in item.split(":")]
        try:
            layers.append(_parsed_layer(by_name.get(parts[0]), parts[1:]))
        except ValueError:
            forms = [d.cli_syntax() for d in LAYER_KINDS.values()]
            syntax = f"{', '.join(forms[:-1])} or {forms[-1]}" if len(forms) > 1 else forms[0]
            problems.append(
                f"Layer {position} {item!r} is not understood. Write {syntax}, "
                "e.g. dense:64:relu,dropout:0.2,dense:32:tanh."
            )
    if problems:
        raise SpecError(problems)
    return layers


def _parsed_layer(definition: LayerKindDefinition | None, values: list[str]) -> LayerSpec:
    if definition is None:
        raise ValueError
    settings = [setting for setting in definition.settings if setting.in_cli]
    required = sum(setting.default is None for setting in settings)
    if not required <= len(values) <= len(settings):
        raise ValueError
    given = {
        setting.name: _from_text(setting, text)
        for setting, text in zip(settings, values, strict=False)
    }
    return LayerSpec.of(definition.kind, **given)


def _from_text(setting: LayerSetting, text: str) -> Any:
    if setting.limit is None:
        return text
    return int(text) if setting.limit.whole else float(text)


def format_layers(layers: list[LayerSpec]) -> str:
    """The inverse of ``parse_layers``."""
    items = []
    for layer in layers:
        definition = layer.definition
        if definition is None:
            raise ValueError(f"A layer of kind {layer.kind!r} has no CLI form.")
        values = [_text(getattr(layer, s.name)) for s in definition.settings if s.in_cli]
        items.append(":".join([definition.cli_names[0], *values]))
    return ",".join(items)
