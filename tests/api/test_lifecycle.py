"""Cancel and retry through the API, against a worker's transitions made with the repositories."""

from __future__ import annotations

from fastapi.testclient import TestClient

from store.db import Database
from store.repositories import searches
from tests.api.conftest import Enqueued, Keys
from tests.api.test_searches import TINY


def _status(client: TestClient, keys: Keys, search_id: str) -> dict:
    return client.get(f"/searches/{search_id}", headers=keys.read).json()


def test_cancel_queued_is_immediate(client: TestClient, keys: Keys) -> None:
    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    resp = client.post(f"/searches/{search_id}/cancel", headers=keys.submit)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    body = _status(client, keys, search_id)
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    again = client.post(f"/searches/{search_id}/cancel", headers=keys.submit)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_running_then_retry_resumes(
    client: TestClient, keys: Keys, database: Database, enqueued: Enqueued
) -> None:
    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    with database.session() as s:
        assert (
            searches.lease.claim(s, search_id, worker="gpu0@node", stale_after_s=60) == searches.lease.CLAIMED
        )
    running = _status(client, keys, search_id)
    assert (running["status"], running["worker"], running["attempts"]) == ("running", "gpu0@node", 1)
    assert running["started_at"] is not None and not running["stale"]

    resp = client.post(f"/searches/{search_id}/cancel", headers=keys.submit)
    assert resp.status_code == 202 and resp.json()["cancel_requested"] is True
    assert _status(client, keys, search_id)["cancel_requested"] is True
    retry_early = client.post(f"/searches/{search_id}/retry", headers=keys.submit)
    assert retry_early.status_code == 409 and "running" in retry_early.json()["detail"]

    with database.session() as s:  # the worker sees the request within a step and stops
        assert searches.lease.mark_cancelled(s, search_id, worker="gpu0@node")
    assert _status(client, keys, search_id)["status"] == "cancelled"

    retried = client.post(f"/searches/{search_id}/retry", headers=keys.admin)  # admin may retry any
    assert retried.status_code == 202
    body = retried.json()
    assert (body["status"], body["cancel_requested"], body["finished_at"], body["error"]) == (
        "retrying",
        False,
        None,
        None,
    )
    assert [c[0] for c in enqueued.calls] == [search_id, search_id]
    with database.session() as s:
        assert (
            searches.lease.claim(s, search_id, worker="gpu1@node", stale_after_s=60) == searches.lease.CLAIMED
        )
        assert searches.lease.mark_failed(s, search_id, "CUDA error: out of memory", worker="gpu1@node")
    failed = _status(client, keys, search_id)
    assert (failed["status"], failed["error"], failed["attempts"]) == (
        "failed",
        "CUDA error: out of memory",
        2,
    )
    assert client.post(f"/searches/{search_id}/retry", headers=keys.submit).status_code == 202
    assert client.post(f"/searches/{search_id}/retry", headers=keys.other).status_code == 403


def test_progress_and_stale_flag(client: TestClient, keys: Keys, database: Database) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from store.models import Search, utcnow

    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    progress = {
        "epoch": 1,
        "step": 5,
        "steps_per_epoch": 10,
        "total_epochs": 2,
        "phase": "train",
        "loss": 1.5,
        "eta_seconds": 12.0,
    }
    with database.session() as s:
        searches.lease.claim(s, search_id, worker="w", stale_after_s=60)
        assert searches.lease.set_progress(s, search_id, progress, worker="w")
    body = _status(client, keys, search_id)
    assert body["progress"]["fraction"] == (1 + 5 / 10) / 2
    assert body["eta_seconds"] == 12.0 and body["progress"]["phase"] == "train"
    with database.session() as s:
        s.execute(
            update(Search).where(Search.id == search_id).values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )
    assert _status(client, keys, search_id)["stale"] is True
