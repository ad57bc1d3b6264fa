"""The SQLite side of a workspace: its schema, its connections, and its rows of records.

Reads never write: a reader that finds the disk full (SQLite cannot make the
shared-memory file a first reader of a WAL database needs) reads the database
file itself, read-only, so every other workspace stays readable while one
visitor's write is refused (``disk.disk_errors``).
"""

from __future__ import annotations

import operator
import sqlite3
from pathlib import Path

from layerlab.report.records import ACTIVE_STATUSES, RunRecord, decode_json, encode_json
from layerlab.runs.disk import DISK_FULL_MESSAGE, is_disk_full
from layerlab.schema.errors import ServerFull, WorkspaceError

SCHEMA_VERSION = 1
DEFAULT_NAME = "Untitled workspace"
BUSY_TIMEOUT_SECONDS = 10.0
# Keys of the meta table: a setting the app keeps, and the room a queued or training run
# was given for its files (``WorkspaceStore.add_run``), by run id.
SETTING_KEY = "setting:"
RESERVED_KEY = "reserved:"
GONE = "This workspace is no longer on disk: it was deleted, or the disk was reset."

SCHEMA = (
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


def connect(address: str) -> sqlite3.Connection:
    """A connection that waits for a writer instead of failing, to a database that must exist."""
    try:
        connection = sqlite3.connect(
            address, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
        )
    except sqlite3.OperationalError:
        raise WorkspaceError(GONE) from None
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def make_schema(connection: sqlite3.Connection, created: float) -> None:
    """The tables and the first records of a new workspace (kept as they are if already there)."""
    for statement in SCHEMA:
        connection.execute(statement)
    connection.executemany(
        "INSERT OR IGNORE INTO meta (key, value_json) VALUES (?, ?)",
        [
            (key, encode_json(value))
            for key, value in (
                ("schema_version", SCHEMA_VERSION),
                ("name", DEFAULT_NAME),
                ("created", created),
            )
        ],
    )


def empty_workspace(created: float) -> sqlite3.Connection:
    """A new workspace in memory: what a lazy one reads as until its first write."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    make_schema(connection, created)
    return connection


def readable(connection: sqlite3.Connection, database: Path) -> sqlite3.Connection:
    """``connection``, or where a full disk keeps SQLite from making its shared-memory
    file (a first reader needs one), a read-only view of the database file itself."""
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return connection
    except sqlite3.OperationalError as error:
        connection.close()
        if not is_disk_full(error):
            raise
    log = database.with_name(database.name + "-wal")
    if log.is_file() and log.stat().st_size > 0:
        raise ServerFull(DISK_FULL_MESSAGE)  # the file alone would show an older moment
    return connect(f"{database.as_uri()}?mode=ro&immutable=1")


def run_json(record: RunRecord) -> str:
    """A run's row: its record without the history, which lives in the epochs table."""
    values = record.to_dict()
    del values["history"]
    return encode_json(values)


def run_from_json(text: str, epochs: list[str]) -> RunRecord:
    values = decode_json(text)
    values["history"] = [decode_json(epoch) for epoch in epochs]
    return RunRecord.from_dict(values)


def epoch_rows(run_id: str, epochs: list[dict[str, float]]) -> list[tuple[str, int, str]]:
    rows = []
    for entry in epochs:
        try:
            epoch = operator.index(entry["epoch"])
        except (KeyError, TypeError):
            raise ValueError(f'Each epoch needs a whole-number "epoch"; got {entry!r}.') from None
        rows.append((run_id, epoch, encode_json({**entry, "epoch": epoch})))
    return rows


def has_active_runs(database: Path) -> bool:
    """Whether the workspace has a run queued or training; True when it cannot be read, so
    that nothing unchecked is removed. Reads only."""
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return True
    try:
        placeholders = ", ".join("?" * len(ACTIVE_STATUSES))
        row = connection.execute(
            f"SELECT 1 FROM runs WHERE status IN ({placeholders}) LIMIT 1", ACTIVE_STATUSES
        ).fetchone()
    except sqlite3.Error:
        return True
    finally:
        connection.close()
    return row is not None
