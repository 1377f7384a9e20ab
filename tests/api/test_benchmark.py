"""Ground truth over HTTP: a search's stored lookups (JSON, CSV, curves CSV columns) written through
the worker's repository, and one-off lookups answered from the API node's own benchmark."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nas_core.benchmarks.ground_truth import GroundTruth
from nas_core.benchmarks.nb201 import open_configured
from store.db import Database
from store.repositories import benchmark, results
from store.settings import Settings
from tests.api.conftest import Keys
from tests.api.test_results import _epoch, _submit
from tests.fixtures import nb201_benchmark as written


def _record_search(database: Database, search_id: str, benchmark_dir: Path) -> GroundTruth:
    """What the worker's reporter writes for a 3-epoch search: epochs 0..2, best at 1, final at 2."""
    truth = GroundTruth(str(benchmark_dir), compute_optimum=False)
    with database.session() as s:
        benchmark.record_status(s, search_id, truth.start("nb201"))
    open_configured(str(benchmark_dir)).optimum()  # the worker's background scan, finished
    truth.new_optimum()
    for epoch, index in enumerate((10, 4321, 77)):
        with database.session() as s:
            results.upsert_epoch(s, search_id, _epoch(epoch))
            rows = truth.rows_for(written.genotype_json(index), epoch=epoch, is_best=epoch in (0, 1))
            benchmark.record_lookups(s, search_id, rows)
            benchmark.record_status(s, search_id, truth.status)
    with database.session() as s:
        benchmark.record_lookups(
            s, search_id, truth.rows_for(written.genotype_json(77), epoch=2, is_final=True)
        )
        # Rewriting an epoch (a resumed search) replaces its rows instead of adding more.
        benchmark.record_lookups(s, search_id, truth.rows_for(written.genotype_json(77), epoch=2))
    return truth


def test_search_benchmark_json_csv_and_curves(
    client: TestClient, keys: Keys, database: Database, nb201_benchmark_dir: Path
) -> None:
    search_id = _submit(client, keys)
    _record_search(database, search_id, nb201_benchmark_dir)

    body = client.get(f"/searches/{search_id}/benchmark", headers=keys.read).json()
    assert body["status"]["state"] == "ready" and body["status"]["lookups"] == 3
    assert body["status"]["source"] == "NATS-tss-v1_0-3ffb9-simple"  # a name, not the node's path
    assert body["status"]["lookup_ms_mean"] is not None and body["status"]["open_seconds"] is not None
    assert {name: o["index"] for name, o in body["optimum"].items()} == dict.fromkeys(
        ("cifar10", "cifar100", "ImageNet16-120"), written.OPTIMUM
    )
    items = body["items"]
    by = {(r["kind"], r["epoch"], r["dataset"]): r for r in items}
    assert len(items) == 3 * 3 + 3 + 3  # one row per epoch and data set, one best, one final
    assert {k[:2] for k in by if k[0] == "best"} == {("best", 1)}  # the newer best replaced epoch 0's
    assert by[("final", 2, "cifar10")]["arch_index"] == 77
    want = written.expected(4321)["cifar100"]
    got = by[("epoch", 1, "cifar100")]
    assert got["arch_str"] == written.arch_strings()[4321]
    for field, value in want.items():
        assert got[field] == pytest.approx(value)

    resp = client.get(f"/searches/{search_id}/benchmark", params={"format": "csv"}, headers=keys.read)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == len(items) and float(rows[0]["test_acc"]) == pytest.approx(items[0]["test_acc"])

    curves = client.get(f"/searches/{search_id}/curves", params={"format": "csv"}, headers=keys.read)
    table = list(csv.DictReader(io.StringIO(curves.text)))
    assert [int(r["epoch"]) for r in table] == [0, 1, 2]
    assert float(table[1]["benchmark_test_acc_ImageNet16-120"]) == pytest.approx(
        written.expected(4321)["ImageNet16-120"]["test_acc"]
    )


def test_without_ground_truth_the_status_says_why(client: TestClient, keys: Keys, database: Database) -> None:
    search_id = _submit(client, keys)
    pending = client.get(f"/searches/{search_id}/benchmark", headers=keys.read).json()
    assert pending["status"]["state"] == "pending" and pending["items"] == []

    with database.session() as s:
        benchmark.record_status(s, search_id, GroundTruth(None).start("nb201"))
    body = client.get(f"/searches/{search_id}/benchmark", headers=keys.read).json()
    assert body["status"]["state"] == "not_configured"
    assert "FLATNAS_NB201_BENCHMARK" in body["status"]["detail"]

    darts = _submit(client, keys, space="darts", supernet={"C": 4, "layers": 5})
    assert client.get(f"/searches/{darts}/benchmark", headers=keys.read).json()["status"]["state"] == (
        "not_applicable"
    )
    curves = client.get(f"/searches/{darts}/curves", params={"format": "csv"}, headers=keys.read)
    assert "benchmark_test_acc" not in curves.text
    assert client.get("/searches/nope/benchmark", headers=keys.read).status_code == 404
    assert client.get(f"/searches/{search_id}/benchmark").status_code == 401


@pytest.fixture
def benchmark_client(api_settings: Settings, database: Database, nb201_benchmark_dir: Path) -> TestClient:
    from api.app import create_app

    settings = api_settings.model_copy(update={"FLATNAS_NB201_BENCHMARK": str(nb201_benchmark_dir)})
    return TestClient(create_app(settings, database=database), raise_server_exceptions=False)


def test_one_off_lookup_answers_from_the_nodes_benchmark(benchmark_client: TestClient, keys: Keys) -> None:
    arch = written.arch_strings()[9999]
    resp = benchmark_client.get("/benchmark/nb201", params={"arch": arch}, headers=keys.read)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["index"] == 9999 and body["arch_str"] == arch
    assert body["results"]["cifar10"]["test_acc"] == pytest.approx(
        written.expected(9999)["cifar10"]["test_acc"]
    )


@pytest.mark.parametrize(
    "arch",
    [
        "|none~0|+|none~0|",  # two nodes
        "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # unknown op
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",  # wrong input
        "|none~0|" * 40,  # longer than any arch string
        "",
    ],
)
def test_bad_arch_strings_get_422_naming_the_field(
    benchmark_client: TestClient, keys: Keys, arch: str
) -> None:
    resp = benchmark_client.get("/benchmark/nb201", params={"arch": arch}, headers=keys.read)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["arch"]


def test_one_off_lookup_without_a_benchmark_is_503_saying_why(client: TestClient, keys: Keys) -> None:
    arch = written.arch_strings()[1]
    resp = client.get("/benchmark/nb201", params={"arch": arch}, headers=keys.read)
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "FLATNAS_NB201_BENCHMARK" in resp.json()["detail"]
    assert client.get("/benchmark/nb201", params={"arch": arch}).status_code == 401
