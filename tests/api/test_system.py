"""Health, readiness against the real database and Redis, Prometheus metrics, the method catalogue."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from nas_core.methods import METHODS
from store.db import Database
from store.repositories import results, searches
from store.settings import Settings
from tests.api.conftest import Keys
from tests.api.test_results import _epoch
from tests.api.test_searches import TINY


def test_health_and_readiness(client: TestClient, api_settings: Settings, database: Database) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}

    broken = api_settings.model_copy(update={"BROKER_URL": "redis://127.0.0.1:1/0", "READY_TIMEOUT_S": 0.5})
    with TestClient(create_app(broken, database=database)) as other:
        resp = other.get("/readyz")
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"].startswith("unreachable")
    assert "broker" in body["detail"]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics(client: TestClient, keys: Keys, database: Database) -> None:
    ids = [client.post("/searches", json=TINY, headers=keys.submit).json()["id"] for _ in range(3)]
    client.post(f"/searches/{ids[0]}/cancel", headers=keys.submit)
    with database.session() as s:
        searches.lease.claim(s, ids[1], worker="w", stale_after_s=60)
        for epoch in (0, 1, 2):  # 3.5 s, 4.5 s, 5.5 s
            results.upsert_epoch(s, ids[1], _epoch(epoch))
    client.get(f"/searches/{ids[1]}", headers=keys.read)

    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    m = _samples(resp.text)
    assert m[("flatnas_searches", (("state", "cancelled"),))] == 1
    assert m[("flatnas_searches", (("state", "running"),))] == 1
    assert m[("flatnas_searches", (("state", "queued"),))] == 1
    assert m[("flatnas_queue_depth", ())] == 1
    assert m[("flatnas_epoch_duration_seconds_count", ())] == 3
    assert m[("flatnas_epoch_duration_seconds_sum", ())] == 3.5 + 4.5 + 5.5
    assert m[("flatnas_epoch_duration_seconds_bucket", (("le", "5.0"),))] == 2
    assert m[("flatnas_epoch_duration_seconds_bucket", (("le", "2.5"),))] == 0
    latency = (
        "flatnas_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/searches/{search_id}"), ("status", "200")),
    )
    assert m[latency] == 1  # labelled by the route template, not the id
    posted = (
        "flatnas_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/searches"), ("status", "201")),
    )
    assert m[posted] == 3


def test_methods(client: TestClient, keys: Keys) -> None:
    assert client.get("/methods").status_code == 401
    items = client.get("/methods", headers=keys.read).json()["items"]
    by_name = {m["name"]: m for m in items}
    assert "darts" in by_name and set(by_name) <= set(METHODS)
    assert {"kind", "summary", "supports_a2m", "params"} <= set(by_name["darts"])


def test_spaces_come_from_the_registry(client: TestClient, keys: Keys) -> None:
    from nas_core.spaces import SPACES

    assert client.get("/spaces").status_code == 401
    items = client.get("/spaces", headers=keys.read).json()["items"]
    assert [s["name"] for s in items] == list(SPACES)
    for item in items:
        definition = SPACES[item["name"]]
        assert item["depth_field"] == definition.depth_field
        assert item["default_depth"] == definition.default_depth
        assert item["ops_variants"]["default"] == list(definition.default_ops)


def test_catalog_is_one_document_read_from_the_registries(client: TestClient, keys: Keys) -> None:
    from nas_core.datasets import DATASETS
    from nas_core.flatness.metrics import METRICS
    from nas_core.spaces import SPACES

    assert client.get("/catalog").status_code == 401
    body = client.get("/catalog", headers=keys.read).json()
    assert [s["name"] for s in body["spaces"]] == list(SPACES)
    assert [m["name"] for m in body["methods"]] == list(METHODS)
    assert [m["name"] for m in body["metrics"]] == list(METRICS)
    assert [d["name"] for d in body["datasets"]] == list(DATASETS)
    spaces = {s["name"]: s for s in body["spaces"]}
    assert (
        spaces["nb201"]["tabular_benchmark"] == "nas-bench-201"
        and spaces["darts"]["tabular_benchmark"] is None
    )
    assert spaces["nb201"]["cell_edges"][0] == [1, 0] and len(spaces["darts"]["node_labels"]) == 7
    methods = {m["name"]: m for m in body["methods"]}
    assert methods["darts"]["supports_a2m"] and not methods["darts2"]["supports_a2m"]
    assert methods["na-rs"]["kind"] == "sampling" and methods["na-rs"]["family"] == "sampling"
    metrics = {m["name"]: m for m in body["metrics"]}
    assert metrics["hessian_eigenvalue"]["direction"] == "lower"
    assert metrics["best_val_acc"]["direction"] == "higher" and metrics["best_val_acc"]["unit"] == "fraction"
    assert metrics["wall_seconds"]["direction"] == "lower" and metrics["wall_seconds"]["study"]
    assert {m["phase"] for m in body["metrics"]} == {"epoch", "end", None}
    # The New-search form's flatness switches and placeholders: the registry's and the spec's own.
    from nas_core.spec import SearchSpec, describe_flatness_switches

    assert body["flatness_switches"] == describe_flatness_switches()
    assert body["spec_defaults"] == SearchSpec().model_dump(mode="json")
    assert (
        body["spec_defaults"]["flatness"]["interval"] == 5 and body["spec_defaults"]["supernet"]["N"] is None
    )
    # Each space says how its cell is drawn; the dashboard picks the layout from this, not the name.
    assert {s["name"]: s["cell_kind"] for s in body["spaces"]} == {
        name: d.cell_kind for name, d in SPACES.items()
    }
    assert spaces["nb201"]["cell_kind"] == "edges" and spaces["darts"]["cell_kind"] == "nodes"
    # Evaluation protocols: the registry's, each with its space and the form's fields and defaults.
    from typing import get_args

    from nas_core.evaluation.protocol import PROTOCOLS, EvalSpec, ProtocolName

    assert [p["name"] for p in body["protocols"]] == list(PROTOCOLS)
    assert set(get_args(ProtocolName)) == set(PROTOCOLS)  # the spec accepts exactly these
    protocols = {p["name"]: p for p in body["protocols"]}
    assert protocols["nb201"]["space"] == "nb201" and protocols["darts"]["space"] == "darts"
    for name, p in protocols.items():
        assert p["summary"] and p["space"] in SPACES
        fields = {f["name"]: f for f in p["fields"]}
        assert list(fields) == ["epochs", "batch_size", "C", "layers", "seed"]
        # A field's default is what a spec of this protocol gets when the form leaves it empty.
        spec = EvalSpec.model_validate({"protocol": name})
        assert {k: f["default"] for k, f in fields.items()} == {k: getattr(spec, k) for k in fields}
        assert fields["epochs"]["minimum"] == 1 and fields["C"]["description"] == "initial channels"
    assert protocols["darts"]["defaults"]["layers"] == 20 and protocols["nb201"]["defaults"]["C"] == 16
