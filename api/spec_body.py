"""Request bodies: the key first, then the body, parsed off the event loop.

Every route that takes a body is a `BodyRoute` (the routers' route class). Before FastAPI reads
the body, it

1. refuses a request without a well-formed key (401) before a byte of the body is read;
2. reads the body (at most MAX_BODY_BYTES: api/middleware.py), then, in one thread-pool call,
   checks the key against the database for the scope the route's key dependency needs (401/403)
   and only then parses the body (JSON; YAML on `SpecBodyRoute`) and checks it for what the store
   cannot hold (api/request_input.py): a small body in that same call, a large one in a worker
   process (api/body_parser.py). Parsing never blocks the event loop, and a request whose key is
   unknown never gets its body parsed;
3. hands FastAPI the parsed value, so validation and error fields are those of any JSON body, and
   the caller it authorized, so the route's own key check needs no second query.

`SpecBodyRoute` (`POST /searches`) also takes the CLI's YAML spec files as they are
(`Content-Type: application/yaml`), read by api/yaml_body.py into the same value as the JSON
submission, so validation, error fields and idempotency hashing are the same; any other media type
gets 415 before the body is read. Routes without a body are left exactly as FastAPI makes them:
no hop is added to a GET.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from api.body_parser import Syntax, parse
from api.deps import CALLER_SCOPE_KEY, authorize_now, request_token, required_scope
from api.errors import FieldError, ProblemError
from store.db import Database
from store.repositories.keys import Caller

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(kind: str) -> bool:
    # As FastAPI decides whether to parse a body as JSON: application/json or application/*+json.
    return kind in JSON_TYPES or (kind.startswith("application/") and kind.endswith("+json"))


def _authorize_and_parse(
    database: Database, token: str | None, scope: str | None, body: bytes, syntax: Syntax | None
) -> tuple[Caller | None, Any]:
    """Blocking: the key's caller (401/403 first), then the parsed body (None: not parsed here)."""
    caller = authorize_now(database, token, scope) if token is not None and scope is not None else None
    return caller, (parse(syntax, body) if syntax is not None else None)


class BodyRoute(APIRoute):
    """Authenticates before a body is read, and parses it in the thread pool (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        scope = required_scope(self.dependant)

        async def route(request: Request) -> Response:
            token = request_token(request) if scope is not None else None
            syntax = self.syntax_of(media_type(request))
            body = await request.body()
            database, parser = request.app.state.database, request.app.state.body_parser
            if syntax is not None and parser.in_process(body):
                caller, _ = await run_in_threadpool(_authorize_and_parse, database, token, scope, body, None)
                data = await parser.parse_elsewhere(syntax, body)
            else:
                here = syntax if body else None
                caller, data = await run_in_threadpool(
                    _authorize_and_parse, database, token, scope, body, here
                )
            if caller is not None:
                request.scope[CALLER_SCOPE_KEY] = caller
            if data is not None:
                request = self.with_parsed_body(request, body, data)
            return await handler(request)

        return route

    def syntax_of(self, kind: str) -> Syntax | None:
        """How to parse a body of media type `kind`: JSON as FastAPI would, else not at all (FastAPI
        then validates the raw bytes, and refuses them)."""
        return "json" if _is_json(kind) else None

    def with_parsed_body(self, request: Request, body: bytes, data: Any) -> Request:
        request._json = data  # what FastAPI's `await request.json()` returns: parsed once, here
        return request


class SpecBodyRoute(BodyRoute):
    """Accepts JSON and YAML bodies; anything else gets 415 (no media type: FastAPI's default)."""

    def syntax_of(self, kind: str) -> Syntax | None:
        if kind in YAML_TYPES:
            return "yaml"
        if kind and not _is_json(kind):
            raise UnsupportedMediaType(
                f"Content-Type {kind} is not accepted; send the spec as application/json or application/yaml",
                errors=[
                    FieldError(
                        field="Content-Type",
                        message=f"{kind} is not accepted",
                        allowed=[*JSON_TYPES, "application/yaml"],
                        location="header",
                    )
                ],
            )
        return super().syntax_of(kind)

    def with_parsed_body(self, request: Request, body: bytes, data: Any) -> Request:
        if _is_json(media_type(request)):
            return super().with_parsed_body(request, body, data)
        # FastAPI parses only bodies that say they are JSON: the parsed YAML goes on as one.
        headers = [(name, value) for name, value in request.scope["headers"] if name != b"content-type"]
        headers.append((b"content-type", b"application/json"))
        parsed = Request({**request.scope, "headers": headers}, request.receive)
        parsed._body, parsed._json = body, data
        return parsed
