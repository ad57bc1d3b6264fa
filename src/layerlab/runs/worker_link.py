"""The server's end of one worker process (``workers.py``): starting it, a socket for
messages, its memory, and the words for how it ended.

Kept apart from the pool, which decides which job goes to which worker and when.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from layerlab.schema import errors
from layerlab.schema.errors import LayerlabError

# A worker imports TensorFlow before it says it is ready; on a busy small machine, a while.
START_TIMEOUT = 180.0


class WorkerLink:
    """The server's end of one worker process: a socket for messages and the process itself."""

    def __init__(self, process: subprocess.Popen, connection: Connection) -> None:
        self.process = process
        self.pid = process.pid
        self._connection = connection
        self._send_lock = threading.Lock()

    @classmethod
    def start(cls, niceness: int = 0) -> WorkerLink:
        """Start a worker at ``niceness`` (see ``worker_process.serve_forever``) and wait until
        it has imported TensorFlow and says it is ready."""
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "layerlab.runs.workers",
                    str(theirs.fileno()),
                    str(niceness),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        worker = cls(process, Connection(ours.detach()))
        if not worker._connection.poll(START_TIMEOUT):
            worker.close()
            raise OSError(f"the worker did not start within {START_TIMEOUT:.0f} s")
        try:
            worker.recv()  # ("ready", pid)
        except EOFError:
            code = worker.reap()
            raise OSError(f"the worker exited while starting (exit code {code})") from None
        return worker

    def send(self, message: tuple) -> None:
        with self._send_lock:
            self._connection.send(message)

    def recv(self) -> tuple:
        return self._connection.recv()

    def poll(self, timeout: float) -> bool:
        """Whether a message (or the end of the connection) is there within ``timeout`` s."""
        return self._connection.poll(timeout)

    def kill(self) -> None:
        """End the process at once (its slot then reads the end of the connection)."""
        with contextlib.suppress(OSError):
            self.process.kill()

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int | None:
        """Resident memory of the worker in bytes, where the system says (Linux)."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def reap(self) -> int | None:
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def close(self) -> None:
        """Hang up (the worker reads EOF and exits), then wait for it to go.

        The socket is shut down rather than closed, so a slot thread still reading
        from it gets EOF instead of a closed handle; the handle closes with the object.
        """
        with contextlib.suppress(OSError):
            duplicate = socket.fromfd(self._connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
            duplicate.shutdown(socket.SHUT_RDWR)
            duplicate.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def death_message(label: str, code: int | None) -> str:
    if code is not None and code < 0 and -code == 9:
        how = "was killed (signal 9), most often because the server ran out of memory"
    elif code is not None and code < 0:
        how = f"was ended by signal {-code}"
    else:
        how = f"ended unexpectedly (exit code {code})"
    return (
        f"The worker process doing this {label} {how}. Only this {label} was affected. Try "
        "again; if it happens again, try a smaller network (fewer or narrower layers), a "
        "smaller batch size or fewer rows."
    )


def rebuild_error(described: dict[str, Any]) -> LayerlabError:
    """The worker's ``LayerlabError`` again, of the same class, on the server's side."""
    kind = getattr(errors, described["type"], LayerlabError)
    if not (isinstance(kind, type) and issubclass(kind, LayerlabError)):
        kind = LayerlabError
    if described["problems"] is not None:
        return errors.SpecError(described["problems"])
    return kind(described["message"])
