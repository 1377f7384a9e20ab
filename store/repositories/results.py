"""What a search produces: epochs, genotypes, flatness metrics, checkpoints, samples.

Writes are idempotent so a resumed or redelivered search never duplicates a row: epochs,
genotypes, checkpoints and samples upsert on their natural key; a flatness metric replaces the
one with the same (epoch, kind, params).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, case, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from nas_core.reporter import EPOCH_ROW_FIELDS, EpochRecord, FlatnessRecord, SampledArchitecture
from store.models import Checkpoint, EpochMetric, FlatnessMetric, Genotype, Sample, utcnow
from store.repositories._upsert import upsert

_Row = TypeVar("_Row", EpochMetric, Genotype)

EPOCH_FIELDS = EPOCH_ROW_FIELDS


def upsert_epoch(session: Session, search_id: str, record: EpochRecord | dict[str, Any]) -> int:
    """Write one epoch (its `genotype` is stored by upsert_genotype, which the reporter also calls)."""
    data = record.to_dict() if isinstance(record, EpochRecord) else record
    values = {name: data.get(name, {} if name in ("alphas", "extra") else None) for name in EPOCH_FIELDS}
    values.update(search_id=search_id, epoch=int(data["epoch"]), created_at=utcnow())
    return upsert(
        session,
        EpochMetric.__table__,  # type: ignore[arg-type]
        values,
        conflict=("search_id", "epoch"),
        update=(*EPOCH_FIELDS, "created_at"),
    )


def _rows_after(
    session: Session, model: type[_Row], search_id: str, key: InstrumentedAttribute[int], after: int
) -> list[_Row]:
    """The search's rows whose `key` is above `after`, in key order, re-read from the database
    (populate_existing: a poller sees rows rewritten since it last looked)."""
    stmt = (
        select(model)
        .where(model.search_id == search_id, key > after)
        .order_by(key)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def list_epochs(session: Session, search_id: str, *, after_epoch: int = -1) -> list[EpochMetric]:
    return _rows_after(session, EpochMetric, search_id, EpochMetric.epoch, after_epoch)


def get_epoch(session: Session, search_id: str, epoch: int) -> EpochMetric | None:
    stmt = select(EpochMetric).where(EpochMetric.search_id == search_id, EpochMetric.epoch == epoch)
    return session.scalars(stmt).first()


def curve_rows(session: Session, search_id: str, columns: Sequence[str]) -> list[Row[Any]]:
    """The search's epochs as plain rows of `columns` (Core, no α or extra decoded): what the
    curves route sends, read without loading ORM objects."""
    table = EpochMetric.__table__
    stmt = select(*(table.c[name] for name in columns)).where(table.c.search_id == search_id)
    return list(session.execute(stmt.order_by(table.c.epoch)))


def upsert_genotype(
    session: Session,
    search_id: str,
    genotype: dict[str, Any],
    *,
    epoch: int,
    is_best: bool = False,
    is_final: bool = False,
) -> int:
    """Write the genotype derived at `epoch`. The newest best/final flag moves to this row; a
    rewrite of the same epoch keeps flags it already had."""
    table = Genotype.__table__
    row_id = upsert(
        session,
        table,  # type: ignore[arg-type]
        {
            "search_id": search_id,
            "epoch": epoch,
            "genotype": genotype,
            "is_best": is_best,
            "is_final": is_final,
        },
        conflict=("search_id", "epoch"),
        update=("genotype",),
        set_extra={
            "is_best": lambda excluded: table.c.is_best | excluded.is_best,
            "is_final": lambda excluded: table.c.is_final | excluded.is_final,
        },
    )
    for flag, wanted in (("is_best", is_best), ("is_final", is_final)):
        if wanted:
            session.execute(
                update(Genotype)
                .where(Genotype.search_id == search_id, Genotype.id != row_id, getattr(Genotype, flag))
                .values({flag: False})
                .execution_options(synchronize_session=False)
            )
    session.flush()
    return row_id


def get_genotype(
    session: Session, search_id: str, *, which: str | None = None, epoch: int | None = None
) -> Genotype | None:
    """`epoch` picks that epoch; `which` = "best" | "final"; neither: final, else best, else newest."""
    stmt = select(Genotype).where(Genotype.search_id == search_id)
    if epoch is not None:
        return session.scalars(stmt.where(Genotype.epoch == epoch)).one_or_none()
    if which == "best":
        return session.scalars(stmt.where(Genotype.is_best)).first()
    if which == "final":
        return session.scalars(stmt.where(Genotype.is_final)).first()
    ordered = stmt.order_by(Genotype.is_final.desc(), Genotype.is_best.desc(), Genotype.epoch.desc())
    return session.scalars(ordered).first()


def newest_genotype(session: Session, search_id: str) -> Genotype | None:
    """The genotype of the search's highest epoch (whatever it is marked)."""
    stmt = select(Genotype).where(Genotype.search_id == search_id).order_by(Genotype.epoch.desc())
    return session.scalars(stmt.limit(1)).first()


def list_genotypes(session: Session, search_id: str, *, after_id: int = 0) -> list[Genotype]:
    return _rows_after(session, Genotype, search_id, Genotype.id, after_id)


def latest_ids(session: Session, search_id: str) -> tuple[int, int, int]:
    """(newest epoch or -1, highest genotype row id or 0, highest flatness row id or 0) of a search."""
    epoch = session.scalar(select(func.max(EpochMetric.epoch)).where(EpochMetric.search_id == search_id))
    genotype_id = session.scalar(select(func.max(Genotype.id)).where(Genotype.search_id == search_id))
    flatness_id = session.scalar(
        select(func.max(FlatnessMetric.id)).where(FlatnessMetric.search_id == search_id)
    )
    return (
        -1 if epoch is None else int(epoch),
        0 if genotype_id is None else int(genotype_id),
        0 if flatness_id is None else int(flatness_id),
    )


def add_flatness(session: Session, search_id: str, record: FlatnessRecord) -> FlatnessMetric:
    """Record a flatness metric, replacing the one with the same epoch, kind and params."""
    kind, epoch, params, value, seconds = (
        record.kind,
        record.epoch,
        record.params,
        record.value,
        record.seconds,
    )
    epoch_match = FlatnessMetric.epoch.is_(None) if epoch is None else FlatnessMetric.epoch == epoch
    existing = session.scalars(
        select(FlatnessMetric).where(
            FlatnessMetric.search_id == search_id, FlatnessMetric.kind == kind, epoch_match
        )
    )
    for row in existing:
        if row.params == params:
            row.value, row.seconds, row.created_at = value, seconds, utcnow()
            session.flush()
            return row
    row = FlatnessMetric(
        search_id=search_id, epoch=epoch, kind=kind, params=params, value=value, seconds=seconds
    )
    session.add(row)
    session.flush()
    return row


def list_flatness(
    session: Session, search_id: str, *, kind: str | None = None, after_id: int = 0
) -> list[FlatnessMetric]:
    stmt = select(FlatnessMetric).where(FlatnessMetric.search_id == search_id, FlatnessMetric.id > after_id)
    if kind is not None:
        stmt = stmt.where(FlatnessMetric.kind == kind)
    # End-of-search metrics (epoch NULL) come after every epoch.
    stmt = stmt.order_by(FlatnessMetric.epoch.is_(None), FlatnessMetric.epoch, FlatnessMetric.id)
    return list(session.scalars(stmt))


def record_checkpoint(session: Session, search_id: str, *, epoch: int, uri: str) -> int:
    return upsert(
        session,
        Checkpoint.__table__,  # type: ignore[arg-type]
        {"search_id": search_id, "epoch": epoch, "uri": uri, "created_at": utcnow()},
        conflict=("search_id", "epoch"),
        update=("uri", "created_at"),
    )


def latest_checkpoint(session: Session, search_id: str) -> Checkpoint | None:
    stmt = select(Checkpoint).where(Checkpoint.search_id == search_id).order_by(Checkpoint.epoch.desc())
    return session.scalars(stmt.limit(1)).first()


def get_checkpoint(session: Session, search_id: str, epoch: int) -> Checkpoint | None:
    stmt = select(Checkpoint).where(Checkpoint.search_id == search_id, Checkpoint.epoch == epoch)
    return session.scalars(stmt).first()


def record_samples(session: Session, search_id: str, samples: Iterable[SampledArchitecture]) -> int:
    """Store a sampling method's ranked architectures ({rank, score, genotype}); ranks upsert, and
    ranks beyond the new list are dropped so a rerun's shorter list leaves no stale rows."""
    ranks: list[int] = []
    for sample in samples:
        rank = int(sample.rank)
        ranks.append(rank)
        upsert(
            session,
            Sample.__table__,  # type: ignore[arg-type]
            {
                "search_id": search_id,
                "rank": rank,
                "score": float(sample.score),
                "genotype": sample.genotype,
                "created_at": utcnow(),
            },
            conflict=("search_id", "rank"),
            update=("score", "genotype", "created_at"),
        )
    stale = delete(Sample).where(Sample.search_id == search_id)
    if ranks:
        stale = stale.where(Sample.rank.not_in(ranks))
    session.execute(stale)
    session.flush()
    return len(ranks)


def list_samples(session: Session, search_id: str, *, limit: int | None = None) -> Sequence[Sample]:
    stmt = select(Sample).where(Sample.search_id == search_id).order_by(Sample.rank)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def epoch_duration_histogram(session: Session, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative counts of epoch durations <= each bound, the total count and the sum, in one query."""
    seconds = EpochMetric.seconds
    columns = [func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in bounds]
    row = session.execute(select(*columns, func.count(), func.coalesce(func.sum(seconds), 0.0))).one()
    return [int(v) for v in row[: len(bounds)]], int(row[-2]), float(row[-1])


def best_val_acc(session: Session, search_ids: Sequence[str]) -> dict[str, float]:
    """Highest per-epoch validation accuracy of each search that has epochs (one query per page)."""
    if not search_ids:
        return {}
    stmt = (
        select(EpochMetric.search_id, func.max(EpochMetric.val_acc))
        .where(EpochMetric.search_id.in_(list(search_ids)))
        .group_by(EpochMetric.search_id)
    )
    return {search_id: float(best) for search_id, best in session.execute(stmt)}
