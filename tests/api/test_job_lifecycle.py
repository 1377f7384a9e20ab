"""The one lease lifecycle (store/repositories/_lease.py LeasedRepository) for every job kind, on
real PostgreSQL: a search, an evaluation and a landscape job go through the same claim, guarded
writes, hand-back, reaping (at the row's own priority), cancel, retry and finish."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from store.models import utcnow
from store.repositories import evaluations, landscape, searches
from store.repositories._lease import LeasedRepository
from tests.fixtures.database import make_evaluation, make_search

PRIORITY = 7


def _search(session: Session) -> str:
    return str(make_search(session, priority=PRIORITY).id)


def _evaluation(session: Session) -> str:
    evaluation_id = make_evaluation(session)
    evaluations.lease.update(session, evaluation_id, priority=PRIORITY)
    return evaluation_id


def _landscape_job(session: Session) -> str:
    search_id = make_search(session).id
    job = landscape.create_job(
        session,
        kind="barrier",
        supernet_search_id=search_id,
        params={"paths": 1},
        links=[(search_id, "supernet")],
        owner_key_id=None,
        priority=PRIORITY,
    )
    return job.id


KINDS: dict[str, tuple[LeasedRepository[Any], Callable[[Session], str]]] = {
    "search": (searches.lease, _search),
    "evaluation": (evaluations.lease, _evaluation),
    "landscape job": (landscape.lease, _landscape_job),
}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest, db_session: Session) -> tuple[LeasedRepository[Any], str]:
    repo, make = KINDS[request.param]
    return repo, make(db_session)


def _status(session: Session, repo: LeasedRepository[Any], row_id: str) -> Any:
    row = session.get(repo.model, row_id, populate_existing=True)
    assert row is not None
    return row


def _silence(session: Session, repo: LeasedRepository[Any], row_id: str) -> None:
    old = utcnow() - timedelta(minutes=10)
    session.execute(update(repo.model).where(repo.model.id == row_id).values(heartbeat_at=old))


def test_only_the_holder_writes_and_a_requeue_keeps_the_priority(
    kind: tuple[LeasedRepository[Any], str], db_session: Session
) -> None:
    repo, row_id = kind
    s = db_session
    assert repo.claim(s, row_id, worker="A", stale_after_s=60) == repo.CLAIMED
    assert repo.claim(s, row_id, worker="B", stale_after_s=60) == "held by A"

    # Every write of a worker that does not hold the row is refused and changes nothing.
    assert not repo.renew(s, row_id, worker="B")
    assert not repo.set_progress(s, row_id, {"phase": "B"}, worker="B")
    assert not repo.hand_back(s, row_id, worker="B")
    assert not repo.mark_succeeded(s, row_id, worker="B")
    assert not repo.mark_cancelled(s, row_id, worker="B")
    assert not repo.mark_failed(s, row_id, "B failed", worker="B")
    assert not repo.mark_failed(s, row_id, "the API", worker=None)  # a held row is the worker's
    row = _status(s, repo, row_id)
    assert (row.status, row.worker, row.progress, row.error) == ("running", "A", None, None)

    assert repo.renew(s, row_id, worker="A")
    assert repo.set_progress(s, row_id, {"phase": "A", "loss": float("nan")}, worker="A")
    assert _status(s, repo, row_id).progress == {"phase": "A", "loss": None}  # strict JSON

    # A falls silent: the reaper hands the row on at its own priority, once per timeout.
    _silence(s, repo, row_id)
    assert repo.reap_stale(s, stale_after_s=60) == [(row_id, PRIORITY)]
    assert repo.reap_stale(s, stale_after_s=60) == []
    assert not repo.renew(s, row_id, worker="A")  # A learns it lost the row

    # B resumes it (attempt 2); A's late outcome is refused, B's is stored once.
    assert repo.claim(s, row_id, worker="B", stale_after_s=60) == repo.CLAIMED
    assert _status(s, repo, row_id).attempts == 2
    assert not repo.mark_succeeded(s, row_id, worker="A")
    assert repo.mark_succeeded(s, row_id, worker="B")
    assert not repo.mark_succeeded(s, row_id, worker="B")
    assert not repo.mark_failed(s, row_id, "late", worker="B")
    row = _status(s, repo, row_id)
    assert row.status == "succeeded" and row.finished_at is not None and row.error is None
    assert repo.claim(s, row_id, worker="C", stale_after_s=60) == "already succeeded"


def test_hand_back_cancel_and_retry(kind: tuple[LeasedRepository[Any], str], db_session: Session) -> None:
    repo, row_id = kind
    s = db_session
    assert repo.claim(s, row_id, worker="A", stale_after_s=60) == repo.CLAIMED
    assert repo.hand_back(s, row_id, worker="A")  # A is stopping: the row waits for the next worker
    row = _status(s, repo, row_id)
    assert (row.status, row.worker, row.priority) == ("retrying", None, PRIORITY)
    assert repo.reap_stale(s, stale_after_s=60) == []  # fresh heartbeat: left to the enqueued message

    assert repo.claim(s, row_id, worker="B", stale_after_s=60) == repo.CLAIMED
    assert not repo.is_cancel_requested(s, row_id)
    assert repo.cancel(s, row_id) == "cancel_requested"
    assert repo.is_cancel_requested(s, row_id)
    assert not repo.mark_cancelled(s, row_id, worker="A")
    assert repo.mark_cancelled(s, row_id, worker="B")
    assert repo.cancel(s, row_id) is None  # already ended

    assert repo.request_retry(s, row_id)
    row = _status(s, repo, row_id)
    assert (row.status, row.cancel_requested, row.worker, row.priority) == ("retrying", False, None, PRIORITY)
    assert repo.cancel(s, row_id) == "cancelled"  # waiting: stops at once
    assert repo.claim(s, row_id, worker="C", stale_after_s=60) == "already cancelled"


def test_unclaimed_rows_come_back_with_their_priority(
    kind: tuple[LeasedRepository[Any], str], db_session: Session
) -> None:
    repo, row_id = kind
    s = db_session
    old = utcnow() - timedelta(minutes=10)
    s.execute(update(repo.model).where(repo.model.id == row_id).values(created_at=old, heartbeat_at=None))
    taken = repo.take_unclaimed(s, unclaimed_after_s=60)
    assert (row_id, PRIORITY) in taken
    assert row_id not in [
        i for i, _ in repo.take_unclaimed(s, unclaimed_after_s=60)
    ]  # stamped: once per period
    assert repo.mark_failed(s, row_id, "could not be queued", worker=None)  # the API's, never held
    assert _status(s, repo, row_id).status == "failed"
