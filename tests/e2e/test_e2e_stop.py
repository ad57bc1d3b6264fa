"""Journey 2: the analyst stops a long run half way and still gets the best model so far."""

from __future__ import annotations

import io
import json
import re
import zipfile

from e2e_support import (
    button,
    go_to,
    load_sample,
    set_training,
    sidebar_text,
    start_training,
    stop_training,
    tracebacks,
    wait_for_epochs,
)
from playwright.sync_api import Page, expect

EPOCHS = 5000  # minutes of training: it only ends because the user stops it


def test_stop_keeps_the_best_model_so_far_and_it_downloads(page: Page) -> None:
    load_sample(page, "Iris")
    go_to(page, "Model")
    set_training(page, batch_size=8, epochs=EPOCHS, patience=0)

    go_to(page, "Train")
    start_training(page)
    wait_for_epochs(page, 5)
    stop_training(page)

    expect(button(page, "stop_button")).to_be_disabled()
    message = page.get_by_text("Training was stopped on request.")
    expect(message).to_be_visible()
    kept = _count(
        re.search(r"The weights of epoch ([\d,]+) are kept", message.inner_text()).group(1)
    )
    run_line = page.get_by_text(
        re.compile(rf"Stopped by you after [\d,]+ of {EPOCHS:,} epochs")
    ).first
    expect(run_line).to_be_visible()
    ran = _count(re.search(r"after ([\d,]+) of", run_line.inner_text()).group(1))
    assert 5 <= ran < EPOCHS
    assert 1 <= kept <= ran
    assert f"epoch {kept:,} kept" in sidebar_text(page)
    expect(tracebacks(page)).to_have_count(0)

    go_to(page, "Results")
    expect(page.get_by_text("Test-set scores")).to_be_visible()
    with page.expect_download() as download:
        button(page, "download_model").click()
    archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
    assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    config = json.loads(archive.read("config.json"))
    assert config["class_name"] in ("Functional", "Model")


def _count(shown: str) -> int:
    """A count as the page writes it, with thousands separators (``1,234``)."""
    return int(shown.replace(",", ""))
