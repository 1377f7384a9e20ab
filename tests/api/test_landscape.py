"""Landscape jobs (barrier, barrier matrix, neighbourhood) over HTTP under /landscape-jobs:
references resolved at submit time, 422 naming the field for every bad body, auth scopes, enqueue
after commit, listing and filters, cancel and retry with their owner rules, the deprecated URLs of
the previous release, and the client and CLI against the app. The worker side runs for real in
tests/integration/test_landscape.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flatnas import Client, LandscapeJob
from flatnas.cli import main
from nas_core.genotype import DARTS_V2, NB201_OPS, Genotype, genotype_from_json, genotype_to_json
from store.db import Database
from store.repositories import landscape, results
from tests.api.conftest import Enqueued, Keys
from tests.fixtures.database import make_search


def nb201(*ops: str) -> dict[str, Any]:
    edges = tuple((op, source) for op, source in zip(ops, (0, 0, 1, 0, 1, 2), strict=True))
    return genotype_to_json(Genotype(space="nb201", ops=NB201_OPS, edges=edges))


BARRIER = "/landscape-jobs/barrier"
MATRIX = "/landscape-jobs/barrier-matrix"
NEIGHBOURHOOD = "/landscape-jobs/neighbourhood"
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
    resp = client.post(BARRIER, json=body, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert resp.headers["Location"] == f"/landscape-jobs/{job['id']}" == job["links"]["self"]
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

    got = client.get(f"/landscape-jobs/{job['id']}", headers=keys.read)
    assert got.status_code == 200 and got.json()["params"] == params
    missing = client.get("/landscape-jobs/nope", headers=keys.read)
    assert missing.status_code == 404 and missing.json()["detail"] == "no landscape job with id 'nope'"


def test_raw_genotypes_and_an_explicit_supernet(client: TestClient, keys: Keys, stored: Stored) -> None:
    body = {"a": {"genotype": OTHER}, "b": {"search_id": stored.main, "epoch": 0}, "paths": 3}
    resp = client.post(BARRIER, json={**body, "supernet": stored.other}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["params"]["supernet"]["search_id"] == stored.other and job["params"]["paths"] == 3
    assert job["a"] == {"source": "genotype"} and job["b"]["epoch"] == 0 and job["b"]["which"] is None
    assert job["params"]["alpha_line"] is None  # b's α is not the other search's
    roles = {(s["search_id"], s["role"]) for s in job["searches"]}
    assert roles == {(stored.other, "supernet"), (stored.main, "b")}

    # raw genotype as a: a's search is no default any more, supernet is required
    both_raw = {"a": {"genotype": OTHER}, "b": {"genotype": BEST}}
    resp = client.post(BARRIER, json=both_raw, headers=keys.submit)
    assert resp.status_code == 422 and _fields(resp) == ["supernet"]
    resp = client.post(BARRIER, json={**both_raw, "supernet": stored.main}, headers=keys.submit)
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
    resp = client.post(BARRIER, json=_substitute(body, names), headers=keys.submit)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.headers["content-type"] == "application/problem+json"
    assert _fields(resp) == [field], (case, resp.json())
    assert enqueued.jobs == []


def test_matrix_job_and_its_validation(client: TestClient, keys: Keys, stored: Stored) -> None:
    ids = [stored.main, stored.other]
    resp = client.post(MATRIX, json={"search_ids": ids, "which": "best"}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert resp.headers["Location"] == f"/landscape-jobs/{job['id']}"
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
        resp = client.post(MATRIX, json=body, headers=keys.submit)
        assert resp.status_code == 422 and _fields(resp) == [field], (body, resp.text)


def _post(client: TestClient, keys: Keys, path: str, body: dict) -> str:
    resp = client.post(path, json=body, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_list_filters_newest_first(client: TestClient, keys: Keys, stored: Stored) -> None:
    def post(path: str, body: dict) -> str:
        return _post(client, keys, path, body)

    pair = post(BARRIER, {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}})
    own = post(BARRIER, {"a": {"search_id": stored.main, "which": "best"}, "b": {"search_id": stored.main}})
    raw = post(BARRIER, {"a": {"search_id": stored.other}, "b": {"genotype": BEST}})
    matrix = post(MATRIX, {"search_ids": [stored.other, stored.main]})
    neighbourhood = post(NEIGHBOURHOOD, {"search_id": stored.main})

    def listed(query: str) -> list[str]:
        resp = client.get(f"/landscape-jobs{query}", headers=keys.read)
        assert resp.status_code == 200, resp.text
        return [item["id"] for item in resp.json()["items"]]

    assert listed("") == [neighbourhood, matrix, raw, own, pair]  # newest first, every kind
    assert listed(f"?search_id={stored.main}") == [neighbourhood, matrix, own, pair]
    assert listed(f"?search_id={stored.main}&kind=neighbourhood") == [neighbourhood]
    # between searches: the compared ones (a, b, matrix members), so no neighbourhood job
    assert listed(f"?search_ids={stored.main},{stored.other}") == [matrix, raw, own, pair]
    assert listed(f"?search_ids={stored.main}") == [own]  # every compared search must be in the set
    assert listed(f"?search_ids={stored.other}") == [raw]
    assert listed("?kind=barrier_matrix") == [matrix]
    assert listed(f"?id_prefix={pair[:8]}") == [pair]
    assert listed("?limit=1") == [neighbourhood]
    bad = client.get("/landscape-jobs?search_ids=,,", headers=keys.read)
    assert bad.status_code == 400 and _fields(bad) == ["search_ids"]
    bad = client.get("/landscape-jobs?kind=barriers", headers=keys.read)
    assert bad.status_code == 422 and _fields(bad) == ["kind"]


def test_neighbourhood_job(client: TestClient, keys: Keys, stored: Stored) -> None:
    body = {"search_id": stored.main, "which": "best", "radius": [2, 1]}
    resp = client.post(NEIGHBOURHOOD, json=body, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["kind"] == "neighbourhood" and job["params"]["radius"] == [1, 2]
    assert job["params"]["epoch"] == 0 and job["params"]["genotype"] == BEST
    assert job["searches"] == [{"search_id": stored.main, "role": "target"}]
    assert resp.headers["Location"] == f"/landscape-jobs/{job['id']}" == job["links"]["self"]
    assert client.get(resp.headers["Location"], headers=keys.read).json()["id"] == job["id"]

    for extra, field in [
        ({"radius": [3]}, "radius.0"),
        ({"radius": []}, "radius"),
        ({"epoch": 5}, "epoch"),
        ({"which": "middle"}, "which"),
        ({"samples": 0}, "samples"),
        ({"radii": [1]}, "radii"),
        ({"search_id": "nope"}, "search_id"),
        ({"search_id": ""}, "search_id"),
    ]:
        resp = client.post(NEIGHBOURHOOD, json={"search_id": stored.main, **extra}, headers=keys.submit)
        assert resp.status_code == 422 and _fields(resp) == [field], (extra, resp.text)
    resp = client.post(NEIGHBOURHOOD, json={"which": "best"}, headers=keys.submit)
    assert resp.status_code == 422 and _fields(resp) == ["search_id"], resp.text
    resp = client.post(NEIGHBOURHOOD, json={"search_id": stored.no_weights}, headers=keys.submit)
    assert resp.status_code == 422 and "no checkpoint" in resp.json()["detail"]


def test_auth_reads_need_read_and_creating_needs_submit(
    client: TestClient, keys: Keys, stored: Stored
) -> None:
    body = {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}}
    assert client.post(BARRIER, json=body).status_code == 401
    assert client.get("/landscape-jobs").status_code == 401
    assert client.post(BARRIER, json=body, headers=keys.read).status_code == 403
    assert client.post(MATRIX, json={"search_ids": [stored.main, stored.other]}, headers=keys.read).status_code == 403  # fmt: skip
    assert client.post(NEIGHBOURHOOD, json={"search_id": stored.main}, headers=keys.read).status_code == 403
    job = client.post(BARRIER, json=body, headers=keys.submit).json()
    assert client.get(f"/landscape-jobs/{job['id']}").status_code == 401
    assert client.get(f"/landscape-jobs/{job['id']}", headers=keys.read).status_code == 200
    assert client.get("/landscape-jobs", headers=keys.read).status_code == 200
    for action in ("cancel", "retry"):
        assert client.post(f"/landscape-jobs/{job['id']}/{action}").status_code == 401
        assert client.post(f"/landscape-jobs/{job['id']}/{action}", headers=keys.read).status_code == 403


def test_broker_refusal_marks_the_job_failed_and_retry_queues_it_again(
    client: TestClient, keys: Keys, stored: Stored, enqueued: Enqueued, database: Database
) -> None:
    enqueued.fail_with = ConnectionError("broker down")
    body = {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}}
    resp = client.post(BARRIER, json=body, headers=keys.submit)
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    job_id = resp.json()["job_id"]
    assert f"POST /landscape-jobs/{job_id}/retry" in resp.json()["detail"]
    with database.sessionmaker() as session:
        job = landscape.get_job(session, job_id)
    assert job is not None and job.status == "failed" and "broker down" in (job.error or "")

    # Retried while the broker still refuses: failed again, 503 naming the job.
    resp = client.post(f"/landscape-jobs/{job_id}/retry", headers=keys.submit)
    assert resp.status_code == 503 and resp.json()["job_id"] == job_id, resp.text
    enqueued.fail_with = None
    resp = client.post(f"/landscape-jobs/{job_id}/retry", headers=keys.submit)
    assert resp.status_code == 202, resp.text
    assert (resp.json()["status"], resp.json()["error"]) == ("retrying", None)
    assert enqueued.jobs == [job_id] and enqueued.seen_job_status == ["queued", "retrying", "retrying"]
    again = client.post(f"/landscape-jobs/{job_id}/retry", headers=keys.submit)
    assert again.status_code == 409 and "only failed or cancelled landscape jobs" in again.json()["detail"]


def _running(database: Database, job_id: str) -> None:
    with database.session() as session:
        assert (
            landscape.lease.claim(session, job_id, worker="w1", stale_after_s=60) == landscape.lease.CLAIMED
        )


def test_cancel_a_waiting_job_at_once_and_a_running_one_through_its_worker(
    client: TestClient, keys: Keys, stored: Stored, enqueued: Enqueued, database: Database
) -> None:
    waiting = _post(client, keys, NEIGHBOURHOOD, {"search_id": stored.main})
    resp = client.post(f"/landscape-jobs/{waiting}/cancel", headers=keys.submit)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "id": waiting,
        "status": "cancelled",
        "cancel_requested": False,
        "detail": "cancelled before it ran",
    }
    assert client.get(f"/landscape-jobs/{waiting}", headers=keys.read).json()["status"] == "cancelled"
    ended = client.post(f"/landscape-jobs/{waiting}/cancel", headers=keys.submit)
    assert ended.status_code == 409 and ended.json()["detail"] == (
        f"landscape job {waiting} is already cancelled; only queued, retrying or running landscape jobs cancel"
    )

    running = _post(client, keys, MATRIX, {"search_ids": [stored.main, stored.other]})
    _running(database, running)
    resp = client.post(f"/landscape-jobs/{running}/cancel", headers=keys.submit)
    assert resp.status_code == 202 and resp.json()["cancel_requested"] is True, resp.text
    with database.sessionmaker() as session:
        assert landscape.lease.is_cancel_requested(session, running)
        # The worker settles it (tests/integration/test_landscape.py runs one): then it has ended.
        assert landscape.lease.mark_cancelled(session, running, worker="w1")
        session.commit()
    assert client.post(f"/landscape-jobs/{running}/cancel", headers=keys.submit).status_code == 409

    # A cancelled job runs again when retried; a succeeded one is neither cancelled nor retried.
    retried = client.post(f"/landscape-jobs/{running}/retry", headers=keys.submit)
    assert retried.status_code == 202 and retried.json()["status"] == "retrying", retried.text
    assert enqueued.jobs == [waiting, running, running]
    _running(database, running)
    with database.sessionmaker() as session:
        assert landscape.lease.mark_succeeded(session, running, worker="w1", result={"matrix": {}})
        session.commit()
    for action in ("cancel", "retry"):
        resp = client.post(f"/landscape-jobs/{running}/{action}", headers=keys.submit)
        assert resp.status_code == 409 and "succeeded" in resp.json()["detail"], (action, resp.text)
    assert client.post("/landscape-jobs/nope/cancel", headers=keys.submit).status_code == 404
    assert client.post("/landscape-jobs/nope/retry", headers=keys.submit).status_code == 404


def test_only_the_owner_or_an_admin_changes_a_job(
    client: TestClient, keys: Keys, stored: Stored, database: Database
) -> None:
    job_id = _post(client, keys, BARRIER, {"a": {"search_id": stored.main}, "b": {"search_id": stored.other}})
    for action in ("cancel", "retry"):
        resp = client.post(f"/landscape-jobs/{job_id}/{action}", headers=keys.other)
        assert resp.status_code == 403, resp.text
        assert resp.json()["detail"] == (
            f"landscape job {job_id} belongs to another key; only its owner or an admin key may change it"
        )
    assert client.get(f"/landscape-jobs/{job_id}", headers=keys.read).json()["status"] == "queued"
    assert client.post(f"/landscape-jobs/{job_id}/cancel", headers=keys.admin).status_code == 200
    assert client.post(f"/landscape-jobs/{job_id}/retry", headers=keys.admin).status_code == 202


DEPRECATED = {
    ("post", "/barriers"),
    ("post", "/barriers/matrix"),
    ("get", "/barriers"),
    ("get", "/barriers/{job_id}"),
    ("post", "/searches/{search_id}/flatness/neighbourhood"),
    ("get", "/searches/{search_id}/flatness/jobs"),
    ("get", "/searches/{search_id}/flatness/jobs/{job_id}"),
}


def test_the_urls_of_the_previous_release_still_answer_marked_deprecated(
    client: TestClient, keys: Keys, stored: Stored
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    marked = {(m, p) for p, ops in paths.items() for m, op in ops.items() if op.get("deprecated")}
    assert marked == DEPRECATED
    assert not any(op.get("deprecated") for p, ops in paths.items() if p.startswith("/landscape-jobs") for op in ops.values())  # fmt: skip

    pair = client.post("/barriers", json={"a": {"search_id": stored.main}, "b": {"search_id": stored.other}}, headers=keys.submit)  # fmt: skip
    assert pair.status_code == 201 and pair.headers["Location"] == f"/landscape-jobs/{pair.json()['id']}"
    matrix = client.post("/barriers/matrix", json={"search_ids": [stored.main, stored.other]}, headers=keys.submit)  # fmt: skip
    assert matrix.status_code == 201 and matrix.json()["kind"] == "barrier_matrix"
    old_hood = f"/searches/{stored.main}/flatness/neighbourhood"
    hood = client.post(old_hood, json={"which": "best"}, headers=keys.submit)
    assert hood.status_code == 201 and hood.json()["kind"] == "neighbourhood", hood.text
    assert hood.headers["Location"] == f"/landscape-jobs/{hood.json()['id']}"
    ids = [hood.json()["id"], matrix.json()["id"], pair.json()["id"]]

    # The same handlers as the new URLs: the same answers.
    assert client.get("/barriers", headers=keys.read).json() == client.get("/landscape-jobs", headers=keys.read).json()  # fmt: skip
    assert [j["id"] for j in client.get("/barriers", headers=keys.read).json()["items"]] == ids
    for job_id in ids:
        assert client.get(f"/barriers/{job_id}", headers=keys.read).json()["id"] == job_id
    nested = client.get(f"/searches/{stored.main}/flatness/jobs", headers=keys.read).json()["items"]
    assert [j["id"] for j in nested] == ids[:1]  # as before: the search's neighbourhood jobs
    assert client.get(f"/searches/{stored.main}/flatness/jobs/{ids[0]}", headers=keys.read).status_code == 200
    assert (
        client.get(f"/searches/{stored.other}/flatness/jobs/{ids[0]}", headers=keys.read).status_code == 404
    )
    assert client.get("/searches/nope/flatness/jobs", headers=keys.read).status_code == 404
    # A search named in the path that does not exist is 404 there, as before.
    assert (
        client.post("/searches/nope/flatness/neighbourhood", json={}, headers=keys.submit).status_code == 404
    )
    resp = client.post(old_hood, json={"search_id": stored.main}, headers=keys.submit)
    assert resp.status_code == 422 and _fields(resp) == ["search_id"]  # not part of the old body


def test_the_client_and_the_cli_submit_list_cancel_and_retry(
    server: str,
    keys: Keys,
    stored: Stored,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = keys.submit["Authorization"].removeprefix("Bearer ")
    with Client(server, token) as fn:
        pair = fn.submit_barrier({"search_id": stored.main[:8]}, {"search_id": stored.other}, paths=2)
        hood = fn.submit_neighbourhood(stored.main[:8], which="best", radius=[1])
        matrix = fn.submit_barrier_matrix([stored.main, stored.other[:8]])
        assert isinstance(hood, LandscapeJob) and hood.kind == "neighbourhood"
        assert [j.id for j in fn.list_landscape_jobs()] == [matrix.id, hood.id, pair.id]
        assert [j.id for j in fn.list_landscape_jobs(kind="neighbourhood", search_id=stored.main[:8])] == [
            hood.id
        ]
        assert [j.id for j in fn.list_landscape_jobs(search_ids=[stored.main, stored.other], limit=1)] == [
            matrix.id
        ]
        assert fn.get_landscape_job(pair.id[:8]).params["paths"] == 2
        assert fn.list_jobs(kind="barrier").first() == fn.get_landscape_job(pair.id)  # the deprecated name

        cancelled = fn.cancel_landscape_job(pair.id[:8])
        assert (cancelled.id, cancelled.status) == (pair.id, "cancelled")
        assert fn.wait_landscape_job(pair.id[:8], timeout=5).status == "cancelled"  # ended: at once
        assert fn.wait_job(pair.id, search_id=stored.main).status == "cancelled"  # the deprecated name
        again = fn.retry_landscape_job(pair.id[:8])
        assert (again.id, again.status) == (pair.id, "retrying")

    monkeypatch.setenv("FLATNAS_URL", server)
    monkeypatch.setenv("FLATNAS_API_KEY", token)
    assert main(["landscape", "cancel", hood.id[:8]]) == 0
    assert capsys.readouterr().out == f"{hood.id}: cancelled (cancelled before it ran)\n"
    assert main(["landscape", "cancel", hood.id[:8]]) == 1  # ended: the problem, one line
    err = capsys.readouterr().err
    assert "409" in err and "already cancelled" in err and "Traceback" not in err
    assert main(["landscape", "retry", hood.id[:8]]) == 0
    assert capsys.readouterr().out == f"{hood.id}: retrying (computed again from the start)\n"
    assert main(["landscape", "retry", hood.id]) == 1
    err = capsys.readouterr().err
    assert (
        "is retrying; only failed or cancelled landscape jobs can be retried" in err
        and "Traceback" not in err
    )
    assert main(["landscape", "cancel", "zz"]) == 1  # not an id: refused before any request
    assert "not a landscape job id or id prefix" in capsys.readouterr().err
    assert main(["landscape", "list", "--kind", "neighbourhood", "--search", stored.main[:8]]) == 0
    assert hood.id in capsys.readouterr().out
    assert main(["landscape", "status", matrix.id[:8], "--search", stored.main]) == 0  # --search: ignored
    assert f"{matrix.id}  barrier_matrix  queued" in capsys.readouterr().out


def _fields(resp: Any) -> list[str]:
    return [error["field"] for error in resp.json().get("errors", [])]


def _substitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value
