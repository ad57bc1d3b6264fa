"""Disk with bounds: workspaces made by their first save, a quota that races and runs cannot
pass, a server budget and cap, expiry, leftovers swept, and a full disk said plainly."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import layerlab
from layerlab.report.records import RunRecord
from layerlab.runs import workspaces
from layerlab.runs.disk import DISK_FULL_MESSAGE, FULL_ADVICE, expected_run_bytes
from layerlab.runs.store import DEFAULT_NAME, WorkspaceStore
from layerlab.runs.workspace_paths import is_workspace
from layerlab.schema.errors import LayerlabError, ServerFull, WorkspaceFull

CSV = b"age,city,bought\n31,paris,yes\n45,lyon,no\n"
DAY = 86_400


@pytest.fixture(autouse=True)
def storage(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(workspaces.ROOT_ENV, str(tmp_path / "workspaces"))
    for name in (
        workspaces.QUOTA_ENV,
        workspaces.EPHEMERAL_ENV,
        workspaces.DISK_ENV,
        workspaces.MAX_WORKSPACES_ENV,
        workspaces.IDLE_DAYS_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "workspaces"


def a_run(store: WorkspaceStore, spec, **changes) -> RunRecord:
    run = RunRecord(id=store.new_run_id(), name="Run", created=time.time(), spec=spec, **changes)
    store.add_run(run)
    return run


# ------------------------------------------------------------------ made when first saved
def test_a_lazy_workspace_reads_as_empty_and_is_made_by_its_first_write(tmp_path):
    folder = tmp_path / "ws"
    store = WorkspaceStore(folder, lazy=True)
    assert store.is_pending
    assert (store.name, store.tables(), store.runs(), store.run_count()) == (
        DEFAULT_NAME,
        [],
        [],
        0,
    )
    assert store.get_setting("session", {"nothing": True}) == {"nothing": True}
    assert store.used_bytes() == 0 and store.run_folder("abc") == folder / "runs" / "abc"
    assert not folder.exists()

    store.set_setting("target", "bought")
    assert not store.is_pending and is_workspace(folder)
    again = WorkspaceStore(folder, create=False)
    assert again.get_setting("target") == "bought"
    assert abs(again.created - store.created) < 1e-6  # the time it was opened, kept


def test_a_new_workspace_is_on_disk_only_once_something_is_saved(storage):
    token, store = workspaces.create_workspace()
    assert workspaces.open_workspace(token) is None
    assert not storage.exists() or workspaces.workspace_folders(storage) == []
    store.add_table("sales.csv", CSV, rows=2, columns=3)
    assert [table.name for table in workspaces.open_workspace(token).tables()] == ["sales.csv"]


# ------------------------------------------------------------------ the quota, atomically
def test_uploads_racing_into_one_workspace_cannot_all_pass_its_quota(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    quota = store.size_bytes() + 100_000
    tables = [bytes([65 + n]) * 45_000 for n in range(4)]  # four 45 kB uploads, 100 kB of room
    kept, refused, start = [], [], threading.Barrier(4)

    def upload(data: bytes) -> None:
        tab = WorkspaceStore(store.folder, quota_bytes=quota, create=False)  # one per tab
        start.wait()
        try:
            kept.append(tab.add_table("t.csv", data, rows=1, columns=1))
        except WorkspaceFull as full:
            refused.append(str(full))

    threads = [threading.Thread(target=upload, args=(data,)) for data in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kept) == 2 and len(refused) == 2
    assert all(FULL_ADVICE in message for message in refused)
    assert store.size_bytes() <= quota


def test_a_run_is_given_room_before_it_starts_and_counted_once_it_ends(tmp_path, table_spec):
    room = expected_run_bytes(table_spec())
    assert room > 1_000_000
    store = WorkspaceStore(tmp_path / "ws")
    store.quota_bytes = store.size_bytes() + room + room // 2
    first = a_run(store, table_spec())
    with pytest.raises(WorkspaceFull, match="this run's model and files need about"):
        a_run(store, table_spec())  # the first one's room is taken
    assert store.run_count() == 1

    # The worker writes the run's files straight into its folder: more than the quota.
    model = store.run_folder(first.id) / "model.keras"
    model.write_bytes(b"w" * (store.quota_bytes + 1))
    store.update_run(first.id, status="finished", files={"model": f"runs/{first.id}/model.keras"})
    assert store.run_file(first.id, "model") == model  # what was trained is kept
    assert store.used_bytes() > store.quota_bytes
    with pytest.raises(WorkspaceFull, match="Delete runs or tables"):
        store.add_table("sales.csv", CSV, rows=2, columns=3)
    with pytest.raises(WorkspaceFull):
        a_run(store, table_spec())
    store.delete_run(first.id)
    a_run(store, table_spec())  # room again


def test_a_run_writing_its_own_files_uses_the_room_it_was_given(tmp_path, table_spec):
    store = WorkspaceStore(tmp_path / "ws")
    store.quota_bytes = store.size_bytes() + expected_run_bytes(table_spec()) + 50_000
    run = a_run(store, table_spec())
    store.write_run_file(run.id, "model", b"m" * 900_000)  # inside its room
    with pytest.raises(WorkspaceFull):
        store.add_table("big.csv", b"x" * 200_000, rows=1, columns=1)


# ------------------------------------------------------------------ the run counter
COUNTER = """
import sys
from layerlab.runs.store import WorkspaceStore
store = WorkspaceStore(sys.argv[1], create=False)
print(" ".join(str(store.next_number("runs_started")) for _ in range(15)))
"""


def test_run_numbers_never_repeat_across_threads_and_processes(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    store.set_setting("runs_started", 4)  # numbered on from what the workspace kept
    source = str(Path(layerlab.__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source, os.getenv("PYTHONPATH", "")]),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER, str(store.folder)],
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    numbers: list[int] = []

    def count() -> None:
        tab = WorkspaceStore(store.folder, create=False)
        numbers.extend(tab.next_number("runs_started") for _ in range(15))

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        numbers.extend(int(number) for number in output.split())
    assert sorted(numbers) == list(range(5, 5 + 6 * 15))


# ------------------------------------------------------------------ the server's room
def test_the_server_limits_default_to_none_locally_and_to_shared_values_on_a_shared_host(
    monkeypatch,
):
    assert (workspaces.disk_budget_bytes(), workspaces.max_workspaces()) == (None, None)
    assert workspaces.idle_days() is None
    monkeypatch.setenv(workspaces.EPHEMERAL_ENV, "1")
    assert workspaces.disk_budget_bytes() == workspaces.SHARED_DISK_MB * 1_000_000
    assert workspaces.max_workspaces() == workspaces.SHARED_MAX_WORKSPACES
    assert workspaces.idle_days() == workspaces.SHARED_IDLE_DAYS
    monkeypatch.setenv(workspaces.IDLE_DAYS_ENV, "0")
    assert workspaces.idle_days() is None  # 0: never
    for name, bad in (
        (workspaces.DISK_ENV, "lots"),
        (workspaces.DISK_ENV, "-1"),
        (workspaces.MAX_WORKSPACES_ENV, "2.5"),
        (workspaces.IDLE_DAYS_ENV, "inf"),
    ):
        monkeypatch.setenv(name, bad)
        with pytest.raises(LayerlabError, match=name):
            {
                workspaces.DISK_ENV: workspaces.disk_budget_bytes,
                workspaces.MAX_WORKSPACES_ENV: workspaces.max_workspaces,
                workspaces.IDLE_DAYS_ENV: workspaces.idle_days,
            }[name]()
        monkeypatch.delenv(name)


def test_a_server_at_its_most_workspaces_refuses_a_new_one_plainly(monkeypatch, storage):
    monkeypatch.setenv(workspaces.MAX_WORKSPACES_ENV, "2")
    for _ in range(2):
        workspaces.create_workspace()[1].add_table("sales.csv", CSV, rows=2, columns=3)
    visitor = workspaces.create_workspace()[1]
    assert visitor.tables() == []  # a visit is still welcome
    with pytest.raises(ServerFull) as full:
        visitor.add_table("sales.csv", CSV, rows=2, columns=3)
    assert "The server is full" in str(full.value)
    assert "run Layerlab on your own machine" in str(full.value)
    assert len(workspaces.workspace_folders(storage)) == 2 and visitor.is_pending


def test_an_upload_of_a_workspace_obeys_the_server_cap_too(monkeypatch, storage):
    from layerlab.runs.archive import export_archive

    archive = io.BytesIO(export_archive(_saved()))
    monkeypatch.setenv(workspaces.MAX_WORKSPACES_ENV, "1")
    with pytest.raises(ServerFull, match="The server is full"):
        workspaces.import_workspace(archive)
    assert len(workspaces.workspace_folders(storage)) == 1
    monkeypatch.setenv(workspaces.MAX_WORKSPACES_ENV, "2")
    _, copy = workspaces.import_workspace(archive)
    assert [table.name for table in copy.tables()] == ["t.csv"]


def test_a_server_at_its_disk_budget_refuses_more_bytes_plainly(monkeypatch):
    monkeypatch.setenv(workspaces.DISK_ENV, "0.3")  # 300 kB for every workspace together
    _, first = workspaces.create_workspace()
    first.add_table("a.csv", b"a" * 100_000, rows=1, columns=1)
    _, second = workspaces.create_workspace()
    second.add_table("b.csv", b"b" * 100_000, rows=1, columns=1)
    with pytest.raises(ServerFull, match=workspaces.DISK_ENV):
        second.add_table("c.csv", b"c" * 100_000, rows=1, columns=1)
    second.delete()
    first.add_table("c.csv", b"c" * 100_000, rows=1, columns=1)  # its room is free again


# ------------------------------------------------------------------ expiry and leftovers
def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _saved(name: str = "t.csv") -> WorkspaceStore:
    _, store = workspaces.create_workspace()
    store.add_table(name, CSV, rows=2, columns=3)
    return store


def _make_idle(store: WorkspaceStore, days: float) -> None:
    for path in (store.folder / "workspace.sqlite", store.folder):
        _age(path, days * DAY)


def test_tidy_removes_old_leftovers_and_idle_workspaces_but_never_a_training_one(
    monkeypatch, storage, table_spec
):
    monkeypatch.setenv(workspaces.IDLE_DAYS_ENV, "7")
    idle, training, recent = _saved(), _saved(), _saved()
    a_run(training, table_spec())
    _make_idle(idle, 8)
    _make_idle(training, 8)
    old_import = storage / f".{'a' * 40}.importing-0001"
    new_import = storage / f".{'b' * 40}.importing-0002"
    half_made = storage / ("c" * 40)
    for folder in (old_import, new_import, half_made):
        (folder / "tables").mkdir(parents=True)
    old_temporary = recent.folder / "tables" / ".x.csv.1234.tmp"
    new_temporary = recent.folder / "tables" / ".y.csv.5678.tmp"
    old_temporary.write_bytes(b"cut off")
    new_temporary.write_bytes(b"being written")
    for path in (old_import, half_made, old_temporary):
        _age(path, 2 * 3600)

    tidied = workspaces.tidy()

    assert tidied.expired == [idle.folder]
    assert sorted(tidied.leftovers) == sorted([old_import, half_made, old_temporary])
    assert not idle.folder.exists() and training.folder.exists() and recent.folder.exists()
    assert new_import.exists() and new_temporary.exists()


def test_opening_a_workspace_keeps_it_from_expiring(monkeypatch):
    monkeypatch.setenv(workspaces.IDLE_DAYS_ENV, "7")
    token, _ = workspaces.create_workspace("Kept")
    store = workspaces.open_workspace(token)
    _make_idle(store, 30)
    assert workspaces.open_workspace(token) is not None  # a visit, without any write
    assert workspaces.tidy().expired == []
    assert workspaces.open_workspace(token).name == "Kept"


def test_nothing_expires_locally_unless_asked(storage):
    store = _saved()
    _make_idle(store, 365)
    assert workspaces.tidy().expired == []


# ------------------------------------------------------------------ a full disk
def _failing_connect(folder: Path, error: str, *, reads: bool = False):
    """``sqlite3.connect`` whose connections to ``folder``'s database fail as a full disk
    does: on every write, or (``reads``) on every read too, as when SQLite cannot make the
    shared-memory file a first reader needs."""
    real_connect = sqlite3.connect

    class FullDisk(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE", "CREATE")) or (
                reads and not sql.startswith("PRAGMA")
            ):
                raise sqlite3.OperationalError(error)
            return super().execute(sql, *args)

    def connect(address, *args, **kwargs):
        if str(folder) in str(address) and "immutable=1" not in str(address):
            kwargs["factory"] = FullDisk
        return real_connect(address, *args, **kwargs)

    return connect


@pytest.mark.parametrize("error", ["database or disk is full", "disk I/O error"])
def test_a_full_disk_is_a_plain_message_to_the_writer_and_others_keep_reading(
    monkeypatch, table_spec, error
):
    writer, reader = _saved("mine.csv"), _saved("theirs.csv")
    run = a_run(reader, table_spec(), status="finished")
    monkeypatch.setattr(sqlite3, "connect", _failing_connect(writer.folder, error))
    for write in (
        lambda: writer.set_setting("target", "bought"),
        lambda: writer.add_table("more.csv", CSV + b"1,a,b\n", rows=3, columns=3),
        lambda: writer.next_number("runs_started"),
    ):
        with pytest.raises(ServerFull) as full:
            write()
        assert str(full.value) == DISK_FULL_MESSAGE
    assert [table.name for table in writer.tables()] == ["mine.csv"]  # nothing half-kept
    assert len(list((writer.folder / "tables").iterdir())) == 1
    assert [table.name for table in reader.tables()] == ["theirs.csv"]
    assert reader.run(run.id).status == "finished"
    reader.set_setting("target", "bought")  # the others still write


def test_a_file_write_on_a_full_disk_is_a_plain_message_and_leaves_nothing(monkeypatch):
    store = _saved()

    def no_space(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(ServerFull, match="disk is full"):
        store.add_table("more.csv", CSV + b"1,a,b\n", rows=3, columns=3)
    monkeypatch.undo()
    assert len(store.tables()) == 1
    assert [path.name for path in (store.folder / "tables").iterdir()] == [
        f"{store.tables()[0].id}.csv"
    ]


def test_a_reader_that_cannot_make_its_shared_memory_file_reads_the_database_itself(
    monkeypatch, table_spec
):
    store = _saved()
    run = a_run(store, table_spec(), status="finished")
    monkeypatch.setattr(
        sqlite3, "connect", _failing_connect(store.folder, "disk I/O error", reads=True)
    )
    opened = WorkspaceStore(store.folder, create=False)
    assert [table.name for table in opened.tables()] == ["t.csv"]
    assert opened.run(run.id).status == "finished"
    with pytest.raises(ServerFull):
        opened.set_setting("target", "bought")
