"""INSERT ... ON CONFLICT DO UPDATE for SQLite and PostgreSQL (both speak it, through different
dialect constructs): the idempotent write a resumed search relies on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(
    session: Session,
    table: Table,
    values: dict[str, Any],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    set_extra: dict[str, Any] | None = None,
) -> int:
    """Insert `values`, or on a `conflict` key clash overwrite the `update` columns; returns the row id.

    `set_extra` maps a column to an expression of `excluded`/the table for merges (e.g. OR of flags);
    it is given the dialect's `excluded` namespace via a callable value.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values)
    else:  # pragma: no cover - only the two supported back ends
        raise NotImplementedError(f"upsert on {dialect!r}: flatnas supports sqlite and postgresql")
    assignments: dict[str, Any] = {name: stmt.excluded[name] for name in update}
    for name, make in (set_extra or {}).items():
        assignments[name] = make(stmt.excluded)
    stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=assignments).returning(table.c.id)
    row_id = session.execute(stmt).scalar_one()
    return int(row_id)
