"""Landscape job leases on both back ends: one claimant wins, a stale job is taken over or reaped,
the result is stored once and only by the holder."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from store.models import LandscapeJob, utcnow
from store.repositories import landscape
from tests.fixtures.database import make_search


def _job(session: Session) -> str:
    search_id = make_search(session).id
    return landscape.create_job(
        session,
        kind="barrier",
        supernet_search_id=search_id,
        params={"paths": 1},
        links=[(search_id, "supernet"), (search_id, "a"), (search_id, "a")],  # duplicate ignored
        owner_key_id=None,
    ).id


def _age(session: Session, job_id: str, seconds: float) -> None:
    old = utcnow() - timedelta(seconds=seconds)
    session.execute(update(LandscapeJob).where(LandscapeJob.id == job_id).values(heartbeat_at=old))


def test_claim_heartbeat_result_once(any_session: Session) -> None:
    job_id = _job(any_session)
    assert (
        landscape.lease.claim(any_session, job_id, worker="w1", stale_after_s=60) == landscape.lease.CLAIMED
    )
    assert landscape.lease.claim(any_session, job_id, worker="w2", stale_after_s=60) == "held by w1"
    assert landscape.lease.renew(any_session, job_id, worker="w1") and not landscape.lease.renew(
        any_session, job_id, worker="w2"
    )
    assert not landscape.lease.mark_succeeded(any_session, job_id, result={"x": 2}, worker="w2")
    assert landscape.lease.mark_succeeded(any_session, job_id, result={"x": 1}, worker="w1")
    assert not landscape.lease.mark_succeeded(
        any_session, job_id, result={"x": 3}, worker="w1"
    )  # stored once
    job = landscape.get_job(any_session, job_id)
    assert job is not None and (job.status, job.result, job.attempts) == ("succeeded", {"x": 1}, 1)
    assert landscape.lease.claim(any_session, job_id, worker="w1", stale_after_s=60) == "already succeeded"
    assert not landscape.lease.mark_failed(any_session, job_id, "late", worker="w1")
    assert sorted(landscape.links_of(any_session, [job_id])[job_id], key=lambda x: x[1]) == [
        (job.supernet_search_id, "a"),
        (job.supernet_search_id, "supernet"),
    ]


def test_stale_jobs_are_taken_over_or_reaped(any_session: Session) -> None:
    taken, reaped, fresh = _job(any_session), _job(any_session), _job(any_session)
    for job_id in (taken, reaped, fresh):
        assert (
            landscape.lease.claim(any_session, job_id, worker="w1", stale_after_s=60)
            == landscape.lease.CLAIMED
        )
    _age(any_session, taken, 120)
    _age(any_session, reaped, 120)
    assert landscape.lease.claim(any_session, taken, worker="w2", stale_after_s=60) == landscape.lease.CLAIMED
    assert not landscape.lease.renew(any_session, taken, worker="w1")  # w1 lost it
    assert landscape.lease.reap_stale(any_session, stale_after_s=60) == [(reaped, 5)]
    assert landscape.lease.reap_stale(any_session, stale_after_s=60) == []  # once per timeout
    job = landscape.get_job(any_session, reaped)
    assert job is not None and (job.status, job.worker) == ("retrying", None)
    assert (
        landscape.lease.claim(any_session, reaped, worker="w3", stale_after_s=60) == landscape.lease.CLAIMED
    )
    assert landscape.get_job(any_session, reaped).attempts == 2  # type: ignore[union-attr]
