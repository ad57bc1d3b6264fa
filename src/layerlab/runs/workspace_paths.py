"""What names a workspace's folder and files: ids safe as file names, and where each thing lies.

The store writes these paths and the archive checks an uploaded workspace's names
against them, so both take them from here: a name that passes here can never
reach outside the workspace folder.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from pathlib import Path

from layerlab.schema.errors import WorkspaceError

DATABASE_FILE = "workspace.sqlite"
NAME_LENGTH = 80
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
FILENAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_ID_ALPHABET = string.digits + string.ascii_lowercase


def new_id() -> str:
    """A short, url-safe id that sorts by creation time: 9 base-36 digits of milliseconds, 4 random."""
    stamp, digits = int(time.time() * 1000), []
    for _ in range(9):
        stamp, digit = divmod(stamp, 36)
        digits.append(_ID_ALPHABET[digit])
    return "".join(reversed(digits)) + "".join(secrets.choice(_ID_ALPHABET) for _ in range(4))


def is_workspace(folder: str | Path) -> bool:
    """Whether ``folder`` holds a workspace (its database file), without opening it."""
    return (Path(folder) / DATABASE_FILE).is_file()


def check_name(name: str) -> str:
    """The workspace name as it is kept (stripped), or ``WorkspaceError`` saying why not."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(cleaned) <= NAME_LENGTH:
        raise WorkspaceError(
            f"A workspace name needs 1 to {NAME_LENGTH} characters; this one has {len(cleaned)}."
        )
    return cleaned


def checked_id(identifier: str, what: str = "id") -> str:
    """An id that is safe as a folder or file name; anything else is a bug (``ValueError``)."""
    if not isinstance(identifier, str) or not ID_PATTERN.fullmatch(identifier):
        raise ValueError(f"A {what} must be letters, digits, '_' or '-'; got {identifier!r}.")
    return identifier


def run_file_parts(relative: str) -> tuple[str, str] | None:
    """(run id, file name) of a path ``runs/<id>/<file>``; None for any other path."""
    parts = relative.split("/")
    if (
        len(parts) == 3
        and parts[0] == "runs"
        and ID_PATTERN.fullmatch(parts[1])
        and FILENAME_PATTERN.fullmatch(parts[2])
    ):
        return parts[1], parts[2]
    return None
