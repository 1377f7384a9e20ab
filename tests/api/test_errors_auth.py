"""Problem details for bad input, unknown routes and oversized bodies; 401/403 paths; OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient

from store.db import Database
from store.repositories.keys import revoke_key
from tests.api.conftest import Enqueued, Keys
from tests.api.test_searches import TINY

PROBLEM = "application/problem+json"


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert (
        body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    )
    return body


def _fields(body: dict) -> dict[str, dict]:
    return {e["field"]: e for e in body["errors"]}


def test_unknown_field_names_it_and_the_allowed_ones(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    body = _problem(
        client.post(
            "/searches", json={**TINY, "dataset": {"name": "cifar10", "sise": 3}}, headers=keys.submit
        ),
        422,
    )
    error = _fields(body)["dataset.sise"]
    assert error["message"] == "unknown field" and error["location"] == "body"
    assert "subset" in error["allowed"] and "root" in error["allowed"]
    assert body["instance"] == "/searches"
    assert enqueued.calls == []


def test_bad_method_param_and_literal(client: TestClient, keys: Keys) -> None:
    spec = {**TINY, "method": "beta-darts", "method_params": {"tau": -1}, "space": "nb201"}
    error = _fields(_problem(client.post("/searches", json=spec, headers=keys.submit), 422))[
        "method_params.tau"
    ]
    assert "greater than or equal to 0" in error["message"]

    spec = {**TINY, "dataset": {"name": "mnist"}}
    error = _fields(_problem(client.post("/searches", json=spec, headers=keys.submit), 422))["dataset.name"]
    assert error["allowed"] == ["cifar10", "cifar100", "imagenet16-120", "digits", "synthetic"]


def test_wrong_space_combination(client: TestClient, keys: Keys) -> None:
    spec = {**TINY, "supernet": {"C": 4, "layers": 5}}  # layers belongs to the darts space
    error = _fields(_problem(client.post("/searches", json=spec, headers=keys.submit), 422))[
        "supernet.layers"
    ]
    assert error["message"] == "applies to space 'darts'; nb201 uses supernet.N"


def test_malformed_json(client: TestClient, keys: Keys) -> None:
    resp = client.post(
        "/searches", content=b"{not json", headers={**keys.submit, "Content-Type": "application/json"}
    )
    assert _problem(resp, 422)["errors"]


def test_oversized_bodies_refused_before_parsing(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    resp = client.post("/searches", content=big, headers={**keys.submit, "Content-Type": "application/json"})
    assert "1048576 bytes" in _problem(resp, 413)["detail"]

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    resp = client.post(
        "/searches", content=chunks(), headers={**keys.submit, "Content-Type": "application/json"}
    )
    _problem(resp, 413)
    assert enqueued.calls == []


def test_unknown_route_and_method(client: TestClient, keys: Keys) -> None:
    assert "/nope" in _problem(client.get("/nope"), 404)["detail"]
    body = _problem(client.delete("/searches", headers=keys.admin), 405)
    assert "DELETE" in body["detail"]
    _problem(client.get("/searches/does-not-exist", headers=keys.read), 404)


def test_authentication(client: TestClient, keys: Keys, database: Database) -> None:
    missing = client.get("/searches")
    assert _problem(missing, 401) and missing.headers["WWW-Authenticate"].startswith("Bearer")
    _problem(client.get("/searches", headers={"Authorization": "Bearer fnas_nope_nope"}), 401)
    _problem(client.get("/searches", headers={"X-API-Key": "garbage"}), 401)
    token = keys.read["Authorization"].removeprefix("Bearer ")
    assert client.get("/searches", headers={"X-API-Key": token}).status_code == 200

    with database.session() as session:
        revoke_key(session, keys.ids["read"])
    _problem(client.get("/searches", headers=keys.read), 401)
    assert client.get("/healthz").status_code == 200  # health and metrics are open
    assert client.get("/metrics").status_code == 200


def test_scopes_and_ownership(client: TestClient, keys: Keys) -> None:
    body = _problem(client.post("/searches", json=TINY, headers=keys.read), 403)
    assert "submit" in body["detail"]
    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    _problem(client.post(f"/searches/{search_id}/cancel", headers=keys.read), 403)
    body = _problem(client.post(f"/searches/{search_id}/cancel", headers=keys.other), 403)
    assert "another key" in body["detail"]
    assert client.post(f"/searches/{search_id}/cancel", headers=keys.admin).status_code == 200


def test_openapi_declares_problem_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/searches"]["post"]
    for status in ("401", "403", "409", "413", "422", "503"):
        assert post["responses"][status]["content"] == {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "SearchSpec" in schema["components"]["schemas"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    assert "text/csv" in schema["paths"]["/searches/{search_id}/curves"]["get"]["responses"]["200"]["content"]


def test_every_creation_answers_201_with_location(client: TestClient) -> None:
    """One status code for creation: every POST but the cancel/retry actions creates something and
    documents 201 with a required Location header (202 is only "accepted, will act": cancel, retry)."""
    paths = client.get("/openapi.json").json()["paths"]
    creations = [p for p, item in paths.items() if "post" in item and not p.endswith(("/cancel", "/retry"))]
    assert {
        "/searches",
        "/studies",
        "/evaluations",
        "/landscape-jobs/barrier",
        "/landscape-jobs/barrier-matrix",
        "/landscape-jobs/neighbourhood",
    } <= set(creations)
    for path in creations:
        responses = paths[path]["post"]["responses"]
        assert "201" in responses and "202" not in responses, (path, sorted(responses))
        assert responses["201"]["headers"]["Location"]["required"] is True, path


def test_unexpected_errors_are_problems_too(app, client: TestClient) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    body = _problem(client.get("/boom"), 500)
    assert body["title"] == "Internal server error"
    assert "secret internals" not in body["detail"]  # the log has it, the client does not
