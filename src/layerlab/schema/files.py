"""Writing a file whole or not at all, the one way the core does it.

The Streamlit server reads run files while workers write them, and a crash or a
full disk can cut a write short: readers must see the old file or the new one,
never half of one. Every write goes to a partial file beside the target, is
flushed to disk, and is renamed over it (``os.replace`` is atomic on one disk).
A partial file a crash left behind is recognized by its name (``is_partial``) and
tidied away later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

PARTIAL_MARK = "tmp"


def is_partial(name: str) -> bool:
    """Whether ``name`` is a partial file a cut-off write left (``.x.json.1a2b3c4d.tmp``,
    ``.model.keras.1a2b3c4d.tmp.keras``, or an older ``model.keras.tmp``)."""
    return PARTIAL_MARK in name.split(".")[-2:]


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a partial path beside ``path`` to write to; on success it replaces ``path``.

    ``suffix`` ends the partial name, for writers that insist on one (Keras saves only
    to names ending in ``.keras``). If the block raises, the partial file is removed.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.{PARTIAL_MARK}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield partial
        with open(partial, "rb+") as file:  # on disk before the rename makes it the file
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``: readers see the old file or the new one, never half."""
    with replacing(path) as partial:
        partial.write_bytes(data)
