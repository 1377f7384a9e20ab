"""Knowing that the server process is stopping, so long-lived responses can end.

uvicorn answers SIGTERM/SIGINT by refusing new connections and then waiting for every open one
to finish; an event stream of a long search would hold it for hours. The app's lifespan chains a
handler in front of the server's own: it raises a flag and hands the signal on unchanged. Event
streams look at the flag between polls and end; their clients reconnect with Last-Event-ID.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ShutdownFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def install(self) -> None:
        """Chain onto SIGTERM and SIGINT. Only the main thread may set handlers; elsewhere (an
        in-process test client) there is no server signal to observe, so nothing is installed."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            self._previous[sig] = previous
            signal.signal(sig, self._handler(previous))

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handler(self, previous: Any) -> Callable[[int, FrameType | None], None]:
        def handle(signum: int, frame: FrameType | None) -> None:
            if not self.is_set:
                log.info("signal %d: ending open event streams", signum)
            self.set()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:  # nobody else handles it: do what it would have done
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        return handle
