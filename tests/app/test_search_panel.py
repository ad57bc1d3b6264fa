"""The Model page's Search panel: set up a search, follow it as runs, stop it, train the best."""

from __future__ import annotations

import json
import time

import pytest
from app_support import (
    TIMEOUT,
    seed_dataset,
    session_of,
    texts,
    tiny_regression_frame,
    workspace_of,
)

from layerlab.runs.search_board import shared_board


@pytest.fixture
def model_page(app):
    seed_dataset(app, tiny_regression_frame(60), "y", epochs=40)
    return app.switch_page("app_pages/model.py").run()


def small_search(at, trials: int = 2, epochs: int = 3):
    """Vary only the units; a budget of ``trials`` trials of ``epochs`` epochs each."""
    for key in ("search_vary_layers", "search_vary_activations", "search_vary_rate"):
        at.checkbox(key=key).uncheck()
    at.multiselect(key="search_units").set_value([4, 8])
    at.number_input(key="search_trials").set_value(trials)
    at.number_input(key="search_epochs").set_value(epochs)
    return at.run()


def wait_for_search(at, timeout: float = TIMEOUT):
    store = workspace_of(at)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = shared_board().latest(store)
        if entry is not None and not entry.running:
            return at.run()
        time.sleep(0.2)
    raise AssertionError(f"the search did not end within {timeout} s")


def test_the_panel_offers_the_lessons_defaults(model_page):
    at = model_page
    assert not at.exception
    assert at.number_input(key="search_trials").value == 12
    assert at.number_input(key="search_epochs").value == 30
    assert at.slider(key="search_sample").value == pytest.approx(0.3)
    assert at.radio(key="search_sampler").value == "random"
    assert "beats a grid" in " ".join(at.radio(key="search_sampler").options)
    assert "sample of the rows" in texts(at.caption)


def test_a_ticked_setting_with_nothing_to_try_is_refused_plainly(model_page):
    at = model_page
    at.multiselect(key="search_units").set_value([]).run()
    assert at.button(key="search_start").disabled
    assert "units" in texts(at.error).lower()
    assert not at.exception


def test_a_search_runs_its_trials_as_runs_and_trains_the_best_on_all_rows(model_page):
    at = small_search(model_page)
    at.checkbox(key="search_vary_rate").check().run()  # two trials that surely differ
    at.button(key="search_start").click().run()
    assert not at.exception
    at = wait_for_search(at)
    store = workspace_of(at)
    trials = [record for record in store.runs() if record.name.startswith("Search 1 · trial")]
    assert len(trials) == 2
    # Trials are numbered from 1 where a person reads them (Optuna's storage keeps 0 and 1).
    assert sorted(record.name.split(":")[0] for record in trials) == [
        "Search 1 · trial 1",
        "Search 1 · trial 2",
    ]
    assert {record.spec.epochs for record in trials} == {3}
    assert "2 of 2 trials done" in texts(at.markdown)
    assert "best validation loss so far" in texts(at.markdown)
    assert at.tabs, "the search's figures are shown"
    assert at.tabs[0].label == "Validation loss, trial by trial"
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (history,) = [chart["layout"] for chart in charts if "best so far" in json.dumps(chart)]
    assert history["xaxis"]["title"]["text"] == "Trial" and history["xaxis"]["tick0"] == 1
    assert history["xaxis"]["dtick"] == 1 and history["xaxis"]["tickformat"] == "d"
    assert history["yaxis"]["title"]["text"].startswith("Validation loss")
    assert [tab.label for tab in at.tabs[1:]] == [
        "Settings of every trial",
        "Which settings mattered",
    ]
    (settings,) = [chart for chart in charts if chart["data"][0]["type"] == "parcoords"]
    assert "Learning rate" in [axis["label"] for axis in settings["data"][0]["dimensions"]]
    # Two trials are too few to rank the settings: a sentence says how many more it needs.
    assert "2 trials have finished; which settings mattered needs 8 more" in texts(at.info)
    at.button(key="search_train_best").click().run()
    assert not at.exception
    followed = session_of(at).store.run(session_of(at).following)
    best = shared_board().best_spec(store, shared_board().latest(store).id)
    assert followed.spec.layers == best.layers
    assert followed.spec.epochs == 40  # the Model page's epochs, not the trial's
    assert at.title[0].value == "Train"


def test_stop_ends_the_search_and_keeps_what_finished(model_page):
    at = small_search(model_page, trials=40, epochs=200)
    at.button(key="search_start").click().run()
    store = workspace_of(at)
    deadline = time.monotonic() + TIMEOUT
    while not any(record.history for record in store.runs()):
        assert time.monotonic() < deadline, "no trial started training"
        time.sleep(0.2)
    at.run()
    at.button(key="search_stop").click().run()
    at = wait_for_search(at)
    entry = shared_board().latest(store)
    assert entry.status == "stopped"
    assert 1 <= len(store.runs()) < 40
    assert "stopped" in texts(at.markdown)
    assert not at.exception


def test_a_capacity_ladder_is_shown_step_by_step(model_page):
    at = model_page
    at.radio(key="search_kind").set_value("capacity").run()
    at.number_input(key="search_epochs").set_value(2).run()
    at.button(key="search_start").click().run()
    at = wait_for_search(at, timeout=3 * TIMEOUT)
    store = workspace_of(at)
    entry = shared_board().latest(store)
    assert entry.status == "finished", entry.message
    assert len(entry.ladder) >= 3  # the start, its second seed, one bigger step at least
    assert sum(step["chosen"] for step in entry.ladder) == 1
    assert "Noise: two seeds" in texts(at.caption)
    assert at.get("plotly_chart")
    assert not at.exception


def test_on_a_shared_server_the_budget_widgets_stop_at_the_servers_caps(app, monkeypatch):
    from layerlab.runs.job_limits import SEARCH_MAX_MINUTES_ENV, SEARCH_MAX_TRIALS_ENV
    from layerlab.runs.workspaces import EPHEMERAL_ENV

    monkeypatch.setenv(EPHEMERAL_ENV, "1")  # as on Community Cloud
    monkeypatch.delenv(SEARCH_MAX_TRIALS_ENV, raising=False)
    monkeypatch.setenv(SEARCH_MAX_MINUTES_ENV, "20")
    seed_dataset(app, tiny_regression_frame(60), "y", epochs=40)
    at = app.switch_page("app_pages/model.py").run()
    assert not at.exception
    trials, minutes = at.number_input(key="search_trials"), at.number_input(key="search_minutes")
    assert (trials.max, minutes.max) == (50, 20)
    assert minutes.label == "Minutes at most (0: this server's limit, 20)"
    monkeypatch.setenv(EPHEMERAL_ENV, "0")  # a local install: the widgets' own bounds
    monkeypatch.delenv(SEARCH_MAX_MINUTES_ENV)
    at = at.run()
    trials, minutes = at.number_input(key="search_trials"), at.number_input(key="search_minutes")
    assert (trials.max, minutes.max) == (500, 24 * 60)
    assert minutes.label == "Minutes at most (0: no limit)"
