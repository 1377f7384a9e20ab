"""A worker asked to stop (SIGTERM: `docker stop`, a Kubernetes eviction) hands its search back.

Celery's warm shutdown would wait for the running search to end, which can take hours, until the
orchestrator kills the worker. Instead, on SIGTERM:

1. `requested()` turns True; the search's reporter asks the engine to stop at its next step, and
   the task hands the search back (running -> retrying, guarded by the worker's name) and enqueues
   it again, so another worker resumes it from its last epoch checkpoint;
2. a watchdog gives the task WORKER_STOP_GRACE_S seconds; when a step (or a landscape job, which
   has no steps to stop at) outlasts them, it hands the row back itself and ends the process, so
   the worker never outlives the grace period the orchestrator allows.

A hand-back is an ordinary conditional update: if the reaper or another worker got there first,
it changes nothing, and a duplicate message is harmless (only one claim wins).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Exit status of a worker whose grace period ran out (EX_TEMPFAIL: try again elsewhere).
EXIT_GRACE_EXPIRED = 75


@dataclass(frozen=True)
class Held:
    """The row this process is computing, and how to hand it back to the queue."""

    what: str
    row_id: str
    hand_back: Callable[[], bool]


class Shutdown:
    def __init__(self) -> None:
        self._requested = threading.Event()
        self._lock = threading.Lock()
        self._held: Held | None = None
        self._watchdog: threading.Thread | None = None

    def requested(self) -> bool:
        return self._requested.is_set()

    def hold(self, held: Held | None) -> None:
        """Tell the watchdog which row this process is computing now (None: nothing)."""
        with self._lock:
            self._held = held

    def request(self, grace_s: float, exit_process: Callable[[int], None] = os._exit) -> None:
        """Stop at the next step; past `grace_s` seconds, hand back the held row and exit."""
        if self._requested.is_set():
            return
        # Called from a signal handler: only set the flag and start the thread (which logs).
        self._requested.set()
        self._watchdog = threading.Thread(
            target=self._expire, args=(grace_s, exit_process), name="flatnas-stop-watchdog", daemon=True
        )
        self._watchdog.start()

    def _expire(self, grace_s: float, exit_process: Callable[[int], None]) -> None:
        with self._lock:
            held = self._held
        if held is not None:
            log.warning(
                "stop requested: %s %s goes back to the queue at its next step", held.what, held.row_id
            )
        threading.Event().wait(grace_s)
        with self._lock:
            held = self._held
        if held is None:
            return  # nothing in flight: Celery's warm shutdown ends the process by itself
        log.error(
            "grace period of %.0f s over: handing %s %s back and exiting", grace_s, held.what, held.row_id
        )
        try:
            held.hand_back()
        except Exception:  # the reaper re-queues it after HEARTBEAT_TIMEOUT_S anyway
            log.exception("could not hand %s %s back", held.what, held.row_id)
        exit_process(EXIT_GRACE_EXPIRED)

    def watchdog_finished(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the watchdog of a request to end (True when it has, or there
        is none): after it, a process still running has outlived its grace period untouched."""
        watchdog = self._watchdog
        if watchdog is not None:
            watchdog.join(timeout)
        return watchdog is None or not watchdog.is_alive()

    def reset(self) -> None:
        """For tests: forget a request (the watchdog of an earlier one must have ended)."""
        self._requested.clear()
        self.hold(None)


#: This process's shutdown state (a worker process runs one task at a time).
shutdown = Shutdown()
