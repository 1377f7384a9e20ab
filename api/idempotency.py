"""Idempotency-Key handling shared by every submit route: the same key and body return the row
created first; the same key with another body is a 409 naming the row it was used for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Header, Response
from sqlalchemy.exc import IntegrityError

from api.errors import Conflict, FieldError

# The header every creating route takes.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="repeat a request safely: the same key and body return what the first request created",
    ),
]


def answer_created(response: Response, location: str, *, created: bool) -> None:
    """201 (the route's status) and Location for a new resource; 200 and the same Location for an
    Idempotency-Key replay of an earlier request."""
    response.headers["Location"] = location
    if not created:
        response.status_code = 200


class UnitOfWork(Protocol):
    """What `create_once` ends: a Session (whose commit flushes the objects `create` added), or the
    plain connection of the autocommit submit. It runs no statements of its own."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Replayable(Protocol):
    id: str
    request_hash: str | None


def request_hash(body: dict[str, Any]) -> str:
    """sha256 of the normalised body, key order not mattering."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


R = TypeVar("R", bound=Replayable)
T = TypeVar("T")


def replay(existing: R | None, idempotency_key: str, body_hash: str, noun: str) -> R | None:
    """The row an earlier request with this key created, or None; a different body is a conflict."""
    if existing is not None and existing.request_hash != body_hash:
        raise Conflict(
            f"Idempotency-Key {idempotency_key!r} was used for {noun} {existing.id} with a different body; "
            f"use a new key for a new {noun}",
            errors=[
                FieldError(field="Idempotency-Key", message="reused with a different body", location="header")
            ],
        )
    return existing


def create_once(
    unit: UnitOfWork,
    idempotency_key: str | None,
    *,
    find: Callable[[], R | None],
    create: Callable[[], T],
) -> tuple[T | None, R | None]:
    """Create and commit, unless an earlier request with this Idempotency-Key did: returns
    (what `create` made, None) or (None, the earlier row). `find` is `replay` of the owner's row for
    the key, so a different body raises 409.

    Two requests racing with one key: the unique (owner, key) index makes the later one wait for
    the other's commit and refuses it (at a flush or the commit); it is rolled back and answers with
    the winner's row, never a 500. On an autocommit connection (a search submit) there is no
    transaction: the refused INSERT is the whole of it, and the rollback sends nothing."""
    if idempotency_key is not None and (earlier := find()) is not None:
        return None, earlier
    try:
        made = create()
        unit.commit()
    except IntegrityError:
        unit.rollback()
        earlier = find() if idempotency_key is not None else None
        if earlier is None:
            raise
        return None, earlier
    return made, None
