"""A trained network's weights and input groups, kept beside its model for the picture of it.

The server never loads Keras, so the worker that trains a run writes what the
network picture (``layerlab_app.network_figure``) needs into ``network.npz``: the
Dense kernels, in order, and how many inputs each raw column gives. A network too
large for that to be small is left out (the picture is then drawn without weights).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# Kernels up to this many weights in all are kept (4 MB as float32).
MAX_KEPT_WEIGHTS = 1_000_000


class InputGroup(NamedTuple):
    """One raw column and how many inputs the network gets from it.

    ``inputs`` is None for a one-hot group whose size is known only once the model is
    built (it depends on the categories in the training split).
    """

    column: str
    inputs: int | None


def input_groups_from_built(built: Any) -> list[InputGroup]:
    """The exact inputs per column of a built model (``layerlab.build.BuiltModel``), as
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


def read_network(path: str | Path) -> tuple[list[InputGroup], list[np.ndarray]] | None:
    """The input groups and kernels written by ``network_bytes``, or None without the file."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        groups = [InputGroup(name, inputs) for name, inputs in json.loads(str(saved["groups"]))]
        count = sum(name.startswith("kernel_") for name in saved.files)
        kernels = [saved[f"kernel_{number}"] for number in range(count)]
    return groups, kernels
