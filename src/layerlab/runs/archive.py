"""A workspace as one downloadable zip, and an uploaded one read back as data only.

An archive is ``workspace.json`` (the records: tables, runs with their specs,
histories and scores, and the allowed settings) beside the files it names. It
is never the SQLite file, and opening one runs nothing its author wrote.

Anyone can upload an archive, so reading one is bounded work: the zip's
directory is sized before ``zipfile`` parses it, every member is inflated
straight to disk in chunks while the bytes actually inflated are counted
(the sizes in the zip's headers are the author's claim, never trusted), and
reading stops the moment a member passes its own cap, the compression ratio
or the workspace quota. Each table obeys the upload limit (and the column
limit where ``reading`` has one).

Of a run's files only what Layerlab cannot make again without training is
kept: the weights (``model.keras``, ``checkpoint.keras``, whose Keras
configuration is counted before anything is built), and the small JSON and
``network.npz`` files the Results page reads, each parsed and checked here.
``bundle.zip``, ``train.py`` and ``MODEL_CARD.md`` are never taken from an
archive: they are code and text a person runs or reads as Layerlab's, and an
archive could carry anything in them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import hashlib
import io
import os
import secrets
import shutil
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from layerlab.report.records import RunRecord, TableRecord, decode_json, encode_json
from layerlab.report.run_files import RUN_FILES, check_run_json
from layerlab.runs.archive_settings import LABEL_LENGTH, TEXT_LENGTH, checked_settings
from layerlab.runs.disk import MB, megabytes
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workspace_db import DEFAULT_NAME, SETTING_KEY
from layerlab.runs.workspace_paths import ID_PATTERN, check_name, checked_id, run_file_parts
from layerlab.schema import limits
from layerlab.schema.errors import LayerlabError, SpecError, WorkspaceError
from layerlab.tabular import reading
from layerlab.tabular.keras_file_check import check_keras_file, max_keras_file_bytes
from layerlab.tabular.network_weights import check_network_file
from layerlab.tabular.parquet_reading import PARQUET_MAGIC

ARCHIVE_FORMAT = "layerlab-workspace"
ARCHIVE_FORMAT_VERSION = 1
MANIFEST_FILE = "workspace.json"
# Already compressed: stored as they are in an archive.
_STORED_SUFFIXES = (".keras", ".zip")

# What one archive may hold. A workspace's records for runs of limits.EPOCHS epochs
# take about 150 bytes an epoch: 16 MB is room for 100,000 epochs in all.
MAX_ENTRIES = 5_000
MAX_DIRECTORY_BYTES = 4 * MB  # the zip's central directory, read whole by zipfile
MANIFEST_BYTES = 16 * MB
MAX_TABLES = 500
MAX_RUNS = 2_000
MAX_EPOCHS = 100_000  # in all runs together
# A member that inflates to more than this many times its compressed size, past the
# first megabyte, is refused: a real table compresses 3-20 times, a zip bomb 1,000.
MAX_RATIO = 100
RATIO_FREE_BYTES = 1 * MB
CHUNK_BYTES = 1 << 20

# A run's files taken from an archive, each with its own cap (weights: see keras_file_check).
JSON_FILE_BYTES = {
    "evaluation": 32 * MB,  # every test row's prediction
    "summary": 1 * MB,
    "importance": 4 * MB,
    "effects": 16 * MB,
}
NETWORK_FILE_BYTES = 16 * MB  # network_weights keeps at most 4 MB of kernels, compressed
KEPT_ROLES = ("model", "checkpoint", "network", *JSON_FILE_BYTES)
# Never taken from an archive (code and text that would be served as Layerlab's own): the
# bundle, train.py and the model card, which a worker makes again (``jobs.rebuild_files``).
LEFT_OUT = (
    "Its runs keep their scores, curves and model; their download bundle, train.py and "
    "model card are never taken from an uploaded file, so train a run again to get them."
)


_EXPECTED_MEMBERS = "workspace.json, tables/<id>.csv and runs/<id>/<file>"
_NOT_AN_ARCHIVE = (
    "This file is not a Layerlab workspace: expected the .zip file that "
    'Layerlab\'s "Download workspace" gives.'
)
_DAMAGED = (
    "This workspace archive is damaged: a file in it cannot be unpacked. "
    "Download the workspace again."
)
_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"


# ------------------------------------------------------------------ writing
def export_archive(store: WorkspaceStore) -> bytes:
    """The whole workspace as one zip of JSON and files (see ``import_archive``).

    Records whose files are gone from disk go without them, so the archive
    always imports.
    """
    tables, runs = [], []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in store.tables():
            path = store._table_path(table.id)
            if path.is_file():
                archive.write(path, f"tables/{table.id}.csv")
                tables.append(table.to_dict())
        for run in store.runs():
            files = {}
            for role, relative in run.files.items():
                parts = run_file_parts(relative)
                path = store.folder / relative
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
            "name": store.name,
            "created": store.created,
            "settings": _settings(store),
            "tables": tables,
            "runs": runs,
        }
        archive.writestr(MANIFEST_FILE, encode_json(manifest))
    return buffer.getvalue()


def _settings(store: WorkspaceStore) -> dict[str, Any]:
    with store._connection() as connection:
        rows = connection.execute(
            "SELECT key, value_json FROM meta WHERE key LIKE ? ORDER BY key", (SETTING_KEY + "%",)
        ).fetchall()
    return {key.removeprefix(SETTING_KEY): decode_json(value) for key, value in rows}


# ------------------------------------------------------------------ reading
def import_archive(
    source: IO[bytes] | str | os.PathLike[str],
    folder: str | Path,
    *,
    quota_bytes: int | None = None,
) -> WorkspaceStore:
    """A new workspace in ``folder`` (absent or empty) from what ``export_archive`` wrote.

    ``source`` is a binary file (an upload, read from where it is) or a path, never
    bytes in memory. Any problem is a ``WorkspaceError`` saying what was expected,
    and nothing is left behind. Runs and searches that were still running when the
    archive was made are marked interrupted: nothing is running them here.
    """
    folder = Path(folder).resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise WorkspaceError("There is already a workspace here; import into a new one.")
    if isinstance(source, bytes | bytearray | memoryview):
        raise TypeError("import_archive reads a file or a path, not bytes held in memory.")
    with contextlib.ExitStack() as opened:
        if isinstance(source, str | os.PathLike):
            try:
                source = opened.enter_context(open(source, "rb"))
            except OSError:
                raise WorkspaceError(f"{_NOT_AN_ARCHIVE} This file cannot be read.") from None
        archive = opened.enter_context(_open_archive(source))
        infos = _archive_infos(archive)
        budget = _Budget(quota_bytes)
        manifest = io.BytesIO()
        _extract(archive, infos[MANIFEST_FILE], manifest, MANIFEST_BYTES, budget)
        content = _archive_content(manifest.getvalue(), set(infos))
        del manifest
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}.importing-{secrets.token_hex(4)}")
        try:
            store = WorkspaceStore(staging)
            _unpack(archive, infos, content, store, budget)
            settings = {SETTING_KEY + key: value for key, value in content.settings.items()}
            store._set_meta({"name": content.name, "created": content.created, **settings})
            with store._transaction() as connection:
                for table in content.tables:
                    store._insert_table(connection, table)
            for run in content.runs:
                store.add_run(run)
            if folder.exists():
                folder.rmdir()
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return WorkspaceStore(folder, quota_bytes=quota_bytes, create=False)


class _Budget:
    """The bytes an import may still write in all: the workspace quota."""

    def __init__(self, total: int | None) -> None:
        self.total, self.used = total, 0

    def take(self, count: int) -> None:
        self.used += count
        if self.total is not None and self.used > self.total:
            raise WorkspaceError(
                f"This workspace unpacks to more than the {megabytes(self.total)} a workspace "
                "may hold here. Delete runs from it where it was made, download it again and "
                "upload that."
            )


def _open_archive(file: IO[bytes]) -> zipfile.ZipFile:
    """The zip, once its directory is known to be small: ``zipfile`` reads it whole."""
    try:
        file.seek(0, io.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - _END_OF_DIRECTORY.size - 0xFFFF))
        tail = file.read()
        file.seek(0)
        at = tail.rfind(_END_SIGNATURE)
        if at < 0 or len(tail) - at < _END_OF_DIRECTORY.size:
            raise WorkspaceError(_NOT_AN_ARCHIVE)
        fields = _END_OF_DIRECTORY.unpack_from(tail, at)
        entries, directory_bytes = fields[4], fields[5]
        # 0xFFFF entries or a ZIP64 directory: more than any workspace holds.
        if entries > MAX_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
            raise WorkspaceError(
                f"This workspace archive lists {entries:,} files in a directory of "
                f"{megabytes(directory_bytes)}; a workspace holds at most {MAX_ENTRIES:,} "
                "files. It was not made by Layerlab's Download workspace."
            )
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise WorkspaceError(_NOT_AN_ARCHIVE) from None


def _member_is_expected(name: str) -> bool:
    if name == MANIFEST_FILE:
        return True
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "tables":
        return parts[1].endswith(".csv") and bool(
            ID_PATTERN.fullmatch(parts[1].removesuffix(".csv"))
        )
    return run_file_parts(name) is not None


def _archive_infos(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's files by name, each checked to be one a workspace holds."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise WorkspaceError(
            f"This workspace archive holds {len(infos):,} files; a workspace holds at most "
            f"{MAX_ENTRIES:,}."
        )
    files: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
            raise WorkspaceError(
                f'This workspace archive holds "{name}", a path that leads outside the '
                f"workspace; a workspace holds only {_EXPECTED_MEMBERS}."
            )
        if info.is_dir():
            continue
        if not _member_is_expected(name):
            raise WorkspaceError(
                f'This workspace archive holds "{name}"; a workspace holds only '
                f"{_EXPECTED_MEMBERS}."
            )
        if info.flag_bits & 0x1:
            raise WorkspaceError(
                "This workspace archive is password-protected; Layerlab writes none."
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WorkspaceError(
                f'"{name}" in this workspace archive is compressed in a way Layerlab never '
                "writes (only stored or deflated). Download the workspace again."
            )
        if name in files:
            raise WorkspaceError("This workspace archive holds the same file twice; it is damaged.")
        files[name] = info
    if MANIFEST_FILE not in files:
        raise WorkspaceError(f"{_NOT_AN_ARCHIVE} This one has no {MANIFEST_FILE}.")
    return files


def _extract(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: IO[bytes],
    limit: int,
    budget: _Budget,
    digest: Any = None,
) -> int:
    """Inflate one member into ``target`` chunk by chunk, counting what really comes out."""
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise WorkspaceError(
                        f'"{info.filename}" in this workspace archive unpacks to more than '
                        f"{megabytes(limit)}, the most such a file may hold. "
                        + _too_large_advice(info.filename)
                    )
                if size > RATIO_FREE_BYTES and size > MAX_RATIO * max(info.compress_size, 1):
                    raise WorkspaceError(
                        f'"{info.filename}" in this workspace archive unpacks to more than '
                        f"{MAX_RATIO} times its packed size, which no file Layerlab writes "
                        "does: the archive was built to fill the server's disk or memory."
                    )
                budget.take(len(chunk))
                if digest is not None:
                    digest.update(chunk)
                target.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise WorkspaceError(_DAMAGED) from None
    return size


def _too_large_advice(name: str) -> str:
    if name.startswith("tables/"):
        return (
            f"A table may hold {megabytes(reading.MAX_UPLOAD_BYTES)}, as an upload may; "
            "delete the table where the workspace was made, or upload a smaller sample of it."
        )
    return "Download the workspace again from the Layerlab that made it."


# ------------------------------------------------------------------ the manifest
@dataclasses.dataclass
class _ArchiveContent:
    name: str
    created: float
    settings: dict[str, Any]
    tables: list[TableRecord]
    runs: list[RunRecord]
    # run id -> the files taken from the archive: role -> path
    kept: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def _archive_content(manifest_bytes: bytes, members: set[str]) -> _ArchiveContent:
    """The records of ``workspace.json``, each checked against the files beside it."""
    try:
        manifest = decode_json(manifest_bytes)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    for key, value, kind, most in (
        ("settings", settings, dict, None),
        ("tables", tables, list, MAX_TABLES),
        ("runs", runs, list, MAX_RUNS),
    ):
        if not isinstance(value, kind):
            raise WorkspaceError(
                f'The {MANIFEST_FILE} field "{key}" must be a JSON {kind.__name__}.'
            )
        if most is not None and len(value) > most:
            raise WorkspaceError(
                f"This workspace archive lists {len(value):,} {key}; a workspace here holds at "
                f"most {most:,}. Delete some where it was made, download it again and upload that."
            )
    name = manifest.get("name", DEFAULT_NAME)
    content = _ArchiveContent(
        check_name(name if isinstance(name, str) else ""),
        float(created),
        checked_settings(settings),
        [],
        [],
    )
    used = {MANIFEST_FILE}
    for position, config in enumerate(tables, start=1):
        content.tables.append(_archive_table(position, config, members))
        used.add(f"tables/{content.tables[-1].id}.csv")
    epochs = 0
    for position, config in enumerate(runs, start=1):
        run = _archive_run(position, config, members)
        used.update(run.files.values())
        kept = {role: path for role, path in run.files.items() if role in KEPT_ROLES}
        content.kept[run.id] = kept
        content.runs.append(dataclasses.replace(run, files=kept))
        epochs += len(run.history)
    if epochs > MAX_EPOCHS:
        raise WorkspaceError(
            f"The runs of this workspace archive hold {epochs:,} epochs in all; a workspace "
            f"here holds at most {MAX_EPOCHS:,}. Delete runs where it was made, download it "
            "again and upload that."
        )
    for kind, records in (("table", content.tables), ("run", content.runs)):
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            raise WorkspaceError(f"The {MANIFEST_FILE} lists the same {kind} id twice.")
    unused = sorted(members - used)
    if unused:
        raise WorkspaceError(
            f'This workspace archive holds "{unused[0]}", which no table or run in its '
            f"{MANIFEST_FILE} refers to."
        )
    return content


def _archive_table(position: int, config: Any, members: set[str]) -> TableRecord:
    try:
        table = TableRecord.from_dict(config)
        checked_id(table.id, "table id")
        _checked_text(table.name, "name", LABEL_LENGTH)
    except ValueError as problem:
        raise WorkspaceError(f"Table {position} in {MANIFEST_FILE}: {problem}") from None
    if f"tables/{table.id}.csv" not in members:
        raise WorkspaceError(
            f'The file of table "{table.name}" is missing from this archive; the archive is '
            "damaged. Download the workspace again."
        )
    return table


def _archive_run(position: int, config: Any, members: set[str]) -> RunRecord:
    try:
        run = RunRecord.from_dict(config)
        checked_id(run.id, "run id")
        if run.table_id is not None:
            checked_id(run.table_id, "table id")
        _checked_text(run.name, "name", LABEL_LENGTH)
        for field in ("message", "error"):
            _checked_text(getattr(run, field) or "", field, TEXT_LENGTH)
        _checked_history(run.history)
    except (ValueError, SpecError) as problem:
        raise WorkspaceError(f"Run {position} in {MANIFEST_FILE}: {problem}") from None
    for role, relative in run.files.items():
        parts = run_file_parts(relative)
        if parts is None or parts[0] != run.id:
            raise WorkspaceError(
                f'Run "{run.name}" in {MANIFEST_FILE} keeps its {role} file at "{relative}"; '
                f"expected runs/{run.id}/<file>."
            )
        if role in KEPT_ROLES and parts[1] != RUN_FILES[role]:
            raise WorkspaceError(
                f'Run "{run.name}" in {MANIFEST_FILE} keeps its {role} file as "{parts[1]}"; '
                f'Layerlab names it "{RUN_FILES[role]}".'
            )
        if relative not in members:
            raise WorkspaceError(
                f'The {role} file of run "{run.name}" is missing from this archive.'
            )
    if run.active:
        run = dataclasses.replace(run, status="interrupted", owner=None)
    return run


def _checked_text(text: str, field: str, length: int) -> None:
    if len(text) > length:
        raise ValueError(f"its {field} has {len(text):,} characters; at most {length:,} are kept.")


def _checked_history(history: list[dict[str, Any]]) -> None:
    """A run's epochs: at most limits.EPOCHS of them, each a number and its metrics."""
    if len(history) > limits.EPOCHS.high:
        raise ValueError(
            f"its history holds {len(history):,} epochs; a run trains at most "
            f"{limits.EPOCHS.high:,}."
        )
    for entry in history:
        epoch = entry["epoch"]
        if not limits.PATIENCE.allows(epoch):  # a whole number from 0 to the epoch limit
            raise ValueError(f"its history has the epoch {epoch!r}; expected 0 to the epochs run.")
        for key, value in entry.items():
            if not isinstance(key, str) or len(key) > LABEL_LENGTH:
                raise ValueError("its history names a metric with more than 200 characters.")
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f'its history\'s "{key}" is {value!r}; expected a number.')


# ------------------------------------------------------------------ files
def _unpack(
    archive: zipfile.ZipFile,
    infos: dict[str, zipfile.ZipInfo],
    content: _ArchiveContent,
    store: WorkspaceStore,
    budget: _Budget,
) -> None:
    """Inflate the tables and the kept run files into the staging workspace, checking each."""
    for table in content.tables:
        path = store._table_path(table.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "wb") as target:
            size = _extract(
                archive,
                infos[f"tables/{table.id}.csv"],
                target,
                reading.MAX_UPLOAD_BYTES,
                budget,
                digest,
            )
        if digest.hexdigest() != table.fingerprint:
            raise WorkspaceError(
                f'The file of table "{table.name}" differs from the one uploaded; the archive '
                "is damaged. Download the workspace again."
            )
        _check_columns(path, table.name)
        content.tables[content.tables.index(table)] = dataclasses.replace(table, size_bytes=size)
    for run in content.runs:
        for role, relative in content.kept[run.id].items():
            path = store.folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as target:
                _extract(archive, infos[relative], target, _file_cap(role), budget)
            try:
                _check_run_file(role, path)
            except (LayerlabError, ValueError, KeyError, TypeError, RecursionError) as problem:
                raise WorkspaceError(
                    f'The {RUN_FILES[role]} of run "{run.name}" in this archive was refused: '
                    f"{problem} Download the workspace again from the Layerlab that made it."
                ) from None


def _file_cap(role: str) -> int:
    if role in ("model", "checkpoint"):
        return max_keras_file_bytes()
    if role == "network":
        return NETWORK_FILE_BYTES
    return JSON_FILE_BYTES[role]


def _check_run_file(role: str, path: Path) -> None:
    """Read a run's file as the app will, so what is kept is what the app can use."""
    if role in ("model", "checkpoint"):
        check_keras_file(path)
    elif role == "network":
        check_network_file(path)
    else:
        check_run_json(role, path.read_bytes())


def _check_columns(path: Path, name: str) -> None:
    """A table's header row within ``reading.MAX_COLUMNS`` (where there is one), read alone."""
    most = getattr(reading, "MAX_COLUMNS", None)
    if most is None:
        return
    longest = most * 1024  # a kilobyte a column name is more than any real header needs
    with open(path, "rb") as file:
        if file.read(4) == PARQUET_MAGIC:
            return  # no header line: read_table counts its columns from its schema, first
        file.seek(0)
        line = file.readline(longest + 1)
    if len(line) > longest:
        raise WorkspaceError(
            f'The header row of table "{name}" in this archive is longer than '
            f"{megabytes(longest)}: more than the {most:,} columns a table may have."
        )
    text = codecs.decode(line, "utf-8", "replace").lstrip("\ufeff")
    # The most fields any delimiter reading.py knows gives: at least the real count.
    columns = max(len(next(csv.reader([text], delimiter=d), [])) for d in ",;\t|")
    if columns > most:
        raise WorkspaceError(
            f'Table "{name}" in this archive has {columns:,} columns; a table here may have at '
            f"most {most:,}. Select the columns you need where it was made, and upload that."
        )
