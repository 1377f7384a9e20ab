"""What running a search, an evaluation and a landscape job share: the transaction helper, the
lease claim, the heartbeat thread that keeps the lease, the Celery options of a leased task, and
`run_leased`, the whole claim-run-release cycle of every job kind. The rows' side of the same
lifecycle is one class too: store.repositories._lease.LeasedRepository.

Each task gets only an id, claims the row with a lease (a duplicate delivery of a row another live
worker holds, or of one that already ended, does nothing), keeps the lease with a heartbeat thread
while it computes, and ends the row with a write guarded by its worker name. A worker that lost its
lease (the reaper gave the row to another worker) leaves the outcome to the new holder.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from nas_core.dataroots import DataRoots, public_error
from nas_core.reporter import SearchCancelled, SearchDiverged
from store.db import default_database
from store.repositories._lease import LeasedRepository
from store.settings import settings
from worker.shutdown import Held, shutdown
from worker.throttle import Throttle

log = logging.getLogger(__name__)

T = TypeVar("T")
Data = TypeVar("Data")
Result = TypeVar("Result")
SessionFactory = Callable[[], Session]

LEASE_LOST = "lease lost"
#: A stored error is cut to this many characters: it is shown in every listing of the job.
MAX_ERROR_CHARS = 2000

#: Celery options of a leased task: acknowledged when it ends, given back when the worker dies,
#: and retried when the database goes away (not the task's fault); the same worker name re-claims
#: the row on retry.
LEASED_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 30,
}


#: The lease repository of any job kind (searches.lease, evaluations.lease, landscape.lease).
Repository = LeasedRepository[Any]


def in_transaction(session_factory: SessionFactory, work: Callable[[Session], T]) -> T:
    """Run `work` in one session and commit it; roll back and re-raise on error."""
    with session_factory() as session:
        try:
            result = work(session)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise


def resolve(session_factory: SessionFactory | None, timeout_s: float | None) -> tuple[SessionFactory, float]:
    """The given session factory and heartbeat timeout, or the service's defaults."""
    return (
        session_factory or default_database().sessionmaker,
        timeout_s if timeout_s is not None else settings.HEARTBEAT_TIMEOUT_S,
    )


def data_roots(given: DataRoots | None = None) -> DataRoots:
    """The data roots this worker may read data sets from: the given ones, or FLATNAS_DATA_ROOT.
    Never absolute paths from a spec (nas_core.dataroots)."""
    return given if given is not None else DataRoots.parse(settings.FLATNAS_DATA_ROOT)


def job_error(err: BaseException, roots: Iterable[str | os.PathLike[str]] = ()) -> str:
    """The error a failed job stores, which any read key may see: type and message with the
    locations of the data roots, DATA_DIR and `roots` taken out (a file in an OSError is named
    relative to its root: nas_core.dataroots.public_error), cut to MAX_ERROR_CHARS."""
    hidden = [*roots, *data_roots().roots, settings.DATA_DIR]
    text = public_error(err, hidden)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def worker_name(task: Task) -> str:
    return task.request.hostname or socket.gethostname()


def heartbeat_interval(timeout_s: float) -> float:
    # A few beats per timeout, so one slow write never makes a live run look dead.
    return max(0.2, min(5.0, timeout_s / 4))


def claim(
    session_factory: SessionFactory, repo: Repository, row_id: str, *, worker: str, timeout_s: float
) -> str | None:
    """Claim the row; None when `worker` now holds it, else the task's outcome ("skipped: <why>")."""
    result = in_transaction(
        session_factory, lambda s: repo.claim(s, row_id, worker=worker, stale_after_s=timeout_s)
    )
    if result == repo.CLAIMED:
        return None
    log.info("%s %s not run by %s: %s", repo.noun, row_id, worker, result)
    return f"skipped: {result}"


def lease_lost(what: str, row_id: str, worker: str) -> str:
    """The outcome of a run whose lease was taken away: the new holder owns the outcome."""
    log.warning("%s %s: %s lost its lease; leaving the outcome to the new holder", what, row_id, worker)
    return LEASE_LOST


class Heartbeat:
    """Renews a lease every `interval` seconds from a daemon thread; `lease_lost` turns True when
    the worker no longer holds the row (it must stop)."""

    def __init__(
        self, session_factory: SessionFactory, repo: Repository, row_id: str, worker: str, interval: float
    ) -> None:
        self._session_factory = session_factory
        self._repo = repo
        self._row_id = row_id
        self._worker = worker
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{row_id}", daemon=True)
        self.lease_lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def beat(self) -> None:
        held = in_transaction(
            self._session_factory, lambda s: self._repo.renew(s, self._row_id, worker=self._worker)
        )
        if not held:
            self.lease_lost = True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a database blip must not kill the thread; the next beat retries
                log.warning("heartbeat for %s %s failed", self._repo.noun, self._row_id, exc_info=True)


class StopCheck:
    """A reporter's `should_stop`: True when the lease was taken away, when a cancel was requested
    (polled with `cancel_requested` at most once per `poll`), or when this worker is shutting down."""

    def __init__(
        self,
        heartbeat: Heartbeat | None,
        cancel_requested: Callable[[], bool],
        stopping: Callable[[], bool],
        poll: Throttle,
    ) -> None:
        self._heartbeat = heartbeat
        self._cancel_requested = cancel_requested
        self._stopping = stopping
        self._poll = poll
        self._cancel = False
        #: True when the run stopped because this worker is shutting down (not a user's cancel).
        self.stopped_for_shutdown = False

    def __call__(self) -> bool:
        if (self._heartbeat is not None and self._heartbeat.lease_lost) or self._cancel:
            return True
        if self._stopping():
            self.stopped_for_shutdown = True
            return True
        if self._poll.ready():
            self._cancel = self._cancel_requested()
        return self._cancel


class LeasedReporter:
    """What the reporters of leased runs share: one committed transaction per write, progress
    written under the worker's name, and a `should_stop` that stops on a lost lease, a requested
    cancel or this worker's shutdown."""

    def __init__(
        self,
        session_factory: SessionFactory,
        repo: Repository,
        row_id: str,
        worker: str,
        *,
        heartbeat: Heartbeat | None,
        stopping: Callable[[], bool],
        poll: Throttle,
    ) -> None:
        self._session_factory = session_factory
        self._repo, self._row_id, self._worker = repo, row_id, worker
        self._stop = StopCheck(heartbeat, self._cancel_requested, stopping, poll)

    @property
    def stopped_for_shutdown(self) -> bool:
        """True when the run stopped because this worker is shutting down (not a user's cancel)."""
        return self._stop.stopped_for_shutdown

    def _write(self, work: Callable[[Session], Any]) -> Any:
        return in_transaction(self._session_factory, work)

    def _cancel_requested(self) -> bool:
        return bool(self._write(lambda s: self._repo.is_cancel_requested(s, self._row_id)))

    def _set_progress(self, progress: dict[str, Any]) -> None:
        self._write(lambda s: self._repo.set_progress(s, self._row_id, progress, worker=self._worker))

    def should_stop(self) -> bool:
        return self._stop()


class StopsForShutdown(Protocol):
    @property
    def stopped_for_shutdown(self) -> bool:
        """True when the run stopped because this worker is shutting down (not a user's cancel)."""
        ...


Rep = TypeVar("Rep", bound=StopsForShutdown)


def _no_columns(_: Any) -> dict[str, Any]:
    return {}


def _nothing_more(_session: Session, _result: Any) -> None:
    return None


@dataclass(frozen=True)
class LeasedKind:
    """One job kind: its lease repository, and how a row handed back to the queue is enqueued
    again (with the row's own priority)."""

    repo: Repository
    enqueue: Callable[[str, int], None]

    @property
    def what(self) -> str:
        return self.repo.noun


@dataclass(frozen=True)
class LeasedRun(Generic[Data, Rep, Result]):
    """What differs between the kinds run by `run_leased`: read the row (its data and queue
    priority), build the reporter, compute, and what a success stores besides its status: the
    columns (`columns(result)`, e.g. {"result": ...}) and, in the same transaction once the
    worker-guarded write won, any other rows (`also`)."""

    load: Callable[[Session], tuple[Data, int]]
    reporter: Callable[[Heartbeat], Rep]
    work: Callable[[Data, Rep], Result]
    columns: Callable[[Result], dict[str, Any]] = _no_columns
    also: Callable[[Session, Result], None] = _nothing_more
    #: Directories this run reads or writes beyond the configured ones, hidden in its error.
    roots: tuple[str | os.PathLike[str], ...] = ()


def release(
    session: Session,
    kind: LeasedKind,
    run: LeasedRun[Any, Any, Result],
    row_id: str,
    worker: str,
    outcome: str,
    error: str | None,
    result: Result | None,
) -> bool:
    """End the row by outcome with writes guarded by `worker`; False when it no longer holds it."""
    repo = kind.repo
    if outcome == "succeeded":
        done = cast(Result, result)  # what work() returned: the outcome is "succeeded"
        if not repo.mark_succeeded(session, row_id, worker=worker, **run.columns(done)):
            return False
        run.also(session, done)  # in the same transaction: written with the outcome, or not at all
        return True
    if outcome == "cancelled":
        return repo.mark_cancelled(session, row_id, worker=worker)
    return repo.mark_failed(session, row_id, error or "unknown error", worker=worker)


def run_leased(
    kind: LeasedKind,
    row_id: str,
    run: LeasedRun[Data, Rep, Result],
    *,
    worker: str,
    session_factory: SessionFactory,
    timeout_s: float,
) -> str:
    """Claim the row, run it under a heartbeat (handing it back when this worker is told to stop),
    and end it by outcome; returns the outcome (a status, or why nothing was done)."""
    skipped = claim(session_factory, kind.repo, row_id, worker=worker, timeout_s=timeout_s)
    if skipped is not None:
        return skipped
    import torch  # loaded by the task modules already

    # Read on the thread that runs the job: OpenMP keeps the count per thread (worker/threads.py).
    log.info("%s %s runs on %d torch thread(s)", kind.what, row_id, torch.get_num_threads())
    data, priority = in_transaction(session_factory, run.load)

    def hand_back() -> bool:
        """Give the row back to the queue (this worker is stopping); True when it was ours."""
        if not in_transaction(session_factory, lambda s: kind.repo.hand_back(s, row_id, worker=worker)):
            return False
        kind.enqueue(row_id, priority)  # after the commit: the next worker finds it retrying
        log.warning("%s %s handed back by %s; it resumes from its last checkpoint", kind.what, row_id, worker)
        return True

    result: Result | None = None
    shutdown.hold(Held(kind.what, row_id, hand_back))
    with Heartbeat(session_factory, kind.repo, row_id, worker, heartbeat_interval(timeout_s)) as beat:
        reporter = run.reporter(beat)
        try:
            result = run.work(data, reporter)
            outcome, error = "succeeded", None
        except SearchCancelled:
            outcome, error = ("handed back" if reporter.stopped_for_shutdown else "cancelled"), None
        except SearchDiverged as err:
            outcome, error = "failed", str(err)
        except OperationalError:
            # The database went away: not the job's fault. Celery retries the task, which
            # re-claims the row (same worker name) and resumes from the last checkpoint.
            raise
        except Exception as err:
            log.exception("%s %s failed on %s", kind.what, row_id, worker)
            outcome, error = "failed", job_error(err, run.roots)
        finally:
            shutdown.hold(None)
    if beat.lease_lost:
        return lease_lost(kind.what, row_id, worker)
    if outcome == "handed back":
        return outcome if hand_back() else LEASE_LOST
    released = in_transaction(
        session_factory, lambda s: release(s, kind, run, row_id, worker, outcome, error, result)
    )
    return outcome if released else LEASE_LOST
