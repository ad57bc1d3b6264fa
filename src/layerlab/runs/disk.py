"""Room on disk: a lock per folder, sizes counted cheaply, and a full disk said plainly.

The Streamlit server's threads and the worker processes write into the same
workspaces. Checking the room left and then writing is only safe when nobody
else checks in between, so ``folder_lock`` holds an ``flock`` on a file in the
folder: every thread and process that writes takes it.

A disk that fills up must not become a stack trace for everyone: ``disk_errors``
turns what SQLite and the operating system say about a full (or read-only) disk
into ``ServerFull``, a sentence for the person whose write failed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from layerlab.schema.errors import ServerFull, WorkspaceFull
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import LayerKind

try:
    import fcntl
except ImportError:  # Windows: the lock holds between this process's threads only
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
MB = 1_000_000
FULL_ADVICE = (
    "Delete runs or tables you no longer need on the Runs page, "
    "or download this workspace and start a new one."
)
# A run's files take about 16 bytes per weight (model, checkpoint, bundle and the network's
# picture each hold the weights once) and about half a megabyte besides (scores, pictures,
# the card, train.py): measured on iris, 139 and 67,843 weights, 0.43 and 1.47 MB.
BYTES_PER_WEIGHT = 16
RUN_FILES_BYTES = 1_000_000
DISK_FULL_MESSAGE = (
    "The server's disk is full, so this was not saved; everything saved before is safe. "
    "Try again later, or run Layerlab on your own machine."
)
# What SQLite says when it cannot write: SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY.
_SQLITE_DISK_ERRORS = ("database or disk is full", "disk i/o error", "readonly database")
_DISK_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EROFS) if code
)

_held = threading.local()
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk cannot take more (full, over a quota, or read-only)."""
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(part in text for part in _SQLITE_DISK_ERRORS)
    return isinstance(error, OSError) and error.errno in _DISK_ERRNOS


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """Raise ``ServerFull`` with a plain sentence where the disk could not take a write."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as error:
        if is_disk_full(error):
            raise ServerFull(DISK_FULL_MESSAGE) from error
        raise


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock: one check-then-write at a time, across threads and processes.

    Re-entrant within a thread (a locked write may call another locked write);
    the folder is made if it is not there yet.
    """
    key = str(folder)
    depths: dict[str, int] = _held.__dict__.setdefault("depths", {})
    if depths.get(key):
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    with disk_errors():
        folder.mkdir(parents=True, exist_ok=True)
        # Opening makes an empty file at most: an inode, no data block, so a full disk allows it.
        handle = open(folder / LOCK_FILE, "a+b")  # noqa: SIM115 (closed below, after unlocking)
    with handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        else:
            _process_lock(key).acquire()
        depths[key] = 1
        try:
            yield
        finally:
            depths.pop(key, None)
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            else:
                _process_lock(key).release()


class Room(Protocol):
    """What the server as a whole allows beyond one workspace's quota (``workspaces.ServerRoom``)."""

    def admit_workspace(self, folder: Path) -> None:
        """Make ``folder`` for a new workspace, or raise ``ServerFull``."""

    def admit_bytes(self, folder: Path, extra_bytes: int) -> None:
        """Raise ``ServerFull`` unless ``extra_bytes`` more fit the server's budget and disk."""

    def counted(self, folder: Path, size_bytes: int) -> None:
        """``folder`` was just counted to hold ``size_bytes``."""


def expected_run_bytes(spec: ModelSpec) -> int:
    """About what a run of ``spec`` writes, set aside before it starts.

    The first layer's inputs are taken as one per feature; one-hot categories make
    more, and the files are counted again, exactly, once written.
    """
    width, weights = max(len(spec.features), 1), 0
    for layer in spec.layers:
        if layer.kind == LayerKind.DENSE and layer.units:
            weights += (width + 1) * layer.units
            width = layer.units
    weights += width + 1
    return RUN_FILES_BYTES + BYTES_PER_WEIGHT * weights * max(spec.ensemble, 1)


def room_held(used: int, run_sizes: dict[str, int], reserved: dict[str, int]) -> int:
    """Bytes a workspace holds: ``used`` on disk, plus what each run still training was given
    (``reserved``) less what its files (``run_sizes``) take already."""
    return used + sum(
        max(0, int(size) - run_sizes.get(run_id, 0))
        for run_id, size in reserved.items()
        if isinstance(size, int | float)
    )


def check_quota(
    quota: int,
    used: int,
    run_sizes: dict[str, int],
    reserved: dict[str, int],
    extra_bytes: int,
    run_id: str | None = None,
    needs: str | None = None,
) -> None:
    """Raise ``WorkspaceFull`` unless ``extra_bytes`` more (for run ``run_id``, whose room set
    aside shrinks by as much) fit in ``quota``; ``needs`` says what they are for."""
    held = room_held(used, run_sizes, reserved)
    if run_id is not None:
        run_sizes = {**run_sizes, run_id: run_sizes.get(run_id, 0) + extra_bytes}
    if room_held(used + extra_bytes, run_sizes, reserved) <= quota:
        return
    aside = (
        f" ({megabytes(held - used)} of it set aside for runs in training)" if held > used else ""
    )
    needs = needs or (f"this needs {megabytes(extra_bytes)}" if extra_bytes > 0 else "")
    raise WorkspaceFull(
        f"This workspace is full: it holds {megabytes(held)} of its {megabytes(quota)}{aside}"
        + (f", and {needs} more" if needs else "")
        + f". {FULL_ADVICE}"
    )


def megabytes(size_bytes: int) -> str:
    return f"{size_bytes / MB:,.1f} MB"


def count_workspace(folder: Path) -> tuple[int, dict[str, int]]:
    """(bytes in ``folder``, bytes in each ``runs/<id>/``): one scandir walk."""
    total, runs = 0, {}
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0, {}
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            if entry.name == "runs" and entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as run_entries:
                    for run in run_entries:
                        if run.is_dir(follow_symlinks=False):
                            runs[run.name] = folder_size(Path(run.path))
            elif entry.is_dir(follow_symlinks=False):
                total += folder_size(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total + sum(runs.values()), runs


def _process_lock(key: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder`` (links not followed; files gone meanwhile skipped)."""
    total, pending = 0, [folder]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def free_bytes(folder: Path) -> int | None:
    """Free space on the disk that holds ``folder`` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(candidate).free
            return None
    return None
