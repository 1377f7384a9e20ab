"""One lease lifecycle for every job kind a worker runs: searches, evaluations and landscape jobs.

`LeasedRepository[M]` is the whole state machine of a leased row, written once against the
columns every such table shares (store.models.LeasedRunColumns):

    queued ──claim──> running ──mark_succeeded / mark_failed / mark_cancelled──> ended
      ^                 │  (heartbeat: renew, set_progress; the API may set cancel_requested)
      └── retrying <────┘  hand_back (the worker stops), reap_stale (it fell silent),
                           request_retry (failed|cancelled, asked by a client)

A worker claims a row with one conditional UPDATE, keeps it with heartbeats, and every write it
makes afterwards is guarded by its name and the `running` state, so a worker that lost its lease
(the reaper handed the row on) cannot overwrite the outcome of the one that holds it now, and an
outcome is stored once. Conditional UPDATEs mean two claimants never both win. Rows handed back
to the queue keep their own priority (reap_stale and take_unclaimed return it with the id).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from nas_core.reporter import json_ready
from store.models import Evaluation, LandscapeJob, Search, utcnow

WAITING_STATUSES = ("queued", "retrying")
ACTIVE_STATUSES = ("queued", "running", "retrying")

M = TypeVar("M", Search, Evaluation, LandscapeJob)


class LeasedRepository(Generic[M]):
    """The lease lifecycle of the rows of `model`; `noun` names a row in the reasons it returns
    ("unknown search"). The worker's writes take `worker=` and change nothing unless that worker
    holds the row; `cancel`, `request_retry` and `mark_failed(worker=None)` are the API's."""

    CLAIMED: ClassVar[str] = "claimed"

    def __init__(self, model: type[M], noun: str) -> None:
        self.model: type[M] = model
        self.noun = noun

    # --- helpers --------------------------------------------------------------------------------

    def update(self, session: Session, row_id: str, *where: Any, **values: Any) -> bool:
        """UPDATE the row `row_id` where every condition holds; True when it changed."""
        stmt = (
            update(self.model)
            .where(self.model.id == row_id, *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
        session.flush()
        return changed

    def held_by(self, worker: str) -> tuple[Any, ...]:
        """The guard of a holder's write: the row runs, under this worker's name."""
        return (self.model.status == "running", self.model.worker == worker)

    def _stale(self, stale_after_s: float) -> Any:
        """A heartbeat older than `stale_after_s` seconds (or none at all)."""
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        return or_(self.model.heartbeat_at.is_(None), self.model.heartbeat_at < cutoff)

    # --- the worker's side ----------------------------------------------------------------------

    def claim(self, session: Session, row_id: str, *, worker: str, stale_after_s: float) -> str:
        """Take the row for `worker`: waiting (queued or retrying), or running but silent for
        `stale_after_s` seconds, or running under this same worker name (a restarted worker got
        its message back). Returns CLAIMED, or why not ("held by w2@host", "already succeeded",
        "unknown search")."""
        model, now = self.model, utcnow()
        taken = self.update(
            session,
            row_id,
            or_(
                model.status.in_(WAITING_STATUSES),
                (model.status == "running") & or_(model.worker == worker, self._stale(stale_after_s)),
            ),
            status="running",
            worker=worker,
            heartbeat_at=now,
            attempts=model.attempts + 1,
            started_at=func.coalesce(model.started_at, now),
        )
        if taken:
            return self.CLAIMED
        row = session.execute(select(model.status, model.worker).where(model.id == row_id)).first()
        if row is None:
            return f"unknown {self.noun}"
        return f"held by {row.worker}" if row.status == "running" else f"already {row.status}"

    def renew(self, session: Session, row_id: str, *, worker: str) -> bool:
        """Heartbeat; False when `worker` no longer holds the row (it must stop)."""
        return self.update(session, row_id, *self.held_by(worker), heartbeat_at=utcnow())

    def set_progress(self, session: Session, row_id: str, progress: dict[str, Any], *, worker: str) -> bool:
        """Store the latest progress (a search's is nas_core.reporter.Progress as a dict); it doubles
        as a heartbeat. False when `worker` no longer holds the row."""
        return self.update(
            session, row_id, *self.held_by(worker), progress=json_ready(progress), heartbeat_at=utcnow()
        )

    def is_cancel_requested(self, session: Session, row_id: str) -> bool:
        """True when the run should stop: cancel asked for, already cancelled, or deleted."""
        row = session.execute(
            select(self.model.cancel_requested, self.model.status).where(self.model.id == row_id)
        ).first()
        return row is None or bool(row.cancel_requested) or row.status == "cancelled"

    def mark_succeeded(self, session: Session, row_id: str, *, worker: str, **values: Any) -> bool:
        """running -> succeeded (with `values`, e.g. result=...), once: a second finisher or a
        worker that lost its lease gets False."""
        return self.update(
            session, row_id, *self.held_by(worker), status="succeeded", finished_at=utcnow(), **values
        )

    def mark_cancelled(self, session: Session, row_id: str, *, worker: str) -> bool:
        return self.update(
            session,
            row_id,
            self.model.status.in_(ACTIVE_STATUSES),
            self.model.worker == worker,
            status="cancelled",
            finished_at=utcnow(),
        )

    def mark_failed(self, session: Session, row_id: str, error: str, *, worker: str | None) -> bool:
        """An active row -> failed with `error`. A worker passes its name (a lost lease gets False);
        the API passes None for a row no worker ever held (its message could not be queued)."""
        guard = (self.model.worker.is_(None),) if worker is None else (self.model.worker == worker,)
        return self.update(
            session,
            row_id,
            self.model.status.in_(ACTIVE_STATUSES),
            *guard,
            status="failed",
            error=error,
            finished_at=utcnow(),
        )

    def hand_back(self, session: Session, row_id: str, *, worker: str) -> bool:
        """The holder is stopping (SIGTERM): running -> retrying, worker cleared, fresh heartbeat (so
        the reaper leaves it to the message the caller enqueues after commit). False when `worker`
        no longer holds the row."""
        return self.update(
            session, row_id, *self.held_by(worker), status="retrying", worker=None, heartbeat_at=utcnow()
        )

    # --- the API's side -------------------------------------------------------------------------

    def cancel(self, session: Session, row_id: str) -> str | None:
        """A waiting row stops at once ("cancelled"), a running one is asked to stop within a step
        ("cancel_requested"); None when it has already ended."""
        if self.update(
            session, row_id, self.model.status.in_(WAITING_STATUSES), status="cancelled", finished_at=utcnow()
        ):
            return "cancelled"
        if self.update(session, row_id, self.model.status == "running", cancel_requested=True):
            return "cancel_requested"
        return None

    def request_retry(self, session: Session, row_id: str) -> bool:
        """failed|cancelled -> retrying (waiting for a worker, which resumes from its checkpoint)."""
        return self.update(
            session,
            row_id,
            self.model.status.in_(("failed", "cancelled")),
            status="retrying",
            cancel_requested=False,
            error=None,
            finished_at=None,
            progress=None,
            # A fresh heartbeat: the reaper re-enqueues a waiting row only if it stays unclaimed.
            heartbeat_at=utcnow(),
            worker=None,
        )

    # --- the reaper's side ----------------------------------------------------------------------

    def reap_stale(self, session: Session, *, stale_after_s: float) -> list[tuple[str, int]]:
        """Running or retrying rows silent for `stale_after_s` seconds go to `retrying` (worker
        cleared, heartbeat reset so each is re-queued at most once per timeout); returns (id,
        priority) of each, for the caller to enqueue after commit."""
        model = self.model
        stmt = (
            update(model)
            .where(model.status.in_(("running", "retrying")), self._stale(stale_after_s))
            .values(status="retrying", worker=None, heartbeat_at=utcnow())
            .returning(model.id, model.priority)
            .execution_options(synchronize_session=False)
        )
        reaped = [(row.id, row.priority) for row in session.execute(stmt)]
        session.flush()
        return reaped

    def take_unclaimed(self, session: Session, *, unclaimed_after_s: float) -> list[tuple[str, int]]:
        """Queued rows no worker has claimed for `unclaimed_after_s` seconds since they were stored
        or last re-enqueued: their message may be lost. Each is stamped (heartbeat_at = now, which a
        queued row uses for "last enqueued"), so one sweep of one worker takes it per period;
        returns (id, priority) of each, for the caller to enqueue after commit."""
        model = self.model
        cutoff = utcnow() - timedelta(seconds=unclaimed_after_s)
        stmt = (
            update(model)
            .where(model.status == "queued", func.coalesce(model.heartbeat_at, model.created_at) < cutoff)
            .values(heartbeat_at=utcnow())
            .returning(model.id, model.priority)
            .execution_options(synchronize_session=False)
        )
        taken = [(row.id, row.priority) for row in session.execute(stmt)]
        session.flush()
        return taken
