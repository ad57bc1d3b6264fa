"""TensorFlow's set-up: one intra-op thread unless LAYERLAB_TF_THREADS says otherwise, and a
quiet start that keeps its C++ log lines off the terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from layerlab.model.runtime import (
    DEFAULT_THREADS,
    THREADS_VARIABLE,
    is_tensorflow_log_line,
    requested_threads,
    without_tensorflow_log_lines,
)
from layerlab.schema.errors import LayerlabError


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
from layerlab.model.build import build_model
from layerlab.schema.spec import Feature, ModelSpec
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


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796170560.381501    3514 cpu_feature_guard.cc:227] This TensorFlow binary "
        "is optimized to use available CPU instructions in performance-critical operations.",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
        "with the appropriate compiler flags.",
        "E0000 00:00:1758131437.297298 3722519 cuda_dnn.cc:8579] Unable to register cuDNN "
        "factory: Attempting to register factory for plugin cuDNN when one has already been "
        "registered",
        "W0000 00:00:1758131437.322781 3722519 computation_placer.cc:177] computation placer "
        "already registered.",
        "2025-01-06 12:46:04.065693: E external/local_xla/xla/stream_executor/cuda/"
        "cuda_fft.cc:477] Unable to register cuFFT factory",
        "2024-11-21 15:11:13.384029: I tensorflow/core/util/port.cc:113] oneDNN custom "
        "operations are on. You may see slightly different numerical results.",
    ],
)
def test_tensorflows_log_lines_are_recognised(line):
    assert is_tensorflow_log_line(line)


@pytest.mark.parametrize(
    "line",
    [
        'error: There is no file at "missing.csv".',
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "ImportError: libcudart.so.12: cannot open shared object file",
        "epoch 1/3  loss 0.6313  val_loss 0.5828  (2.3s)",
    ],
)
def test_other_lines_are_not_taken_for_tensorflows(line):
    assert not is_tensorflow_log_line(line)


def test_only_tensorflows_lines_are_held_back_from_stderr(capfd):
    with without_tensorflow_log_lines():
        os.write(2, b"I0000 00:00:1.5 7 cpu_feature_guard.cc:227] noise\n")
        os.write(2, b"a line of the program's own\n")
        os.write(2, b"E0000 00:00:1758131437.297298 3722519 cuda_dnn.cc:8579] more noise\n")
    assert capfd.readouterr().err == "a line of the program's own\n"


# A TensorFlow build that ignores TF_CPP_MIN_LOG_LEVEL (CUDA builds print some lines regardless):
# set the level back to 0 after asking for quiet, so only the filter can hold the lines back.
START = """
import os, sys
from layerlab.model import runtime
if sys.argv[1] == "quiet":
    runtime.keep_tensorflow_quiet()
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
print("before", file=sys.stderr)
runtime.configure_tensorflow()
print("after", file=sys.stderr)
"""


def _start(mode: str) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", START, mode], capture_output=True, text=True, env=env, check=True
    )
    return done.stderr.splitlines()


def test_a_quiet_start_keeps_tensorflows_start_up_lines_off_stderr():
    plain = _start("plain")
    if not any(is_tensorflow_log_line(line) for line in plain):
        pytest.skip("this TensorFlow build logs nothing as it starts")
    assert _start("quiet") == ["before", "after"]
