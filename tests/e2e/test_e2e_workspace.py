"""Journey 7: a person's work lives in their workspace, not in the browser tab.

A reload, a walk through the pages while a run trains, a second person on the same
server and even a server killed mid-run leave every run where it was, under the
workspace's address (``?ws=<token>``).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import (
    ARTIFACTS,
    app_dir,
    button,
    click,
    dataframe_rows,
    go_to,
    legend_texts,
    load_sample,
    main_text,
    new_page,
    open_app,
    pick,
    reload_app,
    set_training,
    sidebar_text,
    start_training,
    stop_training,
    streamlit_server,
    tracebacks,
    wait_for_epochs,
    wait_for_points,
    wait_for_training,
    widget,
    workspace_token,
)
from playwright.sync_api import Browser, Page, expect

from layerlab.report.records import RunRecord
from layerlab.runs.workspaces import ROOT_ENV, open_workspace

LONG = 10_000  # only ends because the user stops it (or the server dies)
SHORT = 3
# Waits that include starting a worker process (it imports TensorFlow first) on a busy machine.
WORKER_START_SECONDS = 240


# First: its two runs start both of the server's training workers at once, so the
# journeys after it find them ready.
def test_two_people_training_at_once_each_see_only_their_own_workspace(
    open_user: Callable[[], Page], stop_at_the_end: list[Page]
) -> None:
    alice, bob = open_user(), open_user()
    stop_at_the_end += [alice, bob]
    load_sample(alice, "Iris")
    load_sample(bob, "Wines")
    for user, preset in ((alice, "preset_small"), (bob, "preset_linear")):
        go_to(user, "Model")
        click(user, preset)
        set_training(user, batch_size=8, epochs=LONG, patience=0)
        go_to(user, "Train")
    start_training(alice)
    start_training(bob)
    wait_for_epochs(alice, 3, timeout=WORKER_START_SECONDS)
    wait_for_epochs(bob, 3, timeout=WORKER_START_SECONDS)
    expect(button(alice, "stop_button")).to_be_enabled()  # both train at the same time

    tokens = workspace_token(alice), workspace_token(bob)
    assert None not in tokens and tokens[0] != tokens[1]
    (alice_run,), (bob_run,) = _runs(tokens[0]), _runs(tokens[1])
    own = {
        alice: ("iris.csv", "species", alice_run.name),
        bob: ("wine.csv", "cultivar", bob_run.name),
    }
    assert alice_run.name != bob_run.name
    for user, other in ((alice, bob), (bob, alice)):
        go_to(user, "Runs")
        (row,) = dataframe_rows(user)
        assert (row["Name"], row["Status"]) == (own[user][2], "training")
        _sees_nothing_of(user, own[other])
    for user in (alice, bob):  # each stops their own run from the Runs page
        pick(user, "runs_selected", [own[user][2]])
        click(user, "runs_stop")
    for token in tokens:
        _wait_for_run(token, lambda run: not run.active)
    for user, other in ((alice, bob), (bob, alice)):
        go_to(user, "Train")
        expect(user.get_by_text("Training was stopped on request.")).to_be_visible()
        for title in ("Results", "Runs"):
            go_to(user, title)
            _sees_nothing_of(user, own[other])
        (row,) = dataframe_rows(user)
        assert (row["Name"], row["Status"]) == (own[user][2], "stopped")
    assert (workspace_token(alice), workspace_token(bob)) == tokens


def test_reload_finds_the_run_and_its_results_again(page: Page) -> None:
    _train_iris(page, epochs=SHORT)
    token = workspace_token(page)
    assert token

    reload_app(page)

    assert workspace_token(page) == token
    (run,) = _runs(token)
    expect(page.locator('[data-testid="stMain"] .js-plotly-plot').first).to_be_visible()
    go_to(page, "Results")
    expect(page.get_by_text("Test-set scores")).to_be_visible()
    text = main_text(page)
    assert run.name in text
    assert re.search(rf"finished · {SHORT} of {SHORT} epochs · test accuracy \d", text), text
    go_to(page, "Runs")
    (row,) = dataframe_rows(page)
    assert (row["Name"], row["Status"]) == (run.name, "finished")
    assert row["Epochs run"] == f"{SHORT} of {SHORT}"
    assert row["Test score"].endswith("accuracy")
    assert workspace_token(page) == token


def test_clicking_around_for_ten_seconds_never_stops_a_run(
    page: Page, stop_at_the_end: list[Page]
) -> None:
    stop_at_the_end.append(page)
    load_sample(page, "Iris")
    go_to(page, "Model")
    set_training(page, batch_size=8, epochs=LONG, patience=0)
    go_to(page, "Train")
    start_training(page)
    before = wait_for_epochs(page, 3, timeout=WORKER_START_SECONDS)

    until = time.monotonic() + 10
    for title in itertools.cycle(("Data", "Model", "Runs", "Results")):
        go_to(page, title)
        if time.monotonic() > until:
            break
    go_to(page, "Train")

    expect(button(page, "stop_button")).to_be_enabled()
    progress = page.locator('[data-testid="stMain"] [data-testid="stProgress"]')
    expect(progress).to_contain_text(re.compile(rf"Epoch [\d,]+ of {LONG:,}\b"))
    shown = int(re.search(r"Epoch ([\d,]+) of", progress.inner_text()).group(1).replace(",", ""))
    assert shown > before + 10, f"epoch {shown} after ten seconds of clicks, {before} before"
    assert wait_for_points(page, before + 10, timeout=10) > before + 10
    stop_training(page)

    expect(page.get_by_text("Training was stopped on request.")).to_be_visible()
    (run,) = _runs(workspace_token(page))
    assert run.status == "stopped" and run.files.get("model")
    assert shown <= len(run.history) < LONG
    go_to(page, "Runs")
    (row,) = dataframe_rows(page)
    assert row["Status"] == "stopped"
    go_to(page, "Results")
    expect(page.get_by_text("Test-set scores")).to_be_visible()
    expect(widget(page, "download_bundle")).to_be_visible()


def test_two_runs_overlaid_show_their_curves_and_the_setting_that_differs(
    page: Page,
) -> None:
    _train_iris(page, epochs=SHORT, learning_rate=0.01)
    go_to(page, "Model")
    set_training(page, learning_rate=0.05)
    go_to(page, "Train")
    start_training(page)
    wait_for_training(page)
    first, second = _runs(workspace_token(page))
    assert (first.spec.learning_rate, second.spec.learning_rate) == (0.01, 0.05)

    go_to(page, "Runs")
    pick(page, "runs_selected", [first.name, second.name])

    expect(page.get_by_text("Settings that differ")).to_be_visible()
    legends = legend_texts(page)
    # The loss and metric curves of both runs; then the same ICE picture for each.
    charts = [legend for legend in legends if any("(validation)" in text for text in legend)]
    assert len(charts) == 2, legends
    assert any("average (partial dependence)" in legend for legend in legends), legends
    for legend in charts:
        for run in (first, second):
            assert f"{run.name} (validation)" in legend, legend
            assert f"{run.name} (training)" in legend, legend
    table, differences = dataframe_rows(page, 0), dataframe_rows(page, 1)
    assert {row["Name"] for row in table} == {first.name, second.name}
    only_the_learning_rate = [{"Setting": "Learning rate", first.name: "0.01", second.name: "0.05"}]
    assert differences == only_the_learning_rate, differences
    expect(tracebacks(page)).to_have_count(0)


def test_a_run_cut_off_by_a_server_restart_comes_back_interrupted_with_its_model(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "workspaces"))
    logs = ARTIFACTS / "restart"
    with streamlit_server(app_dir(), logs / "before.log") as first:
        page = new_page(browser)
        open_app(page, first.url)
        load_sample(page, "Iris")
        go_to(page, "Model")
        set_training(page, batch_size=8, epochs=LONG, patience=0)
        go_to(page, "Train")
        start_training(page)
        wait_for_epochs(page, 5, timeout=WORKER_START_SECONDS)
        token = workspace_token(page)
        saved = _wait_for_run(token, lambda run: run.checkpoint_epoch is not None)
        _kill_hard(first.process)
        page.context.close()
    assert saved.status == "training"

    with streamlit_server(app_dir(), logs / "after.log") as second:
        page = new_page(browser)
        open_app(page, f"{second.url}/runs?ws={token}")
        try:
            assert workspace_token(page) == token
            (row,) = dataframe_rows(page)
            assert (row["Name"], row["Status"]) == (saved.name, "interrupted")
            # A worker rebuilds the run from its checkpoint. The Runs page does not refresh
            # itself when that is done (it refreshes only while a run is queued or training),
            # so the person's next click is what shows the run can be opened.
            rebuilt = _wait_for_run(
                token, lambda run: bool(run.files.get("model")), WORKER_START_SECONDS
            )
            assert rebuilt.status == "interrupted"
            assert rebuilt.kept_epoch >= saved.checkpoint_epoch
            pick(page, "runs_selected", [saved.name])
            click(page, "runs_open")
            expect(page.get_by_text("Test-set scores")).to_be_visible()
            assert re.search(
                rf"interrupted · [\d,]+ of {LONG:,} epochs · test accuracy", main_text(page)
            )
            expect(widget(page, "download_bundle")).to_be_visible()
            expect(tracebacks(page)).to_have_count(0)
        finally:
            page.context.close()


# --- steps ---------------------------------------------------------------------------


def _train_iris(page: Page, *, epochs: int, learning_rate: float | None = None) -> None:
    load_sample(page, "Iris")
    go_to(page, "Model")
    # One plain network: these journeys are about the workspace, not the recipe.
    set_training(
        page, learning_rate=learning_rate, epochs=epochs, patience=0, ensemble=1, refit=False
    )
    go_to(page, "Train")
    start_training(page)
    wait_for_training(page, timeout=WORKER_START_SECONDS)


def _runs(token: str | None) -> list[RunRecord]:
    """The workspace's runs as the server wrote them, oldest first."""
    store = open_workspace(token)
    assert store is not None, "the address names no workspace"
    return sorted(store.runs(), key=lambda run: run.created)


def _wait_for_run(
    token: str, ready: Callable[[RunRecord], bool], timeout: float = 120
) -> RunRecord:
    """The workspace's only run, once ``ready`` says so."""
    deadline = time.monotonic() + timeout
    while True:
        (run,) = _runs(token)
        if ready(run):
            return run
        assert time.monotonic() < deadline, f"the run never got there: {run}"
        time.sleep(0.2)


def _sees_nothing_of(page: Page, traces: tuple[str, ...]) -> None:
    seen = main_text(page) + sidebar_text(page)
    leaked = [trace for trace in traces if trace in seen]
    assert not leaked, f"another workspace's {leaked} shown on {page.url}"


def _kill_hard(server: subprocess.Popen) -> None:
    """SIGKILL the server's whole process group (its workers with it): nothing is cleaned up."""
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)
    deadline = time.monotonic() + 10
    while _group_members(server.pid):
        assert time.monotonic() < deadline, f"still alive: {_group_members(server.pid)}"
        time.sleep(0.1)


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes in the process group ``group``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(stat.parent.name))
    return members
