"""API keys. A token reads `fnas_<id>_<secret>`: the id finds the row in O(1), and only the
sha256 of the whole token is stored. The secret is 256 random bits, so a plain hash (no slow KDF)
is the right tool: there is nothing to brute-force."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from store.models import MAX_KEY_NAME, SCOPES, ApiKey, utcnow

TOKEN_PREFIX = "fnas"
#: A token is 61 characters; anything much longer is refused before it is hashed or looked up.
MAX_TOKEN_LENGTH = 128


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, name: str, scope: str) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the token, which is shown once and never stored."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not 1 <= len(name) <= MAX_KEY_NAME:
        raise ValueError(f"a key name has 1 to {MAX_KEY_NAME} characters")
    key_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=key_id, name=name, scope=scope, hashed_key=hash_token(token))
    session.add(key)
    session.flush()
    return key, token


class Caller(NamedTuple):
    """Who a request's key belongs to: what the API needs of a key row once it is authenticated."""

    id: str
    name: str
    scope: str


def well_formed(token: str) -> bool:
    """`fnas_<id>_<secret>` in shape (checked before any query)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return False
    parts = token.split("_", 2)
    return len(parts) == 3 and parts[0] == TOKEN_PREFIX and all(parts)


_table = ApiKey.__table__
_IS_LIVE = _table.c.revoked_at.is_(None)  # what makes a key usable, for requests and open streams
# Built once (Core, by primary key): its cache key is memoized, so this per-request query costs
# no statement construction.
_LIVE_KEY = select(_table.c.id, _table.c.name, _table.c.scope, _table.c.hashed_key).where(
    _table.c.id == bindparam("key_id"), _IS_LIVE
)
_LIVE_IDS = select(_table.c.id).where(_table.c.id.in_(bindparam("key_ids", expanding=True)), _IS_LIVE)


def authenticate(connection: Connection, token: str) -> Caller | None:
    """The live key for `token`, or None (malformed, unknown, revoked or wrong secret). One
    Core query by primary key: this runs on every request."""
    if not well_formed(token):
        return None
    row = connection.execute(_LIVE_KEY, {"key_id": token.split("_", 2)[1]}).first()
    if row is None or not hmac.compare_digest(row.hashed_key, hash_token(token)):
        return None
    return Caller(row.id, row.name, row.scope)


def live_key_ids(connection: Connection, key_ids: Iterable[str]) -> set[str]:
    """Which of `key_ids` are still live (not revoked, not deleted): one query by primary key,
    for the event streams' re-check of the keys they were opened with."""
    return set(connection.execute(_LIVE_IDS, {"key_ids": list(key_ids)}).scalars())


def list_keys(session: Session, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def has_scope(key: Caller | ApiKey, needed: str) -> bool:
    """Scopes are ordered: read < submit < admin."""
    return SCOPES.index(key.scope) >= SCOPES.index(needed)
