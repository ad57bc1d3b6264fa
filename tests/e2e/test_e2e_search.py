"""Journey 8: a small random search from the Model page, its trials as runs, its best retrained.

The lessons' way to tune: random search over the settings that are not learned, few
epochs per trial, then the winner trained on all the rows.
"""

from __future__ import annotations

import re

from e2e_support import (
    click,
    dataframe_rows,
    fill,
    go_to,
    load_sample,
    main_text,
    tracebacks,
    wait_for_training,
    workspace_token,
)
from playwright.sync_api import Page, expect

from layerlab.runs.workspaces import open_workspace

TRIALS = 2
EPOCHS = 3
# The search's trials may each have to start a worker (it imports TensorFlow first).
SEARCH_SECONDS = 300


def test_a_small_search_runs_its_trials_as_runs_and_trains_the_best(page: Page) -> None:
    load_sample(page, "Iris")
    go_to(page, "Model")
    expect(page.get_by_text("Search for a better network")).to_be_visible()
    fill(page, "search_trials", TRIALS)
    fill(page, "search_epochs", EPOCHS)
    click(page, "search_start")

    done = page.get_by_text(re.compile(rf"{TRIALS} of {TRIALS} trials done"))
    expect(done).to_be_visible(timeout=SEARCH_SECONDS * 1000)
    expect(page.get_by_text(re.compile(r"best validation loss so far \d"))).to_be_visible()
    expect(page.get_by_role("tab", name="Validation loss, trial by trial")).to_be_visible()

    store = open_workspace(workspace_token(page))
    trials = sorted(store.runs(), key=lambda run: run.created)
    assert len(trials) == TRIALS
    assert all(run.name.startswith("Search 1 · trial ") for run in trials)
    assert {run.status for run in trials} <= {"finished", "diverged"}

    go_to(page, "Runs")
    rows = dataframe_rows(page)
    assert sorted(row["Name"] for row in rows) == sorted(run.name for run in trials)

    go_to(page, "Model")
    click(page, "search_train_best")
    expect(page.get_by_role("heading", name="Train")).to_be_visible()
    wait_for_training(page, timeout=SEARCH_SECONDS)
    go_to(page, "Results")
    expect(page.get_by_text("Test-set scores")).to_be_visible()
    best = max(store.runs(), key=lambda run: run.created)
    assert best.name.startswith("Run ") and best.status in ("finished", "diverged")
    assert best.name in main_text(page)
    expect(tracebacks(page)).to_have_count(0)
