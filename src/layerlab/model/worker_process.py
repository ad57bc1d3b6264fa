"""What runs inside a worker process: TensorFlow imported once, then one job at a time.

The server's side of the pool is ``workers.py``; a worker is started as
``python -m layerlab.runs.workers <fd>`` and runs ``serve_forever`` on the socket it was
given. It sends the trainer's events while a job runs, hears Stop on a thread of its
own, and answers each job with its value, the user's error (``describe_error``, rebuilt
as the same class on the server) or a bug's traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import queue
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from layerlab.model.jobs import JOBS, JobContext, forget_loaded_models, forget_prepared
from layerlab.model.runtime import configure_tensorflow
from layerlab.schema.errors import LayerlabError

# Jobs that build a new network start from a clean Keras session (see ``serve_forever``).
FRESH_KERAS_JOBS = frozenset({"train", "summary", "finish", "rebuild", "prepare", "complete"})
# Jobs that use or replace the run compiled ahead of a Train click; any other drops it.
PREPARED_JOBS = frozenset({"train", "prepare"})


def describe_error(error: LayerlabError) -> dict[str, Any]:
    """The error as plain values for the socket; ``workers._rebuild_error`` makes it again."""
    return {
        "type": type(error).__name__,
        "message": str(error),
        "problems": getattr(error, "problems", None),
    }


def serve_forever(connection: Connection, niceness: int) -> None:
    """Import TensorFlow, say ready, then run jobs one at a time until the server hangs up;
    at ``niceness`` (the pool's, see ``WorkerPool``; 0: the server's priority) where the
    system lets a process lower its own."""
    if niceness > 0:
        with contextlib.suppress(OSError, AttributeError):  # not everywhere may a process
            os.nice(niceness)
    configure_tensorflow()
    import keras  # after configure_tensorflow; paid for once, before the first job

    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            connection.send(message)

    jobs: queue.Queue[tuple] = queue.Queue()
    stopped: set[str] = set()

    def listen() -> None:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                os._exit(0)  # the server hung up or closed us: nothing here is worth keeping
            if message[0] == "stop":
                stopped.add(message[1])
            else:
                jobs.put(message)

    threading.Thread(target=listen, name="layerlab-worker-listen", daemon=True).start()

    def reset_keras() -> None:
        # Only one job runs in this process, so Keras's global state may be reset safely; a
        # new network's saved model then names its layers the same way every time.
        keras.backend.clear_session()
        forget_loaded_models()

    # Whether a job since the last reset left Keras state (a loaded model kept for scoring).
    keras_used = False
    send(("ready", os.getpid()))
    while True:
        _, job_id, kind, args = jobs.get()
        fresh = kind in FRESH_KERAS_JOBS
        if kind not in PREPARED_JOBS:
            forget_prepared()
        if fresh and keras_used:
            reset_keras()
        context = JobContext(
            emit=lambda event: send(("event", event)),
            stop_requested=lambda job_id=job_id: job_id in stopped,
        )
        try:
            value = JOBS[kind](context, *args)
        except LayerlabError as error:
            send(("error", describe_error(error)))
        except Exception:
            send(("bug", traceback.format_exc()))
        else:
            try:
                send(("done", value))
            except Exception:  # a value that cannot travel is a bug too
                send(("bug", traceback.format_exc()))
        finally:
            stopped.discard(job_id)
            del context
            if fresh:
                # Reset now, while the worker would wait, not when the next run starts: it
                # takes 0.3 s, which the next person's first chart point would wait for.
                reset_keras()
            keras_used = not fresh
            gc.collect()
            _return_free_heap()


def _return_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them by default), so a
    worker's resident size after a job is what it holds, not what its largest job used."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass
