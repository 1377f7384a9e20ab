"""Barrier, barrier-matrix and neighbourhood jobs over HTTP: references resolved at submit time,
422 naming the field for every bad body, auth scopes, enqueue after commit, listing and filters.
The worker side runs for real in tests/integration/test_landscape.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nas_core.genotype import DARTS_V2, NB201_OPS, Genotype, genotype_from_json, genotype_to_json
from store.db import Database
from store.repositories import landscape, results
from tests.api.conftest import Enqueued, Keys
from tests.fixtures.database import make_search


def nb201(*ops: str) -> dict[str, Any]:
    edges = tuple((op, source) for op, source in zip(ops, (0, 0, 1, 0, 1, 2), strict=True))
    return genotype_to_json(Genotype(space="nb201", ops=NB201_OPS, edges=edges))


BEST = nb201("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")
FINAL = nb201("nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3")
OTHER = nb201("skip_connect", "skip_connect", "skip_connect", "skip_connect", "skip_connect", "skip_connect")


@dataclass
class Stored:
    main: str  # nb201: best at epoch 0, final at epoch 1, checkpoints 0 and 1
    other: str  # nb201: one final genotype and checkpoint
    darts: str  # darts: DARTS_V2 final, with a checkpoint
    no_weights: str  # nb201 genotype but no checkpoint (like a sampling search)
    running: str  # nb201, queued: no genotype yet


@pytest.fixture
def stored(database: Database, keys: Keys) -> Stored:
    owner = keys.ids["submit"]
    with database.session() as s:
        main = make_search(s, owner, name="main").id
        results.upsert_genotype(s, main, BEST, epoch=0, is_best=True)
        results.upsert_genotype(s, main, FINAL, epoch=1, is_final=True)
        other = make_search(s, owner, name="other").id
        results.upsert_genotype(s, other, OTHER, epoch=1, is_best=True, is_final=True)
        darts = make_search(s, owner, name="darts", space="darts", supernet={"C": 4, "layers": 5}).id
        results.upsert_genotype(s, darts, genotype_to_json(DARTS_V2), epoch=0, is_final=True)
        no_weights = make_search(s, owner, name="naswot").id
        results.upsert_genotype(s, no_weights, OTHER, epoch=0, is_final=True)
        running = make_search(s, owner, name="queued").id
        for search_id in (main, other, darts):
            for epoch in (0, 1):
                results.record_checkpoint(s, search_id, epoch=epoch, uri=f"/ckpt/{search_id}/{epoch}.pt")
    return Stored(main, other, darts, no_weights, running)


def test_barrier_between_best_and_final_of_one_search(
    client: TestClient, keys: Keys, stored: Stored, enqueued: Enqueued
) -> None:
    body = {"a": {"search_id": stored.main, "which": "best"}, "b": {"search_id": stored.main}}
    resp = client.post("/barriers", json=body, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert resp.headers["Location"] == f"/barriers/{job['id']}" == job["links"]["self"]
    assert (job["kind"], job["status"], job["result"], job["owner_key_id"]) == (
        "barrier",
        "queued",
        None,
        keys.ids["submit"],
    )
    params = job["params"]
    assert params["paths"] == 6  # the default
    assert params["supernet"] == {"search_id": stored.main, "checkpoint_epoch": 1, "finished": False}
    assert job["a"] == {"source": "search", "search_id": stored.main, "which": "best", "epoch": 0}
    assert job["b"] == {"source": "search", "search_id": stored.main, "which": "final", "epoch": 1}
    # the genotypes are copied into the job: the same architectures as stored
    assert genotype_from_json(params["a"]["genotype"]) == genotype_from_json(BEST)
    assert genotype_from_json(params["b"]["genotype"]) == genotype_from_json(FINAL)
    # both from the supernet's own search: the α line between epochs 0 and 1 is computed too
    assert params["alpha_line"] == {"epoch_a": 0, "epoch_b": 1}
    assert enqueued.jobs == [job["id"]] and enqueued.seen_job_status == ["queued"]  # committed first

    got = client.get(f"/barriers/{job['id']}", headers=keys.read)
    assert got.status_code == 200 and got.json()["params"] == params
    assert client.get("/barriers/nope", headers=keys.read).status_code == 404


def test_raw_genotypes_and_an_explicit_supernet(client: TestClient, keys: Keys, stored: Stored) -> None:
    body = {"a": {"genotype": OTHER}, "b": {"search_id": stored.main, "epoch": 0}, "paths": 3}
    resp = client.post("/barriers", json={**body, "supernet": stored.other}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["params"]["supernet"]["search_id"] == stored.other and job["params"]["paths"] == 3
    assert job["a"] == {"source": "genotype"} and job["b"]["epoch"] == 0 and job["b"]["which"] is None
    assert job["params"]["alpha_line"] is None  # b's α is not the other search's
    roles = {(s["search_id"], s["role"]) for s in job["searches"]}
    assert roles == {(stored.other, "supernet"), (stored.main, "b")}

    # raw genotype as a: a's search is no default any more, supernet is required
    both_raw = {"a": {"genotype": OTHER}, "b": {"genotype": BEST}}
    resp = client.post("/barriers", json=both_raw, headers=keys.submit)
    assert resp.status_code == 422 and _fields(resp) == ["supernet"]
    resp = client.post("/barriers", json={**both_raw, "supernet": stored.main}, headers=keys.submit)
    assert resp.status_code == 201, resp.text


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("no source", {"a": {}, "b": {"genotype": BEST}}, "a"),
    ("two sources", {"a": {"search_id": "MAIN", "genotype": BEST}, "b": {"genotype": BEST}}, "a"),
    ("which with genotype", {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST, "which": "best"}}, "b"),
    ("which value", {"a": {"search_id": "MAIN", "which": "worst"}, "b": {"genotype": BEST}}, "a.which"),
    ("negative epoch", {"a": {"search_id": "MAIN"}, "b": {"search_id": "MAIN", "epoch": -1}}, "b.epoch"),
    ("paths zero", {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST}, "paths": 0}, "paths"),
    ("paths cap", {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST}, "paths": 1000}, "paths"),
    ("unknown field", {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST}, "path": 3}, "path"),
    ("missing b", {"a": {"search_id": "MAIN"}}, "b"),
    ("unknown search", {"a": {"search_id": "nope"}, "b": {"genotype": BEST}}, "a.search_id"),
    ("no such epoch", {"a": {"search_id": "MAIN"}, "b": {"search_id": "MAIN", "epoch": 7}}, "b.epoch"),
    ("no best yet", {"a": {"search_id": "MAIN"}, "b": {"search_id": "QUEUED", "which": "best"}}, "b.which"),
    (
        "bad op",
        {
            "a": {"search_id": "MAIN"},
            "b": {"genotype": {**BEST, "arch_str": None, "genotype": {"edges": [["conv_9x9", 0]] * 6}}},
        },
        "b.genotype",
    ),  # fmt: skip
    (
        "other space",
        {"a": {"search_id": "MAIN"}, "b": {"genotype": genotype_to_json(DARTS_V2)}},
        "b.genotype",
    ),
    ("darts search", {"a": {"search_id": "MAIN"}, "b": {"search_id": "DARTS"}}, "b.search_id"),
    ("no weights", {"a": {"search_id": "NO_WEIGHTS"}, "b": {"search_id": "MAIN"}}, "a.search_id"),
    (
        "no weights supernet",
        {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST}, "supernet": "NO_WEIGHTS"},
        "supernet",
    ),  # fmt: skip
    (
        "unknown supernet",
        {"a": {"search_id": "MAIN"}, "b": {"genotype": BEST}, "supernet": "nope"},
        "supernet",
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_barrier_bodies_get_422_naming_the_field(
    client: TestClient, keys: Keys, stored: Stored, enqueued: Enqueued, case: str, body: dict, field: str
) -> None:
    names = {
        "MAIN": stored.main,
        "DARTS": stored.darts,
        "NO_WEIGHTS": stored.no_weights,
        "QUEUED": stored.running,
    }
    resp = client.post("/barriers", json=_substitute(body, names), headers=keys.submit)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.headers["content-type"] == "application/problem+json"
    assert _fields(resp) == [field], (case, resp.json())
    assert enqueued.jobs == []


def test_matrix_job_and_its_validation(client: TestClient, keys: Keys, stored: Stored) -> None:
    ids = [stored.main, stored.other]
    resp = client.post("/barriers/matrix", json={"search_ids": ids, "which": "best"}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert resp.headers["Location"] == f"/barriers/{job['id']}"
    assert job["kind"] == "barrier_matrix" and job["search_ids"] == ids
    assert job["params"]["supernet"]["search_id"] == stored.main  # the first search's weights
    assert [m["epoch"] for m in job["params"]["members"]] == [0, 1]  # main's best is epoch 0

    for body, field in [
        ({"search_ids": [stored.main]}, "search_ids"),
        ({"search_ids": [stored.main, stored.main]}, "search_ids"),
        ({"search_ids": [stored.main, stored.darts]}, "search_ids.1"),
        ({"search_ids": [stored.main, "nope"]}, "search_ids.1"),
        ({"search_ids": [stored.main, stored.running]}, "search_ids.1.which"),
        ({"search_ids": [stored.main, stored.other], "which": "last"}, "which"),
        ({"search_ids": [stored.main, stored.other], "supernet": stored.no_weights}, "supernet"),
    ]:
        resp = client.post("/barriers/matrix", json=body, headers=keys.submit)
        assert resp.status_code == 422 and _fields(resp) == [field], (body, resp.text)


def test_list_filters_newest_first(client: TestClient, keys: Keys, stored: Stored) -> None:
    def post(path: str, body: dict) -> str:
        resp = client.post(path, json=body, headers=keys.submit)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    pair = post("/barriers", {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}})
    own = post(
        "/barriers", {"a": {"search_id": stored.main, "which": "best"}, "b": {"search_id": stored.main}}
    )
    raw = post("/barriers", {"a": {"search_id": stored.other}, "b": {"genotype": BEST}})
    matrix = post("/barriers/matrix", {"search_ids": [stored.other, stored.main]})
    neighbourhood = post(f"/searches/{stored.main}/flatness/neighbourhood", {})

    def listed(query: str) -> list[str]:
        resp = client.get(f"/barriers{query}", headers=keys.read)
        assert resp.status_code == 200, resp.text
        return [item["id"] for item in resp.json()["items"]]

    assert listed("") == [matrix, raw, own, pair]  # newest first, neighbourhood jobs apart
    assert listed(f"?search_id={stored.main}") == [matrix, own, pair]
    assert listed(f"?search_ids={stored.main},{stored.other}") == [matrix, raw, own, pair]
    assert listed(f"?search_ids={stored.main}") == [own]  # every compared search must be in the set
    assert listed(f"?search_ids={stored.other}") == [raw]
    assert listed("?kind=barrier_matrix") == [matrix]
    assert listed("?limit=1") == [matrix]
    bad = client.get("/barriers?search_ids=,,", headers=keys.read)
    assert bad.status_code == 400 and _fields(bad) == ["search_ids"]
    assert neighbourhood not in listed(f"?search_id={stored.main}")


def test_neighbourhood_job(client: TestClient, keys: Keys, stored: Stored) -> None:
    path = f"/searches/{stored.main}/flatness/neighbourhood"
    resp = client.post(path, json={"which": "best", "radius": [2, 1]}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["kind"] == "neighbourhood" and job["params"]["radius"] == [1, 2]
    assert job["params"]["epoch"] == 0 and job["params"]["genotype"] == BEST
    assert resp.headers["Location"] == f"/searches/{stored.main}/flatness/jobs/{job['id']}"
    assert client.get(resp.headers["Location"], headers=keys.read).json()["id"] == job["id"]
    listed = client.get(f"/searches/{stored.main}/flatness/jobs", headers=keys.read).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    # a neighbourhood job is not a barrier
    assert client.get(f"/barriers/{job['id']}", headers=keys.read).status_code == 404
    assert (
        client.get(f"/searches/{stored.other}/flatness/jobs/{job['id']}", headers=keys.read).status_code
        == 404
    )

    for body, field in [
        ({"radius": [3]}, "radius.0"),
        ({"radius": []}, "radius"),
        ({"epoch": 5}, "epoch"),
        ({"which": "middle"}, "which"),
        ({"samples": 0}, "samples"),
        ({"radii": [1]}, "radii"),
    ]:
        resp = client.post(path, json=body, headers=keys.submit)
        assert resp.status_code == 422 and _fields(resp) == [field], (body, resp.text)
    resp = client.post(f"/searches/{stored.no_weights}/flatness/neighbourhood", json={}, headers=keys.submit)
    assert resp.status_code == 422 and "no checkpoint" in resp.json()["detail"]
    assert (
        client.post("/searches/nope/flatness/neighbourhood", json={}, headers=keys.submit).status_code == 404
    )


def test_auth_reads_need_read_and_creating_needs_submit(
    client: TestClient, keys: Keys, stored: Stored
) -> None:
    body = {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}}
    assert client.post("/barriers", json=body).status_code == 401
    assert client.get("/barriers").status_code == 401
    assert client.post("/barriers", json=body, headers=keys.read).status_code == 403
    assert client.post("/barriers/matrix", json={"search_ids": [stored.main, stored.other]}, headers=keys.read).status_code == 403  # fmt: skip
    neighbourhood = f"/searches/{stored.main}/flatness/neighbourhood"
    assert client.post(neighbourhood, json={}, headers=keys.read).status_code == 403
    job = client.post("/barriers", json=body, headers=keys.submit).json()
    assert client.get(f"/barriers/{job['id']}").status_code == 401
    assert client.get(f"/barriers/{job['id']}", headers=keys.read).status_code == 200
    assert client.get("/barriers", headers=keys.read).status_code == 200


def test_broker_refusal_marks_the_job_failed(
    client: TestClient, keys: Keys, stored: Stored, enqueued: Enqueued, database: Database
) -> None:
    enqueued.fail_with = ConnectionError("broker down")
    body = {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}}
    resp = client.post("/barriers", json=body, headers=keys.submit)
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    with database.sessionmaker() as session:
        job = landscape.get_job(session, resp.json()["job_id"])
    assert job is not None and job.status == "failed" and "broker down" in (job.error or "")


def _fields(resp: Any) -> list[str]:
    return [error["field"] for error in resp.json().get("errors", [])]


def _substitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value
