"""The app's record of its searches: kept in the workspace, read back after a restart."""

from __future__ import annotations

import socket

import pytest

from layerlab.errors import LayerlabError
from layerlab.search import SearchSettings
from layerlab.search_board import SETTING, SearchBoard, SearchEntry
from layerlab.spec import default_spec
from layerlab.store import WorkspaceStore


def entry(status: str = "running", owner: str = "") -> SearchEntry:
    spec = default_spec("y", "regression", [])
    return SearchEntry(
        id="abc123",
        kind="search",
        label="Search 1",
        created=0.0,
        base_spec=spec.to_dict(),
        settings=SearchSettings().__dict__,
        status=status,
        owner=owner,
    )


def test_an_entry_round_trips_through_the_workspace(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    kept = entry(status="finished")
    store.set_setting(SETTING, [kept.to_dict()])
    assert SearchBoard().entries(store) == [kept]
    assert SearchBoard().latest(store) == kept


def test_a_search_whose_server_is_gone_reads_as_interrupted(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    # A process of this host that is gone (pid numbers are below 2**22 on Linux).
    store.set_setting(SETTING, [entry(owner=f"{socket.gethostname()}:99999999:1").to_dict()])
    (read,) = SearchBoard().entries(store)
    assert read.status == "interrupted" and not read.running
    assert "finished trials are kept" in read.message


def test_a_second_search_waits_for_the_first_to_end(tmp_path):
    from layerlab.background import this_process

    store = WorkspaceStore(tmp_path / "ws")
    # Its owner is this process, as a search started here a moment ago.
    store.set_setting(SETTING, [entry(owner=this_process()).to_dict()])
    board = SearchBoard()
    spec = default_spec("y", "regression", [])
    with pytest.raises(LayerlabError, match="Search 1 is still running"):
        board.start(
            store, None, table_id="", fingerprint="", base_spec=spec, settings=SearchSettings()
        )


def test_a_ladder_without_steps_has_no_best(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    ladder = entry(status="stopped")
    ladder.kind = "capacity"
    store.set_setting(SETTING, [ladder.to_dict()])
    assert SearchBoard().best_spec(store, ladder.id) is None
