"""Which worker holds a search. A worker claims a search before running it and keeps the claim
alive with heartbeats; every write that ends the run is guarded by the worker's name, so a worker
that lost its claim (silent too long; the reaper handed the search on) cannot overwrite the outcome
of the worker that holds it now. All changes are conditional UPDATEs: two claimants never both win.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from store.models import Search, utcnow
from store.repositories import searches

CLAIMED = "claimed"


def claim(session: Session, search_id: str, *, worker: str, stale_after_s: float) -> str:
    """Take the search for `worker`: queued or retrying, or running but silent for `stale_after_s`
    seconds, or running under this same worker name (a restarted worker got its message back).

    Returns CLAIMED, or why not (e.g. "held by w2@host", "already succeeded", "unknown search").
    """
    now = utcnow()
    stmt = (
        update(Search)
        .where(
            Search.id == search_id,
            or_(
                Search.status.in_(searches.WAITING_STATUSES),
                (Search.status == "running")
                & or_(Search.worker == worker, searches.stale_condition(stale_after_s)),
            ),
        )
        .values(
            status="running",
            worker=worker,
            heartbeat_at=now,
            attempts=Search.attempts + 1,
            started_at=func.coalesce(Search.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
        session.flush()
        return CLAIMED
    row = session.execute(select(Search.status, Search.worker).where(Search.id == search_id)).first()
    if row is None:
        return "unknown search"
    if row.status == "running":
        return f"held by {row.worker}"
    return f"already {row.status}"


def renew(session: Session, search_id: str, *, worker: str) -> bool:
    """Heartbeat; False when `worker` no longer holds the search (it must stop)."""
    stmt = (
        update(Search)
        .where(Search.id == search_id, Search.status == "running", Search.worker == worker)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    held = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    return held


def release_succeeded(session: Session, search_id: str, *, worker: str) -> bool:
    return searches.mark_succeeded(session, search_id, worker=worker)


def release_cancelled(session: Session, search_id: str, *, worker: str) -> bool:
    return searches.mark_cancelled(session, search_id, worker=worker)


def release_failed(session: Session, search_id: str, *, worker: str, error: str) -> bool:
    return searches.mark_failed(session, search_id, error, worker=worker)


def reap_stale(session: Session, *, stale_after_s: float) -> list[tuple[str, int]]:
    """Running or retrying searches silent for `stale_after_s` seconds go to `retrying` (worker
    cleared, heartbeat reset so each is re-queued at most once per timeout); returns (id, priority)
    of each, for the caller to enqueue after commit."""
    stmt = (
        update(Search)
        .where(Search.status.in_(("running", "retrying")), searches.stale_condition(stale_after_s))
        .values(status="retrying", worker=None, heartbeat_at=utcnow())
        .returning(Search.id, Search.priority)
        .execution_options(synchronize_session=False)
    )
    reaped = [(row.id, row.priority) for row in session.execute(stmt)]
    session.flush()
    return reaped
