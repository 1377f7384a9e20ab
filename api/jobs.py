"""The edge between the API's transaction and the queue, one helper for every job kind.

A job row is committed before its id is enqueued, so a worker never looks for a row that is not
there yet. If the broker refuses the message, the row is marked failed with the reason (and that
committed) and the client gets 503 problem details naming the job, instead of a row left queued
forever. Searches, landscape jobs and any later kind (evaluations, studies) describe themselves
with one `JobKind` and call `commit_and_enqueue` (or `enqueue_after_commit` where the caller had
to commit on its own, e.g. to catch an idempotency race; `enqueue_after_autocommit` on the plain
connection of the autocommit submit).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.deps import ensure_may_change
from api.errors import Conflict, NotFound, ServiceUnavailable, problem_responses
from api.schemas import CancelOut
from store.repositories import evaluations, landscape, searches
from store.repositories._lease import LeasedRepository
from store.repositories.keys import Caller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    """What the edge helper needs to know about one kind of job."""

    id_field: str  # the problem-details extension carrying the id: "search_id", "job_id"
    # Name of the function in worker.enqueue that queues it. Resolved at call time: importing the
    # worker package sets up Celery, which the API does only once it first enqueues.
    enqueuer: str
    # Its lease repository: a job the broker refused is marked failed through it.
    repo: LeasedRepository[Any]
    # What the client can do once the broker is back; `{id}` is replaced by the job's id.
    recovery: str

    @property
    def noun(self) -> str:
        """How messages name it: "search", "landscape job", "evaluation" (the repository's noun)."""
        return self.repo.noun


SEARCH = JobKind(
    id_field="search_id",
    enqueuer="enqueue_search",
    repo=searches.lease,
    recovery="retry it with POST /searches/{id}/retry once the broker is back",
)
LANDSCAPE_JOB = JobKind(
    id_field="job_id",
    enqueuer="enqueue_landscape_job",
    repo=landscape.lease,
    recovery="retry it with POST /landscape-jobs/{id}/retry once the broker is back",
)
EVALUATION = JobKind(
    id_field="evaluation_id",
    enqueuer="enqueue_evaluation",
    repo=evaluations.lease,
    recovery="retry it with POST /evaluations/{id}/retry once the broker is back",
)


# What a cancel and a retry route may answer, for every job kind.
CANCEL_RESPONSES = problem_responses(
    401,
    403,
    404,
    409,
    extra={202: {"model": CancelOut, "description": "Running: the worker has been asked to stop"}},
)
RETRY_RESPONSES = problem_responses(401, 403, 404, 409, 503)


def load(session: Session, kind: JobKind, job_id: str) -> Any:
    """The job's row as the database holds it now, or 404."""
    row = session.get(kind.repo.model, job_id, populate_existing=True)
    if row is None:
        raise NotFound(f"no {kind.noun} with id {job_id!r}")
    return row


def cancel(session: Session, key: Caller, kind: JobKind, job_id: str) -> str:
    """Cancel a job for its owner or an admin (403 for anyone else), committed: "cancelled" (it
    was waiting) or "cancel_requested" (its worker stops within a step); 409 when it has ended."""
    ensure_may_change(key, load(session, kind, job_id))
    outcome = kind.repo.cancel(session, job_id)
    if outcome is None:
        raise Conflict(
            f"{kind.noun} {job_id} is already {load(session, kind, job_id).status}; only queued, "
            f"retrying or running {kind.noun}s cancel"
        )
    session.commit()
    return outcome


def retry(session: Session, key: Caller, kind: JobKind, job_id: str) -> Any:
    """Send a failed or cancelled job back to the queue for its owner or an admin (a search or an
    evaluation resumes from its last checkpoint, a landscape job is computed again), committed and
    enqueued at the job's own priority; 409 for any other state. Returns the row as it is now."""
    row = load(session, kind, job_id)
    ensure_may_change(key, row)
    priority = row.priority  # the job keeps its own priority when it is queued again
    if not kind.repo.request_retry(session, job_id):
        raise Conflict(
            f"{kind.noun} {job_id} is {load(session, kind, job_id).status}; only failed or cancelled "
            f"{kind.noun}s can be retried"
        )
    session.commit()
    enqueue_after_commit(session, kind, job_id, priority=priority, when="retry")
    return load(session, kind, job_id)


def commit_and_enqueue(session: Session, kind: JobKind, job_id: str, *, priority: int = 5, when: str) -> None:
    """Commit the session, then queue the job; a broker refusal marks it failed and raises 503."""
    session.commit()
    enqueue_after_commit(session, kind, job_id, priority=priority, when=when)


def enqueue_after_commit(
    session: Session, kind: JobKind, job_id: str, *, priority: int = 5, when: str
) -> None:
    """Queue a job whose row is already committed; `when` ("submit", "retry") goes into the reason."""
    try:
        _send(kind, job_id, priority)
    except Exception as err:
        _refused(session, kind, job_id, when, err)


def enqueue_after_autocommit(
    connection: Connection, kind: JobKind, job_id: str, *, priority: int = 5, when: str
) -> None:
    """`enqueue_after_commit` for a caller on a plain connection (the autocommit submit): only a
    refusal, which is rare, pays for a session, which marks the job failed on that connection."""
    try:
        _send(kind, job_id, priority)
    except Exception as err:
        with Session(bind=connection) as session:
            _refused(session, kind, job_id, when, err)


def _send(kind: JobKind, job_id: str, priority: int) -> None:
    import worker.enqueue

    getattr(worker.enqueue, kind.enqueuer)(job_id, priority)


def _refused(session: Session, kind: JobKind, job_id: str, when: str, err: Exception) -> NoReturn:
    """Mark the job the broker refused failed (committed), and answer 503 naming it."""
    log.exception("could not enqueue %s %s", kind.noun, job_id)
    reason = f"could not be queued ({when}): the broker refused it: {type(err).__name__}: {err}"
    kind.repo.mark_failed(session, job_id, reason, worker=None)
    session.commit()
    raise ServiceUnavailable(
        f"{kind.noun} {job_id} was stored but could not be queued, so it is marked failed; "
        f"{kind.recovery.format(id=job_id)} ({type(err).__name__})",
        extensions={kind.id_field: job_id},
    ) from err
