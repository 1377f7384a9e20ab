"""Health, readiness, metrics (open) and the catalogues of spaces, methods, metrics and data sets (read scope)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.catalog import Catalog, catalog
from api.deps import DatabaseDep, ReadKey, SettingsDep
from api.errors import ServiceUnavailable, problem_for, problem_responses
from api.schemas import DatasetsOut, Health, MethodsOut, SpacesOut
from nas_core.dataroots import DataRoots
from nas_core.datasets import availability
from nas_core.methods import describe_methods
from nas_core.spaces import describe_spaces

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


def _check_database(database: DatabaseDep) -> str:
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


@router.get(
    "/readyz",
    summary="Readiness: the database and the broker are reachable",
    responses=problem_responses(503),
)
def readyz(request: Request, database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    checks = {
        "database": _check_database(database),
        "broker": _check_broker(settings.BROKER_URL, settings.READY_TIMEOUT_S),
    }
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
def methods(key: ReadKey) -> MethodsOut:
    return MethodsOut(items=describe_methods())


@router.get(
    "/spaces",
    summary="Search spaces: their op sets, depth field and defaults",
    responses=problem_responses(401, 403),
)
def spaces(key: ReadKey) -> SpacesOut:
    return SpacesOut.model_validate({"items": describe_spaces()})


@router.get(
    "/catalog",
    summary="Everything this service can run and measure: spaces, methods, metrics and data sets",
    responses=problem_responses(401, 403),
)
def get_catalog(key: ReadKey) -> Catalog:
    return catalog()


@router.get(
    "/datasets",
    summary="Data sets and whether this service can run them (generated, or files under its data root)",
    responses=problem_responses(401, 403),
)
def datasets(key: ReadKey, settings: SettingsDep) -> DatasetsOut:
    # The data root is the service's setting, shared by the API (which admits a spec against it)
    # and its workers (which read the files), so the API can answer for them.
    roots = DataRoots.parse(settings.FLATNAS_DATA_ROOT)
    return DatasetsOut.model_validate({"items": [a.to_dict() for a in availability(roots)]})
