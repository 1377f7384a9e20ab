"""The one task: run a stored search to its end, resuming from its last checkpoint when there is one.

The task receives only the search id and re-reads the row. It claims the search with a lease
(worker name + heartbeat); a duplicate delivery of a search another live worker holds, or of one
that already ended, does nothing. Resuming is always on, so a redelivered or re-queued search
continues from its newest checkpoint in DATA_DIR/searches/<id> rather than starting over.
A worker told to stop (SIGTERM) hands the search back at its next step (worker/shutdown.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Task
from sqlalchemy.orm import Session

from nas_core.benchmarks.ground_truth import GroundTruth
from nas_core.dataroots import DataRoots
from nas_core.search import run_search  # imported when the worker starts, not on its first search
from nas_core.spec import SearchSpec
from store.repositories import searches as repo
from store.settings import settings
from worker import lease
from worker.app import TASK_NAME, celery_app
from worker.enqueue import enqueue_search
from worker.lease import SessionFactory
from worker.reporter import DatabaseReporter
from worker.shutdown import shutdown
from worker.study_evaluations import evaluate_finished

log = logging.getLogger(__name__)


SEARCH = lease.LeasedKind(repo.lease, enqueue_search)


def workdir_for(search_id: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / "searches" / search_id


def execute_search(
    search_id: str,
    *,
    worker: str,
    session_factory: SessionFactory | None = None,
    data_dir: str | Path | None = None,
    device: str | None = None,
    heartbeat_timeout_s: float | None = None,
    benchmark_path: str | None = None,
    data_roots: DataRoots | None = None,
) -> str:
    """Claim, run and finish one search; returns the outcome (a status, or why nothing was done).
    Data sets are read only from `data_roots` (default: FLATNAS_DATA_ROOT)."""
    session_factory, timeout_s = lease.resolve(session_factory, heartbeat_timeout_s)
    data_dir = data_dir if data_dir is not None else settings.DATA_DIR
    workdir = workdir_for(search_id, data_dir)

    def load(session: Session) -> tuple[dict[str, Any], int]:
        search = repo.get_search(session, search_id)
        return (search.spec, search.priority) if search is not None else ({}, 5)

    def reporter(beat: lease.Heartbeat) -> DatabaseReporter:
        return DatabaseReporter(
            session_factory,
            search_id,
            worker,
            heartbeat=beat,
            stopping=shutdown.requested,
            ground_truth=GroundTruth(
                benchmark_path if benchmark_path is not None else settings.FLATNAS_NB201_BENCHMARK
            ),
        )

    def work(spec_data: dict[str, Any], reporter: DatabaseReporter) -> None:
        run_search(
            SearchSpec.model_validate(spec_data),
            reporter,
            device=device or settings.DEVICE,
            workdir=workdir,
            resume=True,
            search_id=search_id,  # stamped into the genotype JSON the engine reports
            data_roots=lease.data_roots(data_roots),
        )

    outcome = lease.run_leased(
        SEARCH,
        search_id,
        lease.LeasedRun(load, reporter, work, roots=(*lease.data_roots(data_roots).roots, data_dir)),
        worker=worker,
        session_factory=session_factory,
        timeout_s=timeout_s,
    )
    if outcome == "succeeded":
        _evaluate_if_studied(session_factory, search_id)
    return outcome


def _evaluate_if_studied(session_factory: SessionFactory, search_id: str) -> None:
    # The search itself succeeded whatever happens here: the reaper's sweep retries a miss.
    try:
        evaluate_finished(session_factory, search_id)
    except Exception:
        log.warning(
            "search %s: could not start its study evaluation; the reaper retries", search_id, exc_info=True
        )


@celery_app.task(name=TASK_NAME, **lease.LEASED_TASK_OPTIONS)
def run_search_task(self: Task, search_id: str) -> str:
    return execute_search(search_id, worker=lease.worker_name(self))
