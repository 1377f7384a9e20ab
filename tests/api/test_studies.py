"""Studies over the API on PostgreSQL: the grid as child searches (validated as a whole, committed
before enqueue), idempotency, state and progress from the children, results equal to a hand
computation from the children's rows, CSV tables, cancel and retry of the whole study."""

from __future__ import annotations

import csv
import io
import math
import statistics
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from nas_core.benchmarks.ground_truth import GroundTruthRow
from nas_core.genotype import genotype_to_json
from nas_core.reporter import FlatnessRecord
from nas_core.spaces.nb201_definition import parse_nb201_arch_str
from store.db import Database
from store.models import Search, utcnow
from store.repositories import benchmark, results, searches
from tests.api.conftest import Enqueued, Keys
from tests.unit.tiny import tiny_body

BASE = tiny_body(space="nb201")
GRID = {"method": ["darts", "pc-darts"], "a2m.enabled": [True, False], "seed": [0, 1]}


def submit(client: TestClient, keys: Keys, **body: object) -> dict:
    resp = client.post(
        "/studies", json={"name": "cmp", "base": BASE, "grid": GRID, **body}, headers=keys.submit
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_submit_makes_the_grid_as_tagged_searches_enqueued_after_commit(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    study = submit(client, keys, tags=["paper"], priority=6)
    assert study["searches"] == 8 and study["status"] == "queued" and study["axes"] == list(GRID)
    ids = [c["search_id"] for c in study["children"]]
    assert [c["position"] for c in study["children"]] == list(range(8))
    assert study["children"][3]["cell"] == {"method": "darts", "a2m.enabled": False, "seed": 1}
    assert enqueued.calls == [(i, 6) for i in ids] and set(enqueued.seen_status) == {"queued"}
    listed = client.get(f"/searches?tag=study:{study['id']}&limit=50", headers=keys.read).json()["items"]
    assert sorted(s["id"] for s in listed) == sorted(ids)
    child = client.get(f"/searches/{ids[3]}", headers=keys.read).json()
    assert child["spec"]["method"] == "darts" and child["spec"]["a2m"]["enabled"] is False
    assert child["spec"]["seed"] == 1 and child["tags"] == ["paper", f"study:{study['id']}"]
    assert child["name"] == "cmp [method=darts a2m.enabled=false seed=1]"


def test_an_invalid_grid_names_every_bad_cell_and_stores_nothing(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    body = {"name": "bad", "base": BASE, "grid": {"supernet.C": [4, 0], "method": ["darts", "nope"]}}
    resp = client.post("/studies", json=body, headers=keys.submit)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"grid[1].method", "grid[2].supernet.C", "grid[3].supernet.C", "grid[3].method"} <= fields
    assert client.get("/studies", headers=keys.read).json()["items"] == []
    assert client.get("/searches", headers=keys.read).json()["items"] == [] and enqueued.calls == []


def test_the_grid_size_is_bounded_by_settings(client: TestClient, keys: Keys) -> None:
    body = {"name": "big", "base": BASE, "grid": {"seed": list(range(64)), "method": ["darts", "gaea"]}}
    resp = client.post("/studies", json=body, headers=keys.submit)
    assert resp.status_code == 422
    (error,) = resp.json()["errors"]
    assert (
        error["field"] == "grid" and "128 searches" in error["message"] and "at most 64" in error["message"]
    )


def test_idempotency_key_replays_or_conflicts(client: TestClient, keys: Keys) -> None:
    headers = {**keys.submit, "Idempotency-Key": "k1"}
    body = {"name": "once", "base": BASE, "grid": {"seed": [0, 1]}}
    first = client.post("/studies", json=body, headers=headers)
    again = client.post("/studies", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    other = client.post("/studies", json={**body, "name": "twice"}, headers=headers)
    assert other.status_code == 409
    assert len(client.get("/searches", headers=keys.read).json()["items"]) == 2


def _finish(
    database: Database, search_id: str, accs: list[float], flat: dict[str, float], minutes: int
) -> None:
    """Give a child search the rows a worker would have written, and mark it succeeded."""
    with database.session() as session:
        for epoch, acc in enumerate(accs):
            row = {"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0 - acc, "val_acc": acc}
            results.upsert_epoch(session, search_id, {**row, "lr": 0.1, "seconds": 1.0, "alphas": {}})
        results.add_flatness(session, search_id, FlatnessRecord("hessian_eigenvalue", 0, {}, 99.0, 0.1))
        results.add_flatness(
            session, search_id, FlatnessRecord("hessian_eigenvalue", 1, {"residual": 0.05}, flat["eig"], 0.1)
        )
        nb = {"acc": {"mean": flat["nb"]}}
        results.add_flatness(
            session, search_id, FlatnessRecord("neighbourhood", None, {"radius": 1}, nb, 0.1)
        )
        results.add_flatness(
            session,
            search_id,
            FlatnessRecord("neighbourhood", None, {"radius": 2}, {"acc": {"mean": 0.0}}, 0.1),
        )
        # An on-demand neighbourhood job on some other genotype is not the search's own metric.
        on_demand = {"radius": 1, "source": "on_demand"}
        results.add_flatness(
            session, search_id, FlatnessRecord("neighbourhood", 5, on_demand, {"acc": {"mean": 0.99}}, 0.1)
        )
        search = session.get(Search, search_id)
        assert search is not None
        search.status, search.finished_at = "succeeded", utcnow()
        search.started_at = search.finished_at - timedelta(minutes=minutes)
        session.commit()


def test_results_equal_a_hand_computation_from_the_children(
    client: TestClient, keys: Keys, database: Database
) -> None:
    body = {"name": "ab", "base": BASE, "grid": {"a2m.enabled": [True, False], "seed": [0, 1, 2]}}
    study = client.post("/studies", json=body, headers=keys.submit).json()
    ids = {(c["cell"]["a2m.enabled"], c["cell"]["seed"]): c["search_id"] for c in study["children"]}
    final = {
        (True, 0): 0.8,
        (True, 1): 0.9,
        (True, 2): 0.7,
        (False, 0): 0.7,
        (False, 1): 0.85,
        (False, 2): 0.4,
    }
    eig = {(True, 0): 1.0, (True, 1): 2.0, (True, 2): 3.0, (False, 0): 2.0, (False, 1): 4.0, (False, 2): 9.0}
    for (a2m, seed), search_id in ids.items():
        if (a2m, seed) == (False, 2):
            continue  # still queued: excluded from every statistic
        _finish(
            database,
            search_id,
            [0.95, final[(a2m, seed)]],
            {"eig": eig[(a2m, seed)], "nb": seed / 10},
            10 + seed,
        )

    detail = client.get(f"/studies/{study['id']}", headers=keys.read).json()
    assert detail["counts"] == {"succeeded": 5, "queued": 1} and detail["status"] == "running"
    assert detail["fraction"] == pytest.approx(5 / 6)

    res = client.get(f"/studies/{study['id']}/results", headers=keys.read).json()
    on, off = res["cells"]
    assert on["values"] == {"a2m.enabled": True} and on["n"] == 3 and off["n"] == 2
    fin_on = on["metrics"]["final_val_acc"]
    assert fin_on["mean"] == pytest.approx(0.8) and fin_on["std"] == pytest.approx(0.1)
    assert (fin_on["min"], fin_on["max"]) == pytest.approx((0.7, 0.9))
    assert on["metrics"]["best_val_acc"]["mean"] == pytest.approx(0.95)
    assert on["metrics"]["hessian_eigenvalue"]["mean"] == pytest.approx(2.0)  # the last epoch's, not 99
    assert on["metrics"]["neighbourhood_acc_mean"]["mean"] == pytest.approx(0.1)  # radius 1 only
    assert on["metrics"]["wall_seconds"]["mean"] == pytest.approx(11 * 60)
    assert off["metrics"]["final_val_acc"]["mean"] == pytest.approx(0.775)

    (pair,) = res["paired"]
    d_acc = [final[(True, s)] - final[(False, s)] for s in (0, 1)]  # seed 2 has no pair yet
    acc = pair["metrics"]["final_val_acc"]
    assert acc["n"] == 2 and acc["mean"] == pytest.approx(statistics.fmean(d_acc))
    assert acc["std"] == pytest.approx(statistics.stdev(d_acc)) and acc["positive"] == 2
    t = statistics.fmean(d_acc) / (statistics.stdev(d_acc) / math.sqrt(2))
    assert acc["t_p"] == pytest.approx(1 - 2 * math.atan(abs(t)) / math.pi)  # t with 1 degree of freedom
    assert acc["sign_p"] == pytest.approx(0.5)
    eig_pair = pair["metrics"]["hessian_eigenvalue"]
    assert eig_pair["mean"] == pytest.approx(-1.5) and eig_pair["positive"] == 0
    # Lower is flatter: A2M on has the lower eigenvalue on both seeds, so it is better on both.
    assert eig_pair["better"] == 2 and acc["better"] == 2
    assert pair["metrics"]["wall_seconds"]["better"] == 0  # equal wall times: neither is better

    table = list(
        csv.DictReader(
            io.StringIO(client.get(f"/studies/{study['id']}/results?format=csv", headers=keys.read).text)
        )
    )
    assert [row["a2m.enabled"] for row in table] == ["true", "false"] and table[0]["n"] == "3"
    assert float(table[0]["final_val_acc_mean"]) == pytest.approx(0.8)
    assert float(table[0]["final_val_acc_std"]) == pytest.approx(0.1)
    paired_csv = client.get(f"/studies/{study['id']}/results?format=csv&table=paired", headers=keys.read)
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(paired_csv.text))}
    assert float(rows["final_val_acc"]["mean_delta"]) == pytest.approx(statistics.fmean(d_acc))
    assert rows["final_val_acc"]["n"] == "2"
    assert (rows["hessian_eigenvalue"]["positive"], rows["hessian_eigenvalue"]["better"]) == ("0", "2")


def test_cancel_and_retry_the_whole_study(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    study = submit(client, keys)
    assert client.post(f"/studies/{study['id']}/cancel", headers=keys.other).status_code == 403
    cancelled = client.post(f"/studies/{study['id']}/cancel", headers=keys.submit)
    assert cancelled.status_code == 202
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["counts"] == {"cancelled": 8} and body["cancel_requested"]
    enqueued.calls.clear()
    retried = client.post(f"/studies/{study['id']}/retry", headers=keys.submit)
    assert retried.status_code == 202 and retried.json()["counts"] == {"retrying": 8}
    assert not retried.json()["cancel_requested"] and len(enqueued.calls) == 8
    assert client.post(f"/studies/{study['id']}/retry", headers=keys.submit).status_code == 409
    assert client.get("/studies/nope", headers=keys.read).status_code == 404


def test_a_broker_refusal_marks_searches_failed_and_answers_503(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    enqueued.fail_with = ConnectionError("broker down")
    resp = client.post(
        "/studies", json={"name": "x", "base": BASE, "grid": {"seed": [0, 1]}}, headers=keys.submit
    )
    assert resp.status_code == 503 and "2 of its 2 jobs" in resp.json()["detail"]
    (study,) = client.get("/studies", headers=keys.read).json()["items"]
    assert study["counts"] == {"failed": 2} and study["status"] == "failed"


def test_ground_truth_of_the_best_genotype_is_a_metric_per_benchmark_data_set(
    client: TestClient, keys: Keys, database: Database
) -> None:
    body = {"name": "gt", "base": BASE, "grid": {"a2m.enabled": [True, False], "seed": [0]}}
    study = client.post("/studies", json=body, headers=keys.submit).json()
    ids = {c["cell"]["a2m.enabled"]: c["search_id"] for c in study["children"]}
    for a2m, search_id in ids.items():
        _finish(database, search_id, [0.5], {"eig": 1.0, "nb": 0.5}, 1)
        rows = [
            GroundTruthRow(kind, epoch, dataset, "|x|", 7, acc, 0.1, None, None, 1.0, 2.0, 3)
            for kind, epoch, acc in (("epoch", 0, 50.0), ("best", 0, 93.0 if a2m else 91.5))
            for dataset in ("cifar10", "ImageNet16-120")
        ]
        with database.session() as session:
            benchmark.record_lookups(session, search_id, rows)
            session.commit()
    res = client.get(f"/studies/{study['id']}/results", headers=keys.read).json()
    assert list(res["metrics"])[:4] == [
        "best_val_acc",
        "final_val_acc",
        "gt_cifar10_test_acc",
        "gt_imagenet16_120_test_acc",
    ]
    on, off = res["cells"]
    assert on["metrics"]["gt_cifar10_test_acc"]["mean"] == pytest.approx(
        0.93
    )  # the best genotype's, as a fraction
    assert off["metrics"]["gt_imagenet16_120_test_acc"]["mean"] == pytest.approx(0.915)
    (pair,) = res["paired"]
    assert pair["metrics"]["gt_cifar10_test_acc"]["mean"] == pytest.approx(0.015)


EVALUATE = {
    "protocol": "nb201",
    "dataset": {"name": "digits", "image_size": 8, "augment": False},
    "overrides": {"epochs": 1, "C": 4, "layers": 1, "batch_size": 32},
}


def test_evaluate_is_validated_per_space_before_anything_is_stored(client: TestClient, keys: Keys) -> None:
    body = {"name": "ev", "base": BASE, "grid": {"seed": [0]}, "evaluate": {**EVALUATE, "protocol": "darts"}}
    resp = client.post("/studies", json=body, headers=keys.submit)
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["evaluate.protocol"]
    body["evaluate"] = {**EVALUATE, "overrides": {"epochs": 10**6}}
    resp = client.post("/studies", json=body, headers=keys.submit)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "evaluate.overrides.epochs"
    assert client.get("/searches", headers=keys.read).json()["items"] == []


def test_each_succeeded_search_gets_one_evaluation_of_its_best_genotype(
    client: TestClient, keys: Keys, database: Database, enqueued: Enqueued
) -> None:
    from worker.study_evaluations import evaluate_finished

    body = {"name": "ev", "base": BASE, "grid": {"a2m.enabled": [True, False]}, "evaluate": EVALUATE}
    study = client.post("/studies", json=body, headers=keys.submit).json()
    assert study["evaluate"] is True and study["request"]["evaluation_specs"]["nb201"]["epochs"] == 1
    done, waiting = (c["search_id"] for c in study["children"])
    _finish(database, done, [0.5], {"eig": 1.0, "nb": 0.5}, 1)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    genotype = genotype_to_json(parse_nb201_arch_str(arch))
    with database.session() as session:
        results.upsert_genotype(session, done, genotype, epoch=0, is_best=True, is_final=True)
        session.commit()
    detail = client.get(f"/studies/{study['id']}", headers=keys.read).json()
    assert detail["status"] == "running"  # one search waits, and the finished one awaits its evaluation

    started = evaluate_finished(database.sessionmaker)
    assert len(started) == 1 and enqueued.evaluations == [(started[0], 5)]
    assert evaluate_finished(database.sessionmaker, done) == []  # exactly once, also when swept again
    evaluation = client.get(f"/evaluations/{started[0]}", headers=keys.read).json()
    assert evaluation["source"] == {"search_id": done, "which": "best", "epoch": 0}
    assert evaluation["spec"]["epochs"] == 1 and evaluation["name"].startswith("ev [a2m.enabled=true")
    detail = client.get(f"/studies/{study['id']}", headers=keys.read).json()
    assert detail["evaluation_counts"] == {"queued": 1}
    assert detail["children"][0]["evaluation_id"] == started[0]

    cancelled = client.post(f"/studies/{study['id']}/cancel", headers=keys.submit).json()
    assert cancelled["evaluation_counts"] == {"cancelled": 1} and cancelled["status"] == "cancelled"
    retried = client.post(f"/studies/{study['id']}/retry", headers=keys.submit).json()
    assert retried["evaluation_counts"] == {"retrying": 1} and enqueued.evaluations[-1] == (started[0], 5)


def test_an_evaluate_study_ends_when_nothing_is_left_to_evaluate(
    client: TestClient, keys: Keys, database: Database
) -> None:
    from worker.study_evaluations import evaluate_finished

    body = {"name": "ev", "base": BASE, "grid": {"seed": [0, 1]}, "evaluate": EVALUATE}
    study = client.post("/studies", json=body, headers=keys.submit).json()
    no_genotype, failing = (c["search_id"] for c in study["children"])
    _finish(database, no_genotype, [0.5], {"eig": 1.0, "nb": 0.5}, 1)  # succeeded, but derived nothing
    with database.session() as session:
        searches.lease.mark_failed(session, failing, "diverged", worker=None)
        session.commit()
    assert evaluate_finished(database.sessionmaker) == []
    for body in (
        client.get(f"/studies/{study['id']}", headers=keys.read).json(),
        client.get("/studies", headers=keys.read).json()["items"][0],
    ):
        assert body["status"] == "failed" and body["fraction"] == 1.0 and body["evaluation_counts"] == {}


def test_the_eta_covers_the_evaluations_still_to_run(
    client: TestClient, keys: Keys, database: Database, enqueued: Enqueued
) -> None:
    """4 searches done, 2 of 4 evaluations running and 2 queued: the study is not done, nor its ETA."""
    from store.models import Evaluation
    from worker.study_evaluations import evaluate_finished

    body = {"name": "ev", "base": BASE, "grid": {"seed": [0, 1, 2, 3]}, "evaluate": EVALUATE}
    study = client.post("/studies", json=body, headers=keys.submit).json()
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    genotype = genotype_to_json(parse_nb201_arch_str(arch))
    for child in study["children"]:
        _finish(database, child["search_id"], [0.5], {"eig": 1.0, "nb": 0.5}, 10)
        with database.session() as session:
            results.upsert_genotype(
                session, child["search_id"], genotype, epoch=0, is_best=True, is_final=True
            )
            session.commit()
    started = evaluate_finished(database.sessionmaker)
    assert len(started) == 4
    with database.session() as session:  # two of them a quarter done after 2 minutes
        for evaluation_id in started[:2]:
            row = session.get(Evaluation, evaluation_id)
            assert row is not None
            row.status, row.started_at = "running", utcnow() - timedelta(minutes=2)
            row.progress = {"epoch": 0, "step": 1, "steps_per_epoch": 4, "total_epochs": 1}
        session.commit()
    detail = client.get(f"/studies/{study['id']}", headers=keys.read).json()
    assert detail["status"] == "running" and detail["counts"] == {"succeeded": 4}
    # 2 × ¾ + 2 whole evaluations of ~8 minutes each (2 min for a quarter), over the 2 running:
    # about (1.5 + 2) × 480 s / 2 = 840 s; generous bounds for the seconds the test itself takes.
    assert 600 < detail["eta_seconds"] < 1100

    with database.session() as session:
        for evaluation_id in started:
            row = session.get(Evaluation, evaluation_id)
            assert row is not None
            row.status, row.finished_at = "succeeded", utcnow()
            row.started_at = row.started_at or row.finished_at - timedelta(minutes=8)
        session.commit()
    assert client.get(f"/studies/{study['id']}", headers=keys.read).json()["eta_seconds"] == 0.0
    # the Hessian eigenvalue's residual is a study metric beside it
    body = client.get(f"/studies/{study['id']}/results", headers=keys.read).json()
    assert "hessian_residual" in body["metrics"]
    assert [c["metrics"]["hessian_residual"] for c in body["children"]] == [0.05] * 4
