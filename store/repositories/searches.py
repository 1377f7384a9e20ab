"""The search row: creation and listing here; every state transition after creation is `lease`,
the lifecycle every job kind shares (store/repositories/_lease.py). Transitions are conditional
UPDATEs (`... WHERE status IN (allowed)`), so the API and a worker racing on one search never both
win: the loser sees rowcount 0 and reports a conflict.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Row,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from store.models import SEARCH_STATUSES, EpochMetric, Search, Study
from store.repositories import _lease

WAITING_STATUSES = _lease.WAITING_STATUSES


class InvalidCursor(ValueError):
    """A pagination cursor that this service did not hand out."""


@dataclass(frozen=True)
class SearchFilter:
    status: str | None = None
    method: str | None = None
    space: str | None = None
    dataset: str | None = None
    tag: str | None = None
    q: str | None = None  # substring of the name, case-insensitive
    owner_key_id: str | None = None
    id_prefix: str | None = None  # ids starting with this (short ids, as git takes them)


def _new_search(
    spec: dict[str, Any], owner_key_id: str | None, idempotency_key: str | None, request_hash: str | None
) -> dict[str, Any]:
    """The columns a new queued search is given; the others take their column defaults."""
    return {
        "name": spec["name"],
        "spec": spec,
        "method": spec["method"],
        "space": spec["space"],
        "dataset": spec["dataset"]["name"],
        "tags": list(spec.get("tags", [])),
        "priority": spec.get("priority", 5),
        "status": "queued",
        "owner_key_id": owner_key_id,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
    }


def create_search(
    session: Session,
    *,
    spec: dict[str, Any],
    owner_key_id: str | None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Search:
    """Insert a queued search for a validated spec (`SearchSpec.model_dump(mode="json")`)."""
    search = Search(**_new_search(spec, owner_key_id, idempotency_key, request_hash))
    session.add(search)
    session.flush()
    return search


# Built once, Core: one INSERT without the ORM's unit of work, which cost more CPU than the rest
# of a submit's statements together. Every column's default is computed in Python, so the values
# sent are the whole row and nothing needs to come back (RETURNING the row cost ~85 us per submit,
# most of it reading the spec's JSON back). A server-side default would break that: refused here.
_SEARCH_TABLE = cast(Table, Search.__table__)
_INSERT = insert(_SEARCH_TABLE)
if server_defaulted := [c.key for c in _SEARCH_TABLE.c if c.server_default is not None]:
    raise RuntimeError(
        f"insert_search builds the row from the values it sends; {server_defaulted} have server defaults"
    )


def insert_search(
    connection: Connection,
    *,
    spec: dict[str, Any],
    owner_key_id: str | None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Search:
    """As `create_search`, for the API's submit: the new search, as a Search outside any session
    that holds exactly the values written (columns left out are NULL)."""
    values = _new_search(spec, owner_key_id, idempotency_key, request_hash)
    result = cast(CursorResult[Any], connection.execute(_INSERT, values))
    written = cast(dict[str, Any], result.last_inserted_params())  # one row: one mapping
    return Search(**written)


def get_search(session: Session, search_id: str, *, for_update: bool = False) -> Search | None:
    stmt = select(Search).where(Search.id == search_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def _view() -> Any:
    """The search's columns plus its best per-epoch validation accuracy so far, as plain rows
    (Core on the tables, not the mapped classes: the API's hot reads skip ORM object loading and
    the ORM's statement compilation, and the aggregate rides along in the same statement instead
    of costing a second round trip)."""
    search, epochs = Search.__table__, EpochMetric.__table__
    best = (
        select(func.max(epochs.c.val_acc))
        .where(epochs.c.search_id == search.c.id)
        .correlate(search)
        .scalar_subquery()
    )
    return select(*search.c, best.label("best_val_acc"))


# Built once: SQLAlchemy memoizes a statement object's cache key, so executing this one costs no
# statement construction and no cache-key walk (together more than the query itself took per GET).
_VIEW_BY_ID = _view().where(Search.__table__.c.id == bindparam("search_id"))


def get_view(connection: Connection, search_id: str) -> Row[Any] | None:
    """One search as a row with every column and `best_val_acc` (None before its first epoch)."""
    return connection.execute(_VIEW_BY_ID, {"search_id": search_id}).first()


_BY_IDEMPOTENCY_KEY = select(_SEARCH_TABLE.c.id, _SEARCH_TABLE.c.request_hash).where(
    _SEARCH_TABLE.c.owner_key_id == bindparam("owner_key_id"),
    _SEARCH_TABLE.c.idempotency_key == bindparam("key"),
)


def get_by_idempotency_key(connection: Connection, owner_key_id: str, key: str) -> Row[Any, Any] | None:
    """(id, request_hash) of the search this owner created with this Idempotency-Key, if any."""
    return connection.execute(_BY_IDEMPOTENCY_KEY, {"owner_key_id": owner_key_id, "key": key}).first()


def encode_cursor(row: Search | Study | Row[Any]) -> str:
    """A page cursor for any row listed newest first by (created_at, id)."""
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, search_id = json.loads(raw)
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(search_id, str):
            raise ValueError
        return when, search_id
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidCursor(f"cursor {cursor[:40]!r} was not issued by this service") from None


def _tag_filter(session: Session, tag: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Search.tags, JSONB).contains([tag])  # JSONB @>
    each = func.json_each(Search.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def list_searches(
    session: Session, filters: SearchFilter, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Row[Any]], str | None]:
    """Newest first, as get_view's rows; returns one page and the cursor of the next page (None on
    the last page)."""
    stmt = _view()
    if filters.status:
        stmt = stmt.where(Search.status == filters.status)
    if filters.method:
        stmt = stmt.where(Search.method == filters.method)
    if filters.space:
        stmt = stmt.where(Search.space == filters.space)
    if filters.dataset:
        stmt = stmt.where(Search.dataset == filters.dataset)
    if filters.owner_key_id:
        stmt = stmt.where(Search.owner_key_id == filters.owner_key_id)
    if filters.id_prefix:
        stmt = stmt.where(Search.id.startswith(filters.id_prefix, autoescape=True))
    if filters.tag:
        stmt = stmt.where(_tag_filter(session, filters.tag))
    if filters.q:
        pattern = "%" + filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(func.lower(Search.name).like(pattern, escape="\\"))
    if cursor:
        created, search_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(Search.created_at < created, and_(Search.created_at == created, Search.id < search_id))
        )
    stmt = stmt.order_by(Search.created_at.desc(), Search.id.desc()).limit(limit + 1)
    rows = list(session.execute(stmt))
    page = rows[:limit]
    return page, (encode_cursor(page[-1]) if len(rows) > limit else None)


def count_by_status(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(SEARCH_STATUSES, 0)
    for status, n in session.execute(select(Search.status, func.count()).group_by(Search.status)):
        counts[status] = n
    return counts


def queue_depth(session: Session) -> int:
    """Searches waiting for a worker (queued, or retrying after a worker loss or a retry)."""
    stmt = select(func.count()).select_from(Search).where(Search.status.in_(WAITING_STATUSES))
    return int(session.scalar(stmt) or 0)


#: Every state transition after creation: the API's cancel and retry, the worker's claim,
#: heartbeat, progress and outcome, the reaper's re-queueing (the lifecycle of store/repositories/_lease.py).
lease = _lease.LeasedRepository(Search, "search")
