"""Journey 6: ten people press Train within a second of a server's cold start, and all train.

A shared deployment wakes up (a redeploy, Community Cloud waking the app) and a
burst of visitors arrives. Training happens in worker processes that import
TensorFlow one by one, so no two imports race and every run trains.

A server warms its first worker at the first page view (``workers.warm_start``); the
burst is tested with that off, as after the warm worker has gone idle, and the warming
on its own server.
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import suppress

import pytest
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    app_dir,
    button,
    go_to,
    load_sample,
    new_page,
    open_app,
    set_training,
    streamlit_server,
    tracebacks,
    wait_for_training,
)
from playwright.sync_api import Browser, expect

from layerlab.runs.workers import WARM_START_ENV

USERS = 10
EPOCHS = 20
BURST_SECONDS = 1.0
# Ten runs on a 2-core machine, after the workers' first import of TensorFlow.
ALL_TRAINED_SECONDS = 240
# A worker process starts within this long of the first page view (it imports TensorFlow
# after it has started; its process is there at once).
WARM_SECONDS = 30


def _workers(server) -> list[str]:
    """The server's worker processes (they share its process group)."""
    found = subprocess.run(
        ["pgrep", "-g", str(server.process.pid), "-f", "layerlab.runs.workers"],
        capture_output=True,
        text=True,
    )
    return found.stdout.split()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")
def test_the_first_page_view_starts_one_worker_before_any_train(
    browser: Browser, monkeypatch
) -> None:
    monkeypatch.delenv(WARM_START_ENV, raising=False)
    with streamlit_server(app_dir(), ARTIFACTS / "warm_start.server.log") as server:
        assert _workers(server) == []
        page = new_page(browser)
        try:
            open_app(page, server.url)
            deadline = time.monotonic() + WARM_SECONDS
            while not _workers(server) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(_workers(server)) == 1
            open_app(page, server.url)  # another view: still the one worker
            time.sleep(1.0)
            assert len(_workers(server)) == 1
        finally:
            page.context.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")
def test_ten_users_pressing_train_at_a_cold_start_all_get_a_model(
    browser: Browser, monkeypatch
) -> None:
    # A server of its own, started for this test: the shared one may have warm workers.
    monkeypatch.setenv(WARM_START_ENV, "0")
    with streamlit_server(app_dir(), ARTIFACTS / "cold_start.server.log") as server:
        pages = []
        try:
            for _ in range(USERS):
                page = new_page(browser)
                pages.append(page)
                open_app(page, server.url)
                load_sample(page, "Iris")
                go_to(page, "Model")
                # A new table's recipe, as the visitors get it. With one plain network each
                # (five times quicker), one page of ten once stayed on its last live frame:
                # the run had ended, and the full rerun its fragment asked for never came
                # (Streamlit logged the fragment's timed reruns as "does not exist anymore").
                set_training(page, epochs=EPOCHS)
                go_to(page, "Train")
            assert _workers(server) == [], "the server is not cold: workers already run"
            started = time.monotonic()
            for page in pages:  # as fast as ten people can: no waiting for each page's rerun
                button(page, "train_button").dispatch_event("click")
            assert time.monotonic() - started < BURST_SECONDS
            for page in pages:
                wait_for_training(page, timeout=ALL_TRAINED_SECONDS)
            assert 1 <= len(_workers(server)) <= os.cpu_count()
            for number, page in enumerate(pages, start=1):
                expect(tracebacks(page)).to_have_count(0)
                message = page.locator('[data-testid="stAlertContainer"]').filter(
                    has_text="Training"
                )
                expect(message.first).to_be_visible()
                text = message.first.inner_text()
                assert "stopped early" in text or "ran all" in text, (number, text)
                # Each kept its own model (the curves are checked by the other journeys; ten
                # pages at once draw their charts late in a loaded headless Chromium).
                expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Last run:")
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(pages, start=1):
                with suppress(Exception):  # the page may be what broke; the error still shows
                    page.screenshot(path=ARTIFACTS / f"cold_start-user{number}.png", timeout=5000)
            raise
        finally:
            for page in pages:
                page.context.close()
