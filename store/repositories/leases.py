"""Worker leases on searches: claim, keep alive, and reclaim from a worker that went silent.

A lease is (search.worker, search.heartbeat_at). Every change is one conditional UPDATE, so two
workers (or two reapers) racing on one search never both win. Written by the worker engineer as an
additive module next to searches.py; the state names and columns are the api's models.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import TERMINAL_STATUSES, Search, utcnow

CLAIMED = "claimed"


def claim(session: Session, search_id: str, *, worker: str, stale_after_s: float) -> str:
    """Take the search for `worker` and mark it running; returns CLAIMED or why it was not taken.

    Takes a queued or retrying search, or a running one whose lease is this worker's own or older
    than `stale_after_s` (its holder vanished). Never takes a finished or cancel-requested search,
    nor one that another worker holds with a fresh heartbeat (a duplicate delivery).
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    lease_free = or_(Search.worker == worker, Search.heartbeat_at.is_(None), Search.heartbeat_at < cutoff)
    takeable = or_(Search.status.in_(("queued", "retrying")), and_(Search.status == "running", lease_free))
    stmt = (
        update(Search)
        .where(Search.id == search_id, Search.cancel_requested.is_(False), takeable)
        .values(
            status="running",
            worker=worker,
            heartbeat_at=now,
            error=None,
            attempts=Search.attempts + 1,
            started_at=func.coalesce(Search.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
        session.flush()
        return CLAIMED
    # Asked to stop while its worker was lost: nothing else will act on the request, so settle it.
    settle = (
        update(Search)
        .where(Search.id == search_id, Search.cancel_requested.is_(True), takeable)
        .values(status="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if session.execute(settle).rowcount == 1:  # type: ignore[attr-defined]
        session.flush()
        return "cancelled: cancel was requested while no worker held it"
    row = session.execute(select(Search.status, Search.worker).where(Search.id == search_id)).first()
    if row is None:
        return "no such search"
    if row.status in TERMINAL_STATUSES:
        return f"already {row.status}"
    return f"held by {row.worker} with a fresh heartbeat"


def renew(session: Session, search_id: str, *, worker: str) -> bool:
    """Refresh the heartbeat; False when `worker` no longer holds the search (reaped or finished)."""
    stmt = (
        update(Search)
        .where(Search.id == search_id, Search.worker == worker, Search.status == "running")
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    held = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    return held


def release_cancelled(session: Session, search_id: str, *, worker: str) -> bool:
    """running -> cancelled, only by the lease holder (a cancel the engine acted on)."""
    return _finish(session, search_id, worker, status="cancelled")


def release_succeeded(session: Session, search_id: str, *, worker: str) -> bool:
    return _finish(session, search_id, worker, status="succeeded")


def release_failed(session: Session, search_id: str, *, worker: str, error: str) -> bool:
    return _finish(session, search_id, worker, status="failed", error=error)


def _finish(session: Session, search_id: str, worker: str, **values: object) -> bool:
    stmt = (
        update(Search)
        .where(Search.id == search_id, Search.worker == worker, Search.status == "running")
        .values(finished_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    done = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    return done


def reap_stale(session: Session, *, stale_after_s: float) -> list[tuple[str, int]]:
    """Searches whose lease went silent go to `retrying`; returns (id, priority) to enqueue again.

    `running` with a heartbeat older than the cutoff lost its worker. `retrying` that stayed
    unclaimed that long lost its message (a broker that never redelivers, or a worker killed
    between receiving and claiming it). Reaping stamps heartbeat_at, so a search that merely waits
    behind others in the queue is re-enqueued at most once per timeout.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    stale = or_(
        and_(Search.status == "running", or_(Search.heartbeat_at.is_(None), Search.heartbeat_at < cutoff)),
        and_(Search.status == "retrying", Search.heartbeat_at.is_not(None), Search.heartbeat_at < cutoff),
    )
    candidates = session.execute(select(Search.id, Search.priority).where(stale)).all()
    reaped: list[tuple[str, int]] = []
    for search_id, priority in candidates:
        # Re-check the condition in the UPDATE itself: another reaper or a claim may have won.
        stmt = (
            update(Search)
            .where(Search.id == search_id, stale)
            .values(status="retrying", worker=None, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        if session.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
            reaped.append((search_id, priority))
    session.flush()
    return reaped
