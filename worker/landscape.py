"""The landscape task: run one landscape job, of kind barrier, barrier_matrix or neighbourhood
(`flatnas.run_landscape_job`).

Run by `run_leased` like searches and evaluations (worker/lease.py): the task gets only the job id,
claims the job (a duplicate delivery of a job that is held or finished does nothing), keeps the
lease with a heartbeat thread while it computes, and stores the result with a write guarded by its
worker name, so the result is stored once. A cancel is honoured as a search's is: the computation
asks the reporter's `should_stop` (which polls `cancel_requested`) before every architecture it
evaluates and stops there (the job ends cancelled, nothing stored). Bad input (a missing
checkpoint, an unreadable genotype) fails the job with the reason; a database outage is retried
by Celery.

The shared weights and the fixed validation batches come from the supernet search's checkpoint
(nas_core.flatness.jobs.context_from_checkpoint). The α-line barrier's α's are the raw α of the
checkpoints at the two genotypes' epochs; without such a checkpoint, log of the mixing weights
stored per epoch stands in (exact for softmax mixing: log p differs from α by a per-edge constant,
which interpolation and softmax both ignore); `alpha_source` in the result says which was used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import torch
from celery import Task
from sqlalchemy.orm import Session

from nas_core.dataroots import DataRoots
from nas_core.flatness import jobs
from nas_core.genotype import genotype_from_json
from nas_core.reporter import FlatnessRecord
from nas_core.search import resolve_device
from store.repositories import landscape, results
from store.settings import settings
from worker import lease
from worker.app import LANDSCAPE_TASK_NAME, LEGACY_LANDSCAPE_TASK_NAME, celery_app
from worker.enqueue import enqueue_landscape_job
from worker.lease import Heartbeat, LeasedReporter, SessionFactory, in_transaction
from worker.throttle import Throttle

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """The job cannot be computed as asked; the message is stored as its error."""


LANDSCAPE_JOB = lease.LeasedKind(landscape.lease, enqueue_landscape_job)

#: What a landscape job reads from its row: kind, params, the supernet search's id.
JobData = tuple[str, dict[str, Any], str]


class Computed(NamedTuple):
    """What a job computed: its result, and the flatness rows (a neighbourhood's) to store with it
    as rows of the supernet search."""

    result: dict[str, Any]
    records: list[FlatnessRecord]
    search_id: str


class LandscapeReporter(LeasedReporter):
    """A landscape job's progress ({"phase": ...}), written under the worker's name; `should_stop`
    is asked before each architecture evaluation and stops on a cancel or a lost lease. It does not
    stop for this worker's shutdown (a job has no checkpoint to resume from): the shutdown watchdog
    hands it back when the grace period ends."""

    def phase(self, phase: str) -> None:
        self._set_progress({"phase": phase})


def execute_landscape_job(
    job_id: str,
    *,
    worker: str,
    session_factory: SessionFactory | None = None,
    device: str | None = None,
    heartbeat_timeout_s: float | None = None,
    data_roots: DataRoots | None = None,
) -> str:
    """Claim, compute and finish one landscape job; returns the outcome or why nothing was done."""
    session_factory, timeout_s = lease.resolve(session_factory, heartbeat_timeout_s)
    roots = lease.data_roots(data_roots)

    def load(session: Session) -> tuple[JobData, int]:
        job = landscape.get_job(session, job_id)
        assert job is not None  # claimed: the row exists
        log.info("landscape job %s (%s) started on %s", job_id, job.kind, worker)
        return (job.kind, dict(job.params), job.supernet_search_id), job.priority

    def reporter(beat: Heartbeat) -> LandscapeReporter:
        return LandscapeReporter(
            session_factory,
            landscape.lease,
            job_id,
            worker,
            heartbeat=beat,
            stopping=lambda: False,
            poll=Throttle(0.5),
        )

    def work(data: JobData, reporter: LandscapeReporter) -> Computed:
        kind, params, search_id = data
        reporter.phase("loading")
        uri = in_transaction(
            session_factory, lambda s: _checkpoint_uri(s, search_id, params["supernet"]["checkpoint_epoch"])
        )
        dev = resolve_device(device or settings.DEVICE)
        ctx = jobs.context_from_checkpoint(uri, device=dev, data_roots=roots)
        reporter.phase("evaluating")
        stop = reporter.should_stop
        if kind == "barrier":
            return Computed(_barrier(session_factory, ctx, params, search_id, dev, stop), [], search_id)
        if kind == "barrier_matrix":
            return Computed(_matrix(ctx, params, stop), [], search_id)
        return Computed(*_neighbourhood(ctx, params, stop), search_id)

    def store_flatness(session: Session, computed: Computed) -> None:
        # In the result's transaction: the flatness rows and the result are written, or neither.
        for record in computed.records:
            results.add_flatness(session, computed.search_id, record)

    return lease.run_leased(
        LANDSCAPE_JOB,
        job_id,
        lease.LeasedRun(
            load,
            reporter,
            work,
            columns=lambda c: {"result": c.result},
            also=store_flatness,
            roots=tuple(roots.roots),
        ),
        worker=worker,
        session_factory=session_factory,
        timeout_s=timeout_s,
    )


def _checkpoint_uri(session: Session, search_id: str, epoch: int) -> str:
    row = results.get_checkpoint(session, search_id, epoch)
    if row is None or not Path(row.uri).is_file():
        where = "no checkpoint row" if row is None else f"its file {row.uri} is missing on this worker"
        raise JobFailed(f"supernet search {search_id}: checkpoint of epoch {epoch}: {where}")
    return row.uri


def _alphas(
    session_factory: SessionFactory, search_id: str, epoch: int, groups: tuple[str, ...], dev: torch.device
) -> tuple[list[torch.Tensor], str]:
    def read(session: Session) -> tuple[str | None, dict[str, Any] | None]:
        ckpt = results.get_checkpoint(session, search_id, epoch)
        row = results.get_epoch(session, search_id, epoch)
        return (ckpt.uri if ckpt else None), (row.alphas if row else None)

    uri, table = in_transaction(session_factory, read)
    if uri is not None and Path(uri).is_file():
        return jobs.checkpoint_alphas(uri, device=dev), "checkpoint"
    if table and all(g in table for g in groups):
        weights = [torch.tensor(table[g], dtype=torch.float32, device=dev) for g in groups]
        return [w.clamp_min(1e-12).log() for w in weights], "epoch_metric"
    raise JobFailed(f"search {search_id}: no α stored for epoch {epoch} (no checkpoint, no epoch row)")


def _barrier(
    session_factory: SessionFactory,
    ctx: Any,
    params: dict[str, Any],
    search_id: str,
    dev: torch.device,
    should_stop: jobs.StopCheck,
) -> dict[str, Any]:
    a = genotype_from_json(params["a"]["genotype"])
    b = genotype_from_json(params["b"]["genotype"])
    line: dict[str, Any] | None = params.get("alpha_line")
    alphas: dict[str, Any] = {}
    source = None
    if line:
        groups = tuple(ctx.space.groups)
        alphas["alphas_a"], src_a = _alphas(session_factory, search_id, line["epoch_a"], groups, dev)
        alphas["alphas_b"], src_b = _alphas(session_factory, search_id, line["epoch_b"], groups, dev)
        source = src_a if src_a == src_b else f"{src_a}/{src_b}"
    computed = jobs.barrier_records(ctx, a, b, max_paths=params["paths"], should_stop=should_stop, **alphas)
    records = {r.kind: r for r in computed}
    path = records["barrier"]
    out: dict[str, Any] = {
        "barrier": path.value,
        "params": path.params,
        "seconds": path.seconds,
        "alpha_line_barrier": None,
        "supernet": params["supernet"],
    }
    if line and "alpha_line_barrier" in records:
        rec = records["alpha_line_barrier"]
        out["alpha_line_barrier"] = {
            **rec.value,
            "params": rec.params,
            "seconds": rec.seconds,
            "alpha_source": source,
            **line,
        }
    return out


def _matrix(ctx: Any, params: dict[str, Any], should_stop: jobs.StopCheck) -> dict[str, Any]:
    genotypes = [genotype_from_json(m["genotype"]) for m in params["members"]]
    record = jobs.barrier_matrix_record(ctx, genotypes, max_paths=params["paths"], should_stop=should_stop)
    return {
        "search_ids": params["search_ids"],
        "matrix": record.value,
        "params": record.params,
        "seconds": record.seconds,
        "supernet": params["supernet"],
    }


def _neighbourhood(
    ctx: Any, params: dict[str, Any], should_stop: jobs.StopCheck
) -> tuple[dict[str, Any], list[FlatnessRecord]]:
    genotype = genotype_from_json(params["genotype"])
    computed = jobs.neighbourhood_records(
        ctx, genotype, radii=params["radius"], max_samples=params["samples"], should_stop=should_stop
    )
    # Stored as the search's flatness rows at the genotype's epoch, marked on-demand, so they
    # never replace the end-of-search rows (epoch null) and a repeat of the job replaces its own.
    origin = {"which": params["which"], "genotype_epoch": params["epoch"], "source": "on_demand"}
    records = [
        FlatnessRecord(r.kind, params["epoch"], {**r.params, **origin}, r.value, r.seconds) for r in computed
    ]
    result = {
        "records": [
            {"kind": r.kind, "epoch": r.epoch, "params": r.params, "value": r.value, "seconds": r.seconds}
            for r in records
        ],
        "supernet": params["supernet"],
    }
    return result, records


@celery_app.task(name=LANDSCAPE_TASK_NAME, **lease.LEASED_TASK_OPTIONS)
def run_landscape_job_task(self: Task, job_id: str) -> str:
    return execute_landscape_job(job_id, worker=lease.worker_name(self))


@celery_app.task(name=LEGACY_LANDSCAPE_TASK_NAME, **lease.LEASED_TASK_OPTIONS)
def run_barrier_task(self: Task, job_id: str) -> str:
    """The same task under its old name, for messages queued before the rename."""
    return execute_landscape_job(job_id, worker=lease.worker_name(self))
