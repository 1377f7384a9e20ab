"""The evaluation task: train one stored genotype from scratch (`flatnas.run_evaluation`).

The same discipline as searches (worker/lease.py): the task gets only the id, claims the row with a
lease, keeps it with a heartbeat thread, writes each epoch as a row the moment it ends, and ends the
row with a write guarded by its worker name. Resuming is always on: a redelivered, reaped or
retried evaluation continues from its newest checkpoint in DATA_DIR/evaluations/<id>.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from nas_core.evaluation.protocol import EvalSpec
from nas_core.evaluation.reporter import EvalEpochRecord, EvalInfo
from nas_core.evaluation.train import run_evaluation
from nas_core.genotype import genotype_from_json
from nas_core.reporter import Progress, SearchCancelled, SearchDiverged
from store.repositories import evaluations as repo
from store.settings import settings
from worker import lease
from worker.app import EVALUATION_TASK_NAME, celery_app
from worker.enqueue import enqueue_evaluation
from worker.lease import Heartbeat, SessionFactory, in_transaction
from worker.shutdown import Held, shutdown

log = logging.getLogger(__name__)


def workdir_for(evaluation_id: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / "evaluations" / evaluation_id


class EvaluationReporter:
    """nas_core.evaluation.EvalReporter writing rows: progress (throttled), each epoch, the model
    size; polls cancellation (throttled) and stops when the lease was lost."""

    def __init__(
        self,
        session_factory: SessionFactory,
        evaluation_id: str,
        worker: str,
        *,
        heartbeat: Heartbeat | None = None,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._session_factory, self._id, self._worker = session_factory, evaluation_id, worker
        self._heartbeat, self._interval, self._clock = heartbeat, interval, clock
        self._last_progress = self._last_poll = float("-inf")
        self._cancel = False
        self._stopping = stopping
        #: True when the run stopped because this worker is shutting down (worker/shutdown.py).
        self.stopped_for_shutdown = False

    def _write(self, work: Callable[[Session], Any]) -> Any:
        return in_transaction(self._session_factory, work)

    def on_start(self, info: EvalInfo) -> None:
        how = f"resumed at epoch {info.start_epoch}" if info.start_epoch else "started"
        log.info("evaluation %s: %s of %d on %s", self._id, how, info.total_epochs, info.device)
        model = {"params_m": info.params_m, "flops_m": info.flops_m, "device": info.device}
        model.update(train_images=info.train_images, test_images=info.test_images)
        progress = {
            "epoch": info.start_epoch,
            "step": 0,
            "steps_per_epoch": info.steps_per_epoch,
            "total_epochs": info.total_epochs,
            "phase": "train",
        }
        self._write(lambda s: repo.set_model_info(s, self._id, model, worker=self._worker))
        self._write(lambda s: repo.set_progress(s, self._id, progress, worker=self._worker))
        self._last_progress = self._clock()

    def on_progress(self, progress: Progress) -> None:
        now = self._clock()
        if now - self._last_progress < self._interval:
            return
        self._last_progress = now
        self._write(lambda s: repo.set_progress(s, self._id, asdict(progress), worker=self._worker))

    def on_epoch(self, record: EvalEpochRecord) -> None:
        self._write(lambda s: repo.upsert_epoch(s, self._id, record.to_dict()))

    def on_checkpoint(self, epoch: int, path: str) -> None:
        pass  # found again by the workdir's `latest` pointer

    def should_stop(self) -> bool:
        if (self._heartbeat is not None and self._heartbeat.lease_lost) or self._cancel:
            return True
        if self._stopping():
            self.stopped_for_shutdown = True
            return True
        now = self._clock()
        if now - self._last_poll >= self._interval:
            self._last_poll = now
            self._cancel = self._write(lambda s: repo.is_cancel_requested(s, self._id))
        return self._cancel


def execute_evaluation(
    evaluation_id: str,
    *,
    worker: str,
    session_factory: SessionFactory | None = None,
    data_dir: str | Path | None = None,
    device: str | None = None,
    heartbeat_timeout_s: float | None = None,
) -> str:
    """Claim, run and finish one evaluation; returns the outcome (a status, or why nothing was done)."""
    session_factory, timeout_s = lease.resolve(session_factory, heartbeat_timeout_s)
    data_dir = data_dir if data_dir is not None else settings.DATA_DIR
    skipped = lease.claim(
        session_factory,
        repo.claim,
        repo.CLAIMED,
        evaluation_id,
        worker=worker,
        timeout_s=timeout_s,
        what="evaluation",
    )
    if skipped is not None:
        return skipped
    row = in_transaction(session_factory, lambda s: repo.get_evaluation(s, evaluation_id))
    assert row is not None
    spec_data, genotype_data = dict(row.spec), dict(row.genotype)
    priority = row.priority

    def hand_back() -> bool:
        """Give the evaluation back to the queue (this worker is stopping); True when it was ours."""
        if not in_transaction(session_factory, lambda s: repo.hand_back(s, evaluation_id, worker=worker)):
            return False
        enqueue_evaluation(evaluation_id, priority)
        log.warning(
            "evaluation %s handed back by %s; it resumes from its last checkpoint", evaluation_id, worker
        )
        return True

    result: dict[str, Any] | None = None
    interval = lease.heartbeat_interval(timeout_s)
    shutdown.hold(Held("evaluation", evaluation_id, hand_back))
    with lease.Heartbeat(
        session_factory, evaluation_id, worker, interval, renew=repo.renew, what="evaluation"
    ) as beat:
        reporter = EvaluationReporter(
            session_factory, evaluation_id, worker, heartbeat=beat, stopping=shutdown.requested
        )
        try:
            spec = EvalSpec.model_validate(spec_data)
            outcome_ = run_evaluation(
                spec,
                genotype_from_json(genotype_data),
                reporter,
                device=device or settings.DEVICE,
                workdir=workdir_for(evaluation_id, data_dir),
                resume=True,
                data_roots=lease.data_roots(),  # never a path from the request
            )
            result = outcome_.summary()
            outcome, error = "succeeded", None
        except SearchCancelled:
            outcome, error = ("handed back" if reporter.stopped_for_shutdown else "cancelled"), None
        except SearchDiverged as err:
            outcome, error = "failed", str(err)
        except OperationalError:
            raise  # the database went away: Celery retries, the same worker re-claims and resumes
        except Exception as err:
            log.exception("evaluation %s failed on %s", evaluation_id, worker)
            outcome, error = "failed", f"{type(err).__name__}: {err}"
        finally:
            shutdown.hold(None)
    if beat.lease_lost:
        return lease.lease_lost("evaluation", evaluation_id, worker)
    if outcome == "handed back":
        return outcome if hand_back() else lease.LEASE_LOST

    def finish(session: Session) -> bool:
        if outcome == "succeeded":
            assert result is not None
            return repo.mark_succeeded(session, evaluation_id, result, worker=worker)
        if outcome == "cancelled":
            return repo.mark_cancelled(session, evaluation_id, worker=worker)
        return repo.mark_failed(session, evaluation_id, error or "unknown error", worker=worker)

    return outcome if in_transaction(session_factory, finish) else lease.LEASE_LOST


@celery_app.task(name=EVALUATION_TASK_NAME, **lease.LEASED_TASK_OPTIONS)
def run_evaluation_task(self: Task, evaluation_id: str) -> str:
    return execute_evaluation(evaluation_id, worker=lease.worker_name(self))
