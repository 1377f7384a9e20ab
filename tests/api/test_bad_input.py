"""Input that used to answer 500 or an undocumented 400: NUL characters, integers beyond int4,
bodies that are not UTF-8 JSON or nest too deeply, and reads while the database is unreachable.
Every one must be problem details with a 4xx (503 for the outage) that the OpenAPI document declares."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.request_input import MAX_JSON_DEPTH
from store.settings import Settings
from tests.api.conftest import Enqueued, Keys
from tests.api.test_searches import TINY
from tests.fixtures.live_service import free_port

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    return resp.json()


def _only_error(resp: Any, status: int = 422) -> dict[str, Any]:
    body = _problem(resp, status)
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


# --- NUL characters: PostgreSQL refuses them in text and JSON -------------------------------------


@pytest.mark.parametrize(
    ("path", "field", "location"),
    [
        ("/searches/ab%00cd", "search_id", "path"),
        ("/searches/ab%00cd/curves", "search_id", "path"),
        ("/landscape-jobs/x%00", "job_id", "path"),
        ("/searches?q=a%00b", "q", "query"),
        ("/searches?tag=%00", "tag", "query"),
        ("/landscape-jobs?search_id=%00", "search_id", "query"),
        ("/searches/some-id/flatness?kind=hessian%00", "kind", "query"),
    ],
)
def test_nul_in_path_or_query_is_422_naming_it(
    client: TestClient, keys: Keys, path: str, field: str, location: str
) -> None:
    error = _only_error(client.get(path, headers=keys.read))
    assert (error["field"], error["location"]) == (field, location)
    assert "NUL" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**TINY, "name": "a\x00b"}, "name"),
        ({**TINY, "tags": ["ok", "b\x00d"]}, "tags.1"),
        ({**TINY, "dataset": {**TINY["dataset"], "root": "/data\x00"}}, "dataset.root"),
        ({**TINY, "method_params": {"t\x00u": 1}}, "method_params.t\\u0000u"),
    ],
)
def test_nul_in_a_body_string_is_422_naming_it(
    client: TestClient, keys: Keys, enqueued: Enqueued, body: dict[str, Any], field: str
) -> None:
    error = _only_error(client.post("/searches", json=body, headers=keys.submit))
    assert (error["field"], error["location"]) == (field, "body")
    assert enqueued.calls == []


def test_nul_in_landscape_bodies(client: TestClient, keys: Keys) -> None:
    body = {"a": {"search_id": "x\x00"}, "b": {"genotype": {"arch\x00": []}}}
    error = _only_error(client.post("/landscape-jobs/barrier", json=body, headers=keys.submit))
    assert error["field"] in ("a.search_id", "b.genotype.arch\\u0000")
    matrix = {"search_ids": ["a", "\x00"]}
    error = _only_error(client.post("/landscape-jobs/barrier-matrix", json=matrix, headers=keys.submit))
    assert error["field"] == "search_ids.1"
    hood = {"search_id": "a\x00"}
    error = _only_error(client.post("/landscape-jobs/neighbourhood", json=hood, headers=keys.submit))
    assert error["field"] == "search_id"


# --- integers beyond what an int4 column holds --------------------------------------------------


def test_epoch_beyond_int4_is_422(client: TestClient, keys: Keys) -> None:
    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    for route in ("genotype", "alphas"):
        error = _only_error(client.get(f"/searches/{search_id}/{route}?epoch=2147483648", headers=keys.read))
        assert (error["field"], error["location"]) == ("epoch", "query")
        assert "2147483647" in error["message"]
    # the largest int4 is a valid question with no answer
    assert (
        client.get(f"/searches/{search_id}/genotype?epoch=2147483647", headers=keys.read).status_code == 404
    )

    hood = {"search_id": search_id, "epoch": 2**31}
    resp = client.post("/landscape-jobs/neighbourhood", json=hood, headers=keys.submit)
    assert _only_error(resp)["field"] == "epoch"
    body = {"a": {"search_id": search_id, "epoch": 2**40}, "b": {"search_id": search_id}}
    resp = client.post("/landscape-jobs/barrier", json=body, headers=keys.submit)
    assert _only_error(resp)["field"] == "a.epoch"


# --- bodies that are not UTF-8 JSON, or nest too deeply -----------------------------------------


def test_invalid_json_names_line_and_column(client: TestClient, keys: Keys) -> None:
    resp = client.post(
        "/searches", content=b'{\n  "name": "x",\n  "epochs": ,\n}', headers={**keys.submit, **JSON}
    )
    error = _only_error(resp)
    assert error["field"] == "(body)" and error["location"] == "body"
    assert "line 3, column 13" in error["message"] and "Expecting value" in error["message"]


def test_invalid_utf8_is_422_with_its_position(client: TestClient, keys: Keys) -> None:
    resp = client.post("/searches", content=b'{"name":\n "caf\xe9"}', headers={**keys.submit, **JSON})
    error = _only_error(resp)
    assert error["field"] == "(body)"
    assert "not valid UTF-8: byte 0xe9 at line 2, column 6" in error["message"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000])
def test_over_deep_json_is_422_with_its_position(client: TestClient, keys: Keys, depth: int) -> None:
    # 33 levels parse but are refused by the depth check; 5000 exhaust the parser's recursion.
    nested = "[" * (depth - 1) + "]" * (depth - 1)
    resp = client.post(
        "/searches", content=f'{{"method_params": {nested}}}'.encode(), headers={**keys.submit, **JSON}
    )
    error = _only_error(resp)
    assert error["field"] == "(body)"
    assert (
        f"more than {MAX_JSON_DEPTH} levels deep at line 1, column {19 + MAX_JSON_DEPTH - 1}"
        in error["message"]
    )


def test_brackets_inside_strings_do_not_count_towards_depth(client: TestClient, keys: Keys) -> None:
    resp = client.post("/searches", json={**TINY, "name": "[" * 100}, headers=keys.submit)
    assert resp.status_code == 201, resp.text


# --- the database is unreachable: 503 with Retry-After ------------------------------------------


def test_reads_while_the_database_is_unreachable_are_503(api_settings: Settings) -> None:
    from api.app import create_app

    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = api_settings.model_copy(update={"DATABASE_URL": closed, "RETRY_AFTER_S": 7})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = {"Authorization": "Bearer fnas_0123456789abcdef_secret"}  # well formed: looked up
        for path in ("/searches", "/searches/abc", "/searches/abc/events", "/landscape-jobs"):
            resp = client.get(path, headers=headers)
            body = _problem(resp, 503)
            assert resp.headers["Retry-After"] == "7"
            assert "database is unavailable" in body["detail"]
        assert client.get("/healthz").status_code == 200


# --- every status above is in the OpenAPI document ----------------------------------------------


def test_openapi_declares_the_machinery_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    responses = {
        (path, method): set(op["responses"]) for path, item in paths.items() for method, op in item.items()
    }
    assert {"401", "403", "404", "422", "503"} <= responses[("/searches/{search_id}", "get")]
    assert {"401", "403", "413", "422", "503"} <= responses[("/searches", "post")]
    assert {"401", "403", "413", "422", "503"} <= responses[("/landscape-jobs/neighbourhood", "post")]
    assert {"401", "403", "404", "409"} <= responses[("/landscape-jobs/{job_id}/cancel", "post")]
    assert "503" in responses[("/readyz", "get")]
    assert responses[("/healthz", "get")] == {"200"}  # no input, no database: nothing can go wrong
    for (path, method), statuses in responses.items():
        for status in statuses - {"200", "201", "202"}:
            content = paths[path][method]["responses"][status]["content"]
            assert list(content) == [PROBLEM], (path, method, status)
