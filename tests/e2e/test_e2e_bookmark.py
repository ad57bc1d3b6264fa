"""Journey 7: a bookmark of a page opens that page inside the app, even on a fresh server.

A person bookmarks /train, or reloads it after the server restarted. The first visit a
server ever gets goes straight to that page's URL, and the page still comes with the
sidebar and its navigation: app.py's router runs every page.
"""

from __future__ import annotations

import pytest
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    app_dir,
    nav_link,
    new_page,
    open_app,
    sidebar_text,
    streamlit_server,
    tracebacks,
)
from playwright.sync_api import Browser, expect


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")
def test_a_first_visit_to_a_bookmarked_page_shows_it_with_the_sidebar(browser: Browser) -> None:
    # A server of its own: the shared one has already run app.py's navigation.
    with streamlit_server(app_dir(), ARTIFACTS / "bookmark.server.log") as server:
        for path, title in (("train", "Train"), ("results", "Results"), ("model", "Model")):
            page = new_page(browser)
            try:
                open_app(page, f"{server.url}/{path}")
                assert page.url == f"{server.url}/{path}"
                expect(page.locator("h1").first).to_have_text(title)
                expect(nav_link(page, title)).to_have_attribute("aria-current", "page")
                assert "Where you are" in sidebar_text(page)
                expect(tracebacks(page)).to_have_count(0)
            finally:
                page.context.close()
