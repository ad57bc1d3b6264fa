"""Every page runs inside app.py's router, even on a fresh server's first visit to its URL."""

from __future__ import annotations

from app_support import APP, TIMEOUT
from streamlit.testing.v1 import AppTest


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def test_a_first_visit_straight_to_a_page_runs_inside_the_router():
    # Switched before any run, AppTest asks for the page by its URL (/model), as a bookmark
    # or a reload after a restart does on a server that has not run st.navigation yet.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page("app_pages/model.py").run()
    assert not at.exception
    assert at.title[0].value == "Model"
    assert "Where you are" in texts(at.sidebar.markdown)
