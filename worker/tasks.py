"""The one task: run a stored search to its end, resuming from its last checkpoint when there is one.

The task receives only the search id and re-reads the row. It claims the search with a lease
(worker name + heartbeat); a duplicate delivery of a search another live worker holds, or of one
that already ended, does nothing. Resuming is always on, so a redelivered or re-queued search
continues from its newest checkpoint in DATA_DIR/searches/<id> rather than starting over.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from nas_core.reporter import SearchCancelled, SearchDiverged
from nas_core.search import run_search  # imported when the worker starts, not on its first search
from nas_core.spec import SearchSpec
from store.db import default_database
from store.repositories import leases
from store.repositories import searches as repo
from store.settings import settings
from worker.app import TASK_NAME, celery_app
from worker.reporter import DatabaseReporter, Heartbeat, SessionFactory, in_transaction

log = logging.getLogger(__name__)


def workdir_for(search_id: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / "searches" / search_id


def heartbeat_interval(timeout_s: float) -> float:
    # A few beats per timeout, so one slow write never makes a live search look dead.
    return max(0.2, min(5.0, timeout_s / 4))


def execute_search(
    search_id: str,
    *,
    worker: str,
    session_factory: SessionFactory | None = None,
    data_dir: str | Path | None = None,
    device: str | None = None,
    heartbeat_timeout_s: float | None = None,
) -> str:
    """Claim, run and finish one search; returns the outcome (a status, or why nothing was done)."""
    session_factory = session_factory or default_database().sessionmaker
    data_dir = data_dir if data_dir is not None else settings.DATA_DIR
    timeout_s = heartbeat_timeout_s if heartbeat_timeout_s is not None else settings.HEARTBEAT_TIMEOUT_S

    claimed = in_transaction(
        session_factory, lambda s: leases.claim(s, search_id, worker=worker, stale_after_s=timeout_s)
    )
    if claimed != leases.CLAIMED:
        log.info("search %s not run by %s: %s", search_id, worker, claimed)
        return f"skipped: {claimed}"

    search = in_transaction(session_factory, lambda s: repo.get_search(s, search_id))
    spec_data: dict[str, Any] = search.spec if search is not None else {}
    with Heartbeat(session_factory, search_id, worker, heartbeat_interval(timeout_s)) as beat:
        reporter = DatabaseReporter(session_factory, search_id, heartbeat=beat)
        try:
            spec = SearchSpec.model_validate(spec_data)
            # The engine stamps genotype JSON with this id (one search per worker process).
            os.environ["FLATNAS_SEARCH_ID"] = search_id
            run_search(
                spec,
                reporter,
                device=device or settings.DEVICE,
                workdir=workdir_for(search_id, data_dir),
                resume=True,
            )
            outcome, error = "succeeded", None
        except SearchCancelled:
            outcome, error = "cancelled", None
        except SearchDiverged as err:
            outcome, error = "failed", str(err)
        except OperationalError:
            # The database went away: not the search's fault. Celery retries the task, which
            # re-claims the search (same worker name) and resumes from the last checkpoint.
            raise
        except Exception as err:
            log.exception("search %s failed on %s", search_id, worker)
            outcome, error = "failed", f"{type(err).__name__}: {err}"
        finally:
            os.environ.pop("FLATNAS_SEARCH_ID", None)
    if beat.lease_lost:
        # The reaper gave the search to another worker, which now owns its outcome.
        log.warning("search %s: %s lost its lease; leaving the outcome to the new holder", search_id, worker)
        return "lease lost"
    released = in_transaction(session_factory, lambda s: _release(s, search_id, worker, outcome, error))
    return outcome if released else "lease lost"


def _release(session: Session, search_id: str, worker: str, outcome: str, error: str | None) -> bool:
    if outcome == "succeeded":
        return leases.release_succeeded(session, search_id, worker=worker)
    if outcome == "cancelled":
        return leases.release_cancelled(session, search_id, worker=worker)
    return leases.release_failed(session, search_id, worker=worker, error=error or "unknown error")


@celery_app.task(
    name=TASK_NAME,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=30,
)
def run_search_task(self: Task, search_id: str) -> str:
    worker = self.request.hostname or socket.gethostname()
    return execute_search(search_id, worker=worker)
