"""Where workspaces live, how a person gets back to theirs, and how much each may hold.

A workspace is reached by a token, a long random secret the app keeps in the
page's address. The token itself is never written to disk: the folder is named
after its sha256, so a listing of the storage folder opens nothing and reveals
no way in. There are no accounts; whoever holds the token holds the workspace.

Some hosts (Streamlit Community Cloud) wipe the disk when the app restarts, so
``disk_is_ephemeral`` tells the app to remind people to download their work.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from layerlab.errors import LayerlabError
from layerlab.store import MB, WorkspaceStore, is_workspace

ROOT_ENV = "LAYERLAB_WORKSPACES"
QUOTA_ENV = "LAYERLAB_WORKSPACE_MB"
EPHEMERAL_ENV = "LAYERLAB_EPHEMERAL_DISK"
DEFAULT_QUOTA_MB = 500
# The folder beside app.py.
APP_FOLDER = Path(__file__).resolve().parents[2]
# Community Cloud clones every app under this folder.
COMMUNITY_CLOUD_FOLDER = Path("/mount/src")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def root_folder() -> Path:
    """The folder that holds every workspace (``LAYERLAB_WORKSPACES``, else beside app.py)."""
    configured = os.environ.get(ROOT_ENV, "").strip()
    return Path(configured).expanduser() if configured else APP_FOLDER / "workspaces"


def quota_bytes() -> int:
    """How much one workspace may hold (``LAYERLAB_WORKSPACE_MB`` megabytes, default 500)."""
    configured = os.environ.get(QUOTA_ENV, "").strip()
    if not configured:
        return DEFAULT_QUOTA_MB * MB
    try:
        megabytes = float(configured)
    except ValueError:
        megabytes = 0.0
    if not megabytes > 0 or megabytes == float("inf"):
        raise LayerlabError(
            f"{QUOTA_ENV} must be a number of megabytes above 0, such as {DEFAULT_QUOTA_MB}; "
            f"got {configured!r}. Set it so, or unset it for {DEFAULT_QUOTA_MB} MB."
        )
    return int(megabytes * MB)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_token(text: str) -> bool:
    """Whether ``text`` has a token's shape (not whether a workspace has it)."""
    return isinstance(text, str) and bool(_TOKEN.fullmatch(text))


def folder_for(token: str) -> Path:
    """The token's workspace folder, named after its hash so the folder does not reveal it."""
    if not is_token(token):
        raise ValueError("A workspace token is 20 to 64 letters, digits, '_' or '-'.")
    return root_folder() / hashlib.sha256(token.encode("ascii")).hexdigest()[:40]


def create_workspace(name: str | None = None) -> tuple[str, WorkspaceStore]:
    """A new, empty workspace and the token that opens it."""
    token = new_token()
    store = WorkspaceStore(folder_for(token), quota_bytes=quota_bytes())
    if name is not None:
        store.rename(name)
    return token, store


def open_workspace(token: str) -> WorkspaceStore | None:
    """The token's workspace, or None when the token is malformed or opens nothing."""
    if not is_token(token):
        return None
    folder = folder_for(token)
    if not is_workspace(folder):
        return None
    return WorkspaceStore(folder, quota_bytes=quota_bytes(), create=False)


def import_workspace(data: bytes) -> tuple[str, WorkspaceStore]:
    """A downloaded workspace uploaded again, under a fresh token."""
    token = new_token()
    return token, WorkspaceStore.import_archive(data, folder_for(token), quota_bytes=quota_bytes())


def disk_is_ephemeral() -> bool:
    """Whether workspaces on this disk may vanish when the app restarts.

    ``LAYERLAB_EPHEMERAL_DISK`` says so ("1") or not ("0"); unset, it is true on
    Streamlit Community Cloud.
    """
    configured = os.environ.get(EPHEMERAL_ENV, "").strip()
    if configured in ("1", "0"):
        return configured == "1"
    if configured:
        raise LayerlabError(
            f'{EPHEMERAL_ENV} must be "1" (the disk does not last) or "0" (it does); '
            f"got {configured!r}."
        )
    return any(
        folder == COMMUNITY_CLOUD_FOLDER or COMMUNITY_CLOUD_FOLDER in folder.parents
        for folder in (APP_FOLDER, Path.cwd().resolve())
    )
