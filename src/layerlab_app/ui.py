"""Small pieces every page shares: the header with notices, and the link to the next step."""

from __future__ import annotations

import streamlit as st

from layerlab.tabular.reading import BYTES_PER_MB
from layerlab_app import state
from layerlab_app.journey import PAGES
from layerlab_app.text import md


def upload_limit_mb() -> int:
    """The uploaders' limit in MB: Streamlit's own ``server.maxUploadSize``, which the browser
    enforces. ``.streamlit/config.toml`` sets the shared server's 50; a local install raises it
    there or with ``streamlit run app.py --server.maxUploadSize 500``, and the reader follows."""
    return int(st.get_option("server.maxUploadSize"))


def upload_limit_bytes() -> int:
    return upload_limit_mb() * BYTES_PER_MB


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
