"""TensorFlow's thread setting: one intra-op thread unless LAYERLAB_TF_THREADS says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from layerlab.errors import LayerlabError
from layerlab.runtime import DEFAULT_THREADS, THREADS_VARIABLE, requested_threads


@pytest.mark.parametrize(("text", "threads"), [(None, DEFAULT_THREADS), ("", 1), (" 4 ", 4)])
def test_requested_threads_reads_the_environment(monkeypatch, text, threads):
    if text is None:
        monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(THREADS_VARIABLE, text)
    assert requested_threads() == threads


@pytest.mark.parametrize("text", ["two", "-1", "1.5"])
def test_a_bad_thread_count_says_what_to_set(monkeypatch, text):
    monkeypatch.setenv(THREADS_VARIABLE, text)
    with pytest.raises(
        LayerlabError, match=rf"{THREADS_VARIABLE} must be a whole number.*'{text}'"
    ):
        requested_threads()


# Building a model is the first thing that runs TensorFlow in a Layerlab process.
PROBE = """
import pandas as pd
import tensorflow as tf
from layerlab.build import build_model
from layerlab.spec import Feature, ModelSpec
spec = ModelSpec(target="y", task="regression", features=[Feature("x", "numeric")])
build_model(spec, pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 4.0]}))
print(tf.config.threading.get_intra_op_parallelism_threads())
"""


@pytest.mark.parametrize(("setting", "threads"), [(None, 1), ("0", 0)])
def test_building_a_model_sets_tensorflows_threads_first(setting, threads):
    env = {key: value for key, value in os.environ.items() if key != THREADS_VARIABLE}
    if setting is not None:
        env[THREADS_VARIABLE] = setting
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == str(threads)
