"""Request input the store cannot hold, and where a body stops being readable JSON.

PostgreSQL refuses NUL characters in text and JSON values, so a NUL in any path, query or body
string is refused here with 422 naming the parameter, before a query sees it. JSON bodies nested
deeper than MAX_JSON_DEPTH are refused too (no spec needs more than a few levels, and deep nesting
exhausts recursion in the parser and the JSON writers). Positions are given to people as
"line L, column C" of the body text, never as a byte offset.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from api.errors import FieldError, ValidationProblem
from api.route_statuses import route_inputs

MAX_JSON_DEPTH = 32
NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (\\u0000) characters"

# A JSON string (skipped whole, so brackets inside strings do not count) or a bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def line_column(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` in `text` (columns count characters, not bytes)."""
    if isinstance(text, bytes):
        text = text[:offset].decode("utf-8", errors="replace")
        offset = len(text)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def too_deep_at(body: bytes, limit: int = MAX_JSON_DEPTH) -> tuple[int, int] | None:
    """The line and column of the first bracket that opens level `limit + 1`, if any."""
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return line_column(body, token.start())
        elif char in (b"]", b"}"):
            depth -= 1
    return None


def body_problem(message: str) -> ValidationProblem:
    return ValidationProblem(
        f"the request body {message}",
        errors=[FieldError(field="(body)", message=message, location="body")],
    )


def too_deep_problem(body: bytes) -> ValidationProblem:
    where = too_deep_at(body)
    position = f" at line {where[0]}, column {where[1]}" if where else ""
    return body_problem(f"nests JSON more than {MAX_JSON_DEPTH} levels deep{position}")


def not_utf8_problem(err: UnicodeDecodeError) -> ValidationProblem:
    line, column = line_column(err.object, err.start)
    byte = err.object[err.start : err.start + 1].hex()
    return body_problem(f"is not valid UTF-8: byte 0x{byte} at line {line}, column {column}")


def _nul_problem(field: str, location: str) -> ValidationProblem:
    return ValidationProblem(
        f"{field} {NUL_MESSAGE}",
        errors=[FieldError(field=field, message=NUL_MESSAGE, location=location)],
    )


def _printable(part: str) -> str:
    return part.replace(NUL, "\\u0000")


def _check_json(value: Any) -> tuple[str, str] | None:
    """("nul", field) for the first string holding NUL, ("depth", "") when nested too deep."""
    stack: list[tuple[Any, tuple[str, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return "nul", ".".join(path) or "(body)"
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return "depth", ""
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and NUL in key:
                    return "nul", ".".join((*path, _printable(key)))
                stack.append((child, (*path, str(key)), depth + 1))
    return None


async def reject_unstorable_input(request: Request) -> None:
    """App-wide dependency: NUL characters in a route's parameters or JSON body, and over-deep
    JSON bodies, get 422. Parameters a route does not declare never reach the store: not checked."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    inputs = route_inputs(route)
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise _nul_problem(name, "path")
    for name, value in request.query_params.multi_items():
        if name in inputs.query and NUL in value:
            raise _nul_problem(name, "query")
    if not inputs.body or not await request.body():
        return
    try:
        data = await request.json()  # parsed and cached already when the body is JSON
    except (ValueError, RecursionError):
        return  # not JSON: the route's own body validation reports it
    found = _check_json(data)
    if found is None:
        return
    kind, field = found
    if kind == "depth":
        raise too_deep_problem(await request.body())
    raise _nul_problem(field, "body")
