"""What a route takes as input, and the error statuses that shared machinery can answer for it.

Routes declare their own domain errors (`responses=problem_responses(404, 409, ...)`); the ones
that come from shared machinery are added to the OpenAPI document for every operation that uses
it, so a new route is documented correctly without repeating them:

- it needs an API key: 401, 403, and 503 while the database (where keys live) is down;
- it takes path, query, header or body parameters: 422 (invalid values, NUL characters);
- it takes a path parameter: 404 (nothing with that id);
- it takes a body: 413 (too large), 422 (not UTF-8 JSON, nested too deeply).

A route that reads the database without a key declares 503 itself (/readyz).

Every creation answers 201 Created with the new resource's URL in `Location`; that header is
declared here, once, for every 201 response.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


@dataclass
class RouteInputs:
    path: set[str] = field(default_factory=set)
    query: set[str] = field(default_factory=set)
    header: set[str] = field(default_factory=set)
    body: bool = False


def walk_dependants(dependant: Dependant) -> Iterator[Dependant]:
    """`dependant` and every sub-dependency of it, depth first."""
    yield dependant
    for sub in dependant.dependencies:
        yield from walk_dependants(sub)


def route_inputs(route: APIRoute) -> RouteInputs:
    """Every dependency and parameter of `route`, its sub-dependencies' included (worked out once
    per route and kept on it: routes are not hashable, and ids of dropped apps' routes are reused)."""
    cached = getattr(route, "_flatnas_inputs", None)
    if isinstance(cached, RouteInputs):
        return cached
    inputs = RouteInputs()
    for dependant in walk_dependants(route.dependant):
        inputs.path.update(p.alias for p in dependant.path_params)
        inputs.query.update(p.alias for p in dependant.query_params)
        inputs.header.update(p.alias for p in dependant.header_params)
        inputs.body = inputs.body or bool(dependant.body_params)
    route._flatnas_inputs = inputs  # type: ignore[attr-defined]
    return inputs


def machinery_statuses(operation: dict[str, Any]) -> set[int]:
    """The statuses shared machinery can answer for an OpenAPI `operation`."""
    statuses: set[int] = set()
    if operation.get("security"):  # keys live in the database: 401/403, and 503 while it is down
        statuses.update((401, 403, 503))
    locations = {p.get("in") for p in operation.get("parameters", [])}
    if locations or "requestBody" in operation:
        statuses.add(422)
    if "path" in locations:
        statuses.add(404)
    if "requestBody" in operation:
        statuses.update((413, 422))
    return statuses


def declare_machinery_statuses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add each operation's machinery statuses to the generated OpenAPI `schema` (before
    problem_openapi gives every error status its problem+json body)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status in sorted(machinery_statuses(operation)):
                responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
    return schema


LOCATION_HEADER = {
    "description": "URL of the created resource",
    "required": True,
    "schema": {"type": "string"},
}


def declare_created_location(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every 201 response of the OpenAPI `schema` its `Location` header."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            created = operation.get("responses", {}).get("201")
            if created is not None:
                created.setdefault("headers", {})["Location"] = LOCATION_HEADER
    return schema
