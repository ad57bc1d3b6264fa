"""Where workspaces live, how a person gets back to theirs, and how much each may hold.

A workspace is reached by a token, a long random secret the app keeps in the
page's address. The token itself is never written to disk: the folder is named
after its sha256, so a listing of the storage folder opens nothing and reveals
no way in. There are no accounts; whoever holds the token holds the workspace.

Some hosts (Streamlit Community Cloud) wipe the disk when the app restarts, so
``disk_is_ephemeral`` tells the app to remind people to download their work.

A workspace is made on disk by the first thing saved in it, never by a visit.
The server as a whole has room for so many workspaces (``LAYERLAB_MAX_WORKSPACES``)
holding so much (``LAYERLAB_DISK_MB``), and forgets those left idle for
``LAYERLAB_WORKSPACE_IDLE_DAYS``: ``ServerRoom`` checks the first two before each
write, ``tidy`` (at server start, then every half hour) the last, and removes what
cut-off writes and imports left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from layerlab.runs.archive import import_archive
from layerlab.runs.disk import MB, count_workspace, folder_lock, free_bytes, megabytes
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workspace_db import has_active_runs
from layerlab.runs.workspace_paths import DATABASE_FILE, is_workspace
from layerlab.schema.errors import LayerlabError, ServerFull
from layerlab.schema.files import is_partial

ROOT_ENV = "LAYERLAB_WORKSPACES"
QUOTA_ENV = "LAYERLAB_WORKSPACE_MB"
EPHEMERAL_ENV = "LAYERLAB_EPHEMERAL_DISK"
SHARED_ENV = "LAYERLAB_SHARED_SERVER"
DISK_ENV = "LAYERLAB_DISK_MB"
MAX_WORKSPACES_ENV = "LAYERLAB_MAX_WORKSPACES"
IDLE_DAYS_ENV = "LAYERLAB_WORKSPACE_IDLE_DAYS"
DEFAULT_QUOTA_MB = 500
# Defaults on a shared host (a disk that does not last, such as Community Cloud); on a
# person's own machine there is no budget, no cap and no expiry unless they set one.
SHARED_DISK_MB = 5_000
SHARED_MAX_WORKSPACES = 500
SHARED_IDLE_DAYS = 7
# Writes stop this far from a full disk, so SQLite keeps room to let everyone read.
DISK_HEADROOM_BYTES = 50 * MB
# How often this process counts every workspace again, and tidies up.
USAGE_SECONDS = 60.0
TIDY_SECONDS = 30 * 60.0
# Leftovers younger than this may belong to a write or import still going on.
LEFTOVER_SECONDS = 3600.0
TRY_LATER = "Try again later, or run Layerlab on your own machine."
# The folder beside app.py.
APP_FOLDER = Path(__file__).resolve().parents[3]
# Community Cloud clones every app under this folder.
COMMUNITY_CLOUD_FOLDER = Path("/mount/src")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_FOLDER = re.compile(r"[0-9a-f]{40}")  # what ``folder_for`` names a workspace's folder
_log = logging.getLogger(__name__)


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


def _limit(name: str, shared: float, what: str, *, whole: bool = False) -> float | None:
    """The limit ``name`` sets: a number above 0, or 0 for none. Unset, ``shared`` on a
    shared host (``shared_server``) and none on a person's own machine."""
    configured = os.environ.get(name, "").strip()
    if not configured:
        return shared if shared_server() else None
    try:
        value = float(configured)
    except ValueError:
        value = math.nan
    if not (0 <= value < math.inf) or (whole and value != int(value)):
        raise LayerlabError(
            f"{name} must be {what}, or 0 for no limit, such as {shared:g}; got {configured!r}. "
            f"Set it so, or unset it for {shared:g} on a shared host and no limit elsewhere."
        )
    return value or None


def disk_budget_bytes() -> int | None:
    """What all workspaces together may hold (``LAYERLAB_DISK_MB``), or None for no budget."""
    megabytes_ = _limit(DISK_ENV, SHARED_DISK_MB, "a number of megabytes")
    return None if megabytes_ is None else int(megabytes_ * MB)


def max_workspaces() -> int | None:
    """How many workspaces the server keeps at most (``LAYERLAB_MAX_WORKSPACES``), or None."""
    count = _limit(MAX_WORKSPACES_ENV, SHARED_MAX_WORKSPACES, "a whole number", whole=True)
    return None if count is None else int(count)


def idle_days() -> float | None:
    """After how many days unopened and unchanged a workspace is removed, or None for never
    (``LAYERLAB_WORKSPACE_IDLE_DAYS``)."""
    return _limit(IDLE_DAYS_ENV, SHARED_IDLE_DAYS, "a number of days")


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
    """A new, empty workspace and the token that opens it: nothing is on disk until the
    first thing is saved in it (``name`` is saved at once)."""
    token = new_token()
    store = WorkspaceStore(
        folder_for(token), quota_bytes=quota_bytes(), lazy=True, room=server_room()
    )
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
    with contextlib.suppress(OSError):  # opened: not idle (a time, no data: a full disk allows it)
        os.utime(folder)
    return WorkspaceStore(folder, quota_bytes=quota_bytes(), create=False, room=server_room())


def import_workspace(source: IO[bytes] | str | os.PathLike[str]) -> tuple[str, WorkspaceStore]:
    """A downloaded workspace uploaded again (a binary file or a path), under a fresh token."""
    token, room = new_token(), server_room()
    folder = folder_for(token)
    room.admit_workspace(folder)  # the server's cap and budget, as for a first save
    try:
        store = import_archive(source, folder, quota_bytes=quota_bytes())
    except BaseException:
        with contextlib.suppress(OSError):
            folder.rmdir()  # still empty: the import failed before it was moved in
        raise
    store.room = room
    store.size_bytes()  # counted into the server's total
    return token, store


def _yes_or_no(name: str, yes: str, no: str) -> bool | None:
    """The setting ``name``: "1" (``yes``) or "0" (``no``); None when unset."""
    configured = os.environ.get(name, "").strip()
    if configured in ("1", "0"):
        return configured == "1"
    if configured:
        raise LayerlabError(
            f'{name} must be "1" ({yes}) or "0" ({no}); got {configured!r}. Set it so, or '
            "unset it for Layerlab to decide."
        )
    return None


def shared_server() -> bool:
    """Whether this server is shared by many visitors, which sets the limits' defaults.

    ``LAYERLAB_SHARED_SERVER`` says so ("1") or not ("0"); unset, a server whose disk
    does not last (``disk_is_ephemeral``: Streamlit Community Cloud) is a shared one,
    and any other is one person's own install.
    """
    said = _yes_or_no(SHARED_ENV, "many visitors share this server", "one person's own install")
    return disk_is_ephemeral() if said is None else said


def disk_is_ephemeral() -> bool:
    """Whether workspaces on this disk may vanish when the app restarts.

    ``LAYERLAB_EPHEMERAL_DISK`` says so ("1") or not ("0"); unset, it is true on
    Streamlit Community Cloud.
    """
    said = _yes_or_no(EPHEMERAL_ENV, "the disk does not last", "it does")
    if said is not None:
        return said
    return any(
        folder == COMMUNITY_CLOUD_FOLDER or COMMUNITY_CLOUD_FOLDER in folder.parents
        for folder in (APP_FOLDER, Path.cwd().resolve())
    )


# ------------------------------------------------------------------ the server's room
def workspace_folders(root: Path) -> list[Path]:
    """Every workspace folder under ``root``, finished or not (one scandir)."""
    try:
        with os.scandir(root) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if _FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []


class ServerRoom:
    """The room the server has for the workspaces under ``root`` (see ``store.Room``).

    Sizes are this process's count: each workspace's as it is counted, all of them
    again at most every ``USAGE_SECONDS``, and each admitted write added at once, so
    this server's threads cannot pass the budget together.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sizes: dict[str, int] = {}
        self._counted: float | None = None
        self._lock = threading.Lock()

    def admit_workspace(self, folder: Path) -> None:
        limit = max_workspaces()
        # The root's lock makes counting and making the folder one step for every process.
        with folder_lock(self.root):
            if folder.exists():
                return
            count = len(workspace_folders(self.root))
            if limit is not None and count >= limit:
                days = idle_days()
                raise ServerFull(
                    f"The server is full: it keeps {count:,} workspaces, its most "
                    f"({MAX_WORKSPACES_ENV}), so nothing was saved. "
                    + (f"Workspaces left idle for {days:g} days are removed. " if days else "")
                    + TRY_LATER
                )
            self.admit_bytes(folder, 0)
            folder.mkdir(parents=True)

    def admit_bytes(self, folder: Path, extra_bytes: int) -> None:
        free = free_bytes(self.root)
        if free is not None and free - extra_bytes < DISK_HEADROOM_BYTES:
            raise ServerFull(
                f"The server's disk is nearly full ({megabytes(free)} free), so this was not "
                f"saved; everything saved before is safe. {TRY_LATER}"
            )
        budget = disk_budget_bytes()
        if budget is None:
            return
        with self._lock:
            if self._counted is None or time.monotonic() - self._counted > USAGE_SECONDS:
                self._sizes = {
                    str(each): count_workspace(each)[0] for each in workspace_folders(self.root)
                }
                self._counted = time.monotonic()
            used = sum(self._sizes.values())
            if used + extra_bytes > budget:
                needs = f", and this needs {megabytes(extra_bytes)} more" if extra_bytes else ""
                raise ServerFull(
                    f"The server is full: its workspaces hold {megabytes(used)} of the "
                    f"{megabytes(budget)} it keeps for them ({DISK_ENV}){needs}, so this was "
                    f"not saved. {TRY_LATER}"
                )
            self._sizes[str(folder)] = self._sizes.get(str(folder), 0) + extra_bytes

    def counted(self, folder: Path, size_bytes: int) -> None:
        with self._lock:
            if size_bytes or str(folder) in self._sizes:
                self._sizes[str(folder)] = size_bytes


_rooms: dict[Path, ServerRoom] = {}
_rooms_lock = threading.Lock()


def server_room() -> ServerRoom:
    """This process's ``ServerRoom`` for the storage folder."""
    root = root_folder().resolve()
    with _rooms_lock:
        return _rooms.setdefault(root, ServerRoom(root))


# ------------------------------------------------------------------ tidying up
@dataclass
class Tidied:
    """What one ``tidy`` removed."""

    expired: list[Path] = field(default_factory=list)  # workspaces idle too long
    leftovers: list[Path] = field(default_factory=list)  # of cut-off writes and imports


def last_used(folder: Path) -> float:
    """When the workspace was last written (its database) or opened (its folder's time)."""
    times = []
    for path in (folder, folder / DATABASE_FILE, folder / f"{DATABASE_FILE}-wal"):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def tidy(now: float | None = None) -> Tidied:
    """Remove what cut-off writes and imports left (older than ``LEFTOVER_SECONDS``) and the
    workspaces idle longer than ``idle_days`` (never one with a run queued or training)."""
    root = root_folder().resolve()
    now = time.time() if now is None else now
    days, room, tidied = idle_days(), server_room(), Tidied()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return tidied
    for entry in entries:
        path = Path(entry.path)
        with contextlib.suppress(FileNotFoundError):
            if not entry.is_dir(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > LEFTOVER_SECONDS
            if ".importing-" in entry.name or (
                _FOLDER.fullmatch(entry.name) and not is_workspace(path)
            ):
                if old:  # an import cut off, or a workspace whose making was
                    shutil.rmtree(path, ignore_errors=True)
                    tidied.leftovers.append(path)
                continue
            if not _FOLDER.fullmatch(entry.name):
                continue
            idle = days is not None and now - last_used(path) > days * 86_400
            if idle and not has_active_runs(path / DATABASE_FILE):
                shutil.rmtree(path, ignore_errors=True)
                tidied.expired.append(path)
                room.counted(path, 0)
                continue
            tidied.leftovers.extend(_old_temporaries(path, now))
            room.counted(path, count_workspace(path)[0])
    return tidied


def _old_temporaries(folder: Path, now: float) -> list[Path]:
    """Remove the partial files a write cut off left in ``folder`` (older than an hour)."""
    removed = []
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            if is_partial(name):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > LEFTOVER_SECONDS:
                        path.unlink()
                        removed.append(path)
    return removed


_tidied: dict[Path, float] = {}
_tidied_lock = threading.Lock()


def tidy_if_due() -> None:
    """Run ``tidy`` in the background when this process has not for ``TIDY_SECONDS``: at
    server start, then at most every half hour. Costs a dictionary lookup otherwise."""
    root = root_folder().resolve()
    with _tidied_lock:
        last = _tidied.get(root)
        if last is not None and time.monotonic() - last < TIDY_SECONDS:
            return
        _tidied[root] = time.monotonic()
    threading.Thread(target=_tidy_and_log, name="layerlab-tidy", daemon=True).start()


def _tidy_and_log() -> None:
    try:
        tidied = tidy()
    except (OSError, LayerlabError) as error:
        _log.warning("Tidying the workspaces failed: %s", error)
        return
    if tidied.expired or tidied.leftovers:
        _log.info(
            "Removed %d idle workspaces and %d leftovers of cut-off writes.",
            len(tidied.expired),
            len(tidied.leftovers),
        )
