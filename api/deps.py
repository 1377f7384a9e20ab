"""Request dependencies, as `Annotated` aliases so a route's signature reads like a sentence:
`async def get_search(search_id: str, store: ReadStore)`.

Every authenticated route takes one `Store` for its scope (`ReadStore`, `SubmitStore`) and does
all of its blocking work in one call on it, which checks the key and then runs the route's `work`
in ONE thread-pool call, on one connection:

- `await store.read(work, ...)`: read-only work, in an autocommit session (no BEGIN/ROLLBACK);
- `await store.write(work, ...)`: work that writes, in a session with a transaction. `work`
  commits what it keeps, and commits before it enqueues (api/jobs.py); the route is the edge;
- `await store.autocommit(work, ...)`: Core statements on a plain autocommit connection, no
  session at all, for the two hottest routes (a search's detail, a submit);
- `await store.authorized(work, ...)`: the key check alone, then `work` (no database), for the
  catalogues and the benchmark lookup.

Routes are `async` (FastAPI then validates their response on the event loop too) and their
dependencies do no I/O, so a request makes exactly one thread-pool hop. The settings ride on the
Store (`store.settings`). A missing or malformed key is refused (401) before the request is
parsed; a well-formed key is checked against the database in that same call, before `work` runs,
so nothing is read or written for an unknown key or scope. A route that takes a body checks the
key fully (401/403) before the body is parsed (api/spec_body.py); the caller it found rides on
the request, so the route's `store` call does not query the key again. Keys arrive as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; scopes are ordered read < submit < admin.
Only /healthz, /readyz, /metrics and the dashboard go without a Store: they are open
(tests/api/test_request_idiom.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from api.route_statuses import walk_dependants
from store.db import Database, SessionFactory
from store.models import SCOPES, Evaluation, LandscapeJob, Search, Study
from store.repositories import keys
from store.repositories.keys import Caller
from store.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer fnas_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: fnas_...`")


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
HeaderKey = Annotated[str | None, Security(_header)]


def presented_token(bearer: HTTPAuthorizationCredentials | None, header_key: str | None) -> str:
    """The key the request carries, refused at once when absent or not shaped like a key."""
    return _checked_token(bearer.credentials if bearer is not None else header_key or "")


def request_token(request: Request) -> str:
    """`presented_token` read straight from the headers, as the two security schemes read them
    (for code that runs before FastAPI solves the route's dependencies)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    return _checked_token(bearer or request.headers.get("x-api-key") or "")


def _checked_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    if not keys.well_formed(token):
        raise Unauthorized("the API key is unknown, revoked or malformed")
    return token


def authorize(connection: Connection, token: str, scope: str) -> Caller:
    """The key's caller if it is live and has `scope`; else 401 or 403."""
    key = keys.authenticate(connection, token)
    if key is None:
        raise Unauthorized("the API key is unknown, revoked or malformed")
    if not keys.has_scope(key, scope):
        raise Forbidden(f"this needs scope '{scope}'; key '{key.name}' has '{key.scope}'")
    return key


# Where a body route leaves the caller it authorized before parsing the body (api/spec_body.py).
CALLER_SCOPE_KEY = "flatnas.caller"
# The scope each key dependency needs, so a body route can check it before parsing the body.
_KEY_SCOPES: dict[Callable[..., object], str] = {}


def required_scope(dependant: Dependant) -> str | None:
    """The highest scope the key dependencies of a route (`dependant`) need; None for none."""
    found = [_KEY_SCOPES[d.call] for d in walk_dependants(dependant) if d.call in _KEY_SCOPES]
    return max(found, key=SCOPES.index) if found else None


def authorize_now(database: Database, token: str, scope: str) -> Caller:
    """`authorize` on a connection of its own (blocking: run it in the thread pool)."""
    with database.autocommit_engine.connect() as connection:
        return authorize(connection, token, scope)


def _authorized_earlier(request: Request, scope: str) -> Caller | None:
    """The caller a body route authorized for this request, if it holds `scope`."""
    caller = request.scope.get(CALLER_SCOPE_KEY)
    return caller if isinstance(caller, Caller) and keys.has_scope(caller, scope) else None


class Store:
    """One request's way to the database: each call authorizes the key for the route's scope and
    then runs `work(session, key, *args)`, both in one thread-pool call on one connection. It also
    carries the app's settings, so a hot route needs no second dependency for them. A `caller`
    authorized earlier in the request (before its body was parsed) is used as it is."""

    def __init__(
        self, database: Database, settings: Settings, token: str, scope: str, caller: Caller | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        self.token = token
        self.scope = scope
        self.caller = caller

    def read(
        self, work: Callable[Concatenate[Session, Caller, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]:
        """Run read-only `work` in an autocommit session (no BEGIN/ROLLBACK round trips)."""
        return run_in_threadpool(self._run, self.database.reader, lambda s, k: work(s, k, *args, **kwargs))

    def write(
        self, work: Callable[Concatenate[Session, Caller, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]:
        """Run `work` in a session with a transaction; `work` commits what it means to keep (a
        route that enqueues commits first: api/jobs.py) and anything it leaves is rolled back."""
        return run_in_threadpool(
            self._run, self.database.sessionmaker, lambda s, k: work(s, k, *args, **kwargs)
        )

    def autocommit(
        self, work: Callable[Concatenate[Connection, Caller, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]:
        """Run `work` of Core statements on a plain connection in autocommit mode: no session, no
        BEGIN/COMMIT, each write committed as it runs. For the two hottest routes, whose
        statements each stand alone: a search's detail, and a submit, whose one INSERT lands
        whole or is refused (an Idempotency-Key race is settled by the unique index either way;
        marking it failed after a broker refusal is a second, separate write in any case). Per
        submit this costs about 0.2 ms less CPU than a session in a transaction."""
        return run_in_threadpool(self._run_on_connection, lambda c, k: work(c, k, *args, **kwargs))

    def authorized(
        self, work: Callable[Concatenate[Caller, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]:
        """The key check alone, then `work(key, *args)` in the same thread-pool call: for a route
        that reads nothing else from the database (a catalogue, a file lookup). The connection
        goes back to the pool before `work` runs."""
        return run_in_threadpool(self._run_authorized, lambda k: work(k, *args, **kwargs))

    def _run_authorized(self, work: Callable[[Caller], T]) -> T:
        return work(self.caller or authorize_now(self.database, self.token, self.scope))

    def _run_on_connection(self, work: Callable[[Connection, Caller], T]) -> T:
        with self.database.autocommit_engine.connect() as connection:
            return work(connection, self.caller or authorize(connection, self.token, self.scope))

    def _run(self, sessions: SessionFactory, work: Callable[[Session, Caller], T]) -> T:
        with sessions() as session:
            try:
                # A caller found earlier (a body route) leaves the session unconnected until
                # `work` queries: `session.connection()` runs only for the key check here.
                key = self.caller or authorize(session.connection(), self.token, self.scope)
                return work(session, key)
            except BaseException:
                session.rollback()
                raise


def store_for(scope: str) -> Callable[..., Awaitable[Store]]:
    # FastAPI solves every dependency of every request, at tens of microseconds of CPU each (about
    # half of its own work on a GET): the key's two header schemes are taken here directly, and
    # the settings ride on the Store.
    async def store(request: Request, bearer: BearerCredentials, header_key: HeaderKey) -> Store:
        state = request.app.state
        token = presented_token(bearer, header_key)
        return Store(state.database, state.settings, token, scope, _authorized_earlier(request, scope))

    _KEY_SCOPES[store] = scope
    return store


ReadStore = Annotated[Store, Depends(store_for("read"))]
SubmitStore = Annotated[Store, Depends(store_for("submit"))]


def ensure_may_change(key: Caller, row: Search | Study | Evaluation | LandscapeJob) -> None:
    """submit keys change their own searches, studies, evaluations and landscape jobs; admin keys
    change any."""
    if key.scope != "admin" and row.owner_key_id != key.id:
        noun = {Study: "study", Evaluation: "evaluation", LandscapeJob: "landscape job"}.get(
            type(row), "search"
        )
        raise Forbidden(
            f"{noun} {row.id} belongs to another key; only its owner or an admin key may change it"
        )
