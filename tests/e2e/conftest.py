"""Browser journeys: one Streamlit server per test session, a fresh browser context per user.

Skipped when Debian's Chromium is not at /usr/bin/chromium. A failing test leaves
``artifacts/<test name>.png`` and the server log beside it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    app_dir,
    button,
    go_to,
    launch_chromium,
    new_page,
    open_app,
    streamlit_server,
)
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(item: pytest.Item) -> bool:
    return any(
        getattr(item, f"report_{when}", None) is not None and getattr(item, f"report_{when}").failed
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def server() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)"
        )
    with streamlit_server(app_dir(), ARTIFACTS / "server.log") as running:
        yield running


@pytest.fixture(scope="session")
def browser(server) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def open_user(request: pytest.FixtureRequest, server, browser: Browser) -> Iterator[Callable]:
    """Opens the app for a new user (own browser context, own Streamlit session)."""
    pages: list[Page] = []
    for stale in ARTIFACTS.glob(f"{request.node.name}*"):  # from an earlier failed run
        stale.unlink()

    def open_one() -> Page:
        page = new_page(browser)
        pages.append(page)
        open_app(page, server.url)
        return page

    yield open_one

    if _failed(request.node):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(pages):
            suffix = "" if number == 0 else f"-user{number + 1}"
            try:
                page.screenshot(path=ARTIFACTS / f"{request.node.name}{suffix}.png", full_page=True)
            except Exception as error:  # the page may be what broke; keep the log anyway
                print(f"no screenshot of user {number + 1}: {error}")
        shutil.copyfile(server.log_path, ARTIFACTS / f"{request.node.name}.server.log")
    for page in pages:
        page.context.close()


@pytest.fixture
def page(open_user: Callable[[], Page]) -> Page:
    return open_user()


@pytest.fixture
def stop_at_the_end(open_user: Callable[[], Page]) -> Iterator[list[Page]]:
    """Tabs whose run is stopped when the test ends, also when it fails, so a long run left
    behind does not hold a worker the journeys after it need."""
    pages: list[Page] = []
    yield pages
    for page in pages:
        with suppress(PlaywrightError, AssertionError):  # the page may be what broke
            go_to(page, "Train")
            if button(page, "stop_button").is_enabled():
                button(page, "stop_button").click()
                expect(button(page, "train_button")).to_be_enabled(timeout=60_000)
