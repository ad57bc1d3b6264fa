"""A workspace on disk: its tables, runs, epochs and files, safe for many threads and processes.

One workspace is one folder::

    workspace.sqlite        records (SQLite in WAL mode, so readers never wait for a writer)
    tables/<table_id>.csv   the uploaded bytes, exactly
    runs/<run_id>/<file>    model.keras, bundle.zip, evaluation.json, checkpoint.keras

Every operation opens its own SQLite connection and writes in a ``BEGIN
IMMEDIATE`` transaction, so the Streamlit server's threads and the processes
that train can share a workspace without a lock of their own. An epoch is one
row, so a run's history grows in O(1) per epoch. What adds bytes (a table, a
run's files, a run's room set aside) checks the quota under the folder's lock
(``disk.folder_lock``), so writes that race cannot all pass it.

A workspace opened ``lazy`` is made on disk by its first write, not before: a
visit that saves nothing leaves nothing behind.

A workspace travels as a zip of JSON and the files, never as the SQLite file
(``layerlab.runs.archive``): an uploaded archive is read as plain data within limits,
so opening one runs nothing that its author wrote and costs bounded work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from layerlab.report.records import (
    ACTIVE_STATUSES,
    RUN_STATUSES,
    RunRecord,
    TableRecord,
    decode_json,
    encode_json,
)
from layerlab.report.run_files import RUN_FILES
from layerlab.runs.disk import (
    Room,
    check_quota,
    count_workspace,
    disk_errors,
    expected_run_bytes,
    folder_lock,
    megabytes,
)
from layerlab.runs.workspace_db import (
    DEFAULT_NAME,
    GONE,
    RESERVED_KEY,
    SCHEMA_VERSION,
    SETTING_KEY,
    connect,
    empty_workspace,
    epoch_rows,
    make_schema,
    readable,
    run_from_json,
    run_json,
)
from layerlab.runs.workspace_paths import (
    DATABASE_FILE,
    FILENAME_PATTERN,
    check_name,
    checked_id,
    new_id,
    run_file_parts,
)
from layerlab.schema.errors import WorkspaceError
from layerlab.schema.files import write_atomically

# How old the count behind ``used_bytes`` may be.
USED_BYTES_SECONDS = 60.0
_UPDATABLE_FIELDS = frozenset(field.name for field in dataclasses.fields(RunRecord)) - {
    "id",
    "history",
}


class WorkspaceStore:
    """One workspace folder; see the module's docstring for its layout.

    ``quota_bytes`` (None: no limit) caps what the folder may hold; writes that
    would pass it raise ``WorkspaceFull``. ``create=False`` opens only a
    workspace that is already there (``WorkspaceError`` otherwise); ``lazy=True``
    makes nothing until the first write, and reads see an empty workspace until
    then (``is_pending``). ``room`` is what the server as a whole allows
    (``workspaces.ServerRoom``): its budget, its number of workspaces.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        quota_bytes: int | None = None,
        create: bool = True,
        lazy: bool = False,
        room: Room | None = None,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.quota_bytes = quota_bytes
        self.room = room
        self._database = self.folder / DATABASE_FILE
        self._opened = time.time()
        self._used: tuple[float, int] | None = None  # (when, bytes) of the last count
        self._pending = lazy and not self._database.is_file()
        if self._pending:
            return
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
    @property
    def is_pending(self) -> bool:
        """Whether this lazy workspace is not on disk yet (nothing was ever saved in it)."""
        if self._pending and self._database.is_file():
            self._pending = False  # made meanwhile, by another tab or process
        return self._pending

    @contextlib.contextmanager
    def _connection(
        self, *, create: bool = False, write: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """A connection for one operation; reads never write, so they work on a full disk."""
        if self.is_pending and not (create or write):
            connection = empty_workspace(self._opened)
        else:
            # mode=rw: a workspace deleted meanwhile is an error, not a new empty database.
            connection = connect(f"{self._database.as_uri()}?mode={'rwc' if create else 'rw'}")
            if not (create or write):
                connection = readable(connection, self._database)
        try:
            yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def _transaction(
        self, *, write: bool = True, create: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """Reads see one moment; writes take the write lock at once, so they never deadlock.

        A write on a full disk raises ``ServerFull``; a lazy workspace is made by its first.
        """
        if write and not create:
            self._ensure_created()
        with (
            disk_errors() if write else contextlib.nullcontext(),
            self._connection(create=create, write=write) as connection,
        ):
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _ensure_created(self) -> None:
        """Make a lazy workspace on disk, if the server has room for one more."""
        if not self.is_pending:
            return
        if self.room is not None:
            self.room.admit_workspace(self.folder)
        try:
            self._create()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)  # no half-made workspace stays
            raise
        self._pending = False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This workspace's lock, held while its room is checked and the write it allows made."""
        self._ensure_created()
        if not self._database.is_file():
            raise WorkspaceError(GONE)
        with folder_lock(self.folder):
            yield

    def _create(self) -> None:
        with disk_errors():
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._connection(create=True) as connection:
                connection.execute("PRAGMA journal_mode = WAL")
        with self._transaction(create=True) as connection:
            make_schema(connection, self._opened)

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
        return self._meta(SETTING_KEY + key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Keep a JSON value (the app's current table, target, draft spec, open run)."""
        self._set_meta({SETTING_KEY + key: value})

    def next_number(self, key: str) -> int:
        """The whole-number setting ``key`` plus one, kept; read and written in one
        transaction, so two callers at once never get the same number."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT value_json FROM meta WHERE key = ?", (SETTING_KEY + key,)
            ).fetchone()
            last = decode_json(row[0]) if row is not None else 0
            if not isinstance(last, int) or isinstance(last, bool) or last < 0:
                last = 0
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value_json) VALUES (?, ?)",
                (SETTING_KEY + key, encode_json(last + 1)),
            )
        return last + 1

    # ------------------------------------------------------------ tables
    def _table_path(self, table_id: str) -> Path:
        return self.folder / "tables" / f"{checked_id(table_id, 'table id')}.csv"

    def add_table(self, name: str, data: bytes, *, rows: int, columns: int) -> TableRecord:
        """Keep an uploaded table's bytes; the same bytes again give back the record already kept."""
        fingerprint = hashlib.sha256(data).hexdigest()
        with self._connection() as connection:
            kept = connection.execute(
                "SELECT record_json FROM tables WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
        if kept is not None:
            return TableRecord.from_dict(decode_json(kept[0]))
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
        with self._locked():
            self._check_room_locked(len(data))
            with disk_errors():
                write_atomically(path, data)
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
        checked_id(record.id, "run id")
        if record.status not in RUN_STATUSES:
            raise ValueError(
                f"A run's status must be one of {', '.join(RUN_STATUSES)}; got {record.status!r}."
            )
        # A run still to train is given room for its files now, so runs started together
        # cannot all pass the quota; its files are counted when they are recorded.
        room = expected_run_bytes(record.spec) if record.active else 0
        with self._locked() if room else contextlib.nullcontext():
            if room:
                self._check_room_locked(
                    room, needs=f"this run's model and files need about {megabytes(room)}"
                )
            with self._transaction() as connection:
                try:
                    connection.execute(
                        "INSERT INTO runs (id, created, status, record_json) VALUES (?, ?, ?, ?)",
                        (record.id, record.created, record.status, run_json(record)),
                    )
                except sqlite3.IntegrityError:
                    raise ValueError(f"This workspace already has a run {record.id!r}.") from None
                connection.executemany(
                    "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)",
                    epoch_rows(record.id, record.history),
                )
                if room:
                    connection.execute(
                        "INSERT OR REPLACE INTO meta (key, value_json) VALUES (?, ?)",
                        (RESERVED_KEY + record.id, encode_json(room)),
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
        return run_from_json(row[0], [epoch[0] for epoch in epochs])

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
        return [run_from_json(text, histories[run_id]) for run_id, text in rows]

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
        record = run_from_json(row[0], [])
        record = dataclasses.replace(record, **changes(record))
        if record.status not in RUN_STATUSES:
            raise ValueError(
                f"A run's status must be one of {', '.join(RUN_STATUSES)}; got {record.status!r}."
            )
        connection.execute(
            "UPDATE runs SET created = ?, status = ?, record_json = ? WHERE id = ?",
            (record.created, record.status, run_json(record), run_id),
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
            if fields.get("status", "queued") not in ACTIVE_STATUSES:  # ended: its files count
                connection.execute("DELETE FROM meta WHERE key = ?", (RESERVED_KEY + run_id,))
        if "files" in fields:
            self._count()  # what the worker wrote, for the caption and the server's total

    def choose_run(self, run_id: str) -> None:
        """Mark ``run_id`` as the chosen model and every other run as not, in one transaction."""
        with self._transaction() as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM runs")]
            if run_id not in ids:
                raise WorkspaceError(
                    f"This workspace has no run {run_id!r}; it may have been deleted."
                )
            for other in ids:
                self._change_run(
                    connection, other, lambda _, chosen=other == run_id: {"chosen": chosen}
                )

    def append_epochs(self, run_id: str, epochs: list[dict[str, float]]) -> None:
        """Add epochs to a run's history; an epoch number kept before is replaced."""
        rows = epoch_rows(run_id, epochs)
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
            connection.execute("DELETE FROM meta WHERE key = ?", (RESERVED_KEY + run_id,))
        shutil.rmtree(folder, ignore_errors=True)

    def _run_path(self, run_id: str) -> Path:
        return self.folder / "runs" / checked_id(run_id, "run id")

    def run_folder(self, run_id: str) -> Path:
        folder = self._run_path(run_id)
        if self._database.is_file():  # never a stray folder where no workspace is (yet)
            with disk_errors():
                folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_run_file(
        self, run_id: str, role: str, data: bytes, filename: str | None = None
    ) -> Path:
        """Write one of a run's files whole (never half-written) and record it under ``role``.

        ``filename`` defaults to the role's usual file (``RUN_FILES``), else the role itself.
        """
        filename = filename or RUN_FILES.get(role, role)
        if not FILENAME_PATTERN.fullmatch(filename):
            raise ValueError(
                f"A run's file name must be letters, digits, '_', '-' or '.'; got {filename!r}."
            )
        if self._stored_run(run_id) is None:
            raise WorkspaceError(f"This workspace has no run {run_id!r}; it may have been deleted.")
        path = self.run_folder(run_id) / filename
        with self._locked():
            replaced = path.stat().st_size if path.is_file() else 0
            self._check_room_locked(len(data) - replaced, run_id=run_id)
            with disk_errors():
                write_atomically(path, data)
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
        if relative is None or run_file_parts(relative) is None:
            return None
        path = self.folder / relative
        return path if path.is_file() else None

    def _stored_run(self, run_id: str) -> RunRecord | None:
        """The run's record without its history (cheaper than ``run``)."""
        with self._connection() as connection:
            row = connection.execute(
                "SELECT record_json FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return None if row is None else run_from_json(row[0], [])

    # ------------------------------------------------------------ room on disk
    def size_bytes(self) -> int:
        """Everything in the folder: the database, its write-ahead log and all files."""
        return self._count()[0]

    def used_bytes(self) -> int:
        """``size_bytes`` as last counted (at most a minute ago), for showing on every page."""
        if self._used is None or time.monotonic() - self._used[0] > USED_BYTES_SECONDS:
            self._count()
        return self._used[1]

    def _count(self) -> tuple[int, dict[str, int]]:
        """(bytes in the folder, bytes in each run's folder), counted now and remembered."""
        total, runs = count_workspace(self.folder)
        self._used = (time.monotonic(), total)
        if self.room is not None and not self.is_pending:
            self.room.counted(self.folder, total)
        return total, runs

    def check_room(self, extra_bytes: int = 0) -> None:
        """Raise ``WorkspaceFull`` if ``extra_bytes`` more would pass the quota (counting the
        room runs still training were given), or ``ServerFull`` if the server has no room."""
        with contextlib.nullcontext() if self.is_pending else self._locked():
            self._check_room_locked(extra_bytes)

    def _check_room_locked(
        self, extra_bytes: int, *, run_id: str | None = None, needs: str | None = None
    ) -> None:
        """``check_room``, for a caller holding the lock; ``run_id``: the bytes go to that run,
        whose room set aside shrinks by as much."""
        if self.quota_bytes is not None:
            used, runs = self._count()
            with self._connection() as connection:
                reserved = {
                    key.removeprefix(RESERVED_KEY): decode_json(value)
                    for key, value in connection.execute(
                        "SELECT key, value_json FROM meta WHERE key LIKE ?", (RESERVED_KEY + "%",)
                    )
                }
            check_quota(self.quota_bytes, used, runs, reserved, extra_bytes, run_id, needs)
        if self.room is not None:
            self.room.admit_bytes(self.folder, max(extra_bytes, 0))

    def delete(self) -> None:
        """Remove the workspace folder and everything in it."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.folder)
        if self.room is not None:
            self.room.counted(self.folder, 0)
