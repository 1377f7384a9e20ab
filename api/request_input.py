"""Request input the store cannot hold, and where a body stops being readable JSON.

PostgreSQL refuses NUL characters in text and JSON values, so a NUL in any path, query or body
string is refused here with 422 naming the parameter, before a query sees it. Bodies (JSON, or the
YAML spec bodies of api/yaml_body.py) nested deeper than MAX_JSON_DEPTH are refused too (no spec
needs more than a few levels, and deep nesting exhausts recursion in the parsers and the JSON
writers), and so are integer literals longer than MAX_INT_DIGITS: Python refuses to read an int of
more than 4,300 digits with a ValueError that would name no field, and no request value needs more
than 19. Positions are given to people as "line L, column C" of the body text, never as a byte
offset.

Bodies are parsed and checked by `parse_json_body` (api/spec_body.py runs it in the thread pool,
after the key is checked); the app-wide dependency checks path and query parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from api.errors import FieldError, ValidationProblem
from api.route_statuses import route_inputs
from flatnas.documents import RepeatedKey, object_without_repeats

MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 64
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


@dataclass(frozen=True)
class TooLongInteger:
    """Stands in for an integer literal of more than MAX_INT_DIGITS digits until `check_body`
    refuses it under its field's name; `line` is known for YAML bodies."""

    digits: int
    line: int | None = None


def bounded_int(text: str) -> int | TooLongInteger:
    """An integer literal's value, or a TooLongInteger for one longer than MAX_INT_DIGITS."""
    digits = len(text) - text.startswith(("-", "+"))
    return TooLongInteger(digits) if digits > MAX_INT_DIGITS else int(text)


_JSON = json.JSONDecoder(parse_int=bounded_int, object_pairs_hook=object_without_repeats)


def parse_json_body(body: bytes) -> Any:
    """The JSON value of `body`, checked by `check_body`; else a 422 problem naming where it fails.
    Decoded as json.loads decodes bytes (UTF-8, -16 or -32, by its first bytes)."""
    try:
        data = _JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError as err:
        raise not_utf8_problem(err) from None
    except json.JSONDecodeError as err:
        raise body_problem(f"is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
    except RecursionError:  # deeper than the C parser's recursion allows: far past MAX_JSON_DEPTH
        raise too_deep_problem(body) from None
    except RepeatedKey as err:
        raise body_problem(
            f"names the key {err.args[0]!r} twice in one object; each key may appear once"
        ) from None
    check_body(data, body)
    return data


def check_body(data: Any, body: bytes) -> None:
    """Refuse (422, naming the field) a parsed body holding NUL characters, integer literals
    longer than MAX_INT_DIGITS or values JSON cannot carry (YAML dates, binary, sets), or nested
    deeper than MAX_JSON_DEPTH."""
    stack: list[tuple[Any, tuple[str, ...], int]] = [(data, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                raise _nul_problem(_field(path), "body")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise too_deep_problem(body)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and NUL in key:
                    raise _nul_problem(".".join((*path, _printable(key))), "body")
                stack.append((child, (*path, str(key)), depth + 1))
        elif isinstance(item, TooLongInteger):
            where = f" at line {item.line}" if item.line else ""
            raise _value_problem(
                _field(path),
                f"an integer of {item.digits} digits{where} is too long; "
                f"integers have at most {MAX_INT_DIGITS} digits",
            )
        elif item is not None and not isinstance(item, int | float):  # bool is an int
            raise _value_problem(
                _field(path),
                f"a YAML {type(item).__name__} is not a JSON value; quote it to send a string",
            )


def _field(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(body)"


def _value_problem(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(
        f"{field}: {message}", errors=[FieldError(field=field, message=message, location="body")]
    )


async def reject_unstorable_input(request: Request) -> None:
    """App-wide dependency: NUL characters in a route's path and query parameters get 422.
    Parameters a route does not declare never reach the store: not checked. Bodies are checked
    where they are parsed (`parse_json_body`, api/yaml_body.py)."""
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
