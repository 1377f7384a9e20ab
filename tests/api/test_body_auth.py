"""No work for an unauthenticated body: every route that takes a body refuses a request without a
valid key (401) before its body is read or parsed, parses bodies off the event loop, and refuses
over-deep nesting and over-long integer literals in JSON and YAML with 422 naming where.

The timing tests run the app under a real uvicorn server in this process and measure over HTTP.
Their bounds (100 ms) are generous for what is measured (a refusal that reads nothing; a /healthz
answered by the event loop) and far below what parsing costs: a 1 MB YAML body takes over a second
to parse with libyaml, and several seconds with PyYAML's pure-Python loader.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.body_parser import BodyParser
from api.deps import required_scope
from api.request_input import MAX_INT_DIGITS, MAX_JSON_DEPTH
from api.spec_body import BodyRoute
from store.db import Database
from store.repositories import keys as api_keys
from tests.api.conftest import Enqueued, Keys
from tests.api.test_bad_input import JSON, _only_error
from tests.api.test_searches import TINY

YAML = {"Content-Type": "application/yaml"}
FAST_S = 0.100  # the bound for a refusal and for /healthz while bodies are parsed

# Each route that takes a body, with a path that reaches it (ids need not exist: the key comes first).
BODY_ROUTES = {
    "/searches": "/searches",
    "/evaluations": "/evaluations",
    "/studies": "/studies",
    "/landscape-jobs/barrier": "/landscape-jobs/barrier",
    "/landscape-jobs/barrier-matrix": "/landscape-jobs/barrier-matrix",
    "/landscape-jobs/neighbourhood": "/landscape-jobs/neighbourhood",
    # the deprecated URLs of the previous release (api/routes/landscape.py)
    "/barriers": "/barriers",
    "/barriers/matrix": "/barriers/matrix",
    "/searches/{search_id}/flatness/neighbourhood": "/searches/x/flatness/neighbourhood",
}


def _body_routes(app: FastAPI) -> list[APIRoute]:
    from api.routes import benchmark, evaluations, events, landscape, results, searches, studies, system

    routers = (benchmark, evaluations, events, landscape, results, searches, studies, system)
    return [r for m in routers for r in m.router.routes if isinstance(r, APIRoute) and r.body_field]


def _yaml_list(size: int) -> bytes:
    """A YAML spec whose `dataset` is a flat list, `size` bytes long (parses, then fails validation)."""
    head = b"name: x\ndataset:\n"
    item = b"  - abcdefgh\n"
    return head + item * ((size - len(head)) // len(item))


def _nested_yaml(levels: int) -> bytes:
    return b"name: x\ndataset: " + b"[" * levels + b"]" * levels + b"\n"


def _nested_json(levels: int) -> bytes:
    return b'{"name": "x",\n "dataset": ' + b"[" * levels + b"]" * levels + b"}"


# --- every body route: the key before the body --------------------------------------------------


def test_every_body_route_checks_its_key_before_its_body(app: FastAPI) -> None:
    routes = _body_routes(app)
    assert {r.path for r in routes} == set(BODY_ROUTES), "a new body route: add it to BODY_ROUTES"
    for route in routes:
        assert isinstance(route, BodyRoute) and required_scope(route.dependant) is not None, route.path


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        *[(path, b'{"name": ', JSON) for path in sorted(BODY_ROUTES.values())],  # malformed JSON
        *[(path, _nested_json(1000), JSON) for path in sorted(BODY_ROUTES.values())],
        *[(path, b'{"epochs": ' + b"9" * 5000 + b"}", JSON) for path in sorted(BODY_ROUTES.values())],
        # YAML only where it is parsed (elsewhere it is refused unparsed)
        ("/searches", b"name: [x\n", YAML),
        ("/searches", _nested_yaml(1000), YAML),
        ("/searches", b"name: x\nepochs: " + b"9" * 5000 + b"\n", YAML),
    ],
)
def test_without_a_key_any_body_is_401(
    client: TestClient, keys: Keys, database: Database, path: str, body: bytes, headers: dict[str, str]
) -> None:
    for credentials in ({}, {"X-API-Key": "not-a-key"}, {"X-API-Key": "fnas_unknown_secret"}):
        resp = client.post(path, content=body, headers={**headers, **credentials})
        assert resp.status_code == 401, (path, credentials, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    # a revoked key is no key
    with database.session() as session:
        api_keys.revoke_key(session, keys.ids["submit"])
    assert client.post(path, content=body, headers={**headers, **keys.submit}).status_code == 401


def test_a_read_key_is_403_before_its_body_is_parsed(client: TestClient, keys: Keys) -> None:
    resp = client.post("/searches", content=b'{"name": ', headers={**keys.read, **JSON})
    assert resp.status_code == 403, resp.text


# --- nesting and long integers, with a key: 422 naming where ------------------------------------


def test_1000_levels_of_yaml_are_422_naming_the_line(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    for body in (_nested_yaml(1000), _nested_yaml(MAX_JSON_DEPTH + 1)):
        error = _only_error(client.post("/searches", content=body, headers={**keys.submit, **YAML}))
        assert error["field"] == "body" and "at line 2, column" in error["message"], error
        assert "nesting depth" in error["message"] or "levels deep" in error["message"], error
    block = b"name: x\ndataset:\n" + b"".join(b"  " * i + b"- \n" for i in range(MAX_JSON_DEPTH + 5))
    error = _only_error(client.post("/searches", content=block, headers={**keys.submit, **YAML}))
    assert f"more than {MAX_JSON_DEPTH} levels deep at line {MAX_JSON_DEPTH + 2}," in error["message"]
    assert enqueued.calls == []


def test_1000_levels_of_json_are_422_naming_the_line_and_401_without_a_key(
    client: TestClient, keys: Keys
) -> None:
    error = _only_error(client.post("/searches", content=_nested_json(1000), headers={**keys.submit, **JSON}))
    assert error["field"] == "(body)"
    where = f"at line 2, column {13 + MAX_JSON_DEPTH - 1}"
    assert f"more than {MAX_JSON_DEPTH} levels deep {where}" in error["message"]
    assert client.post("/searches", content=_nested_json(1000), headers=JSON).status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "headers", "field"),
    [
        ("/searches", b'{"name": "x", "epochs": ' + b"9" * 5000 + b"}", JSON, "epochs"),
        ("/searches", b'{"optim": {"w_lr": -' + b"1" * 5000 + b"}}", JSON, "optim.w_lr"),
        ("/searches", b"name: x\nepochs: " + b"9" * 5000 + b"\n", YAML, "epochs"),
        ("/landscape-jobs/neighbourhood", b'{"epoch": ' + b"9" * 5000 + b"}", JSON, "epoch"),
        (
            "/landscape-jobs/barrier-matrix",
            b'{"search_ids": ["a", ' + b"7" * 4301 + b"]}",
            JSON,
            "search_ids.1",
        ),
    ],
)
def test_a_5000_digit_integer_is_422_naming_the_field(
    client: TestClient, keys: Keys, enqueued: Enqueued, path: str, body: bytes, headers: dict, field: str
) -> None:
    error = _only_error(client.post(path, content=body, headers={**keys.submit, **headers}))
    assert (error["field"], error["location"]) == (field, "body"), error
    assert f"at most {MAX_INT_DIGITS} digits" in error["message"]
    assert enqueued.calls == []


def test_integers_up_to_the_bound_still_reach_validation(client: TestClient, keys: Keys) -> None:
    resp = client.post("/searches", json={**TINY, "epochs": int("9" * MAX_INT_DIGITS)}, headers=keys.submit)
    assert _only_error(resp)["field"] == "epochs"  # the spec's own bound, not the parser's
    assert client.post("/searches", json=TINY, headers=keys.submit).status_code == 201


# --- timing over a real server --------------------------------------------------------------------


def _timed_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    with httpx.Client(timeout=60) as http:
        started = time.perf_counter()
        status = http.post(url, content=body, headers=headers).status_code
        return status, time.perf_counter() - started


def test_a_1mb_yaml_body_without_a_key_is_refused_at_once(server: str) -> None:
    body = _yaml_list(1_000_000)
    assert 990_000 < len(body) <= 1_000_000
    timings = []
    for _ in range(5):
        status, seconds = _timed_post(f"{server}/searches", body, YAML)
        assert status == 401
        timings.append(seconds)
    # the median: one slow round on a loaded machine is not the code's doing
    assert statistics.median(timings) < FAST_S, timings


def test_healthz_stays_fast_while_large_keyed_bodies_are_parsed(server: str, keys: Keys) -> None:
    body = _yaml_list(1_000_000)
    posts = 4
    with ThreadPoolExecutor(posts) as pool, httpx.Client(timeout=60) as http:
        futures = [
            pool.submit(_timed_post, f"{server}/searches", body, {**keys.submit, **YAML})
            for _ in range(posts)
        ]
        health: list[float] = []
        while not all(f.done() for f in futures):
            started = time.perf_counter()
            assert http.get(f"{server}/healthz").status_code == 200
            elapsed = time.perf_counter() - started
            if not any(f.done() for f in futures):  # every body still being read or parsed
                health.append(elapsed)
        outcomes = [f.result() for f in futures]
    assert [status for status, _ in outcomes] == [422] * posts  # parsed, then refused by validation
    slowest_post = max(seconds for _, seconds in outcomes)
    assert len(health) >= 5, (health, slowest_post)
    # the median again, and the worst well below one body's parse
    assert statistics.median(health) < FAST_S and max(health) < slowest_post / 4, (health, slowest_post)


# --- the parsing processes ------------------------------------------------------------------------


def test_a_killed_parsing_process_costs_no_answer() -> None:
    """A large body still gets its answer when the pool's process was killed, the next body gets a
    fresh pool, and closing the parser (at app shutdown) stops its processes."""
    parser = BodyParser(processes=1)
    body = b'{"name": "x", "tags": [' + b", ".join([b'"abcdefgh"'] * 3000) + b"]}"
    assert parser.in_process(body)

    async def parse() -> dict:
        return await parser.parse_elsewhere("json", body)

    try:
        assert anyio.run(parse)["name"] == "x"
        pool = parser._pool
        assert pool is not None
        for process in list(pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
            process.join(timeout=30)
        assert len(anyio.run(parse)["tags"]) == 3000  # parsed in a thread, this once
        assert parser._pool is None
        assert anyio.run(parse)["name"] == "x" and parser._pool is not None  # a fresh pool
        processes = list(parser._pool._processes.values())
    finally:
        parser.close()
    assert processes and not any(process.is_alive() for process in processes)  # none outlives the app
