"""Health, readiness, metrics (open) and the catalogues of spaces, methods, metrics and data sets (read scope)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.catalog import Catalog, catalog
from api.deps import ReadStore
from api.errors import ServiceUnavailable, problem_for, problem_responses
from api.schemas import DatasetsOut, Health, MethodsOut, SpacesOut
from nas_core.dataroots import DataRoots
from nas_core.datasets import availability
from nas_core.methods import describe_methods
from nas_core.spaces import describe_spaces
from store.db import Database
from store.repositories.keys import Caller
from store.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    # async and without dependencies: answered on the event loop, no thread-pool hop
    return Health(status="ok")


def _check_database(database: Database) -> str:
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as err:
        log.warning("readiness: database unreachable: %s", err)
        return f"unreachable: {type(err).__name__}"


def _check_broker(url: str, timeout_s: float) -> str:
    from kombu import Connection

    try:
        with Connection(
            url, connect_timeout=timeout_s, transport_options={"socket_timeout": timeout_s}
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
        return "ok"
    except Exception as err:
        log.warning("readiness: broker unreachable: %s", err)
        return f"unreachable: {type(err).__name__}"


def _readiness(database: Database, settings: Settings) -> dict[str, str]:
    """Blocking: each dependency's state, "ok" or why not."""
    return {
        "database": _check_database(database),
        "broker": _check_broker(settings.BROKER_URL, settings.READY_TIMEOUT_S),
    }


@router.get(
    "/readyz",
    summary="Readiness: the database and the broker are reachable",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> JSONResponse:
    app = request.app.state
    checks = await run_in_threadpool(_readiness, app.database, app.settings)
    if all(v == "ok" for v in checks.values()):
        return JSONResponse(Health(status="ready", checks=checks).model_dump())
    failing = ", ".join(f"{name} {state}" for name, state in checks.items() if state != "ok")
    return problem_for(
        ServiceUnavailable, request.url.path, f"not ready: {failing}", extensions={"checks": checks}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/methods",
    summary="Search methods, their hyperparameters and defaults",
    responses=problem_responses(401, 403),
)
async def methods(store: ReadStore) -> MethodsOut:
    return await store.authorized(_methods)


def _methods(_key: Caller) -> MethodsOut:
    return MethodsOut(items=describe_methods())


@router.get(
    "/spaces",
    summary="Search spaces: their op sets, depth field and defaults",
    responses=problem_responses(401, 403),
)
async def spaces(store: ReadStore) -> SpacesOut:
    return await store.authorized(_spaces)


def _spaces(_key: Caller) -> SpacesOut:
    return SpacesOut.model_validate({"items": describe_spaces()})


@router.get(
    "/catalog",
    summary="Everything this service can run and measure: spaces, methods, metrics and data sets",
    responses=problem_responses(401, 403),
)
async def get_catalog(store: ReadStore) -> Catalog:
    return await store.authorized(_catalog)


def _catalog(_key: Caller) -> Catalog:
    return catalog()


@router.get(
    "/datasets",
    summary="Data sets and whether this service can run them (generated, or files under its data root)",
    responses=problem_responses(401, 403),
)
async def datasets(store: ReadStore) -> DatasetsOut:
    return await store.authorized(_datasets, store.settings)


def _datasets(_key: Caller, settings: Settings) -> DatasetsOut:
    # The data root is the service's setting, shared by the API (which admits a spec against it)
    # and its workers (which read the files), so the API can answer for them. Blocking: it looks
    # for the files.
    roots = DataRoots.parse(settings.FLATNAS_DATA_ROOT)
    return DatasetsOut.model_validate({"items": [a.to_dict() for a in availability(roots)]})
