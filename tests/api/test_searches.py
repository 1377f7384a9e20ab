"""Submitting, listing, filtering, paginating searches; idempotency; enqueue after commit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from nas_core.spec import SearchSpec
from store.db import Database
from store.repositories.searches import get_search
from tests.api.conftest import Enqueued, Keys
from tests.unit.tiny import tiny_body

TINY = tiny_body(name="tiny nb201")


def test_create_fills_defaults_and_enqueues_after_commit(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    resp = client.post("/searches", json={**TINY, "priority": 7, "tags": ["smoke"]}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert resp.headers["Location"] == f"/searches/{body['id']}"
    assert body["status"] == "queued" and body["owner_key_id"] == keys.ids["submit"]
    # the stored spec is the normalised one: every default present, equal to the library's
    assert body["spec"] == SearchSpec.model_validate({**TINY, "priority": 7, "tags": ["smoke"]}).model_dump(
        mode="json"
    )
    assert body["spec"]["a2m"]["enabled"] is True and body["spec"]["optim"]["w_lr"] == 0.025
    assert (body["method"], body["space"], body["dataset"], body["tags"]) == (
        "darts",
        "nb201",
        "synthetic",
        ["smoke"],
    )
    assert enqueued.calls == [(body["id"], 7)]
    assert enqueued.seen_status == ["queued"]  # another session saw the row: committed before enqueue

    got = client.get(f"/searches/{body['id']}", headers=keys.read)
    assert got.status_code == 200 and got.json()["spec"] == body["spec"]


def test_enqueue_failure_marks_the_search_failed(
    client: TestClient, keys: Keys, enqueued: Enqueued, database: Database
) -> None:
    enqueued.fail_with = ConnectionError("broker down")
    resp = client.post("/searches", json=TINY, headers=keys.submit)
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/problem+json"
    with database.sessionmaker() as session:
        search_id = resp.json()["search_id"]
        row = get_search(session, search_id)
    assert row.status == "failed" and "broker down" in row.error and row.finished_at is not None

    enqueued.fail_with = None  # retry once the broker is back
    retried = client.post(f"/searches/{search_id}/retry", headers=keys.submit)
    assert retried.status_code == 202 and retried.json()["status"] == "retrying"
    assert enqueued.calls == [(search_id, 5)]


def test_idempotency_key(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    headers = {**keys.submit, "Idempotency-Key": "abc-1"}
    first = client.post("/searches", json=TINY, headers=headers)
    # same meaning, different bytes: explicit defaults normalise to the same spec
    again = client.post("/searches", json={**TINY, "seed": 0}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.headers["Location"] == first.headers["Location"]
    assert len(enqueued.calls) == 1

    clash = client.post("/searches", json={**TINY, "epochs": 3}, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "Idempotency-Key"

    # keys are per owner: another key may use the same Idempotency-Key for its own search
    other = client.post("/searches", json=TINY, headers={**keys.other, "Idempotency-Key": "abc-1"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_list_filter_and_paginate(client: TestClient, keys: Keys) -> None:
    made = []
    for i in range(5):
        spec = {
            **TINY,
            "name": f"exp-{i}" + (" Special" if i == 2 else ""),
            "method": "gaea" if i % 2 else "darts",
            "tags": ["even"] if i % 2 == 0 else ["odd"],
        }
        resp = client.post("/searches", json=spec, headers=keys.submit if i < 4 else keys.other)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])

    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/searches", params=params, headers=keys.read).json()
        pages.append([s["id"] for s in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == made[::-1]  # newest first, nothing repeated or lost

    def ids(**params: object) -> list[str]:
        resp = client.get("/searches", params=params, headers=keys.read)
        assert resp.status_code == 200, resp.text
        return [s["id"] for s in resp.json()["items"]]

    assert ids(method="gaea") == [made[3], made[1]]
    assert ids(tag="even") == [made[4], made[2], made[0]]
    assert ids(q="special") == [made[2]]
    assert ids(status="queued", space="nb201", dataset="synthetic") == made[::-1]
    assert ids(status="running") == []
    mine = client.get("/searches", params={"mine": True}, headers=keys.other).json()["items"]
    assert [s["id"] for s in mine] == [made[4]]

    bad = client.get("/searches", params={"cursor": "not-a-cursor"}, headers=keys.read)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cursor"
    bad_status = client.get("/searches", params={"status": "done"}, headers=keys.read)
    assert bad_status.status_code == 422
    assert bad_status.json()["errors"][0]["allowed"] == [
        "queued",
        "running",
        "retrying",
        "succeeded",
        "failed",
        "cancelled",
    ]
