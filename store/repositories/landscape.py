"""Landscape jobs (barrier, barrier matrix, neighbourhood): creation and listing here; every
state transition after creation is `lease`, the lifecycle searches and evaluations share
(store/repositories/_lease.py), so a job's result is stored once, by the worker holding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from store.models import LandscapeJob, LandscapeJobSearch
from store.repositories import _lease

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
    priority: int = 5,
) -> LandscapeJob:
    """Insert a queued job; `links` are (search_id, role) pairs (duplicates are ignored)."""
    job = LandscapeJob(
        kind=kind,
        supernet_search_id=supernet_search_id,
        params=params,
        status="queued",
        owner_key_id=owner_key_id,
        priority=priority,
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


#: Every state transition after creation: the worker's claim, heartbeat, progress and outcome,
#: the reaper's re-queueing (the lifecycle of store/repositories/_lease.py).
lease = _lease.LeasedRepository(LandscapeJob, "landscape job")
