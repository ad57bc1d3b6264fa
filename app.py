"""Layerlab: build, train and export Keras networks on tabular data, without code.

This file is the router: the pages live in ``pages/`` and the sidebar says
where the user stands. Run it with ``streamlit run app.py``.
"""

from pathlib import Path

import streamlit as st

from layerlab.errors import LayerlabError
from layerlab_app import routing, sidebar, state
from layerlab_app.text import md

# The icon is a file the server serves itself: a :material/...: icon makes every browser
# fetch the favicon from Google's font servers.
ICON = Path(__file__).parent / "src" / "layerlab_app" / "icon.png"
st.set_page_config(page_title="Layerlab", page_icon=str(ICON), layout="wide")

# A run that finished in its worker since the last script run: take in its model and message.
state.adopt_finished_run()

page = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
        st.Page("pages/model.py", title="Model", icon=":material/hub:"),
        st.Page("pages/train.py", title="Train", icon=":material/monitoring:"),
        st.Page("pages/results.py", title="Results", icon=":material/task_alt:"),
    ]
)
routing.resume_requested_page()
with st.sidebar:
    status = st.empty()
sidebar.render(status)
try:
    with routing.inside_router():
        page.run()
except LayerlabError as error:
    st.error(md(error))
# Again, so the sidebar shows what the page just changed.
sidebar.render(status)
