"""Shared fixtures for the AppTest tests of the Streamlit app."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
# Room for importing TensorFlow and compiling the training loop on a cold, 2-core machine.
TIMEOUT = 120


class _RouterPagesManager(PagesManager):
    """A served app ignores ``pages/`` once ``st.navigation`` has run (a process-wide flag).

    AppTest resets that flag before every run, so from the second run on it would
    execute ``pages/*.py`` on their own, without ``app.py`` (no sidebar, no
    adoption of interrupted runs). This restores what the server does.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def _router_always_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test, "PagesManager", _RouterPagesManager)


@pytest.fixture
def app() -> AppTest:
    """The app on its first page (Data), already run once."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def tiny_regression_frame(rows: int = 40) -> pd.DataFrame:
    """A small table where y = 2x + 1, plus a category, for quick training runs."""
    x = [float(i) for i in range(rows)]
    return pd.DataFrame(
        {
            "x": x,
            "colour": ["red", "green", "blue", "red"] * (rows // 4),
            "y": [2 * value + 1 for value in x],
        }
    )
