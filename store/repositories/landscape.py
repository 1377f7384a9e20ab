"""Landscape jobs (barrier, barrier matrix, neighbourhood): creation, listing, and the same
lease discipline as searches (store/repositories/leases.py): a worker claims a job with a
conditional UPDATE, keeps it with heartbeats, and every write that ends the job is guarded by the
worker's name and the `running` state, so the result is stored once and a worker that lost its
claim cannot overwrite the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from store.models import LandscapeJob, LandscapeJobSearch, utcnow
from store.repositories import _lease

CLAIMED = _lease.CLAIMED
ACTIVE_STATUSES = ("queued", "running", "retrying")
#: Roles that name the architectures compared (the supernet only judges them).
COMPARED_ROLES = ("a", "b", "member")


def create_job(
    session: Session,
    *,
    kind: str,
    supernet_search_id: str,
    params: dict[str, Any],
    links: Sequence[tuple[str, str]],
    owner_key_id: str | None,
) -> LandscapeJob:
    """Insert a queued job; `links` are (search_id, role) pairs (duplicates are ignored)."""
    job = LandscapeJob(
        kind=kind,
        supernet_search_id=supernet_search_id,
        params=params,
        status="queued",
        owner_key_id=owner_key_id,
    )
    session.add(job)
    session.flush()
    for search_id, role in dict.fromkeys(links):
        session.add(LandscapeJobSearch(job_id=job.id, search_id=search_id, role=role))
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> LandscapeJob | None:
    stmt = select(LandscapeJob).where(LandscapeJob.id == job_id).execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def list_jobs(
    session: Session,
    *,
    kinds: Sequence[str],
    search_id: str | None = None,
    search_ids: Sequence[str] | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
) -> list[LandscapeJob]:
    """Newest first. `search_id`: jobs involving that search in any role. `search_ids`: jobs
    *between* those searches: every compared search (a, b, matrix member) is in the set."""
    stmt = select(LandscapeJob).where(LandscapeJob.kind.in_(list(kinds)))
    if id_prefix:
        stmt = stmt.where(LandscapeJob.id.startswith(id_prefix, autoescape=True))
    if search_id is not None:
        stmt = stmt.where(
            exists().where(
                LandscapeJobSearch.job_id == LandscapeJob.id, LandscapeJobSearch.search_id == search_id
            )
        )
    if search_ids:
        compared = (LandscapeJobSearch.job_id == LandscapeJob.id) & LandscapeJobSearch.role.in_(
            COMPARED_ROLES
        )
        stmt = stmt.where(
            exists().where(compared, LandscapeJobSearch.search_id.in_(list(search_ids))),
            ~exists().where(compared, LandscapeJobSearch.search_id.not_in(list(search_ids))),
        )
    stmt = stmt.order_by(LandscapeJob.created_at.desc(), LandscapeJob.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def links_of(session: Session, job_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(search_id, role) pairs of each job."""
    out: dict[str, list[tuple[str, str]]] = {job_id: [] for job_id in job_ids}
    if job_ids:
        stmt = select(LandscapeJobSearch).where(LandscapeJobSearch.job_id.in_(list(job_ids)))
        for row in session.scalars(stmt):
            out[row.job_id].append((row.search_id, row.role))
    return out


def _update(session: Session, job_id: str, *where: Any, **values: Any) -> bool:
    return _lease.update_row(session, LandscapeJob, job_id, *where, **values)


def claim(session: Session, job_id: str, *, worker: str, stale_after_s: float) -> str:
    """Take the job for `worker` (see _lease.claim). Returns CLAIMED, or why not
    ("held by ...", "already succeeded", "unknown job")."""
    return _lease.claim(session, LandscapeJob, job_id, worker=worker, stale_after_s=stale_after_s, noun="job")


def renew(session: Session, job_id: str, *, worker: str) -> bool:
    """Heartbeat; False when `worker` no longer holds the job."""
    return _lease.renew(session, LandscapeJob, job_id, worker=worker)


def hand_back(session: Session, job_id: str, *, worker: str) -> bool:
    """`worker` is stopping: the job waits (retrying) for the next worker."""
    return _lease.hand_back(session, LandscapeJob, job_id, worker=worker)


def set_progress(session: Session, job_id: str, progress: dict[str, Any], *, worker: str) -> bool:
    return _update(
        session,
        job_id,
        LandscapeJob.status == "running",
        LandscapeJob.worker == worker,
        progress=progress,
        heartbeat_at=utcnow(),
    )


def mark_succeeded(session: Session, job_id: str, result: dict[str, Any], *, worker: str) -> bool:
    """running -> succeeded with its result, once: a second finisher (or a lost lease) gets False."""
    return _update(
        session,
        job_id,
        LandscapeJob.status == "running",
        LandscapeJob.worker == worker,
        status="succeeded",
        result=result,
        finished_at=utcnow(),
    )


def mark_failed(session: Session, job_id: str, error: str, *, worker: str | None = None) -> bool:
    guard = () if worker is None else (LandscapeJob.worker == worker,)
    return _update(
        session,
        job_id,
        LandscapeJob.status.in_(ACTIVE_STATUSES),
        *guard,
        status="failed",
        error=error,
        finished_at=utcnow(),
    )


def take_unclaimed(session: Session, *, unclaimed_after_s: float) -> list[str]:
    """Queued jobs unclaimed for `unclaimed_after_s` seconds (see _lease.take_unclaimed); returns
    their ids for enqueueing again after commit."""
    taken = _lease.take_unclaimed(session, LandscapeJob, LandscapeJob.id, unclaimed_after_s=unclaimed_after_s)
    return [row.id for row in taken]


def reap_stale(session: Session, *, stale_after_s: float) -> list[str]:
    """Running or retrying jobs silent for `stale_after_s` go to `retrying` (see _lease.reap_stale);
    returns their ids for enqueueing after commit."""
    return [
        row.id
        for row in _lease.reap_stale(session, LandscapeJob, LandscapeJob.id, stale_after_s=stale_after_s)
    ]
