"""Request dependencies, as `Annotated` aliases so a route's signature reads like a sentence:
`def cancel(search_id: str, session: SessionDep, key: SubmitKey)`.

The session is opened per request and closed after it; routes that write commit explicitly (the
route is the edge: it commits, then enqueues). Keys arrive as `Authorization: Bearer <key>` or
`X-API-Key: <key>`; scopes are ordered read < submit < admin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from store.db import Database
from store.models import ApiKey, Search, Study
from store.repositories import keys
from store.settings import Settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    with database.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer fnas_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: fnas_...`")


def current_key(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_header)],
) -> ApiKey:
    token = bearer.credentials if bearer is not None else header_key
    if not token:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    key = keys.authenticate(session, token.strip())
    if key is None:
        raise Unauthorized("the API key is unknown, revoked or malformed")
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require_scope(scope: str) -> Callable[[ApiKey], ApiKey]:
    def check(key: CurrentKey) -> ApiKey:
        if not keys.has_scope(key, scope):
            raise Forbidden(f"this needs scope '{scope}'; key '{key.name}' has '{key.scope}'")
        return key

    return check


ReadKey = Annotated[ApiKey, Depends(require_scope("read"))]
SubmitKey = Annotated[ApiKey, Depends(require_scope("submit"))]


def ensure_may_change(key: ApiKey, row: Search | Study) -> None:
    """submit keys change their own searches and studies; admin keys change any."""
    if key.scope != "admin" and row.owner_key_id != key.id:
        noun = "study" if isinstance(row, Study) else "search"
        raise Forbidden(
            f"{noun} {row.id} belongs to another key; only its owner or an admin key may change it"
        )
