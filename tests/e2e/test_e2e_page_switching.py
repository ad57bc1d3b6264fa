"""Journey 5: moving between pages during and after training loses nothing, and never stops it."""

from __future__ import annotations

import re
from pathlib import Path

from e2e_support import (
    button,
    choose_target,
    click,
    fill,
    go_to,
    input_value,
    load_table,
    set_training,
    start_training,
    stop_training,
    wait_for_epochs,
    wait_for_training,
    wait_idle,
    widget,
    write_renewals_csv,
)
from playwright.sync_api import Page, expect

LONG = 10_000  # only ends because the user stops it
BATCH = 2  # small batches make each epoch slow enough that the stop comes long before the end
SHORT = 30


def test_switching_pages_during_and_after_training_loses_nothing(
    page: Page, tmp_path: Path
) -> None:
    load_table(page, write_renewals_csv(tmp_path / "renewals.csv"))
    choose_target(page, "renewed")
    go_to(page, "Model")
    click(page, "preset_small")
    # One plain network: the journey is about pages, not the recipe (which the export journey
    # trains as a new table's default).
    set_training(page, batch_size=BATCH, epochs=LONG, patience=0, ensemble=1, refit=False)
    go_to(page, "Train")
    start_training(page)
    before = wait_for_epochs(page, 3)

    # The run trains on the server: visiting other pages does not stop it.
    for title in ("Data", "Model", "Results"):
        go_to(page, title)
        expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("renewals.csv")
    go_to(page, "Train")
    expect(button(page, "stop_button")).to_be_enabled()
    wait_for_epochs(page, before + 5)
    stop_training(page)
    stopped = re.compile(rf"Stopped by you after [\d,]+ of {LONG:,} epochs; epoch [\d,]+ kept")
    _everything_is_kept(page, LONG, stopped, ("Data", "Results", "Model", "Train"))
    expect(page.get_by_text("Training was stopped on request.")).to_be_visible()
    expect(button(page, "stop_button")).to_be_disabled()

    go_to(page, "Model")
    fill(page, "epochs", SHORT)
    go_to(page, "Train")
    start_training(page)
    wait_for_training(page)
    expect(page.get_by_text(f"Training ran all {SHORT} epochs")).to_be_visible()
    finished = re.compile(rf"Ran all {SHORT} epochs; epoch [\d,]+ kept")
    _everything_is_kept(page, SHORT, finished, ("Results", "Data", "Model", "Train"))


def _everything_is_kept(page: Page, epochs: int, last_run: re.Pattern, titles: tuple) -> None:
    """Visit pages and check the data, target, network and trained model are all still there."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    for title in titles:
        go_to(page, title)
        expect(sidebar).to_contain_text(last_run)
        wait_idle(page)
        for kept in ("renewals.csv", "renewed", "Dense 16 relu → output sigmoid"):
            expect(sidebar).to_contain_text(kept)
        if title == "Data":
            assert input_value(page, "target_column") == "renewed"
        elif title == "Model":
            assert input_value(page, "layer_0_units") == "16"
            assert input_value(page, "epochs") == str(epochs)
            assert input_value(page, "batch_size") == str(BATCH)
        elif title == "Train":
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
        else:
            expect(page.get_by_text("Test-set scores")).to_be_visible()
            expect(widget(page, "download_model")).to_be_visible()
