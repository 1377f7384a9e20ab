"""NAS-Bench-201 ground truth of a search: its status row and its lookup rows.

Writes are idempotent like the other results: a lookup row upserts on (search, kind, epoch,
data set), so a resumed search rewrites rather than duplicates; "best" and "final" rows of an
older epoch are dropped when a newer one arrives (one best and one final per data set).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nas_core.benchmarks.ground_truth import GroundTruthRow, GroundTruthStatus
from store.models import BenchmarkLookup, BenchmarkStatus, utcnow
from store.repositories._upsert import upsert

LOOKUP_FIELDS = (
    "arch_str",
    "arch_index",
    "test_acc",
    "test_acc_std",
    "valid_acc",
    "valid_acc_std",
    "params_m",
    "flops_m",
    "seeds",
)


def record_status(session: Session, search_id: str, status: GroundTruthStatus) -> None:
    data: dict[str, Any] = status.to_dict()
    row = session.get(BenchmarkStatus, search_id)
    if row is None:
        row = BenchmarkStatus(search_id=search_id)
        session.add(row)
    for name in ("state", "detail", "source", "layout", "open_seconds", "lookup_ms_mean", "lookup_ms_max"):
        setattr(row, name, data[name])
    row.lookups = int(data["lookups"])
    if data["optimum"] is not None:  # once known it stays (a resumed run may not have scanned yet)
        row.optimum = data["optimum"]
    row.updated_at = utcnow()
    session.flush()


def get_status(session: Session, search_id: str) -> BenchmarkStatus | None:
    return session.get(BenchmarkStatus, search_id)


def record_lookups(session: Session, search_id: str, rows: Iterable[GroundTruthRow]) -> int:
    count = 0
    for row in rows:
        data = row.to_dict()
        if row.kind != "epoch":
            session.execute(
                delete(BenchmarkLookup).where(
                    BenchmarkLookup.search_id == search_id,
                    BenchmarkLookup.kind == row.kind,
                    BenchmarkLookup.dataset == row.dataset,
                    BenchmarkLookup.epoch != row.epoch,
                )
            )
        upsert(
            session,
            BenchmarkLookup.__table__,  # type: ignore[arg-type]
            {
                "search_id": search_id,
                "kind": row.kind,
                "epoch": row.epoch,
                "dataset": row.dataset,
                **{name: data[name] for name in LOOKUP_FIELDS},
                "created_at": utcnow(),
            },
            conflict=("search_id", "kind", "epoch", "dataset"),
            update=(*LOOKUP_FIELDS, "created_at"),
        )
        count += 1
    session.flush()
    return count


def list_lookups(
    session: Session, search_id: str, *, kinds: Sequence[str] | None = None
) -> list[BenchmarkLookup]:
    stmt = select(BenchmarkLookup).where(BenchmarkLookup.search_id == search_id)
    if kinds is not None:
        stmt = stmt.where(BenchmarkLookup.kind.in_(list(kinds)))
    stmt = stmt.order_by(BenchmarkLookup.kind, BenchmarkLookup.epoch, BenchmarkLookup.dataset)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def epoch_test_accuracy(session: Session, search_id: str) -> dict[int, dict[str, float]]:
    """epoch -> {data set: mean test accuracy}: the columns the curves CSV carries."""
    out: dict[int, dict[str, float]] = {}
    for row in list_lookups(session, search_id, kinds=("epoch",)):
        out.setdefault(row.epoch, {})[row.dataset] = row.test_acc
    return out
