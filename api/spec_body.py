"""Spec bodies in JSON or YAML: the route class of `POST /searches`.

The CLI's spec files are YAML, so the endpoint takes them as they are (`Content-Type:
application/yaml`). A YAML body is parsed here and handed on as the JSON body it denotes, so
validation, error fields and idempotency hashing are exactly those of a JSON submission. Any other
media type is answered 415 before the body is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import yaml
from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.errors import FieldError, ProblemError, ValidationProblem
from flatnas.documents import SpecFileError, parse_spec_text

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def yaml_to_json(body: bytes) -> bytes:
    """The JSON text of a YAML spec; a syntax error names its line and column (1-based).

    Anchors and aliases are refused: loading keeps them as shared references, but written out as
    JSON a small body could expand into a huge one.
    """
    try:
        data = parse_spec_text(body, "body", yaml_syntax=True)
    except SpecFileError as err:
        raise _invalid(_located(err)) from None
    if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(body, Loader=yaml.SafeLoader)):
        raise _invalid("YAML anchors and aliases are not accepted in a spec")
    try:
        return json.dumps(data, allow_nan=False).encode()
    except (TypeError, ValueError) as err:  # dates, binary, .inf: not JSON values
        raise _invalid(f"the YAML document holds a value JSON cannot carry: {err}") from None


def _located(err: SpecFileError) -> str:
    if err.line is None:
        return str(err.problem)
    kind, _, problem = err.problem.partition(": ")
    return f"{kind} at line {err.line}, column {err.column}: {problem}"


def _invalid(message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[FieldError(field="body", message=message, location="body")])


class SpecBodyRoute(APIRoute):
    """Accepts JSON (as FastAPI does) and YAML bodies; anything else gets 415."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            kind = media_type(request)
            if kind in YAML_TYPES:
                body = yaml_to_json(await request.body())
                request = _with_json_body(request, body)
            elif kind and kind not in JSON_TYPES and not kind.endswith("+json"):  # none: JSON, as FastAPI
                raise UnsupportedMediaType(
                    f"Content-Type {kind} is not accepted; send the spec as application/json "
                    "or application/yaml",
                    errors=[
                        FieldError(
                            field="Content-Type",
                            message=f"{kind} is not accepted",
                            allowed=[*JSON_TYPES, "application/yaml"],
                            location="header",
                        )
                    ],
                )
            return await handler(request)

        return route


def _with_json_body(request: Request, body: bytes) -> Request:
    headers = [
        (name, value)
        for name, value in request.scope["headers"]
        if name not in (b"content-type", b"content-length")
    ]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)
