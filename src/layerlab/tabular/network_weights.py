"""A trained network's weights and input groups, kept beside its model for the picture of it.

The server never loads Keras, so the worker that trains a run writes what the
network picture (``layerlab_app.network_figure``) needs into ``network.npz``: the
Dense kernels, in order, and how many inputs each raw column gives. A network too
large for that to be small is left out (the picture is then drawn without weights).

A workspace can be uploaded, so ``network.npz`` is not trusted: its arrays' shapes
are read from their ``.npy`` headers (``check_network_file``) before NumPy reads
any, and a file that declares more than ``MAX_KEPT_WEIGHTS`` weights is never loaded.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.lib import format as npy

# Kernels up to this many weights in all are kept (4 MB as float32).
MAX_KEPT_WEIGHTS = 1_000_000
# The input groups: a column name and a width per column, as JSON text.
MAX_GROUPS_CHARACTERS = 4_000_000
MAX_KERNELS = 1_000


class InputGroup(NamedTuple):
    """One raw column and how many inputs the network gets from it.

    ``inputs`` is None for a one-hot group whose size is known only once the model is
    built (it depends on the categories in the training split).
    """

    column: str
    inputs: int | None


def input_groups_from_built(built: Any) -> list[InputGroup]:
    """The exact inputs per column of a built model (``layerlab.model.build.BuiltModel``), as
    ``build`` recorded them while it concatenated each column's encoding."""
    widths = tuple(getattr(built, "input_widths", ()))
    if len(widths) != len(built.spec.features) or sum(widths) != built.n_features:
        raise ValueError(
            f"The model records {len(widths)} input widths summing to {sum(widths)}, which do "
            f"not match its {len(built.spec.features)} features and {built.n_features} "
            "inputs. Pass input_groups_from_spec(spec) instead."
        )
    return [
        InputGroup(feature.name, width)
        for feature, width in zip(built.spec.features, widths, strict=True)
    ]


def dense_kernels(built: Any) -> list[np.ndarray]:
    """The kernels of the built model's Dense layers, the output last: the ``weights`` to draw."""
    return [
        np.asarray(layer.get_weights()[0])
        for layer in built.stack
        if type(layer).__name__ == "Dense"
    ]


def network_bytes(built: Any) -> bytes | None:
    """``network.npz``: the kernels and input groups of ``built``, or None when too large."""
    kernels = dense_kernels(built)
    if sum(kernel.size for kernel in kernels) > MAX_KEPT_WEIGHTS:
        return None
    try:
        groups = input_groups_from_built(built)
    except ValueError:  # a preprocessor wired in a way not foreseen: draw without weights
        return None
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        groups=np.array(json.dumps([list(group) for group in groups])),
        **{f"kernel_{number}": kernel.astype("float32") for number, kernel in enumerate(kernels)},
    )
    return buffer.getvalue()


def check_network_file(path: str | Path) -> None:
    """Refuse (``ValueError``) a ``network.npz`` that is not what ``network_bytes`` writes:
    its arrays' shapes and types are read from their headers, no array is loaded."""
    count = 0
    try:
        with zipfile.ZipFile(path) as saved:
            names = saved.namelist()
            kernels = [name for name in names if name.startswith("kernel_")]
            expected = {"groups.npy", *(f"kernel_{number}.npy" for number in range(len(kernels)))}
            if set(names) != expected or len(kernels) > MAX_KERNELS:
                raise ValueError("it holds arrays other than the input groups and the kernels.")
            for name in names:
                with saved.open(name) as member:
                    shape, dtype = _array_header(member)
                if name == "groups.npy":
                    if (
                        shape != ()
                        or dtype.kind != "U"
                        or dtype.itemsize > 4 * MAX_GROUPS_CHARACTERS
                    ):
                        raise ValueError("its input groups are not a short text.")
                    continue
                if len(shape) != 2 or dtype.kind != "f" or dtype.itemsize > 8:
                    raise ValueError(f"its {name} is not a table of numbers.")
                count += int(np.prod(shape, dtype=np.int64))
                if count > MAX_KEPT_WEIGHTS:
                    raise ValueError(
                        f"its kernels declare more than {MAX_KEPT_WEIGHTS:,} weights, more than "
                        "Layerlab keeps for the picture of a network."
                    )
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        raise ValueError("it is not a readable .npz file.") from None


def _array_header(member) -> tuple[tuple[int, ...], np.dtype]:
    """An ``.npy`` member's shape and dtype, from its header alone."""
    try:
        version = npy.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(member)
        else:
            version = None
    except ValueError:  # NumPy's own words ("EOF: reading magic string ...") are not ours
        raise ValueError("the header of one of its arrays is damaged.") from None
    if version is None:
        raise ValueError("its arrays are in a .npy version that NumPy never writes.")
    return shape, dtype


def read_network(path: str | Path) -> tuple[list[InputGroup], list[np.ndarray]] | None:
    """The input groups and kernels written by ``network_bytes``, or None without the file
    or when ``check_network_file`` refuses it (the picture is then drawn without weights)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        check_network_file(path)
    except ValueError:
        return None
    with np.load(path, allow_pickle=False) as saved:
        groups = [InputGroup(name, inputs) for name, inputs in json.loads(str(saved["groups"]))]
        count = sum(name.startswith("kernel_") for name in saved.files)
        kernels = [saved[f"kernel_{number}"] for number in range(count)]
    return groups, kernels
