"""The first page appears quickly, the server never imports TensorFlow, and the upload limit is
the same everywhere."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from app_support import APP, ROOT

from layerlab.tabular.reading import MAX_UPLOAD_MB

# Each visit runs in a fresh interpreter (this test process may already hold TensorFlow
# from other tests) and prints which of TensorFlow and Keras it imported.
VISIT_START = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests" / "app")!r})
from streamlit.testing.v1 import AppTest
from app_support import iris, seed_dataset, small_network, wait_for_training
at = AppTest.from_file({APP!r}, default_timeout=120).run()
"""
VISIT_END = """
assert not at.exception, at.exception
print("LOADED=" + ",".join(name for name in ("tensorflow", "keras") if name in sys.modules))
"""

DATA_PAGE_VISIT = """
at.selectbox(key="sample_dataset").set_value("customer_churn.csv")
at.button(key="load_sample").click().run()
assert not at.exception, at.exception
assert at.selectbox(key="target_column").value == "churned"
at.multiselect(key="feature_columns").set_value(["age", "contract"]).run()
"""

# Training runs in a worker process; the Results page reads the run's files.
TRAIN_AND_RESULTS_VISIT = """
seed_dataset(at, iris(), "species", layers=small_network(), epochs=2, batch_size=16)
at = at.switch_page("app_pages/train.py").run()
at.button(key="train_button").click().run()
at = wait_for_training(at)
at = at.switch_page("app_pages/results.py").run()
assert [chart for chart in at.get("plotly_chart")], "the Results page drew no chart"
"""


def _imported_by(visit: str) -> str:
    """What the visit's ``LOADED=`` line names (empty: neither TensorFlow nor Keras)."""
    done = subprocess.run(
        [sys.executable, "-c", VISIT_START + visit + VISIT_END],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("LOADED=")]
    return line.removeprefix("LOADED=")


def test_data_page_does_not_import_tensorflow():
    assert _imported_by(DATA_PAGE_VISIT) == ""


def test_the_server_trains_and_shows_results_without_importing_tensorflow():
    # Streamlit clears Keras's session after every script run where Keras is imported
    # (a full garbage collection); the app's own process never pays it, nor 500 MB.
    assert _imported_by(TRAIN_AND_RESULTS_VISIT) == ""


def test_upload_limit_in_config_matches_the_core():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB


def test_users_see_no_developer_toolbar():
    # "viewer" hides Deploy, Rerun and Clear cache even when the app is opened on localhost.
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"


def test_a_bug_shows_no_traceback_in_the_browser():
    # "none": the browser gets Streamlit's generic message; the type, message and traceback
    # go to the server's log only (a traceback names our files and can carry a user's data).
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
