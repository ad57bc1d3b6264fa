"""How Layerlab sets up TensorFlow in its process: one intra-op thread unless told otherwise.

Why one thread: a training step on a batch of 32 rows multiplies matrices of a
few thousand numbers. Split across cores, each op spends more time handing
work over than computing it. On 2 cores, Layerlab's epochs of a 64-64 network ran
1.3-1.45x faster on one thread (``python -m bench.train_speed``: the ``layerlab``
and ``layerlab_tf_threads`` rows). On a shared server it also means two people
training at once each get a core: two runs side by side in one process took as
long as one alone.

``LAYERLAB_TF_THREADS=N`` asks for N threads instead; ``0`` keeps TensorFlow's
own default (all cores).
"""

from __future__ import annotations

import contextlib
import os

from layerlab.errors import LayerlabError

THREADS_VARIABLE = "LAYERLAB_TF_THREADS"
DEFAULT_THREADS = 1

_configured = False


def requested_threads() -> int:
    """The intra-op thread count asked for by the environment (0: TensorFlow's default)."""
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_THREADS
    if not text.isdigit():
        raise LayerlabError(
            f"{THREADS_VARIABLE} must be a whole number of threads, 0 or more; got '{text}'. "
            f"Unset it to use {DEFAULT_THREADS}, or set 0 for TensorFlow's default."
        )
    return int(text)


def configure_tensorflow() -> None:
    """Apply the thread setting once, before TensorFlow runs its first op.

    TensorFlow fixes its thread pools when it starts executing. If the host
    program already ran TensorFlow ops, its setting stays: training still
    works, only more slowly.
    """
    global _configured
    if _configured:
        return
    threads = requested_threads()
    _configured = True
    if threads == 0:
        return
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # already running: keep the host's setting
        tf.config.threading.set_intra_op_parallelism_threads(threads)
