"""The workspace store: tables, runs and files kept in one folder, shared safely (its archives:
test_archive.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import layerlab
from layerlab.report.records import RunRecord
from layerlab.runs.disk import FULL_ADVICE
from layerlab.runs.store import DEFAULT_NAME, WorkspaceStore
from layerlab.runs.store_protocol import Store
from layerlab.runs.workspace_paths import new_id
from layerlab.schema.errors import WorkspaceError, WorkspaceFull

CSV = b"age,city,bought\n31,paris,yes\n45,lyon,no\n"


@pytest.fixture
def store(tmp_path) -> WorkspaceStore:
    return WorkspaceStore(tmp_path / "ws")


def a_run(store: WorkspaceStore, spec, **changes) -> RunRecord:
    run = RunRecord(id=store.new_run_id(), name="First try", created=time.time(), spec=spec)
    for name, value in changes.items():
        setattr(run, name, value)
    store.add_run(run)
    return run


def test_a_new_workspace_has_a_name_a_time_and_wal_mode(store):
    assert isinstance(store, Store)
    assert store.name == DEFAULT_NAME
    assert time.time() - store.created < 60
    store.rename("  Churn study  ")
    assert WorkspaceStore(store.folder, create=False).name == "Churn study"
    import sqlite3

    with sqlite3.connect(store.folder / "workspace.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_workspace_name_must_be_1_to_80_characters(store):
    for bad in ("   ", "x" * 81):
        with pytest.raises(WorkspaceError, match="1 to 80 characters"):
            store.rename(bad)


def test_opening_without_create_needs_a_workspace_there(tmp_path):
    with pytest.raises(WorkspaceError, match="No workspace was found"):
        WorkspaceStore(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_a_database_cut_short_is_finished_or_refused(tmp_path):
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "workspace.sqlite").write_bytes(b"")  # created, then the process died
    with pytest.raises(WorkspaceError, match="damaged"):
        WorkspaceStore(folder, create=False)
    assert WorkspaceStore(folder).name == DEFAULT_NAME


def test_settings_keep_json_values(store):
    assert store.get_setting("target", "none yet") == "none yet"
    draft = {"layers": [{"kind": "dense", "units": 16}], "learning_rate": 0.01}
    store.set_setting("draft_spec", draft)
    store.set_setting("target", "bought")
    store.set_setting("target", "churned")
    assert store.get_setting("draft_spec") == draft
    assert store.get_setting("target") == "churned"


def test_a_table_keeps_its_bytes_and_the_same_bytes_are_kept_once(store):
    table = store.add_table("sales.csv", CSV, rows=2, columns=3)
    again = store.add_table("sales copy.csv", CSV, rows=2, columns=3)
    other = store.add_table("other.csv", CSV + b"50,nice,yes\n", rows=3, columns=3)
    assert again == table
    assert store.tables() == [table, other]
    assert store.table(table.id) == table and store.table("missing") is None
    assert store.table_bytes(table.id) == CSV
    assert (table.rows, table.columns, table.size_bytes) == (2, 3, len(CSV))
    store.delete_table(table.id)
    assert store.tables() == [other]
    assert not (store.folder / "tables" / f"{table.id}.csv").exists()


def test_run_ids_are_short_url_safe_and_sort_by_time():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert len(first) <= 16 and first.isalnum() and first < second


def test_a_run_round_trips_with_its_history(store, table_spec):
    run = a_run(
        store,
        table_spec(),
        history=[{"epoch": 1, "loss": 0.9}],
        classes=("no", "yes"),
        metrics={"test": {"accuracy": 0.75}},
    )
    later = a_run(store, table_spec(), name="Second try")
    assert store.run(run.id) == run
    assert [kept.id for kept in store.runs()] == [run.id, later.id]
    assert store.run("nope") is None
    with pytest.raises(ValueError, match="already has a run"):
        store.add_run(run)


def test_update_run_changes_fields_and_refuses_unknown_ones(store, table_spec):
    run = a_run(store, table_spec())
    store.update_run(run.id, status="training", owner="host:123", started=5.0)
    store.update_run(run.id, status="finished", message="Finished after 5 epochs.", params=321)
    kept = store.run(run.id)
    assert (kept.status, kept.owner, kept.started, kept.params) == (
        "finished",
        "host:123",
        5.0,
        321,
    )
    assert not kept.active
    for wrong in ({"colour": "red"}, {"id": "other"}, {"history": []}):
        with pytest.raises(ValueError, match="update_run cannot change"):
            store.update_run(run.id, **wrong)
    with pytest.raises(ValueError, match="status must be one of"):
        store.update_run(run.id, status="dancing")
    with pytest.raises(WorkspaceError, match="no run"):
        store.update_run("gone", status="failed")


def test_append_epochs_grows_the_history_in_order(store, table_spec):
    run = a_run(store, table_spec())
    store.append_epochs(run.id, [{"epoch": 2, "loss": 0.5}, {"epoch": 1, "loss": 0.8}])
    store.append_epochs(run.id, [{"epoch": 3, "loss": math.nan}])
    store.append_epochs(run.id, [{"epoch": 2, "loss": 0.4}])  # the same epoch again replaces it
    history = store.run(run.id).history
    assert [entry["epoch"] for entry in history] == [1, 2, 3]
    assert history[1]["loss"] == 0.4 and math.isnan(history[2]["loss"])
    with pytest.raises(ValueError, match='"epoch"'):
        store.append_epochs(run.id, [{"loss": 1.0}])
    with pytest.raises(WorkspaceError, match="no run"):
        store.append_epochs("gone", [{"epoch": 1}])


def test_run_files_are_written_whole_and_recorded(store, table_spec):
    run = a_run(store, table_spec())
    path = store.write_run_file(run.id, "model", b"weights")
    store.write_run_file(run.id, "model", b"better weights")
    store.write_run_file(run.id, "notes", b"{}", filename="notes.json")
    assert path == store.folder / "runs" / run.id / "model.keras"
    assert store.run_file(run.id, "model").read_bytes() == b"better weights"
    assert store.run(run.id).files == {
        "model": f"runs/{run.id}/model.keras",
        "notes": f"runs/{run.id}/notes.json",
    }
    assert store.run_file(run.id, "bundle") is None
    assert sorted(p.name for p in store.run_folder(run.id).iterdir()) == [
        "model.keras",
        "notes.json",
    ]
    path.unlink()
    assert store.run_file(run.id, "model") is None
    with pytest.raises(ValueError, match="file name"):
        store.write_run_file(run.id, "model", b"x", filename="../escape")


def test_delete_run_removes_its_row_epochs_and_folder(store, table_spec):
    run = a_run(store, table_spec(), history=[{"epoch": 1, "loss": 1.0}])
    kept = a_run(store, table_spec())
    store.write_run_file(run.id, "model", b"weights")
    store.delete_run(run.id)
    assert store.run(run.id) is None
    assert [r.id for r in store.runs()] == [kept.id]
    assert not (store.folder / "runs" / run.id).exists()
    store.add_run(RunRecord(id=run.id, name="Reborn", created=1.0, spec=table_spec()))
    assert store.run(run.id).history == []  # no epochs left behind


def test_delete_removes_the_whole_folder(store):
    store.add_table("sales.csv", CSV, rows=2, columns=3)
    store.delete()
    assert not store.folder.exists()
    with pytest.raises(WorkspaceError, match="no longer on disk"):
        store.tables()


def test_a_full_workspace_says_how_full_and_what_to_do(tmp_path, table_spec):
    store = WorkspaceStore(tmp_path / "ws")
    room = store.size_bytes() + 1_000
    store = WorkspaceStore(store.folder, quota_bytes=room)
    with pytest.raises(WorkspaceFull) as full:
        store.add_table("big.csv", b"x" * 2_000, rows=1, columns=1)
    message = str(full.value)
    assert "MB" in message and FULL_ADVICE in message
    assert store.tables() == []
    run = a_run(store, table_spec(), status="finished")
    store.quota_bytes = store.size_bytes() + 1_000
    with pytest.raises(WorkspaceFull, match="Delete runs or tables"):
        store.write_run_file(run.id, "model", b"x" * 2_000)
    assert store.run(run.id).files == {}
    store.write_run_file(run.id, "model", b"x" * 100)
    assert store.size_bytes() > 0


# Appends 40 epochs to its own run, records 10 files on the shared run, then exits.
WRITER = """
import sys, time
from layerlab.runs.store import WorkspaceStore
folder, own, shared, writer, start = sys.argv[1:]
store = WorkspaceStore(folder, create=False)
while time.time() < float(start):
    time.sleep(0.005)
for epoch in range(1, 41):
    store.append_epochs(own, [{"epoch": epoch, "loss": 1 / epoch}])
    store.append_epochs(shared, [{"epoch": int(writer) * 1000 + epoch, "loss": 0.5}])
    store.update_run(own, message=f"epoch {epoch}")
    if epoch % 4 == 0:
        store.write_run_file(shared, f"writer{writer}_{epoch}", b"x")
"""


def test_two_processes_writing_at_once_lose_nothing(store, table_spec):
    runs = [a_run(store, table_spec()) for _ in range(3)]
    shared = runs[2].id
    source = str(Path(layerlab.__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }
    start = str(time.time() + 1.0)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.folder), runs[n].id, shared, str(n), start],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (0, 1)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors
    for n in (0, 1):
        run = store.run(runs[n].id)
        assert [entry["epoch"] for entry in run.history] == list(range(1, 41))
        assert run.message == "epoch 40"
    shared_run = store.run(shared)
    assert len(shared_run.history) == 80
    assert sorted(shared_run.files) == sorted(
        f"writer{n}_{epoch}" for n in (0, 1) for epoch in range(4, 41, 4)
    )
