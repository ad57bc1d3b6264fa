"""Small pieces every page shares: the header with notices, and the link to the next step."""

from __future__ import annotations

import streamlit as st

from layerlab_app import state
from layerlab_app.journey import PAGES
from layerlab_app.text import md


def page_header(title: str, intro: str) -> None:
    """The top of every page."""
    st.title(title)
    st.caption(intro)
    for notice in state.pop_notices():
        st.warning(md(notice))  # notices quote file and column names


def next_page(page: str, label: str, ready: bool = True) -> None:
    """The link that ends every page; greyed out until this page's step is done."""
    st.divider()
    st.page_link(PAGES[page], label=label, icon=":material/arrow_forward:", disabled=not ready)
