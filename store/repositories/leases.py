"""Which worker holds a search. A worker claims a search before running it and keeps the claim
alive with heartbeats; every write that ends the run is guarded by the worker's name, so a worker
that lost its claim (silent too long; the reaper handed the search on) cannot overwrite the outcome
of the worker that holds it now. All changes are conditional UPDATEs: two claimants never both win.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from store.models import Search
from store.repositories import _lease, searches

CLAIMED = _lease.CLAIMED


def claim(session: Session, search_id: str, *, worker: str, stale_after_s: float) -> str:
    """Take the search for `worker` (see _lease.claim). Returns CLAIMED, or why not
    (e.g. "held by w2@host", "already succeeded", "unknown search")."""
    return _lease.claim(session, Search, search_id, worker=worker, stale_after_s=stale_after_s, noun="search")


def renew(session: Session, search_id: str, *, worker: str) -> bool:
    """Heartbeat; False when `worker` no longer holds the search (it must stop)."""
    return _lease.renew(session, Search, search_id, worker=worker)


def hand_back(session: Session, search_id: str, *, worker: str) -> bool:
    """`worker` is stopping: the search waits (retrying) for the next worker, which resumes it."""
    return _lease.hand_back(session, Search, search_id, worker=worker)


def release_succeeded(session: Session, search_id: str, *, worker: str) -> bool:
    return searches.mark_succeeded(session, search_id, worker=worker)


def release_cancelled(session: Session, search_id: str, *, worker: str) -> bool:
    return searches.mark_cancelled(session, search_id, worker=worker)


def release_failed(session: Session, search_id: str, *, worker: str, error: str) -> bool:
    return searches.mark_failed(session, search_id, error, worker=worker)


def take_unclaimed(session: Session, *, unclaimed_after_s: float) -> list[tuple[str, int]]:
    """Queued searches unclaimed for `unclaimed_after_s` seconds (see _lease.take_unclaimed);
    returns (id, priority) of each, for the caller to enqueue again after commit."""
    taken = _lease.take_unclaimed(
        session, Search, Search.id, Search.priority, unclaimed_after_s=unclaimed_after_s
    )
    return [(row.id, row.priority) for row in taken]


def reap_stale(session: Session, *, stale_after_s: float) -> list[tuple[str, int]]:
    """Running or retrying searches silent for `stale_after_s` seconds go to `retrying`; returns
    (id, priority) of each, for the caller to enqueue after commit."""
    reaped = _lease.reap_stale(session, Search, Search.id, Search.priority, stale_after_s=stale_after_s)
    return [(row.id, row.priority) for row in reaped]
