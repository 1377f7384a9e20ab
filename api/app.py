"""The FastAPI application: `create_app()` builds one (tests pass their own settings);
`app` is the one uvicorn serves (`uvicorn api.app:app`), configured from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI

from api.body_parser import BodyParser
from api.errors import install_problem_handlers, problem_openapi
from api.metrics import LatencyMiddleware, build_registry
from api.middleware import BodySizeLimitMiddleware
from api.request_input import reject_unstorable_input
from api.route_statuses import declare_created_location, declare_machinery_statuses
from api.routes import benchmark, evaluations, events, landscape, results, searches, studies, system
from api.shutdown import ShutdownFlag
from store.db import Database
from store.settings import Settings

DESCRIPTION = """Submit neural-architecture searches (DARTS family, with Architecture-Aware
Minimization), follow them live, and download their genotypes, curves and flatness metrics.

Authenticate with an API key (`flatnas server keys create NAME --scope read|submit|admin`) sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors are RFC 9457 problem details."""


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    if settings is None:
        from store.settings import settings as configured

        settings = configured
    # One connection per thread-pool thread: blocking work never waits for a connection, and the
    # pool never opens and closes extra ones under load.
    database = database or Database(settings.DATABASE_URL, pool_size=settings.API_THREADS)
    threads = settings.API_THREADS

    shutdown = ShutdownFlag()
    body_parser = BodyParser(settings.API_PARSE_PROCESSES)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        shutdown.install()
        try:
            yield
        finally:
            shutdown.uninstall()
            body_parser.close()
            database.dispose()

    app = FastAPI(
        title="flatnas",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unstorable_input)],
    )
    app.state.settings = settings
    app.state.database = database
    app.state.shutdown = shutdown
    app.state.body_parser = body_parser
    registry, latency = build_registry(database)
    app.state.metrics_registry = registry

    install_problem_handlers(app)
    for module in (searches, results, events, landscape, evaluations, studies, system, benchmark):
        app.include_router(module.router)

    # Outermost last: the size limit answers before routing; latency sees the final status.
    app.add_middleware(LatencyMiddleware, histogram=latency)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(
                declare_created_location(declare_machinery_statuses(FastAPI.openapi(app)))
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    from api.dashboard import mount_dashboard

    mount_dashboard(app)
    return app


app = create_app()
