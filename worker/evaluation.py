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
from sqlalchemy.orm import Session

from nas_core.evaluation.protocol import EvalSpec
from nas_core.evaluation.reporter import EvalEpochRecord, EvalInfo
from nas_core.evaluation.train import run_evaluation
from nas_core.genotype import genotype_from_json
from nas_core.reporter import Progress, json_ready
from store.repositories import evaluations as repo
from store.settings import settings
from worker import lease
from worker.app import EVALUATION_TASK_NAME, celery_app
from worker.enqueue import enqueue_evaluation
from worker.lease import Heartbeat, LeasedReporter, SessionFactory
from worker.shutdown import shutdown
from worker.throttle import Throttle

log = logging.getLogger(__name__)


EVALUATION = lease.LeasedKind(repo.lease, enqueue_evaluation)


def workdir_for(evaluation_id: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / "evaluations" / evaluation_id


class EvaluationReporter(LeasedReporter):
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
        super().__init__(
            session_factory,
            repo.lease,
            evaluation_id,
            worker,
            heartbeat=heartbeat,
            stopping=stopping,
            poll=Throttle(interval, clock),
        )
        self._id = evaluation_id
        self._progress = Throttle(interval, clock)

    def on_start(self, info: EvalInfo) -> None:
        how = f"resumed at epoch {info.start_epoch}" if info.start_epoch else "started"
        log.info("evaluation %s: %s of %d on %s", self._id, how, info.total_epochs, info.device)
        model = {"params_m": info.params_m, "flops_m": info.flops_m, "device": info.device}
        # What runs, resolved on this worker's device (the spec may say "auto").
        model.update(precision=info.precision, channels_last=info.channels_last)
        model.update(train_images=info.train_images, test_images=info.test_images)
        progress = {
            "epoch": info.start_epoch,
            "step": 0,
            "steps_per_epoch": info.steps_per_epoch,
            "total_epochs": info.total_epochs,
            "phase": "train",
        }
        self._write(lambda s: repo.set_model_info(s, self._id, model, worker=self._worker))
        self._set_progress(progress)
        self._progress.restart()

    def on_progress(self, progress: Progress) -> None:
        if not self._progress.ready():
            return
        self._set_progress(asdict(progress))

    def on_epoch(self, record: EvalEpochRecord) -> None:
        self._write(lambda s: repo.upsert_epoch(s, self._id, record.to_dict()))

    def on_checkpoint(self, epoch: int, path: str) -> None:
        pass  # found again by the workdir's `latest` pointer


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
    workdir = workdir_for(evaluation_id, data_dir)

    def load(session: Session) -> tuple[tuple[dict[str, Any], dict[str, Any]], int]:
        row = repo.get_evaluation(session, evaluation_id)
        assert row is not None
        return (dict(row.spec), dict(row.genotype)), row.priority

    def reporter(beat: Heartbeat) -> EvaluationReporter:
        return EvaluationReporter(
            session_factory, evaluation_id, worker, heartbeat=beat, stopping=shutdown.requested
        )

    def work(data: tuple[dict[str, Any], dict[str, Any]], reporter: EvaluationReporter) -> dict[str, Any]:
        spec_data, genotype_data = data
        return run_evaluation(
            EvalSpec.model_validate(spec_data),
            genotype_from_json(genotype_data),
            reporter,
            device=device or settings.DEVICE,
            workdir=workdir,
            resume=True,
            data_roots=lease.data_roots(),  # never a path from the request
        ).summary()

    return lease.run_leased(
        EVALUATION,
        evaluation_id,
        lease.LeasedRun(load, reporter, work, columns=lambda r: {"result": json_ready(r)}, roots=(data_dir,)),
        worker=worker,
        session_factory=session_factory,
        timeout_s=timeout_s,
    )


@celery_app.task(name=EVALUATION_TASK_NAME, **lease.LEASED_TASK_OPTIONS)
def run_evaluation_task(self: Task, evaluation_id: str) -> str:
    return execute_evaluation(evaluation_id, worker=lease.worker_name(self))
