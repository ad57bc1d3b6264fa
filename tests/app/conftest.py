"""Fixtures for the AppTest tests; the helpers live in ``app_support``."""

from __future__ import annotations

import pytest
from app_support import Trained, iris, small_network, start_app, train
from app_support import tiny_regression_frame as tiny_frame
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="session", autouse=True)
def _no_keras_reset_after_each_run():
    """Streamlit clears Keras's session after every script run when Keras is imported.

    The server never imports Keras (its worker processes do; see test_startup), so
    there it costs nothing; in this test process, which trains models, it is a full
    garbage collection of TensorFlow's objects, about 0.3 s a script run. The one private
    Streamlit name these tests patch: Streamlit has no setting that turns the reset off.
    """
    from streamlit.runtime.scriptrunner import script_runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(script_runner, "_clean_problem_modules", lambda: None)
        yield


@pytest.fixture
def app() -> AppTest:
    """The app on its first page (Data), already run once."""
    return start_app()


@pytest.fixture(scope="session")
def trained_iris() -> Trained:
    """A small classifier on the iris sample, trained once for the whole test session."""
    return train(iris(), "species", layers=small_network(), epochs=5, batch_size=16)


@pytest.fixture(scope="session")
def trained_regression() -> Trained:
    """A small regression on the tiny table, trained once for the whole test session."""
    return train(tiny_frame(), "y", layers=small_network(), epochs=3, batch_size=8)
