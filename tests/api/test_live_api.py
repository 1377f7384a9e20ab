"""The API process itself (uvicorn, the compose command line) on PostgreSQL: racing submits with one
Idempotency-Key, reads while its database is gone, and SIGTERM while an event stream is open."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.test_searches import TINY
from tests.fixtures.database import drop_test_database
from tests.fixtures.live_service import LiveService, api_only

pytestmark = pytest.mark.integration

RACERS = 30


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One API process for the tests that leave it running (each uses keys of its own)."""
    with api_only(tmp_path_factory.mktemp("api")) as service:
        yield service


def _race(
    service: LiveService, key: str, bodies: list[dict], path: str = "/searches"
) -> list[httpx.Response]:
    """POST every body at once (one connection each) with the same Idempotency-Key."""
    start = threading.Barrier(len(bodies))

    def post(body: dict) -> httpx.Response:
        with service.client(key) as client:
            start.wait()
            return client.post(path, json=body, headers={"Idempotency-Key": "one-key"})

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_racing_submits_with_one_idempotency_key_create_one_search(shared_api: LiveService) -> None:
    key = shared_api.create_key("submit")
    responses = _race(shared_api, key, [TINY] * RACERS)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (RACERS - 1) + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1
    with shared_api.client(key) as client:
        assert len(client.get("/searches", params={"mine": True}).json()["items"]) == 1


def test_racing_submits_with_different_bodies_conflict(shared_api: LiveService) -> None:
    bodies = [{**TINY, "name": f"racer {i}"} for i in range(RACERS)]
    responses = _race(shared_api, shared_api.create_key("submit"), bodies)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1 and statuses.count(409) == RACERS - 1, statuses
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["errors"][0]["field"] == "Idempotency-Key"


def test_racing_study_submits_with_one_idempotency_key_create_one_study(shared_api: LiveService) -> None:
    base = {key: value for key, value in TINY.items() if key != "name"}
    study = {"name": "raced", "base": base, "grid": {"seed": [0, 1]}}
    responses = _race(shared_api, shared_api.create_key("submit"), [study] * 10, "/studies")
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1


def test_racing_evaluation_submits_with_one_idempotency_key_create_one(shared_api: LiveService) -> None:
    from tests.api.test_evaluations import body

    responses = _race(shared_api, shared_api.create_key("submit"), [body()] * 10, "/evaluations")
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1


def test_reads_while_the_database_is_gone_are_503_with_retry_after(api_service: LiveService) -> None:
    with api_service.client() as client:
        search_id = client.post("/searches", json=TINY).json()["id"]
        assert client.get(f"/searches/{search_id}").status_code == 200  # the pool holds a connection
        drop_test_database(api_service.database_url)  # terminates the API's connections too
        for path in (
            "/searches",
            f"/searches/{search_id}",
            f"/searches/{search_id}/curves",
            "/landscape-jobs",
        ):
            resp = client.get(path)
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"] == "application/problem+json"
            assert int(resp.headers["Retry-After"]) > 0
            assert "database is unavailable" in resp.json()["detail"]
        assert client.post("/searches", json=TINY).status_code == 503
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")


def test_sigterm_ends_open_event_streams_and_the_process_exits(api_service: LiveService) -> None:
    with api_service.client() as client:
        search_id = client.post("/searches", json=TINY).json()["id"]  # stays queued: no worker
    process = api_service.api_process
    assert process is not None
    stream_ended = threading.Event()
    first_event = threading.Event()

    def follow() -> None:
        with api_service.client() as client, client.stream("GET", f"/searches/{search_id}/events") as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    first_event.set()
        stream_ended.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert first_event.wait(20), api_service.logs()
    time.sleep(0.5)  # the stream is now idle between polls, as a long search's would be
    assert not stream_ended.is_set()

    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)  # before the fix: waits for the search to end, i.e. forever
    assert time.monotonic() - sent < 5, api_service.logs()
    assert stream_ended.wait(5)
