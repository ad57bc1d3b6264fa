"""Something that runs until it is done or stopped, here or on a thread of its own.

A search and a capacity ladder run in the app's server on a thread each while the
page shows their progress, and in the CLI in the foreground; both are a
``BackgroundTask``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from layerlab.schema.errors import LayerlabError

# How often a task looks in on what it runs (trials, ladder steps).
POLL_SECONDS = 0.1


class BackgroundTask:
    """Something that runs until it is done or stopped, here or on a thread of its own.

    Subclasses implement ``run(listener)``; ``start(listener)`` runs it on a thread
    (the app), keeping a ``LayerlabError`` it raises in ``error`` for the page to
    show; ``stop()`` asks it to end.
    """

    def __init__(self) -> None:
        self.error: LayerlabError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, listener: Callable[[Any], None] | None = None) -> Any:
        raise NotImplementedError

    def start(self, listener: Callable[[Any], None] | None = None) -> threading.Thread:
        def work() -> None:
            try:
                self.run(listener)
            except LayerlabError as error:
                self.error = error

        self._thread = threading.Thread(target=work, name=f"layerlab-{type(self).__name__}")
        self._thread.daemon = True
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """End it: nothing new starts; what runs is stopped and kept as stopped."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """Whether a task started with ``start()`` is still going."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a task started with ``start()``; True once it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running
