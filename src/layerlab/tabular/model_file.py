"""A bundle's model file and JSON files read back: refused, with a reason, unless Layerlab wrote them.

Shipped in every bundle (see ``bundle_reading``). Keras is imported only inside
``load_model_file``, so the Streamlit server, which imports the rest of this
package, never loads it (import-linter's contract names this one exception).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .errors import BundleError, shorten
from .model_io import input_name

# The model's size, counted before Keras builds a weight. It needs Layerlab's limits, so a
# bundle, where Layerlab is not installed, goes without.
try:
    from layerlab.tabular.keras_file_check import check_keras_file
except ImportError:
    check_keras_file = None

_NOT_LAYERLAB = (
    "Layerlab never writes such a model, so this file was not made by Layerlab or was "
    "changed after. Use the model.keras of a bundle that Layerlab wrote: train again, or "
    "download the bundle again."
)


def load_model_file(path: str | os.PathLike, features: list[tuple[str, str]], outputs: int):
    """Load a bundle's ``model.keras`` in Keras's safe mode, or raise ``BundleError`` saying why.

    Refused: a file that is not a Keras archive (corrupt or truncated), a model
    that holds code Keras will not run in safe mode (a ``Lambda`` layer, custom
    objects), and one whose inputs or outputs do not match the bundle's spec.
    Safe mode is never turned off. Any failure of ``load_model`` is a refusal:
    the file is untrusted input, and Keras raises many kinds of errors on it.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise BundleError(
            f'"{path.name}" is not a Keras model file: it is corrupt, truncated or of another '
            "kind. Expected the model.keras that Layerlab wrote. Download or copy the bundle "
            "again."
        )
    if check_keras_file is not None:
        check_keras_file(path)
    import keras  # here only: the server imports this module and must never load Keras

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # untrusted file: every failure is a refusal, said plainly
        detail = " ".join(str(error).split())
        if "safe_mode" in detail or "Lambda" in detail or "lambda" in detail:
            raise BundleError(
                f'"{path.name}" was not loaded, for your safety: it holds code (such as a '
                "Lambda layer) that Keras runs only when safe mode is off, and it stays on. "
                + _NOT_LAYERLAB
            ) from None
        raise BundleError(
            f'"{path.name}" could not be loaded as a Layerlab model ({shorten(detail, 160)}). '
            + _NOT_LAYERLAB
        ) from None
    expected = sorted(input_name(name) for name, _ in features)
    found = sorted(str(getattr(tensor, "name", "")) for tensor in model.inputs)
    found_outputs = int(model.outputs[0].shape[-1]) if len(model.outputs) == 1 else -1
    if found != expected or found_outputs not in (outputs, 1 if outputs == 2 else outputs):
        raise BundleError(
            f'"{path.name}" does not match the bundle\'s spec.json: the model reads '
            f"{len(found)} column(s) and gives {found_outputs} output(s), the spec names "
            f"{len(expected)} column(s) and {outputs} output(s). " + _NOT_LAYERLAB
        )
    return model


def read_bundle_json(directory: str | os.PathLike, name: str):
    """One JSON file of a bundle, or ``BundleError`` when it is missing or not JSON."""
    path = Path(directory) / name
    if not path.is_file():
        raise BundleError(
            f'"{directory}" is not a Layerlab bundle: {name} not found. Point to the folder '
            "written by `python -m layerlab train` (or an unzipped download)."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(
            f"{name} in the bundle is not valid JSON ({error}). " + _NOT_LAYERLAB
        ) from None
