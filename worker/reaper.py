"""The heartbeat reaper: jobs (searches, landscape jobs, evaluations) whose worker went silent are
re-queued at their own priority and resume from a checkpoint.

Brokers differ in what they do with the message of a worker killed mid-task: Redis gives it back
only after its visibility timeout (an hour by default), kombu's SQLAlchemy transport never does.
So every worker also sweeps, when it starts and then periodically: a search in `running` or
`retrying` whose heartbeat is older than HEARTBEAT_TIMEOUT_S goes to `retrying` and is enqueued
again. The state change is a conditional update, so two sweeping workers re-queue a search once;
a redelivered duplicate is harmless anyway, because the task claims a lease before running.

The sweep also finds `queued` rows whose message the broker lost (a Redis restart without
persistence, a purge): unclaimed for UNCLAIMED_REQUEUE_S while the queue is empty, they are
enqueued again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from store.repositories import evaluations, landscape, searches
from store.settings import settings
from worker import lease
from worker.enqueue import enqueue_evaluation, enqueue_landscape_job, enqueue_search, waiting_messages
from worker.health import touch_liveness
from worker.lease import SessionFactory, in_transaction
from worker.study_evaluations import evaluate_finished

log = logging.getLogger(__name__)


#: Every job kind the reaper sweeps: its lease repository and how it is enqueued again.
KINDS = (
    lease.LeasedKind(searches.lease, enqueue_search),
    lease.LeasedKind(landscape.lease, enqueue_landscape_job),
    lease.LeasedKind(evaluations.lease, enqueue_evaluation),
)


def reap_stale(
    kind: lease.LeasedKind, session_factory: SessionFactory | None = None, *, timeout_s: float | None = None
) -> list[tuple[str, int]]:
    """Mark the kind's silent rows `retrying` and enqueue them again at their own priority;
    returns (id, priority) of each."""
    session_factory, timeout_s = lease.resolve(session_factory, timeout_s)
    reaped: list[tuple[str, int]] = in_transaction(
        session_factory, lambda s: kind.repo.reap_stale(s, stale_after_s=timeout_s)
    )
    # Enqueued only after the commit, so a worker that picks a message up finds `retrying`.
    for row_id, priority in reaped:
        log.warning("%s %s: worker silent for over %.0f s, re-queued to resume", kind.what, row_id, timeout_s)
        kind.enqueue(row_id, priority)
    return reaped


def requeue_unclaimed(
    session_factory: SessionFactory | None = None,
    *,
    after_s: float | None = None,
    waiting: Callable[[], int] = waiting_messages,
) -> list[tuple[str, str]]:
    """Enqueue again the queued searches, landscape jobs and evaluations no worker has claimed for
    `after_s` seconds (UNCLAIMED_REQUEUE_S), when the broker's queue is empty: their messages were
    lost (a Redis restart without persistence, a purge). While messages wait, the workers are busy
    and the rows' messages are among them, so nothing is added. A duplicate is harmless: only one
    claim wins. Returns (kind, id) of each row enqueued again."""
    session_factory, _ = lease.resolve(session_factory, None)
    after_s = after_s if after_s is not None else settings.UNCLAIMED_REQUEUE_S
    if waiting():
        return []

    def take(s: Session) -> list[tuple[lease.LeasedKind, str, int]]:
        return [(k, i, p) for k in KINDS for i, p in k.repo.take_unclaimed(s, unclaimed_after_s=after_s)]

    taken = in_transaction(session_factory, take)
    for kind, row_id, priority in taken:
        log.warning(
            "%s %s: queued but unclaimed for over %.0f s with an empty queue, enqueued again",
            kind.what,
            row_id,
            after_s,
        )
        kind.enqueue(row_id, priority)
    return [(kind.what, row_id) for kind, row_id, _ in taken]


def sweep_interval(timeout_s: float) -> float:
    return max(1.0, min(60.0, timeout_s / 2))


def sweep() -> None:
    """One pass of the reaper. It reaches the database (every reap is a transaction) and the
    broker (requeue_unclaimed counts the waiting messages first, on every pass); it raises when
    either cannot be reached."""
    for kind in KINDS:
        reap_stale(kind)
    evaluate_finished()  # study searches whose evaluation a dying worker did not start
    requeue_unclaimed()


class _Reaper:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="flatnas-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        interval = sweep_interval(settings.HEARTBEAT_TIMEOUT_S)
        while True:
            try:
                sweep()
            except Exception:  # the database may be briefly away; the next sweep retries
                log.warning("reaper sweep failed", exc_info=True)
            else:
                # The container's health check (python -m worker.health): fresh only while sweeps
                # reach the database and the broker. A search running on the main thread does not
                # stop this thread, so a busy worker stays healthy.
                try:
                    touch_liveness()
                except OSError:
                    log.warning("could not refresh the liveness file", exc_info=True)
            if self._stop.wait(interval):
                return


_reaper = _Reaper()


def start_reaper() -> None:
    """Sweep now and then every HEARTBEAT_TIMEOUT_S / 2 (at most a minute) in a daemon thread."""
    _reaper.start()


def stop_reaper() -> None:
    _reaper.stop()
