"""Make every page run inside ``app.py``'s router, even on a fresh server's first visit.

Streamlit still knows the old ``pages/`` folder convention: until ``st.navigation``
has run once in the server process, a visit straight to a page's URL (a bookmark of
``/train``, or a reload after a restart) runs ``pages/train.py`` on its own, with the
folder's navigation and without the sidebar. Such a run hops through ``app.py``
(which turns the folder convention off for good) and on to the page that was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st

REQUESTED_PAGE = "requested_page"
_inside_router: ContextVar[bool] = ContextVar("layerlab_inside_router", default=False)


@contextmanager
def inside_router() -> Iterator[None]:
    """Mark the page that ``app.py`` runs as routed."""
    token = _inside_router.set(True)
    try:
        yield
    finally:
        _inside_router.reset(token)


def require_router(page: str) -> None:
    """Called by every page first: outside the router, go through ``app.py`` to ``page``."""
    if not _inside_router.get():
        st.session_state[REQUESTED_PAGE] = page
        st.switch_page("app.py", query_params=st.query_params.to_dict())


def resume_requested_page() -> None:
    """Called by ``app.py`` after ``st.navigation``: finish a hop begun by ``require_router``."""
    page = st.session_state.pop(REQUESTED_PAGE, None)
    if page:
        st.switch_page(page, query_params=st.query_params.to_dict())
