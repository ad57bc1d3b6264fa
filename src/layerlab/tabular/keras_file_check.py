"""A ``.keras`` file counted before Keras builds it: layers, units and parameters from its config.

``keras.saving.load_model`` builds every layer the file's ``config.json`` declares,
allocating its weights, before it reads a single weight: an 84 KB file declaring
two 16,000-unit layers kept a worker busy for 21 s at 3.5 GB. Safe mode stops code,
not size. So the config is read here first, as plain JSON, and the model's shape is
worked out layer by layer the way Keras would: the width of each layer's output
from its inputs, each Dense layer's kernel from the width it receives. A file is
refused (``BundleError``) when it holds a layer Layerlab never writes, a layer
wider than ``limits.UNITS`` allows, more layers than a spec and its columns can
make, or more parameters than training them could ever have fitted in the
memory budget.

The layers Layerlab writes are ``build.py``'s: one input per column, its
encoding (Keras ops such as ``NanToNum`` or ``Tile``, ``Normalization``,
``StringLookup``), ``Concatenate``, then per ensemble member Dense, Dropout and
BatchNormalization layers, ``Average`` and ``Rescaling``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerlab.schema import limits
from layerlab.schema.errors import BundleError
from layerlab.tabular import reading
from layerlab.tabular.memory import memory_budget_bytes

CONFIG_FILE = "config.json"
CONFIG_BYTES = 16_000_000  # vocabularies and bin edges of every column, with room to spare
MAX_MEMBERS = 64
MAX_COLUMNS = 10_000  # where reading.py has no column limit of its own
# A column's encoding takes at most this many layers (numeric, robust, piecewise, gaps).
LAYERS_PER_COLUMN = 16
# A vocabulary holds at most build.MAX_CATEGORIES words (+ the empty one): room to spare.
MAX_VOCABULARY = 1_000
MAX_TILE = 1_000  # a numeric column's piecewise bins (build.PIECEWISE_BINS)
MAX_OUTPUTS = 1_000  # classes (task.MAX_CLASSES)
# Training keeps at least three float32 copies of every weight (the weights, their
# gradient, the best epoch's snapshot), so a model that trained within the memory
# budget has at most budget / 12 parameters.
BYTES_PER_TRAINED_PARAMETER = 12
FLOAT_BYTES = 4

# Layers whose output is as wide as their widest input (element by element).
_SAME_WIDTH = frozenset(
    {
        "NanToNum",
        "Normalization",
        "TrueDivide",
        "Divide",
        "Multiply",
        "Add",
        "Subtract",
        "Square",
        "Sqrt",
        "Abs",
        "Isfinite",
        "IsNan",
        "Isnan",
        "LogicalNot",
        "LogicalAnd",
        "LogicalOr",
        "Cast",
        "Clip",
        "Maximum",
        "Minimum",
        "Where",
        "Dropout",
        "BatchNormalization",
        "Rescaling",
        "Average",
        "Activation",
        "GetItem",  # a slice: at most as wide as its input
    }
)
_REDUCTIONS = frozenset({"Max", "Min", "Sum", "Mean"})  # over the last axis: one wide
_PARAMETERS_PER_WIDTH = {"Normalization": 3, "BatchNormalization": 4}
_KNOWN = _SAME_WIDTH | _REDUCTIONS | {"InputLayer", "Dense", "Concatenate", "StringLookup", "Tile"}


def max_parameters() -> int:
    """The most parameters a model file may declare: what trains within the memory budget."""
    return memory_budget_bytes() // BYTES_PER_TRAINED_PARAMETER


def max_keras_file_bytes() -> int:
    """The largest a ``.keras`` file may be: its weights, float32, and its config."""
    return FLOAT_BYTES * max_parameters() + CONFIG_BYTES + 1_000_000


def _max_columns() -> int:
    return int(getattr(reading, "MAX_COLUMNS", MAX_COLUMNS))


def _refuse(path: Path, problem: str) -> BundleError:
    return BundleError(
        f'"{path.name}" was not loaded: {problem} Layerlab never writes such a model, so it '
        "was not made by Layerlab or was changed after. Train the run again."
    )


def check_keras_file(path: str | Path) -> int:
    """The parameters of the model in ``path``, counted from its config without building
    it; ``BundleError`` for a file Keras should not be asked to build."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise _refuse(path, f"it holds {len(infos):,} files.")
            config = _read_config(path, archive)
            parameters = count_parameters(path, config)
            _check_weights_size(path, archive, parameters)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as error:
        raise _refuse(path, f"it is not a readable Keras file ({error}).") from None
    return parameters


def _inflated(archive: zipfile.ZipFile, name: str, limit: int) -> Iterator[bytes]:
    """A member's bytes in chunks, stopping at ``limit`` whatever its header claims."""
    size = 0
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ValueError(name)
            yield chunk


def _read_config(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    if CONFIG_FILE not in archive.namelist():
        raise _refuse(path, f"it has no {CONFIG_FILE}.")
    try:
        text = b"".join(_inflated(archive, CONFIG_FILE, CONFIG_BYTES))
    except ValueError:
        raise _refuse(path, f"its {CONFIG_FILE} is over {CONFIG_BYTES // 1_000_000} MB.") from None
    try:
        config = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _refuse(path, f"its {CONFIG_FILE} is not JSON.") from None
    if not isinstance(config, dict):
        raise _refuse(path, f"its {CONFIG_FILE} is not a JSON object.")
    return config


def _check_weights_size(path: Path, archive: zipfile.ZipFile, parameters: int) -> None:
    """The weights file inflates to about 4 bytes a parameter, never to gigabytes."""
    limit = FLOAT_BYTES * parameters * 2 + 1_000_000
    names = [name for name in archive.namelist() if name != CONFIG_FILE]
    try:
        total = 0
        for name in names:
            for chunk in _inflated(archive, name, limit - total):
                total += len(chunk)
    except ValueError:
        raise _refuse(
            path,
            f"its files unpack to more than {limit:,} bytes, more than the {parameters:,} "
            "parameters its configuration declares.",
        ) from None


def count_parameters(path: Path, config: dict[str, Any]) -> int:
    """Walk the functional model's layers in order: each one's output width, and the
    parameters of the layers that have them. Refuses what Layerlab never writes."""
    if config.get("class_name") != "Functional":
        raise _refuse(path, f"it is a {config.get('class_name')!r}, not a functional model.")
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list):
        raise _refuse(path, "its configuration lists no layers.")
    most_layers = (
        LAYERS_PER_COLUMN * _max_columns() + limits.ENSEMBLE.high * (3 * limits.LAYERS.high + 2) + 8
    )
    if len(layers) > most_layers:
        raise _refuse(path, f"it has {len(layers):,} layers; at most {most_layers:,} are read.")
    most_dense = int(limits.ENSEMBLE.high * (limits.LAYERS.high + 1))
    most_units = max(int(limits.UNITS.high), MAX_OUTPUTS)
    budget = max_parameters()
    widths: dict[str, int] = {}
    parameters = dense = 0
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise _refuse(path, "a layer in its configuration is not a JSON object.")
        kind, settings = layer.get("class_name"), layer["config"]
        name = layer.get("name", settings.get("name"))
        if not isinstance(name, str) or name in widths:
            raise _refuse(path, f"a layer has the name {name!r}, missing or used twice.")
        inputs = [_known(path, widths, source) for source in _sources(layer.get("inbound_nodes"))]
        width, own = _layer_width(path, kind, settings, inputs)
        if kind == "Dense":
            dense += 1
            if width > most_units:
                raise _refuse(
                    path,
                    f'its layer "{name}" has {width:,} units; a Layerlab layer has at most '
                    f"{most_units:,}.",
                )
            if dense > most_dense:
                raise _refuse(path, f"it has more than {most_dense:,} Dense layers.")
        widths[name] = width
        parameters += own
        if parameters > budget:
            raise _refuse(
                path,
                f'it declares more than {budget:,} parameters (at layer "{name}"), more than '
                "a model trained within this server's memory budget can have.",
            )
    return parameters


def _sources(nodes: Any) -> Iterator[str]:
    """The names of the layers whose outputs a layer takes (Keras 3's ``keras_history``)."""
    stack = [nodes]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                history = (item.get("config") or {}).get("keras_history")
                if isinstance(history, list) and history and isinstance(history[0], str):
                    yield history[0]
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _known(path: Path, widths: dict[str, int], source: str) -> int:
    if source not in widths:
        raise _refuse(
            path, f'a layer takes the output of "{source}", which comes later or not at all.'
        )
    return widths[source]


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _layer_width(
    path: Path, kind: Any, settings: dict[str, Any], inputs: list[int]
) -> tuple[int, int]:
    """(output width, parameters) of one layer, or a refusal for a kind Layerlab never writes."""
    if isinstance(kind, str) and "Lambda" in kind:  # the words load_model_file uses too
        raise BundleError(
            f'"{path.name}" was not loaded, for your safety: it holds code (a {kind} layer) '
            "that Keras runs only when safe mode is off, and it stays on. Layerlab never "
            "writes such a model. Train the run again."
        )
    if kind not in _KNOWN:
        raise _refuse(path, f"it holds a {kind!r} layer.")
    widest = max(inputs, default=0)
    if kind == "InputLayer":
        shape = settings.get("batch_shape") or settings.get("batch_input_shape")
        if not (isinstance(shape, list) and len(shape) == 2 and _whole(shape[1], 1, 1)):
            raise _refuse(path, f"an input is shaped {shape!r}; Layerlab's take one value a row.")
        return 1, 0
    if not inputs:
        raise _refuse(path, f"a {kind} layer takes no input.")
    if kind == "Dense":
        units = settings.get("units")
        if not _whole(units, 1, 10**9):
            raise _refuse(path, f"a Dense layer has units {units!r}.")
        return units, widest * units + units
    if kind == "Concatenate":
        return sum(inputs), 0
    if kind == "StringLookup":
        return _lookup_width(path, settings), 0
    if kind == "Tile":
        repeats = settings.get("repeats")
        if not (isinstance(repeats, list) and all(_whole(r, 1, MAX_TILE) for r in repeats)):
            raise _refuse(path, f"a Tile layer repeats {repeats!r} times.")
        return widest * (repeats[-1] if repeats else 1), 0
    if kind in _REDUCTIONS:
        return 1, 0
    return widest, _PARAMETERS_PER_WIDTH.get(kind, 0) * widest  # one of _SAME_WIDTH


def _lookup_width(path: Path, settings: dict[str, Any]) -> int:
    vocabulary, extra = settings.get("vocabulary"), settings.get("num_oov_indices", 1)
    if not (isinstance(vocabulary, list) and len(vocabulary) <= MAX_VOCABULARY):
        raise _refuse(path, "a StringLookup layer's vocabulary is not a short list of words.")
    if not _whole(extra, 0, 16):
        raise _refuse(path, f"a StringLookup layer has {extra!r} out-of-vocabulary indices.")
    if settings.get("output_mode", "int") == "int":
        return 1
    return len(vocabulary) + extra + (1 if settings.get("mask_token") is not None else 0)
