"""Evaluations over HTTP: the genotype resolved at submit time, the protocol's spec validated and
bounded (422 naming the field), enqueue after commit, idempotency, cancel/retry, listing, curves.
The worker side runs for real in tests/integration/test_evaluations.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nas_core.genotype import DARTS_V2, genotype_to_json
from store.db import Database
from store.repositories import evaluations, results
from store.settings import Settings
from tests.api.conftest import Enqueued, Keys
from tests.api.test_landscape import BEST, FINAL
from tests.fixtures.database import make_search

TINY = {"epochs": 3, "C": 8, "layers": 1, "batch_size": 32}


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "genotype": {"json": BEST},
        "dataset": {"name": "digits", "image_size": 8},
        "overrides": dict(TINY),
    }
    data.update(overrides)
    return data


def test_submit_an_inline_genotype_then_read_it_back(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    resp = client.post("/evaluations", json=body(priority=7, seed=3), headers=keys.submit)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert resp.headers["Location"] == f"/evaluations/{out['id']}"
    assert enqueued.evaluations == [(out["id"], 7)] and enqueued.seen_evaluation_status == ["queued"]
    assert out["status"] == "queued" and out["protocol"] == "nb201"  # from the genotype's space
    assert out["spec"]["epochs"] == 3 and out["spec"]["lr"] == 0.1 and out["spec"]["nesterov"] is True
    assert out["seed"] == 3 and out["source"] == {} and out["genotype"]["arch_str"] == BEST["arch_str"]
    assert out["test_acc"] is None and out["params_m"] is None
    got = client.get(f"/evaluations/{out['id']}", headers=keys.read).json()
    assert got["id"] == out["id"] and got["links"]["curves"] == f"/evaluations/{out['id']}/curves"


def test_a_searchs_genotype_and_its_evaluations(
    client: TestClient, keys: Keys, database: Database, enqueued: Enqueued
) -> None:
    with database.session() as s:
        search = make_search(s, keys.ids["submit"], name="found").id
        results.upsert_genotype(s, search, BEST, epoch=0, is_best=True)
        results.upsert_genotype(s, search, FINAL, epoch=1, is_final=True)
    best = client.post(
        "/evaluations", json=body(genotype={"search_id": search, "which": "best"}), headers=keys.submit
    )
    final = client.post("/evaluations", json=body(genotype={"search_id": search}), headers=keys.submit)
    assert best.status_code == final.status_code == 201, (best.text, final.text)
    assert best.json()["source"] == {"search_id": search, "which": "best", "epoch": 0}
    assert final.json()["genotype"]["arch_str"] == FINAL["arch_str"]
    assert final.json()["genotype"]["search_id"] == search
    listed = client.get(f"/searches/{search}/evaluations", headers=keys.read).json()["items"]
    assert [e["id"] for e in listed] == [final.json()["id"], best.json()["id"]]
    by_epoch = client.post(
        "/evaluations", json=body(genotype={"search_id": search, "epoch": 1}), headers=keys.submit
    )
    assert by_epoch.json()["source"] == {"search_id": search, "which": None, "epoch": 1}
    missing = client.post(
        "/evaluations", json=body(genotype={"search_id": search, "epoch": 5}), headers=keys.submit
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "genotype.epoch"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"protocol": "darts"}, "protocol"),
        ({"protocol": "imagenet"}, "protocol"),
        ({"overrides": {**TINY, "epochs": 100000}}, "overrides.epochs"),
        ({"overrides": {**TINY, "C": 4096}}, "overrides.C"),
        ({"overrides": {**TINY, "learning_rate": 1}}, "overrides.learning_rate"),
        ({"overrides": {**TINY, "batch_size": 1}}, "overrides.batch_size"),
        ({"overrides": {"seed": 4}}, "overrides.seed"),
        ({"dataset": {"name": "cifar10", "root": "/etc"}}, "dataset.root"),
        ({"genotype": {"json": {"space": "nb201", "arch_str": "|bogus~0|+|x|"}}}, "genotype.json"),
        ({"genotype": {"search_id": "nope"}}, "genotype.search_id"),
        ({"genotype": {"json": BEST, "which": "best"}}, "genotype"),
        ({"priority": 10}, "priority"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(
    client: TestClient, keys: Keys, enqueued: Enqueued, changes: dict[str, Any], field: str
) -> None:
    resp = client.post("/evaluations", json=body(**changes), headers=keys.submit)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in resp.json()["errors"]], resp.json()
    assert enqueued.evaluations == []


def test_darts_protocol_defaults_and_scopes(
    client: TestClient, keys: Keys, enqueued: Enqueued, api_settings: Settings, tmp_path: Path
) -> None:
    api_settings.FLATNAS_DATA_ROOT = str(tmp_path)  # the default data set, cifar10, is read from files
    doc = genotype_to_json(DARTS_V2)
    assert (
        client.post("/evaluations", json=body(genotype={"json": doc}), headers=keys.read).status_code == 403
    )
    resp = client.post("/evaluations", json={"genotype": {"json": doc}}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    spec = resp.json()["spec"]
    assert (spec["protocol"], spec["C"], spec["layers"], spec["epochs"], spec["cutout"]) == (
        "darts",
        36,
        20,
        600,
        16,
    )
    assert (spec["auxiliary_weight"], spec["drop_path"], spec["dataset"]["name"]) == (0.4, 0.2, "cifar10")


def test_a_file_backed_data_set_without_a_data_root_is_refused_at_submit_as_for_a_search(
    client: TestClient, keys: Keys, enqueued: Enqueued, api_settings: Settings, tmp_path: Path
) -> None:
    api_settings.FLATNAS_DATA_ROOT = None
    cifar = body(dataset={"name": "cifar10"})
    evaluation = client.post("/evaluations", json=cifar, headers=keys.submit)
    search = client.post(
        "/searches",
        json={"dataset": {"name": "cifar10"}, "epochs": 1, "supernet": {"C": 4, "N": 1}},
        headers=keys.submit,
    )
    assert (evaluation.status_code, search.status_code) == (422, 422), evaluation.text
    # The same check answers both: same field, same message.
    assert evaluation.json()["errors"] == search.json()["errors"]
    assert evaluation.json()["errors"][0]["field"] == "dataset.name"
    assert "FLATNAS_DATA_ROOT" in evaluation.json()["detail"] and enqueued.evaluations == []
    # Generated data sets need no root; a configured root admits the file-backed one.
    assert client.post("/evaluations", json=body(), headers=keys.submit).status_code == 201
    api_settings.FLATNAS_DATA_ROOT = str(tmp_path)
    assert client.post("/evaluations", json=cifar, headers=keys.submit).status_code == 201


def test_idempotency_key_replays_or_conflicts(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    headers = {**keys.submit, "Idempotency-Key": "eval-1"}
    first = client.post("/evaluations", json=body(), headers=headers)
    again = client.post("/evaluations", json=body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and len(enqueued.evaluations) == 1
    assert again.headers["Location"] == first.headers["Location"] == f"/evaluations/{first.json()['id']}"
    other = client.post("/evaluations", json=body(seed=9), headers=headers)
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_cancel_retry_and_broker_refusal(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    ev = client.post("/evaluations", json=body(), headers=keys.submit).json()["id"]
    assert client.post(f"/evaluations/{ev}/cancel", headers=keys.other).status_code == 403
    cancelled = client.post(f"/evaluations/{ev}/cancel", headers=keys.submit)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/evaluations/{ev}/cancel", headers=keys.submit).status_code == 409
    retried = client.post(f"/evaluations/{ev}/retry", headers=keys.submit)
    assert retried.status_code == 202 and retried.json()["status"] == "retrying"
    assert enqueued.evaluations[-1] == (ev, 5) and enqueued.seen_evaluation_status[-1] == "retrying"
    enqueued.fail_with = ConnectionError("broker down")
    refused = client.post("/evaluations", json=body(), headers=keys.submit)
    assert refused.status_code == 503, refused.text
    failed = client.get(f"/evaluations/{refused.json()['evaluation_id']}", headers=keys.read).json()
    assert failed["status"] == "failed" and "broker refused" in failed["error"]


def test_curves_as_json_and_csv_and_list_filters(
    client: TestClient,
    keys: Keys,
    database: Database,
    enqueued: Enqueued,
    api_settings: Settings,
    tmp_path: Path,
) -> None:
    ev = client.post("/evaluations", json=body(), headers=keys.submit).json()["id"]
    with database.session() as s:
        for epoch in (1, 0):
            row = {"epoch": epoch, "train_loss": 2.0 - epoch, "train_acc": 0.3, "test_loss": 1.5}
            evaluations.upsert_epoch(s, ev, {**row, "test_acc": 0.4 + epoch / 10, "lr": 0.1, "seconds": 1.0})
        evaluations.upsert_epoch(
            s,
            ev,
            {
                "epoch": 1,
                "train_loss": float("nan"),
                "train_acc": 0.5,
                "test_loss": 1.0,
                "test_acc": 0.6,
                "lr": 0.05,
                "seconds": 2.0,
            },
        )
    curves = client.get(f"/evaluations/{ev}/curves", headers=keys.read).json()["epochs"]
    assert [(c["epoch"], c["test_acc"], c["train_loss"]) for c in curves] == [(0, 0.4, 2.0), (1, 0.6, None)]
    csv_text = client.get(f"/evaluations/{ev}/curves?format=csv", headers=keys.read).text
    assert csv_text.splitlines()[0] == "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds"
    assert csv_text.splitlines()[2].startswith("1,,0.5,1.0,0.6,0.05,")
    assert client.get(f"/evaluations/{ev}", headers=keys.read).json()["latest_test_acc"] == 0.6
    api_settings.FLATNAS_DATA_ROOT = str(tmp_path)  # for the darts protocol's cifar10
    darts = client.post(
        "/evaluations", json={"genotype": {"json": genotype_to_json(DARTS_V2)}}, headers=keys.submit
    )

    def ids(**query: str) -> list[str]:
        items = client.get("/evaluations", params=query, headers=keys.read).json()["items"]
        return [e["id"] for e in items]

    assert ids() == [darts.json()["id"], ev]
    assert ids(protocol="nb201") == [ev] and ids(protocol="darts", status="queued") == [darts.json()["id"]]
    assert ids(status="succeeded") == [] and ids(dataset="cifar10") == [darts.json()["id"]]
    assert client.get("/evaluations/nope", headers=keys.read).status_code == 404
