"""How Layerlab sets up TensorFlow in its process: one intra-op thread unless told otherwise,
and, where asked (the CLI without ``--verbose``), no C++ log lines on the terminal.

Why one thread: a training step on a batch of 32 rows multiplies matrices of a
few thousand numbers. Split across cores, each op spends more time handing
work over than computing it. On 2 cores, Layerlab's epochs of a 64-64 network ran
1.3-1.45x faster on one thread (``python -m bench.train_speed``: the ``layerlab``
and ``layerlab_tf_threads`` rows). On a shared server it also means two people
training at once each get a core: two runs side by side in one process took as
long as one alone.

``LAYERLAB_TF_THREADS=N`` asks for N threads instead; ``0`` keeps TensorFlow's
own default (all cores).

Why the log lines need more than a setting: TensorFlow's C++ code logs from
static initializers while its library loads ("This TensorFlow binary is
optimized ...", oneDNN, and on CUDA builds "Unable to register cuDNN factory"),
before Python can reach it. ``TF_CPP_MIN_LOG_LEVEL=3`` silences most of them if
it is set before the import; CUDA builds print some even then (tensorflow/tensorflow
#100442). So a quiet start also imports TensorFlow with standard error caught
at the file-descriptor level and writes back every line that is not one of
TensorFlow's. ``TF_ENABLE_ONEDNN_OPTS`` is left alone: it changes the
arithmetic, not only the messages.

So TensorFlow is first imported here, by ``configure_tensorflow``, and the
modules of ``layerlab.model`` import ``tensorflow`` and ``keras`` inside the
functions that run after it, never at their top. A top-level import would also
load it (3 s) wherever the module is imported: in ``python -m layerlab predict``
before it checks the bundle, and in ``train`` before the gradient-boosting
baseline starts on the core the import leaves idle (``boosting.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

from layerlab.schema.settings import number_setting

THREADS_VARIABLE = "LAYERLAB_TF_THREADS"
DEFAULT_THREADS = 1

# TensorFlow's C++ log records: absl's "E0000 00:00:1758131437.297298 3722519 cuda_dnn.cc:8579] ",
# the older "2025-01-06 12:46:04.065693: E external/.../cuda_fft.cc:477] ", absl's notice that
# logging is not set up yet, and the second line of the CPU-instructions notice.
TENSORFLOW_LOG_LINE = re.compile(
    r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler"
)

# Set by ``keep_tensorflow_quiet`` for the processes this one starts: the CLI's workers (search,
# best) start TensorFlow quietly too.
QUIET_VARIABLE = "LAYERLAB_QUIET_TENSORFLOW"

_configured = False
_quiet = os.environ.get(QUIET_VARIABLE) == "1"


def requested_threads() -> int:
    """The intra-op thread count asked for by the environment (0: TensorFlow's default)."""
    return int(
        number_setting(
            THREADS_VARIABLE,
            DEFAULT_THREADS,
            what="a whole number of threads, 0 or more (0: TensorFlow's default)",
            example=DEFAULT_THREADS,
            whole=True,
            unset_words=f" to use {DEFAULT_THREADS}",
        )
    )


def is_tensorflow_log_line(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ log lines (not a message of Layerlab's)."""
    return TENSORFLOW_LOG_LINE.match(line) is not None


def keep_tensorflow_quiet() -> None:
    """Ask that TensorFlow start without its C++ log lines, here and in the worker processes
    started from now on; call before anything imports it.

    For the CLI, whose user cannot act on them. Once TensorFlow is imported,
    this has no effect on it.
    """
    global _quiet
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[QUIET_VARIABLE] = "1"  # and its workers' too
    _quiet = True


def let_tensorflow_speak() -> None:
    """``--verbose``: TensorFlow's own lines go through, here and in the workers started from
    now on, even where a quiet start was inherited (``QUIET_VARIABLE``)."""
    global _quiet
    os.environ.pop(QUIET_VARIABLE, None)
    _quiet = False


@contextlib.contextmanager
def without_tensorflow_log_lines() -> Iterator[None]:
    """Catch what is written to file descriptor 2 meanwhile; write back all but TensorFlow's lines."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to filter
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not is_tensorflow_log_line(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def import_tensorflow():
    """``import tensorflow``, quietly if ``keep_tensorflow_quiet`` was called first."""
    if not _quiet or "tensorflow" in sys.modules:
        import tensorflow  # here, not at the top: see the module's docstring

        return tensorflow
    with without_tensorflow_log_lines():
        import tensorflow

    return tensorflow


def configure_tensorflow() -> None:
    """Import TensorFlow and apply the thread setting once, before it runs its first op.

    TensorFlow fixes its thread pools when it starts executing. If the host
    program already ran TensorFlow ops, its setting stays: training still
    works, only more slowly.
    """
    global _configured
    if _configured:
        return
    threads = requested_threads()
    tf = import_tensorflow()
    _configured = True
    if threads == 0:
        return
    with contextlib.suppress(RuntimeError):  # already running: keep the host's setting
        tf.config.threading.set_intra_op_parallelism_threads(threads)
