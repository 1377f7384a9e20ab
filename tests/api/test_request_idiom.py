"""One request idiom (api/deps.py): every authenticated route is `async`, takes one `Store` for its
scope and does its blocking work through it (the key check and the work in one thread-pool call).
No route dependency opens a session or a connection per request. The checks walk the app's
routes, so a route written the older way (a `Session` dependency with a key check beside it)
fails here."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import ReadStore, Store, required_scope
from api.route_statuses import walk_dependants
from store.settings import Settings

# Open routes: no key, so no Store. /readyz reaches the database through the app's state.
OPEN_PATHS = {"/healthz", "/readyz", "/metrics", "/", "/dashboard", "/dashboard/{route:path}"}


def _app() -> FastAPI:
    return create_app(Settings(DATABASE_URL="postgresql+psycopg://unused@127.0.0.1/unused"))


def _return_type(call: Callable[..., Any]) -> Any:
    function = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return typing.get_type_hints(function).get("return")


def _mentions(hint: Any, kinds: tuple[type, ...]) -> bool:
    """Whether the type `hint` is, or is built from (Iterator[Session], X | None), one of `kinds`."""
    if isinstance(hint, type) and issubclass(hint, kinds):
        return True
    return any(_mentions(arg, kinds) for arg in typing.get_args(hint))


def per_request_resources(dependant: Dependant) -> list[str]:
    """The dependencies under `dependant` that open something per request: a `yield` dependency,
    or one that hands the route a Session or a Connection."""
    found = []
    for sub in walk_dependants(dependant):
        call = sub.call
        if sub is dependant or call is None:
            continue
        generator = inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call)
        if generator or _mentions(_return_type(call), (Session, Connection)):
            found.append(getattr(call, "__qualname__", repr(call)))
    return found


def stores(dependant: Dependant) -> list[Callable[..., Any]]:
    """The dependencies under `dependant` that give the route a Store."""
    return [
        sub.call
        for sub in walk_dependants(dependant)
        if sub is not dependant and sub.call is not None and _return_type(sub.call) is Store
    ]


def _api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every route of `app`, its included routers' too (newer FastAPI keeps those behind an
    included-router entry in `app.routes`; older versions copied them there)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        routes = list(app.routes)
    else:
        routes = [context.original_route for context in iter_route_contexts(app.routes)]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route


def test_every_authenticated_route_takes_one_store_and_no_per_request_session() -> None:
    routes = list(_api_routes(_app()))
    assert len(routes) > 30  # the walk found the app's routes
    for route in routes:
        where = f"{sorted(route.methods)} {route.path} ({route.endpoint.__module__}.{route.name})"
        assert not per_request_resources(route.dependant), where
        if route.path in OPEN_PATHS:
            assert required_scope(route.dependant) is None, f"{where} is open and checks no key"
            continue
        assert len(stores(route.dependant)) == 1, f"{where}: take one ReadStore/SubmitStore"
        # the key check is the Store's: no other dependency checks a key
        assert required_scope(route.dependant) is not None, where
        assert inspect.iscoroutinefunction(route.endpoint), f"{where}: an async route (one hop)"


def _session_per_request() -> Iterator[Session]:
    yield Session()


def _connection_per_request() -> Connection:
    raise AssertionError("never called")


def test_the_check_catches_a_session_dependency() -> None:
    router = APIRouter()

    @router.get("/old")
    def old(session: Annotated[Session, Depends(_session_per_request)], store: ReadStore) -> None:
        del session, store

    @router.get("/raw")
    async def raw(
        connection: Annotated[Connection, Depends(_connection_per_request)], store: ReadStore
    ) -> None:
        del connection, store

    old_route, raw_route = (r for r in router.routes if isinstance(r, APIRoute))
    assert per_request_resources(old_route.dependant) == [_session_per_request.__qualname__]
    assert per_request_resources(raw_route.dependant) == [_connection_per_request.__qualname__]
    assert len(stores(old_route.dependant)) == 1
