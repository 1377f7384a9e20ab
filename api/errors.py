"""RFC 9457 problem details for every error the API returns.

Domain errors carry their HTTP status; one set of handlers renders them, FastAPI's validation
errors, Starlette's HTTP errors (404/405) and unexpected exceptions as `application/problem+json`
with `type, title, status, detail, instance` and, for bad input, `errors: [{field, message,
allowed?}]` where `field` reads like `method_params.tau`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import exc as db_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.db import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://flatnas.dev/problems/"


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. method_params.tau")
    message: str
    allowed: list[Any] | None = Field(None, description="the values that would be accepted, when finite")
    location: str | None = Field(None, description="body, query, path or header")


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """A domain error: its status, a stable type slug, and a sentence for people."""

    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extensions = extensions


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="flatnas"'})


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class ValidationProblem(ProblemError):
    status, slug, title = 422, "validation-error", "Invalid request"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


class InternalError(ProblemError):
    status, slug, title = 500, "internal-error", "Internal server error"


def problem_response(
    request_path: str | None,
    status: int,
    *,
    slug: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request_path,
        errors=errors,
    ).model_dump(exclude_none=True)
    body.update(extensions or {})  # RFC 9457 extension members
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_for(
    kind: type[ProblemError],
    request_path: str | None,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """The response of problem `kind` (its status, slug and title) where nothing raises it."""
    return problem_response(
        request_path,
        kind.status,
        slug=kind.slug,
        title=kind.title,
        detail=detail,
        errors=errors,
        headers=headers,
        extensions=extensions,
    )


# --- pydantic errors -> field errors ------------------------------------------------------------

_QUOTED = re.compile(r"'([^']*)'")


def _allowed(error: Mapping[str, Any]) -> list[Any] | None:
    ctx = error.get("ctx") or {}
    if error["type"] in ("literal_error", "enum") and "expected" in ctx:
        return _QUOTED.findall(str(ctx["expected"])) or None
    return None


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "value_error" and "error" in (error.get("ctx") or {}):
        return str(error["ctx"]["error"])  # our own cross-field messages, without "Value error, "
    return str(error["msg"])


def field_errors(errors: Sequence[Mapping[str, Any]], *, known_fields: Any = None) -> list[FieldError]:
    """pydantic error dicts -> FieldErrors. `known_fields(path) -> list[str] | None` lists the
    fields allowed next to an unknown one."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else None
        path = loc[1:] if location else loc
        allowed = _allowed(error)
        if error["type"] == "extra_forbidden" and known_fields is not None and location in (None, "body"):
            allowed = known_fields(path[:-1])
        out.append(
            FieldError(
                field=".".join(path) or "(body)", message=_message(error), allowed=allowed, location=location
            )
        )
    return out


def spec_fields_at(path: list[str]) -> list[str] | None:
    """The field names of the SearchSpec section at `path` (e.g. ["dataset"]), for unknown-field errors."""
    from nas_core.spec import SearchSpec
    from nas_core.strict import fields_at

    if "method_params" in path:
        return None  # depends on the method; the error message names it
    return fields_at(SearchSpec, path)


# --- handlers -------------------------------------------------------------------------------------


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _domain(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request.url.path,
            exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        syntax = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if syntax is not None and isinstance(exc.body, str | bytes):
            return await _domain(request, _invalid_json(exc.body, syntax))
        errors = field_errors(list(exc.errors()), known_fields=spec_fields_at)
        fields = ", ".join(e.field for e in errors[:5])
        return problem_for(
            ValidationProblem, request.url.path, f"{len(errors)} invalid field(s): {fields}", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_body(request, exc)
        if unreadable is not None:
            return await _domain(request, unreadable)
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
        if exc.status_code == 404 and detail is None:
            detail = f"no route {request.url.path}"
        elif exc.status_code == 405 and detail is None:
            allow = (exc.headers or {}).get("Allow", "")
            detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allow}"
        return problem_response(
            request.url.path,
            exc.status_code,
            slug=phrase.lower().replace(" ", "-"),
            title=phrase,
            detail=detail or phrase,
            headers=dict(exc.headers or {}),
        )

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        # The database is unreachable (down, restarting, dropped, pool exhausted): a client may
        # come back later, so this is 503 with Retry-After rather than a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        retry_after = str(request.app.state.settings.RETRY_AFTER_S)
        return problem_for(
            ServiceUnavailable,
            request.url.path,
            f"the database is unavailable ({type(exc).__name__}); try again in {retry_after} s",
            headers={"Retry-After": retry_after},
        )

    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _database_down)

    @app.exception_handler(db_errors.DataError)
    async def _unstorable(request: Request, exc: db_errors.DataError) -> JSONResponse:
        # A value the request validation let through but the database refuses (out of range, bad
        # encoding): the input is at fault, not the server. The routes validate first; this is the net.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_for(
            ValidationProblem, request.url.path, "a value in the request cannot be stored: out of range"
        )

    @app.exception_handler(db_errors.IntegrityError)
    async def _integrity(request: Request, exc: db_errors.IntegrityError) -> JSONResponse:
        log.warning("integrity conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_for(Conflict, request.url.path, "the request conflicts with stored data; retry it")

    @app.exception_handler(ValidationError)
    async def _response_validation(request: Request, exc: ValidationError) -> JSONResponse:
        log.error("invalid data in %s: %s", request.url.path, exc)
        return problem_for(InternalError, request.url.path, "invalid stored data")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_for(InternalError, request.url.path, f"{type(exc).__name__}; see the server log")


def _invalid_json(body: str | bytes, error: Mapping[str, Any]) -> ProblemError:
    from api.request_input import body_problem, line_column

    loc = error.get("loc", ())
    offset = loc[-1] if loc and isinstance(loc[-1], int) else 0
    line, column = line_column(body, offset)
    reason = (error.get("ctx") or {}).get("error", "malformed")
    return body_problem(f"is not valid JSON: {reason} at line {line}, column {column}")


def _unreadable_body(request: Request, exc: StarletteHTTPException) -> ProblemError | None:
    """FastAPI answers 400 "error parsing the body" for bodies that are not UTF-8 or that nest too
    deeply for the parser; say which, and where, as 422 problem details."""
    from api.request_input import not_utf8_problem, too_deep_problem

    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return not_utf8_problem(cause)
    if isinstance(cause, RecursionError):
        return too_deep_problem(b"".join(request.scope.get(RAW_BODY_SCOPE_KEY, ())))
    return None


RAW_BODY_SCOPE_KEY = "flatnas.raw_body"  # the body's chunks as received (BodySizeLimitMiddleware)


def problem_responses(
    *statuses: int, extra: Mapping[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for a route's error statuses, plus `extra` success responses
    (the app's openapi() then files every 4xx/5xx body under application/problem+json)."""
    responses: dict[int | str, dict[str, Any]] = dict(extra or {})
    responses.update(
        {status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses}
    )
    return responses


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI document so every error response is a problem+json Problem."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in components["Problem"].pop("$defs", {}).items():
        components.setdefault(name, sub)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
