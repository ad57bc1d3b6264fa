"""Every page runs inside app.py's router, even when Streamlit starts it on its own."""

from __future__ import annotations

import pytest


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


@pytest.mark.cold_server
def test_a_page_started_without_the_router_hops_through_it(app):
    # With the pages/ convention on, AppTest runs pages/model.py by itself, as a fresh
    # server does for a first visit straight to /model.
    at = app.switch_page("pages/model.py").run()
    assert not at.exception
    assert at.title[0].value == "Model"
    assert "Where you are" in texts(at.sidebar.markdown)
    assert "requested_page" not in at.session_state
