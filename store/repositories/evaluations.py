"""Evaluations (from-scratch trainings of a genotype): creation, listing and per-epoch curves
here; every state transition after creation is `lease`, the lifecycle searches and landscape jobs
share (store/repositories/_lease.py), so a worker that lost its claim cannot overwrite the outcome
of the one holding it now.
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


#: Every state transition after creation: the API's cancel and retry, the worker's claim,
#: heartbeat, progress and outcome, the reaper's re-queueing (the lifecycle of store/repositories/_lease.py).
lease = _lease.LeasedRepository(Evaluation, "evaluation")


def set_model_info(session: Session, evaluation_id: str, info: dict[str, Any], *, worker: str) -> bool:
    """The trained network's size and device, written by the worker that holds the evaluation."""
    return lease.update(session, evaluation_id, *lease.held_by(worker), model_info=json_ready(info))
