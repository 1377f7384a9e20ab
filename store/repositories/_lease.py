"""The lease discipline shared by searches (leases.py), landscape jobs (landscape.py) and
evaluations (evaluations.py): a worker
claims a row with one conditional UPDATE, keeps it with heartbeats, and the reaper hands rows whose
holder fell silent back to `retrying`. Conditional UPDATEs mean two claimants never both win.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import Evaluation, LandscapeJob, Search, utcnow

CLAIMED = "claimed"
WAITING_STATUSES = ("queued", "retrying")
LeasedModel = type[Search] | type[LandscapeJob] | type[Evaluation]


def stale_condition(model: LeasedModel, stale_after_s: float) -> Any:
    """A heartbeat older than `stale_after_s` seconds (or none at all)."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    return or_(model.heartbeat_at.is_(None), model.heartbeat_at < cutoff)


def update_row(session: Session, model: LeasedModel, row_id: str, *where: Any, **values: Any) -> bool:
    """UPDATE the row `row_id` where every condition holds; True when it changed."""
    stmt = (
        update(model)
        .where(model.id == row_id, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    return changed


def claim(
    session: Session, model: LeasedModel, row_id: str, *, worker: str, stale_after_s: float, noun: str
) -> str:
    """Take the row for `worker`: waiting (queued or retrying), or running but silent for
    `stale_after_s` seconds, or running under this same worker name (a restarted worker got its
    message back). Returns CLAIMED, or why not ("held by w2@host", "already succeeded",
    f"unknown {noun}")."""
    now = utcnow()
    taken = update_row(
        session,
        model,
        row_id,
        or_(
            model.status.in_(WAITING_STATUSES),
            (model.status == "running") & or_(model.worker == worker, stale_condition(model, stale_after_s)),
        ),
        status="running",
        worker=worker,
        heartbeat_at=now,
        attempts=model.attempts + 1,
        started_at=func.coalesce(model.started_at, now),
    )
    if taken:
        return CLAIMED
    row = session.execute(select(model.status, model.worker).where(model.id == row_id)).first()
    if row is None:
        return f"unknown {noun}"
    return f"held by {row.worker}" if row.status == "running" else f"already {row.status}"


def renew(session: Session, model: LeasedModel, row_id: str, *, worker: str) -> bool:
    """Heartbeat; False when `worker` no longer holds the row (it must stop)."""
    return update_row(
        session, model, row_id, model.status == "running", model.worker == worker, heartbeat_at=utcnow()
    )


def hand_back(session: Session, model: LeasedModel, row_id: str, *, worker: str) -> bool:
    """The holder is stopping (SIGTERM): running -> retrying, worker cleared, fresh heartbeat (so
    the reaper leaves it to the message the caller enqueues after commit). False when `worker` no
    longer holds the row."""
    return update_row(
        session,
        model,
        row_id,
        model.status == "running",
        model.worker == worker,
        status="retrying",
        worker=None,
        heartbeat_at=utcnow(),
    )


def reap_stale(session: Session, model: LeasedModel, *returning: Any, stale_after_s: float) -> list[Row[Any]]:
    """Running or retrying rows silent for `stale_after_s` seconds go to `retrying` (worker cleared,
    heartbeat reset so each is re-queued at most once per timeout); returns the `returning` columns
    of each, for the caller to enqueue after commit."""
    stmt = (
        update(model)
        .where(model.status.in_(("running", "retrying")), stale_condition(model, stale_after_s))
        .values(status="retrying", worker=None, heartbeat_at=utcnow())
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    reaped = list(session.execute(stmt))
    session.flush()
    return reaped


def take_unclaimed(
    session: Session, model: LeasedModel, *returning: Any, unclaimed_after_s: float
) -> list[Row[Any]]:
    """Queued rows no worker has claimed for `unclaimed_after_s` seconds since they were stored or
    last re-enqueued: their message may be lost. Each is stamped (heartbeat_at = now, which a queued
    row uses for "last enqueued"), so one sweep of one worker takes it per period; returns the
    `returning` columns of each, for the caller to enqueue after commit."""
    cutoff = utcnow() - timedelta(seconds=unclaimed_after_s)
    stmt = (
        update(model)
        .where(model.status == "queued", func.coalesce(model.heartbeat_at, model.created_at) < cutoff)
        .values(heartbeat_at=utcnow())
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    taken = list(session.execute(stmt))
    session.flush()
    return taken
