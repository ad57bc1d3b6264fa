"""Layerlab: build, train and export Keras networks on tabular data, without code.

This file is the router: the pages live in ``app_pages/`` and the sidebar says
where the user stands. Run it with ``streamlit run app.py``.

The folder is not named ``pages/``: Streamlit would take that name for its old multipage
convention, and a fresh server would run a page visited by its URL without this router.
"""

from pathlib import Path

import streamlit as st

from layerlab.runs import workers
from layerlab.schema.errors import LayerlabError
from layerlab_app import sidebar, state, workspace_panel
from layerlab_app.text import md

# The icon is a file the server serves itself: a :material/...: icon makes every browser
# fetch the favicon from Google's font servers.
ICON = Path(__file__).parent / "src" / "layerlab_app" / "icon.png"
STATUS_WIDGET = "stStatusWidget"
st.set_page_config(page_title="Layerlab", page_icon=str(ICON), layout="wide")
# Streamlit's own "Running... Stop" in the corner would be a second Stop that ends only the
# page's script run, never the training: the Train page's Stop is the one. No setting hides
# it (.streamlit/config.toml), so its own test id does; a style-only st.html takes no space.
st.html(f"<style>[data-testid='{STATUS_WIDGET}']{{display: none}}</style>")

# This tab's workspace (from the ?ws= token in the URL), then any run it followed that has
# finished since the last script run.
state.session()
state.adopt_finished_run()
# The engine warms while the person loads data: the first Train of the day finds TensorFlow
# imported in a worker instead of waiting seconds for it.
workers.warm_start()

page = st.navigation(
    [
        st.Page("app_pages/data.py", title="Data", icon=":material/table:", default=True),
        st.Page("app_pages/model.py", title="Model", icon=":material/hub:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/monitoring:"),
        st.Page("app_pages/results.py", title="Results", icon=":material/task_alt:"),
        st.Page("app_pages/runs.py", title="Runs", icon=":material/table_rows:"),
    ]
)
with st.sidebar:
    status = st.empty()
sidebar.render(status)
try:
    page.run()
except LayerlabError as error:
    st.error(md(error))
if page.url_path != "train":  # the network compiled ahead of Train is no longer wanted
    state.abandon_prepare()
# Again, so the sidebar shows what the page just changed.
sidebar.render(status)
workspace_panel.render()
state.save()
