"""SQLAlchemy 2.0 models (the storage contract in docs/architecture.md).

Constraint names come from one naming convention, so Alembic migrations name them the same on
SQLite and PostgreSQL. Relationships refuse lazy loads: a query that needs related rows says so.
Timestamps are timezone-aware UTC on the way out, on both back ends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SEARCH_STATUSES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
SCOPES = ("read", "submit", "admin")
INT4_MAX = 2**31 - 1  # the largest value an Integer column holds (epochs, row ids)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that always hands back aware UTC (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        # SQLite compares the stored text: keep one format (naive UTC) so ordering is right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable containment for tags), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


#: The longest API key name (its column's width; `flatnas keys create` checks it).
MAX_KEY_NAME = 100


class ApiKey(Base):
    """An API key. The token is `fnas_<id>_<secret>`; only sha256(token) is stored, found by id."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(f"scope IN {SCOPES}", name="scope"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_KEY_NAME))
    hashed_key: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LeasedRunColumns:
    """The state and lease columns of anything a worker runs (a search, an evaluation, a landscape
    job): its status, progress, error, the holding worker and its heartbeat, attempts, timestamps,
    owner, queue priority and cancel request. store/repositories/_lease.py (LeasedRepository) runs
    the lifecycle of every such table through them."""

    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Search: {epoch, step, steps_per_epoch, total_epochs, phase, loss, eta_seconds}
    # (nas_core.reporter.Progress); landscape job: {phase, ...}.
    progress: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    owner_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL"), index=True, default=None
    )
    # Queue priority (0..9, 9 runs first); a row handed back to the queue keeps it.
    priority: Mapped[int] = mapped_column(default=5)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Search(LeasedRunColumns, Base):
    __tablename__ = "search"
    __table_args__ = (
        CheckConstraint(f"status IN {SEARCH_STATUSES}", name="status"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        UniqueConstraint("owner_key_id", "idempotency_key"),
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    method: Mapped[str] = mapped_column(String(32), index=True)
    space: Mapped[str] = mapped_column(String(16), index=True)
    dataset: Mapped[str] = mapped_column(String(32), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    # sha256 of the normalised spec, so a replayed Idempotency-Key with another body is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    owner: Mapped[ApiKey | None] = relationship(lazy="raise")


class EpochMetric(Base):
    __tablename__ = "epoch_metric"
    __table_args__ = (UniqueConstraint("search_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    train_loss: Mapped[float] = mapped_column(Float)
    train_acc: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float] = mapped_column(Float)
    val_acc: Mapped[float] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    alphas: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    search: Mapped[Search] = relationship(lazy="raise")


class Genotype(Base):
    __tablename__ = "genotype"
    __table_args__ = (UniqueConstraint("search_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    genotype: Mapped[dict[str, Any]]
    is_best: Mapped[bool] = mapped_column(Boolean, default=False)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    search: Mapped[Search] = relationship(lazy="raise")


class FlatnessMetric(Base):
    __tablename__ = "flatness_metric"
    __table_args__ = (Index(None, "search_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    epoch: Mapped[int | None] = mapped_column(default=None)  # None: an end-of-search metric
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    value: Mapped[Any] = mapped_column(JSONType)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    search: Mapped[Search] = relationship(lazy="raise")


class Checkpoint(Base):
    __tablename__ = "checkpoint"
    __table_args__ = (UniqueConstraint("search_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    search: Mapped[Search] = relationship(lazy="raise")


class Sample(Base):
    """One scored architecture of a sampling method (random, naswot, na-rs)."""

    __tablename__ = "sample"
    __table_args__ = (UniqueConstraint("search_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    rank: Mapped[int]
    score: Mapped[float] = mapped_column(Float)
    genotype: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    search: Mapped[Search] = relationship(lazy="raise")


LANDSCAPE_KINDS = ("barrier", "barrier_matrix", "neighbourhood")
LANDSCAPE_ROLES = ("a", "b", "member", "supernet", "target")


class LandscapeJob(LeasedRunColumns, Base):
    """An on-demand landscape computation (docs/algorithms.md §6) run by a worker like a search:
    a barrier between two architectures, a barrier matrix of several searches, or the
    neighbourhood profile of a stored genotype. `params` holds the request with every reference
    already resolved (genotype JSON snapshots, the supernet checkpoint's search), so a job's
    result does not depend on when it runs."""

    __tablename__ = "landscape_job"
    __table_args__ = (
        CheckConstraint(f"status IN {SEARCH_STATUSES}", name="status"),
        CheckConstraint(f"kind IN {LANDSCAPE_KINDS}", name="kind"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        Index(None, "kind", "created_at"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(32))
    # The search whose final checkpoint supplies the shared weights.
    supernet_search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"), index=True)
    params: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class LandscapeJobSearch(Base):
    """Which searches a landscape job involves and how (a, b, member of a matrix, supernet,
    target of a neighbourhood job): what `GET /landscape-jobs?search_id=` filters on."""

    __tablename__ = "landscape_job_search"
    __table_args__ = (
        CheckConstraint(f"role IN {LANDSCAPE_ROLES}", name="role"),
        Index(None, "search_id", "job_id"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("landscape_job.id", ondelete="CASCADE"), primary_key=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Study(Base):
    """A grid of searches (ALGORITHMS: study statistics in docs/algorithms.md). It owns no worker
    time: its children are ordinary search rows (study_search says which, with their axis values);
    its state and results are computed from them on read. `request` holds the normalised request
    (base spec, grid, evaluate) exactly as accepted."""

    __tablename__ = "study"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        UniqueConstraint("owner_key_id", "idempotency_key"),
        Index(None, "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]]
    tags: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[int] = mapped_column(default=5)
    # Cancelling a study stops its searches and keeps it from starting evaluations; retry clears it.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL"), index=True, default=None
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StudySearch(Base):
    """One child search of a study: its position in the grid and the axis values that made it."""

    __tablename__ = "study_search"
    __table_args__ = (UniqueConstraint("study_id", "position"),)

    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), primary_key=True)
    search_id: Mapped[str] = mapped_column(
        ForeignKey("search.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int]
    cell: Mapped[dict[str, Any]]
    # A study with `evaluate` trains each succeeded search's best genotype from scratch: this one.
    evaluation_id: Mapped[str | None] = mapped_column(
        ForeignKey("evaluation.id", ondelete="SET NULL"), index=True, default=None
    )


GROUND_TRUTH_KINDS = ("epoch", "best", "final")


class BenchmarkStatus(Base):
    """Whether an nb201 search has NAS-Bench-201 ground truth, and if not why (the worker's view:
    the setting unset, the file unreadable), with the first-open and per-epoch lookup times and the
    benchmark's optimum once the worker's background scan found it."""

    __tablename__ = "benchmark_status"

    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    layout: Mapped[str | None] = mapped_column(String(32), default=None)
    open_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    lookup_ms_mean: Mapped[float | None] = mapped_column(Float, default=None)
    lookup_ms_max: Mapped[float | None] = mapped_column(Float, default=None)
    lookups: Mapped[int] = mapped_column(default=0)
    optimum: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BenchmarkLookup(Base):
    """One derived genotype's benchmark numbers on one data set (kind: each epoch's, best, final)."""

    __tablename__ = "benchmark_lookup"
    __table_args__ = (
        CheckConstraint(f"kind IN {GROUND_TRUTH_KINDS}", name="kind"),
        UniqueConstraint("search_id", "kind", "epoch", "dataset"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    epoch: Mapped[int]
    dataset: Mapped[str] = mapped_column(String(32))
    arch_str: Mapped[str] = mapped_column(String(200))
    arch_index: Mapped[int]
    test_acc: Mapped[float] = mapped_column(Float)
    test_acc_std: Mapped[float] = mapped_column(Float)
    valid_acc: Mapped[float | None] = mapped_column(Float, default=None)
    valid_acc_std: Mapped[float | None] = mapped_column(Float, default=None)
    params_m: Mapped[float] = mapped_column(Float)
    flops_m: Mapped[float] = mapped_column(Float)
    seeds: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


EVALUATION_PROTOCOLS = ("darts", "nb201")


class Evaluation(LeasedRunColumns, Base):
    """A from-scratch training of one genotype under an evaluation protocol, run by a worker like
    a search. `genotype` is a snapshot (genotype JSON) taken at submit time; `search_id`, `which`
    and `genotype_epoch` say where it came from (null for a genotype given inline)."""

    __tablename__ = "evaluation"
    __table_args__ = (
        CheckConstraint(f"status IN {SEARCH_STATUSES}", name="status"),
        CheckConstraint(f"protocol IN {EVALUATION_PROTOCOLS}", name="protocol"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        UniqueConstraint("owner_key_id", "idempotency_key"),
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]  # nas_core.evaluation.EvalSpec, normalised
    protocol: Mapped[str] = mapped_column(String(16), index=True)
    dataset: Mapped[str] = mapped_column(String(32), index=True)
    space: Mapped[str] = mapped_column(String(16))
    genotype: Mapped[dict[str, Any]]
    search_id: Mapped[str | None] = mapped_column(
        ForeignKey("search.id", ondelete="SET NULL"), index=True, default=None
    )
    which: Mapped[str | None] = mapped_column(String(8), default=None)
    genotype_epoch: Mapped[int | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # {test_acc, test_loss, best_test_acc, params_m, flops_m, epochs, train_seconds}; null until it ends.
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # {params_m, flops_m} known from the start (the network is built before training).
    model_info: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class EvaluationEpoch(Base):
    """One epoch of an evaluation: train and test loss/accuracy, the learning rate, seconds."""

    __tablename__ = "evaluation_epoch"
    __table_args__ = (UniqueConstraint("evaluation_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluation.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
