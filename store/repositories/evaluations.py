"""Evaluations (from-scratch trainings of a genotype): creation, listing, per-epoch curves, and
every state transition. Transitions are conditional UPDATEs as for searches; the worker side is
guarded by the worker's name through the shared lease discipline (_lease.py), so a worker that
lost its claim cannot overwrite the outcome of the one holding it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nas_core.reporter import json_ready
from store.models import Evaluation, EvaluationEpoch, utcnow
from store.repositories import _lease
from store.repositories._upsert import upsert

CLAIMED = _lease.CLAIMED
ACTIVE_STATUSES = ("queued", "running", "retrying")
WAITING_STATUSES = _lease.WAITING_STATUSES
EPOCH_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")


@dataclass(frozen=True)
class EvaluationFilter:
    status: str | None = None
    protocol: str | None = None
    dataset: str | None = None
    search_id: str | None = None
    owner_key_id: str | None = None


def create_evaluation(
    session: Session,
    *,
    spec: dict[str, Any],
    genotype: dict[str, Any],
    origin: dict[str, Any],
    priority: int,
    owner_key_id: str | None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Evaluation:
    """Insert a queued evaluation of a validated spec (EvalSpec.model_dump(mode="json")); `origin`
    is {search_id, which, epoch} of a stored genotype, or {} for one given inline."""
    evaluation = Evaluation(
        name=spec["name"],
        spec=spec,
        protocol=spec["protocol"],
        dataset=spec["dataset"]["name"],
        space=genotype["space"],
        genotype=genotype,
        search_id=origin.get("search_id"),
        which=origin.get("which"),
        genotype_epoch=origin.get("epoch"),
        priority=priority,
        status="queued",
        owner_key_id=owner_key_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    session.add(evaluation)
    session.flush()
    return evaluation


def get_evaluation(session: Session, evaluation_id: str) -> Evaluation | None:
    stmt = select(Evaluation).where(Evaluation.id == evaluation_id).execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def get_by_idempotency_key(session: Session, owner_key_id: str, key: str) -> Evaluation | None:
    stmt = select(Evaluation).where(
        Evaluation.owner_key_id == owner_key_id, Evaluation.idempotency_key == key
    )
    return session.scalars(stmt).one_or_none()


def list_evaluations(session: Session, filters: EvaluationFilter, *, limit: int = 50) -> list[Evaluation]:
    """Newest first."""
    stmt = select(Evaluation)
    for column, value in (
        (Evaluation.status, filters.status),
        (Evaluation.protocol, filters.protocol),
        (Evaluation.dataset, filters.dataset),
        (Evaluation.search_id, filters.search_id),
        (Evaluation.owner_key_id, filters.owner_key_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = stmt.order_by(Evaluation.created_at.desc(), Evaluation.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def queue_depth(session: Session) -> int:
    stmt = select(func.count()).select_from(Evaluation).where(Evaluation.status.in_(WAITING_STATUSES))
    return int(session.scalar(stmt) or 0)


# --- curves ---------------------------------------------------------------------------------------


def upsert_epoch(session: Session, evaluation_id: str, record: dict[str, Any]) -> int:
    """One epoch's row; a resumed run rewrites it rather than adding a second one."""
    data = json_ready(record)
    values = {name: data.get(name) for name in EPOCH_FIELDS}
    extra = {k: v for k, v in data.items() if k not in (*EPOCH_FIELDS, "epoch")}
    values.update(evaluation_id=evaluation_id, epoch=int(data["epoch"]), extra=extra, created_at=utcnow())
    return upsert(
        session,
        EvaluationEpoch.__table__,  # type: ignore[arg-type]
        values,
        conflict=("evaluation_id", "epoch"),
        update=(*EPOCH_FIELDS, "extra", "created_at"),
    )


def list_epochs(session: Session, evaluation_id: str, *, after_epoch: int = -1) -> list[EvaluationEpoch]:
    stmt = (
        select(EvaluationEpoch)
        .where(EvaluationEpoch.evaluation_id == evaluation_id, EvaluationEpoch.epoch > after_epoch)
        .order_by(EvaluationEpoch.epoch)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


# --- API-side transitions -------------------------------------------------------------------------


def _update(session: Session, evaluation_id: str, *where: Any, **values: Any) -> bool:
    return _lease.update_row(session, Evaluation, evaluation_id, *where, **values)


def cancel(session: Session, evaluation_id: str) -> str | None:
    """ "cancelled" (was waiting), "cancel_requested" (running: stops within a step) or None (ended)."""
    if _update(
        session,
        evaluation_id,
        Evaluation.status.in_(WAITING_STATUSES),
        status="cancelled",
        finished_at=utcnow(),
    ):
        return "cancelled"
    if _update(session, evaluation_id, Evaluation.status == "running", cancel_requested=True):
        return "cancel_requested"
    return None


def request_retry(session: Session, evaluation_id: str) -> bool:
    """failed|cancelled -> retrying; the worker resumes from the last checkpoint."""
    return _update(
        session,
        evaluation_id,
        Evaluation.status.in_(("failed", "cancelled")),
        status="retrying",
        cancel_requested=False,
        error=None,
        finished_at=None,
        progress=None,
        heartbeat_at=utcnow(),
        worker=None,
    )


# --- worker-side: the lease and the outcome -------------------------------------------------------


def claim(session: Session, evaluation_id: str, *, worker: str, stale_after_s: float) -> str:
    return _lease.claim(
        session, Evaluation, evaluation_id, worker=worker, stale_after_s=stale_after_s, noun="evaluation"
    )


def renew(session: Session, evaluation_id: str, *, worker: str) -> bool:
    return _lease.renew(session, Evaluation, evaluation_id, worker=worker)


def _held(worker: str) -> tuple[Any, ...]:
    return (Evaluation.status == "running", Evaluation.worker == worker)


def set_progress(session: Session, evaluation_id: str, progress: dict[str, Any], *, worker: str) -> bool:
    return _update(
        session, evaluation_id, *_held(worker), progress=json_ready(progress), heartbeat_at=utcnow()
    )


def set_model_info(session: Session, evaluation_id: str, info: dict[str, Any], *, worker: str) -> bool:
    return _update(session, evaluation_id, *_held(worker), model_info=json_ready(info))


def is_cancel_requested(session: Session, evaluation_id: str) -> bool:
    row = session.execute(
        select(Evaluation.cancel_requested, Evaluation.status).where(Evaluation.id == evaluation_id)
    ).first()
    return row is None or bool(row.cancel_requested) or row.status == "cancelled"


def mark_succeeded(session: Session, evaluation_id: str, result: dict[str, Any], *, worker: str) -> bool:
    return _update(
        session,
        evaluation_id,
        *_held(worker),
        status="succeeded",
        result=json_ready(result),
        finished_at=utcnow(),
    )


def mark_cancelled(session: Session, evaluation_id: str, *, worker: str) -> bool:
    return _update(
        session,
        evaluation_id,
        Evaluation.status.in_(ACTIVE_STATUSES),
        Evaluation.worker == worker,
        status="cancelled",
        finished_at=utcnow(),
    )


def mark_failed(session: Session, evaluation_id: str, error: str, *, worker: str | None = None) -> bool:
    guard = () if worker is None else (Evaluation.worker == worker,)
    return _update(
        session,
        evaluation_id,
        Evaluation.status.in_(ACTIVE_STATUSES),
        *guard,
        status="failed",
        error=error,
        finished_at=utcnow(),
    )


def take_unclaimed(session: Session, *, unclaimed_after_s: float) -> list[tuple[str, int]]:
    """Queued evaluations unclaimed for `unclaimed_after_s` (see _lease.take_unclaimed); (id,
    priority) of each, to enqueue again after commit."""
    taken = _lease.take_unclaimed(
        session, Evaluation, Evaluation.id, Evaluation.priority, unclaimed_after_s=unclaimed_after_s
    )
    return [(row.id, row.priority) for row in taken]


def hand_back(session: Session, evaluation_id: str, *, worker: str) -> bool:
    """`worker` is stopping: the evaluation waits (retrying) for the next worker, which resumes it."""
    return _lease.hand_back(session, Evaluation, evaluation_id, worker=worker)


def reap_stale(session: Session, *, stale_after_s: float) -> list[tuple[str, int]]:
    """Silent running/retrying evaluations go to `retrying`; (id, priority) of each to enqueue."""
    reaped = _lease.reap_stale(
        session, Evaluation, Evaluation.id, Evaluation.priority, stale_after_s=stale_after_s
    )
    return [(row.id, row.priority) for row in reaped]
