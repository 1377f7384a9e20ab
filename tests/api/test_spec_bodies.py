"""POST /searches in the CLI's own format (YAML), 415 for other media types, and id prefixes."""

from __future__ import annotations

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.api.conftest import Enqueued, Keys
from tests.api.test_searches import TINY


def test_a_yaml_body_is_the_same_search_as_its_json(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    as_yaml = client.post(
        "/searches",
        content=yaml.safe_dump(TINY),
        headers={**keys.submit, "Content-Type": "application/yaml", "Idempotency-Key": "y1"},
    )
    assert as_yaml.status_code == 201, as_yaml.text
    # The same spec as JSON with the same Idempotency-Key is a replay: same normalised spec, same hash.
    as_json = client.post("/searches", json=TINY, headers={**keys.submit, "Idempotency-Key": "y1"})
    assert as_json.status_code == 200 and as_json.json()["id"] == as_yaml.json()["id"]
    assert as_yaml.json()["spec"]["dataset"]["subset"] == 64 and len(enqueued.calls) == 1


def test_an_example_file_posts_as_it_is(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "examples/tiny-nb201-digits.yaml").read_bytes()
    resp = client.post("/searches", content=text, headers={**keys.submit, "Content-Type": "text/yaml"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "tiny-nb201-digits"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "name: x\nepochs: 3: 4\n",
            # libyaml says "... in this context", PyYAML's pure-Python parser "... here"
            "YAML syntax error at line 2, column 10: mapping values are not allowed",
        ),
        ("a: &x [1]\nb: *x\n", "YAML anchors and aliases are not accepted in a spec"),
    ],
)
def test_bad_yaml_is_422_naming_line_and_column(
    client: TestClient, keys: Keys, enqueued: Enqueued, body: str, expected: str
) -> None:
    resp = client.post("/searches", content=body, headers={**keys.submit, "Content-Type": "application/yaml"})
    assert resp.status_code == 422 and resp.headers["content-type"] == "application/problem+json"
    [error] = resp.json()["errors"]
    assert (error["field"], error["location"]) == ("body", "body") and error["message"].startswith(expected)
    assert enqueued.calls == []


def test_a_yaml_field_error_names_the_field(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    resp = client.post(
        "/searches",
        content="epochs: 0\nmethod_params: {tau: -1}\nmethod: beta-darts\n",
        headers={**keys.submit, "Content-Type": "application/yaml"},
    )
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} >= {"epochs"}


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_other_media_types_get_415(client: TestClient, keys: Keys, enqueued: Enqueued, media: str) -> None:
    resp = client.post("/searches", content=b"name=x", headers={**keys.submit, "Content-Type": media})
    assert resp.status_code == 415 and resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert (
        problem["errors"][0]["field"] == "Content-Type"
        and "application/yaml" in problem["errors"][0]["allowed"]
    )
    assert media in problem["detail"] and enqueued.calls == []


def test_darts2_without_a2m_by_default(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    resp = client.post("/searches", json={**TINY, "method": "darts2"}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    assert resp.json()["spec"]["a2m"] is None and resp.json()["a2m_enabled"] is False
    both = client.post(
        "/searches", json={**TINY, "method": "darts2", "a2m": {"enabled": True}}, headers=keys.submit
    )
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "a2m"


def test_id_prefix_filter(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    made = [client.post("/searches", json=TINY, headers=keys.submit).json()["id"] for _ in range(3)]
    for search_id in made:
        found = client.get("/searches", params={"id_prefix": search_id[:6]}, headers=keys.read).json()[
            "items"
        ]
        assert search_id in [s["id"] for s in found]
        assert all(s["id"].startswith(search_id[:6]) for s in found)
    assert client.get("/searches", params={"id_prefix": "-"}, headers=keys.read).json()["items"] == []
    bad = client.get("/searches", params={"id_prefix": "%"}, headers=keys.read)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_prefix"


@pytest.mark.parametrize(
    ("body", "media", "expected"),
    [
        (
            b"name: x\nepochs: 1\nepochs: 500\n",
            "application/yaml",
            "YAML error at line 3, column 1: the key 'epochs' appears twice in one mapping",
        ),
        (b'{"name": "x", "epochs": 1, "epochs": 500}', "application/json", "names the key 'epochs' twice"),
        (b'{"name": "x", "a2m": {"rho": 0.1, "rho": 9}}', "application/json", "names the key 'rho' twice"),
    ],
)
def test_a_key_named_twice_is_422_not_last_one_wins(
    client: TestClient, keys: Keys, enqueued: Enqueued, body: bytes, media: str, expected: str
) -> None:
    resp = client.post("/searches", content=body, headers={**keys.submit, "Content-Type": media})
    assert resp.status_code == 422, resp.text
    assert expected in resp.json()["errors"][0]["message"]
    assert enqueued.calls == []
