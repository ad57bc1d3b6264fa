"""A workspace on disk: its tables, runs, epochs and files, safe for many threads and processes.

One workspace is one folder::

    workspace.sqlite        records (SQLite in WAL mode, so readers never wait for a writer)
    tables/<table_id>.csv   the uploaded bytes, exactly
    runs/<run_id>/<file>    model.keras, bundle.zip, evaluation.json, checkpoint.keras

Every operation opens its own SQLite connection and writes in a ``BEGIN
IMMEDIATE`` transaction, so the Streamlit server's threads and the processes
that train can share a workspace without a lock of their own. An epoch is one
row, so a run's history grows in O(1) per epoch.

A workspace travels as a zip of JSON and the files (``export_archive``), never
as the SQLite file: an uploaded archive is checked member by member and loaded
as plain data, so opening one runs nothing that its author wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import operator
import os
import re
import secrets
import shutil
import sqlite3
import string
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from layerlab.errors import SpecError, WorkspaceError, WorkspaceFull
from layerlab.records import RUN_STATUSES, RunRecord, TableRecord, decode_json, encode_json

SCHEMA_VERSION = 1
ARCHIVE_FORMAT = "layerlab-workspace"
ARCHIVE_FORMAT_VERSION = 1
DATABASE_FILE = "workspace.sqlite"
MANIFEST_FILE = "workspace.json"
DEFAULT_NAME = "Untitled workspace"
NAME_LENGTH = 80
BUSY_TIMEOUT_SECONDS = 10.0
MB = 1_000_000
# The file each role is written to unless the caller names another.
ROLE_FILES = {
    "model": "model.keras",
    "bundle": "bundle.zip",
    "evaluation": "evaluation.json",
    "checkpoint": "checkpoint.keras",
}
FULL_ADVICE = (
    "Delete runs or tables you no longer need on the Runs page, "
    "or download this workspace and start a new one."
)

_ID = re.compile(r"[A-Za-z0-9_-]+")
_FILENAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_ID_ALPHABET = string.digits + string.ascii_lowercase
_SETTING = "setting:"
_UPDATABLE_FIELDS = frozenset(field.name for field in dataclasses.fields(RunRecord)) - {
    "id",
    "history",
}
# Already compressed: stored as they are in an archive.
_STORED_SUFFIXES = (".keras", ".zip")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value_json TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS tables (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE,
        record_json TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        status TEXT NOT NULL,
        record_json TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created, id)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)",
    """CREATE TABLE IF NOT EXISTS epochs (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        metrics_json TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch)) WITHOUT ROWID""",
)


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


def megabytes(size_bytes: int) -> str:
    return f"{size_bytes / MB:,.1f} MB"


def check_name(name: str) -> str:
    """The workspace name as it is kept (stripped), or ``WorkspaceError`` saying why not."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(cleaned) <= NAME_LENGTH:
        raise WorkspaceError(
            f"A workspace name needs 1 to {NAME_LENGTH} characters; this one has {len(cleaned)}."
        )
    return cleaned


def _checked_id(identifier: str, what: str = "id") -> str:
    """An id that is safe as a folder or file name; anything else is a bug (``ValueError``)."""
    if not isinstance(identifier, str) or not _ID.fullmatch(identifier):
        raise ValueError(f"A {what} must be letters, digits, '_' or '-'; got {identifier!r}.")
    return identifier


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@runtime_checkable
class Store(Protocol):
    """What the app and the run manager use of a workspace; ``WorkspaceStore`` keeps one on disk."""

    folder: Path

    @property
    def name(self) -> str: ...
    @property
    def created(self) -> float: ...
    def rename(self, name: str) -> None: ...
    def get_setting(self, key: str, default: Any = None) -> Any: ...
    def set_setting(self, key: str, value: Any) -> None: ...
    def add_table(self, name: str, data: bytes, *, rows: int, columns: int) -> TableRecord: ...
    def tables(self) -> list[TableRecord]: ...
    def table(self, table_id: str) -> TableRecord | None: ...
    def table_bytes(self, table_id: str) -> bytes: ...
    def delete_table(self, table_id: str) -> None: ...
    def new_run_id(self) -> str: ...
    def add_run(self, record: RunRecord) -> None: ...
    def run(self, run_id: str) -> RunRecord | None: ...
    def runs(self) -> list[RunRecord]: ...
    def run_count(self) -> int: ...
    def update_run(self, run_id: str, **fields: Any) -> None: ...
    def append_epochs(self, run_id: str, epochs: list[dict[str, float]]) -> None: ...
    def delete_run(self, run_id: str) -> None: ...
    def run_folder(self, run_id: str) -> Path: ...
    def write_run_file(
        self, run_id: str, role: str, data: bytes, filename: str | None = None
    ) -> Path: ...
    def run_file(self, run_id: str, role: str) -> Path | None: ...
    def size_bytes(self) -> int: ...
    def check_room(self, extra_bytes: int = 0) -> None: ...
    def export_archive(self) -> bytes: ...
    def delete(self) -> None: ...


class WorkspaceStore:
    """One workspace folder; see the module's docstring for its layout.

    ``quota_bytes`` (None: no limit) caps what the folder may hold; writes that
    would pass it raise ``WorkspaceFull``. ``create=False`` opens only a
    workspace that is already there (``WorkspaceError`` otherwise).
    """

    def __init__(
        self, folder: str | Path, *, quota_bytes: int | None = None, create: bool = True
    ) -> None:
        self.folder = Path(folder).resolve()
        self.quota_bytes = quota_bytes
        self._database = self.folder / DATABASE_FILE
        if not self._database.is_file():
            if not create:
                raise WorkspaceError(
                    "No workspace was found at this address: it may have been deleted, or the "
                    "disk it was kept on was reset. Upload a downloaded copy, or start a new one."
                )
            self._create()
        try:
            version = self._meta("schema_version")
        except sqlite3.DatabaseError:
            # A database file without the schema: its creation was cut short, or it is not ours.
            if not create:
                raise WorkspaceError(
                    "This workspace's database is damaged or was never finished. Upload a "
                    "downloaded copy, or start a new workspace."
                ) from None
            self._create()
            version = self._meta("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"This workspace was written by a newer Layerlab (schema version {version!r}; "
                f"this one reads up to {SCHEMA_VERSION}). Update Layerlab to open it."
            )

    # ------------------------------------------------------------ connections
    @contextlib.contextmanager
    def _connection(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        # mode=rw: a workspace deleted meanwhile is an error, not a new empty database.
        address = f"{self._database.as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            connection = sqlite3.connect(
                address, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
        except sqlite3.OperationalError:
            raise WorkspaceError(
                "This workspace is no longer on disk: it was deleted, or the disk was reset."
            ) from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            connection.execute("PRAGMA foreign_keys = ON")
            yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def _transaction(
        self, *, write: bool = True, create: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """Reads see one moment; writes take the write lock at once, so they never deadlock."""
        with self._connection(create=create) as connection:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._connection(create=True) as connection:
            connection.execute("PRAGMA journal_mode = WAL")
        with self._transaction(create=True) as connection:
            for statement in _SCHEMA:
                connection.execute(statement)
            for key, value in (
                ("schema_version", SCHEMA_VERSION),
                ("name", DEFAULT_NAME),
                ("created", time.time()),
            ):
                connection.execute(
                    "INSERT OR IGNORE INTO meta (key, value_json) VALUES (?, ?)",
                    (key, encode_json(value)),
                )

    def _meta(self, key: str, default: Any = None) -> Any:
        with self._connection() as connection:
            row = connection.execute("SELECT value_json FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else decode_json(row[0])

    def _set_meta(self, values: dict[str, Any]) -> None:
        with self._transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value_json) VALUES (?, ?)",
                [(key, encode_json(value)) for key, value in values.items()],
            )

    # ------------------------------------------------------------ the workspace itself
    @property
    def name(self) -> str:
        return self._meta("name", DEFAULT_NAME)

    def rename(self, name: str) -> None:
        self._set_meta({"name": check_name(name)})

    @property
    def created(self) -> float:
        return self._meta("created")

    def get_setting(self, key: str, default: Any = None) -> Any:
        return self._meta(_SETTING + key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Keep a JSON value (the app's current table, target, draft spec, open run)."""
        self._set_meta({_SETTING + key: value})

    def _settings(self) -> dict[str, Any]:
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT key, value_json FROM meta WHERE key LIKE ? ORDER BY key", (_SETTING + "%",)
            ).fetchall()
        return {key.removeprefix(_SETTING): decode_json(value) for key, value in rows}

    # ------------------------------------------------------------ tables
    def _table_path(self, table_id: str) -> Path:
        return self.folder / "tables" / f"{_checked_id(table_id, 'table id')}.csv"

    def add_table(self, name: str, data: bytes, *, rows: int, columns: int) -> TableRecord:
        """Keep an uploaded table's bytes; the same bytes again give back the record already kept."""
        fingerprint = hashlib.sha256(data).hexdigest()
        with self._connection() as connection:
            kept = connection.execute(
                "SELECT record_json FROM tables WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
        if kept is not None:
            return TableRecord.from_dict(decode_json(kept[0]))
        self.check_room(len(data))
        record = TableRecord(
            id=new_id(),
            name=name,
            fingerprint=fingerprint,
            rows=rows,
            columns=columns,
            size_bytes=len(data),
            created=time.time(),
        )
        path = self._table_path(record.id)
        _write_atomically(path, data)
        try:
            with self._transaction() as connection:
                kept = connection.execute(
                    "SELECT record_json FROM tables WHERE fingerprint = ?", (fingerprint,)
                ).fetchone()
                if kept is None:
                    self._insert_table(connection, record)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if kept is None:
            return record
        path.unlink(missing_ok=True)  # another writer kept the same bytes first
        return TableRecord.from_dict(decode_json(kept[0]))

    @staticmethod
    def _insert_table(connection: sqlite3.Connection, record: TableRecord) -> None:
        connection.execute(
            "INSERT INTO tables (id, created, fingerprint, record_json) VALUES (?, ?, ?, ?)",
            (record.id, record.created, record.fingerprint, encode_json(record.to_dict())),
        )

    def tables(self) -> list[TableRecord]:
        """Every table, oldest first."""
        with self._connection() as connection:
            rows = connection.execute("SELECT record_json FROM tables ORDER BY created, id")
            return [TableRecord.from_dict(decode_json(row[0])) for row in rows]

    def table(self, table_id: str) -> TableRecord | None:
        with self._connection() as connection:
            row = connection.execute(
                "SELECT record_json FROM tables WHERE id = ?", (table_id,)
            ).fetchone()
        return None if row is None else TableRecord.from_dict(decode_json(row[0]))

    def table_bytes(self, table_id: str) -> bytes:
        record = self.table(table_id)
        if record is None:
            raise WorkspaceError(f"This workspace has no table {table_id!r}; it may be deleted.")
        try:
            return self._table_path(table_id).read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(
                f'The file of table "{record.name}" is missing from this workspace\'s disk. '
                "Upload it again."
            ) from None

    def delete_table(self, table_id: str) -> None:
        """Forget a table and its bytes; runs trained on it keep their records and files."""
        path = self._table_path(table_id)
        with self._transaction() as connection:
            connection.execute("DELETE FROM tables WHERE id = ?", (table_id,))
        path.unlink(missing_ok=True)

    # ------------------------------------------------------------ runs
    def new_run_id(self) -> str:
        return new_id()

    def add_run(self, record: RunRecord) -> None:
        """Keep a new run, with any history it already has; an id kept before is a ``ValueError``."""
        _checked_id(record.id, "run id")
        if record.status not in RUN_STATUSES:
            raise ValueError(
                f"A run's status must be one of {RUN_STATUSES}; got {record.status!r}."
            )
        with self._transaction() as connection:
            try:
                connection.execute(
                    "INSERT INTO runs (id, created, status, record_json) VALUES (?, ?, ?, ?)",
                    (record.id, record.created, record.status, _run_json(record)),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"This workspace already has a run {record.id!r}.") from None
            connection.executemany(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)",
                _epoch_rows(record.id, record.history),
            )

    def run(self, run_id: str) -> RunRecord | None:
        """The run with its whole history, or None."""
        with self._transaction(write=False) as connection:
            row = connection.execute(
                "SELECT record_json FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            epochs = connection.execute(
                "SELECT metrics_json FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return _run_from_json(row[0], [epoch[0] for epoch in epochs])

    def run_count(self) -> int:
        """How many runs there are, without reading them."""
        with self._transaction(write=False) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def runs(self) -> list[RunRecord]:
        """Every run with its history, oldest first."""
        with self._transaction(write=False) as connection:
            rows = connection.execute(
                "SELECT id, record_json FROM runs ORDER BY created, id"
            ).fetchall()
            histories: dict[str, list[str]] = {run_id: [] for run_id, _ in rows}
            for run_id, metrics in connection.execute(
                "SELECT run_id, metrics_json FROM epochs ORDER BY run_id, epoch"
            ):
                histories[run_id].append(metrics)
        return [_run_from_json(text, histories[run_id]) for run_id, text in rows]

    @staticmethod
    def _change_run(
        connection: sqlite3.Connection,
        run_id: str,
        changes: Callable[[RunRecord], dict[str, Any]],
    ) -> None:
        """Read, change and write a run's record in the caller's write transaction."""
        row = connection.execute("SELECT record_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"This workspace has no run {run_id!r}; it may have been deleted.")
        record = _run_from_json(row[0], [])
        record = dataclasses.replace(record, **changes(record))
        if record.status not in RUN_STATUSES:
            raise ValueError(
                f"A run's status must be one of {RUN_STATUSES}; got {record.status!r}."
            )
        connection.execute(
            "UPDATE runs SET created = ?, status = ?, record_json = ? WHERE id = ?",
            (record.created, record.status, _run_json(record), run_id),
        )

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change any of a run's fields but its id and history (``append_epochs`` grows that)."""
        unknown = sorted(set(fields) - _UPDATABLE_FIELDS)
        if unknown:
            raise ValueError(
                f"update_run cannot change {', '.join(unknown)}; it changes "
                f"{', '.join(sorted(_UPDATABLE_FIELDS))}."
            )
        with self._transaction() as connection:
            self._change_run(connection, run_id, lambda record: fields)

    def append_epochs(self, run_id: str, epochs: list[dict[str, float]]) -> None:
        """Add epochs to a run's history; an epoch number kept before is replaced."""
        rows = _epoch_rows(run_id, epochs)
        with self._transaction() as connection:
            if connection.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise WorkspaceError(
                    f"This workspace has no run {run_id!r}; it may have been deleted."
                )
            connection.executemany(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)",
                rows,
            )

    def delete_run(self, run_id: str) -> None:
        """Forget a run: its record, its epochs and its folder of files."""
        folder = self._run_path(run_id)
        with self._transaction() as connection:
            connection.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            connection.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(folder, ignore_errors=True)

    def _run_path(self, run_id: str) -> Path:
        return self.folder / "runs" / _checked_id(run_id, "run id")

    def run_folder(self, run_id: str) -> Path:
        folder = self._run_path(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_run_file(
        self, run_id: str, role: str, data: bytes, filename: str | None = None
    ) -> Path:
        """Write one of a run's files whole (never half-written) and record it under ``role``.

        ``filename`` defaults to the role's usual file (``ROLE_FILES``), else the role itself.
        """
        filename = filename or ROLE_FILES.get(role, role)
        if not _FILENAME.fullmatch(filename):
            raise ValueError(
                f"A run's file name must be letters, digits, '_', '-' or '.'; got {filename!r}."
            )
        if self._stored_run(run_id) is None:
            raise WorkspaceError(f"This workspace has no run {run_id!r}; it may have been deleted.")
        path = self.run_folder(run_id) / filename
        replaced = path.stat().st_size if path.is_file() else 0
        self.check_room(len(data) - replaced)
        _write_atomically(path, data)
        relative = f"runs/{run_id}/{filename}"
        with self._transaction() as connection:
            self._change_run(
                connection, run_id, lambda record: {"files": {**record.files, role: relative}}
            )
        return path

    def run_file(self, run_id: str, role: str) -> Path | None:
        """The path of a run's file, or None if none is recorded or it is gone from disk."""
        record = self._stored_run(run_id)
        relative = None if record is None else record.files.get(role)
        if relative is None or _run_file_parts(relative) is None:
            return None
        path = self.folder / relative
        return path if path.is_file() else None

    def _stored_run(self, run_id: str) -> RunRecord | None:
        """The run's record without its history (cheaper than ``run``)."""
        with self._connection() as connection:
            row = connection.execute(
                "SELECT record_json FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return None if row is None else _run_from_json(row[0], [])

    # ------------------------------------------------------------ room on disk
    def size_bytes(self) -> int:
        """Everything in the folder: the database, its write-ahead log and all files."""
        total = 0
        for path in self.folder.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # replaced or deleted while counting
                if path.is_file():
                    total += path.stat().st_size
        return total

    def check_room(self, extra_bytes: int = 0) -> None:
        """Raise ``WorkspaceFull`` if ``extra_bytes`` more would pass the quota."""
        if self.quota_bytes is None:
            return
        used = self.size_bytes()
        if used + extra_bytes <= self.quota_bytes:
            return
        needs = f", and this needs {megabytes(extra_bytes)} more" if extra_bytes > 0 else ""
        raise WorkspaceFull(
            f"This workspace is full: it holds {megabytes(used)} of its "
            f"{megabytes(self.quota_bytes)}{needs}. {FULL_ADVICE}"
        )

    def delete(self) -> None:
        """Remove the workspace folder and everything in it."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.folder)

    # ------------------------------------------------------------ archives
    def export_archive(self) -> bytes:
        """The whole workspace as one zip of JSON and files (see ``import_archive``).

        Records whose files are gone from disk go without them, so the archive
        always imports.
        """
        tables, runs = [], []
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in self.tables():
                path = self._table_path(table.id)
                if path.is_file():
                    archive.write(path, f"tables/{table.id}.csv")
                    tables.append(table.to_dict())
            for run in self.runs():
                files = {}
                for role, relative in run.files.items():
                    parts = _run_file_parts(relative)
                    path = self.folder / relative
                    if parts is None or parts[0] != run.id or not path.is_file():
                        continue
                    stored = relative.endswith(_STORED_SUFFIXES)
                    archive.write(
                        path, relative, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                    )
                    files[role] = relative
                runs.append(dataclasses.replace(run, files=files).to_dict())
            manifest = {
                "format": ARCHIVE_FORMAT,
                "format_version": ARCHIVE_FORMAT_VERSION,
                "name": self.name,
                "created": self.created,
                "settings": self._settings(),
                "tables": tables,
                "runs": runs,
            }
            archive.writestr(MANIFEST_FILE, encode_json(manifest))
        return buffer.getvalue()

    @classmethod
    def import_archive(
        cls, data: bytes, folder: str | Path, *, quota_bytes: int | None = None
    ) -> WorkspaceStore:
        """A new workspace in ``folder`` (absent or empty) from what ``export_archive`` wrote.

        Everything is checked before anything is kept: any problem is a
        ``WorkspaceError`` saying what was expected, and nothing is left behind.
        Runs that were still queued or training when the archive was made are
        marked interrupted: nothing is training them here.
        """
        folder = Path(folder).resolve()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise WorkspaceError("There is already a workspace here; import into a new one.")
        members = _archive_members(data, quota_bytes)
        content = _archive_content(members)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}.importing-{secrets.token_hex(4)}")
        try:
            store = cls(staging)
            settings = {_SETTING + key: value for key, value in content.settings.items()}
            store._set_meta({"name": content.name, "created": content.created, **settings})
            for table in content.tables:
                _write_atomically(store._table_path(table.id), members[f"tables/{table.id}.csv"])
            with store._transaction() as connection:
                for table in content.tables:
                    store._insert_table(connection, table)
            for run in content.runs:
                for relative in run.files.values():
                    _write_atomically(staging / relative, members[relative])
                if run.active:
                    run = dataclasses.replace(run, status="interrupted", owner=None)
                store.add_run(run)
            if folder.exists():
                folder.rmdir()
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls(folder, quota_bytes=quota_bytes, create=False)


# ------------------------------------------------------------------ record rows
def _run_json(record: RunRecord) -> str:
    """A run's row: its record without the history, which lives in the epochs table."""
    values = record.to_dict()
    del values["history"]
    return encode_json(values)


def _run_from_json(text: str, epochs: list[str]) -> RunRecord:
    values = decode_json(text)
    values["history"] = [decode_json(epoch) for epoch in epochs]
    return RunRecord.from_dict(values)


def _epoch_rows(run_id: str, epochs: list[dict[str, float]]) -> list[tuple[str, int, str]]:
    rows = []
    for entry in epochs:
        try:
            epoch = operator.index(entry["epoch"])
        except (KeyError, TypeError):
            raise ValueError(f'Each epoch needs a whole-number "epoch"; got {entry!r}.') from None
        rows.append((run_id, epoch, encode_json({**entry, "epoch": epoch})))
    return rows


def _run_file_parts(relative: str) -> tuple[str, str] | None:
    """(run id, file name) of a path ``runs/<id>/<file>``; None for any other path."""
    parts = relative.split("/")
    if (
        len(parts) == 3
        and parts[0] == "runs"
        and _ID.fullmatch(parts[1])
        and _FILENAME.fullmatch(parts[2])
    ):
        return parts[1], parts[2]
    return None


# ------------------------------------------------------------------ reading an archive
_EXPECTED_MEMBERS = "workspace.json, tables/<id>.csv and runs/<id>/<file>"
_NOT_AN_ARCHIVE = (
    "This file is not a Layerlab workspace: expected the .zip file that "
    'Layerlab\'s "Download workspace" gives.'
)


def _member_is_expected(name: str) -> bool:
    if name == MANIFEST_FILE:
        return True
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "tables":
        return parts[1].endswith(".csv") and bool(_ID.fullmatch(parts[1].removesuffix(".csv")))
    return _run_file_parts(name) is not None


def _archive_members(data: bytes, quota_bytes: int | None) -> dict[str, bytes]:
    """The archive's files by name, each checked to be one a workspace holds."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise WorkspaceError(_NOT_AN_ARCHIVE) from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        for info in archive.infolist():
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
                raise WorkspaceError(
                    f'This workspace archive holds "{name}", a path that leads outside the '
                    f"workspace; a workspace holds only {_EXPECTED_MEMBERS}."
                )
            if not info.is_dir() and not _member_is_expected(name):
                raise WorkspaceError(
                    f'This workspace archive holds "{name}"; a workspace holds only '
                    f"{_EXPECTED_MEMBERS}."
                )
            if info.flag_bits & 0x1:
                raise WorkspaceError(
                    "This workspace archive is password-protected; Layerlab writes none."
                )
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise WorkspaceError("This workspace archive holds the same file twice; it is damaged.")
        total = sum(info.file_size for info in infos)
        if quota_bytes is not None and total > quota_bytes:
            raise WorkspaceError(
                f"This workspace unpacks to {megabytes(total)}, more than the "
                f"{megabytes(quota_bytes)} a workspace may hold here. Delete runs from it "
                "where it was made, download it again and upload that."
            )
        try:
            return {info.filename: archive.read(info) for info in infos}
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError):
            raise WorkspaceError(
                "This workspace archive is damaged: a file in it cannot be unpacked. "
                "Download the workspace again."
            ) from None


@dataclasses.dataclass
class _ArchiveContent:
    name: str
    created: float
    settings: dict[str, Any]
    tables: list[TableRecord]
    runs: list[RunRecord]


def _archive_content(members: dict[str, bytes]) -> _ArchiveContent:
    """The records of ``workspace.json``, each checked against the files beside it."""
    if MANIFEST_FILE not in members:
        raise WorkspaceError(f"{_NOT_AN_ARCHIVE} This one has no {MANIFEST_FILE}.")
    try:
        manifest = decode_json(members[MANIFEST_FILE])
    except (ValueError, UnicodeDecodeError):
        raise WorkspaceError(f"The {MANIFEST_FILE} in this archive is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise WorkspaceError(
            f'{_NOT_AN_ARCHIVE} Its {MANIFEST_FILE} lacks "format": "{ARCHIVE_FORMAT}".'
        )
    version = manifest.get("format_version")
    if version != ARCHIVE_FORMAT_VERSION:
        raise WorkspaceError(
            f"This workspace was saved in format version {version!r}; this Layerlab reads "
            f"version {ARCHIVE_FORMAT_VERSION}. Update Layerlab to open it."
        )
    created, settings = manifest.get("created"), manifest.get("settings", {})
    tables, runs = manifest.get("tables", []), manifest.get("runs", [])
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise WorkspaceError(f'The {MANIFEST_FILE} needs "created", a time in seconds.')
    for key, value, kind in (
        ("settings", settings, dict),
        ("tables", tables, list),
        ("runs", runs, list),
    ):
        if not isinstance(value, kind):
            raise WorkspaceError(
                f'The {MANIFEST_FILE} field "{key}" must be a JSON {kind.__name__}.'
            )
    used = {MANIFEST_FILE}
    content = _ArchiveContent(
        check_name(manifest.get("name", DEFAULT_NAME)), float(created), settings, [], []
    )
    for position, config in enumerate(tables, start=1):
        content.tables.append(_archive_table(position, config, members))
        used.add(f"tables/{content.tables[-1].id}.csv")
    for position, config in enumerate(runs, start=1):
        content.runs.append(_archive_run(position, config, members))
        used.update(content.runs[-1].files.values())
    for kind, records in (("table", content.tables), ("run", content.runs)):
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            raise WorkspaceError(f"The {MANIFEST_FILE} lists the same {kind} id twice.")
    unused = sorted(set(members) - used)
    if unused:
        raise WorkspaceError(
            f'This workspace archive holds "{unused[0]}", which no table or run in its '
            f"{MANIFEST_FILE} refers to."
        )
    return content


def _archive_table(position: int, config: Any, members: dict[str, bytes]) -> TableRecord:
    try:
        table = TableRecord.from_dict(config)
        _checked_id(table.id, "table id")
    except ValueError as problem:
        raise WorkspaceError(f"Table {position} in {MANIFEST_FILE}: {problem}") from None
    data = members.get(f"tables/{table.id}.csv")
    if data is None or hashlib.sha256(data).hexdigest() != table.fingerprint:
        raise WorkspaceError(
            f'The file of table "{table.name}" is missing from this archive or differs from the '
            "one uploaded; the archive is damaged. Download the workspace again."
        )
    return dataclasses.replace(table, size_bytes=len(data))


def _archive_run(position: int, config: Any, members: dict[str, bytes]) -> RunRecord:
    try:
        run = RunRecord.from_dict(config)
        _checked_id(run.id, "run id")
    except (ValueError, SpecError) as problem:
        raise WorkspaceError(f"Run {position} in {MANIFEST_FILE}: {problem}") from None
    for role, relative in run.files.items():
        parts = _run_file_parts(relative)
        if parts is None or parts[0] != run.id:
            raise WorkspaceError(
                f'Run "{run.name}" in {MANIFEST_FILE} keeps its {role} file at "{relative}"; '
                f"expected runs/{run.id}/<file>."
            )
        if relative not in members:
            raise WorkspaceError(
                f'The {role} file of run "{run.name}" is missing from this archive.'
            )
    return run
