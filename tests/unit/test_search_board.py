"""The app's record of its searches: kept in the workspace, read back after a restart."""

from __future__ import annotations

import socket

import pytest

from layerlab.runs.search_board import SETTING, SearchBoard, SearchEntry
from layerlab.runs.search_settings import SearchSettings
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.tasks import BackgroundTask
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import default_spec


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
    from layerlab.runs.background import this_process

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


@pytest.fixture
def shared_caps(monkeypatch):
    """A shared server's caps: 50 trials and 30 minutes per search."""
    from layerlab.runs.job_limits import SEARCH_MAX_MINUTES_ENV, SEARCH_MAX_TRIALS_ENV
    from layerlab.runs.workspaces import EPHEMERAL_ENV

    monkeypatch.setenv(EPHEMERAL_ENV, "1")
    monkeypatch.delenv(SEARCH_MAX_TRIALS_ENV, raising=False)
    monkeypatch.delenv(SEARCH_MAX_MINUTES_ENV, raising=False)


def test_a_search_past_the_servers_caps_is_refused_before_it_starts(tmp_path, shared_caps):
    from layerlab.schema.errors import SpecError

    store = WorkspaceStore(tmp_path / "ws")
    spec = default_spec("y", "regression", [])
    greedy = SearchSettings(trials=500, minutes=24 * 60)
    with pytest.raises(SpecError) as refused:
        SearchBoard().start(
            store, None, table_id="", fingerprint="", base_spec=spec, settings=greedy
        )
    assert refused.value.problems == [
        "This server runs at most 50 trials per search; you asked for 500. Ask for 50 or "
        "fewer (whoever runs the server sets the cap with LAYERLAB_SEARCH_MAX_TRIALS).",
        "This server runs a search for at most 30 minutes; you asked for 1,440 minutes. Ask "
        "for 30 or fewer (whoever runs the server sets the cap with "
        "LAYERLAB_SEARCH_MAX_MINUTES).",
    ]
    assert str(refused.value).startswith("The search settings have 2 problems:")
    assert SearchBoard().entries(store) == []  # nothing started


def test_the_caps_give_a_search_of_minutes_a_number_of_trials_too(shared_caps, monkeypatch):
    from layerlab.runs.search_board import within_caps
    from layerlab.runs.workspaces import EPHEMERAL_ENV

    assert within_caps(SearchSettings(minutes=10)).trials == 50
    assert within_caps(SearchSettings(trials=50, minutes=30)) == SearchSettings(50, 30)
    monkeypatch.setenv(EPHEMERAL_ENV, "0")  # a local install: no caps
    assert within_caps(SearchSettings(trials=500)).trials == 500
    assert within_caps(SearchSettings(minutes=10)).trials is None


class _Endless(BackgroundTask):
    """A search that would run until stopped."""

    def run(self, listener=None) -> None:
        self._stop.wait()


def test_a_search_running_past_the_minute_cap_is_stopped_and_says_so(tmp_path):
    store = WorkspaceStore(tmp_path / "ws")
    board = SearchBoard()
    store.set_setting(SETTING, [entry().to_dict()])
    task = _Endless()
    task.start()
    board._follow(store, "abc123", task, cap_minutes=0.002)  # about 0.1 s
    assert task.stopping and not task.running
    (stored,) = board.entries(store)
    assert stored.status == "stopped"
    assert stored.message == (
        "Stopped at this server's limit of 0.002 minutes per search; every finished trial is kept."
    )
