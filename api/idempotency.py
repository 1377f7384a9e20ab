"""Idempotency-Key handling shared by every submit route: the same key and body return the row
created first; the same key with another body is a 409 naming the row it was used for."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, TypeVar

from api.errors import Conflict, FieldError


class Replayable(Protocol):
    id: str
    request_hash: str | None


def request_hash(body: dict[str, Any]) -> str:
    """sha256 of the normalised body, key order not mattering."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


R = TypeVar("R", bound=Replayable)


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
