"""The worker under a lost broker message and a SIGTERM, on the production stack (PostgreSQL, Redis,
a real `celery worker` process started with docker-compose.yml's command line)."""

from __future__ import annotations

import re
import signal
import time

import pytest
import redis

from tests.fixtures.live_service import WORKER_STOP_GRACE_S, LiveService
from tests.integration.test_end_to_end import submit, tiny_spec, wait_for

pytestmark = pytest.mark.integration

#: Long enough that the worker is still busy with it when the test acts (cancelled at the end).
LONG = {"epochs": 200, "dataset": {"name": "digits", "subset": 512, "image_size": 8}}


def wait_until_running(client: object, search_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/searches/{search_id}").json()  # type: ignore[attr-defined]
        if body["status"] == "running" and (body.get("progress") or {}).get("step", 0) > 0:
            return dict(body)
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def flush_queue(broker_url: str, queue: str) -> int:
    """Delete the queue's message lists (every priority), as a Redis restart without persistence
    or a purge would; returns how many messages were lost."""
    client = redis.Redis.from_url(broker_url)
    try:
        lists = [k for k in client.scan_iter(match=f"{queue}*") if client.type(k) == b"list"]
        lost = sum(int(client.llen(k)) for k in lists)
        if lists:
            client.delete(*lists)
        return lost
    finally:
        client.close()


def test_a_search_whose_message_was_lost_is_enqueued_again_and_runs(live_service: LiveService) -> None:
    with live_service.client() as client:
        busy = submit(client, tiny_spec(name="busy", **LONG))
        wait_until_running(client, busy)
        stranded = submit(client, tiny_spec(name="stranded", epochs=1))
        assert flush_queue(live_service.broker_url, live_service.queue) == 1
        assert client.post(f"/searches/{busy}/cancel").status_code == 202
        # The worker is idle, the queue empty, the search queued: only the reaper can save it.
        body = wait_for(client, stranded, {"succeeded", "failed"}, timeout=180)
    assert body["status"] == "succeeded", (body, live_service.logs())
    assert f"search {stranded}: queued but unclaimed" in live_service.logs(tail=200_000)


def test_sigterm_hands_the_search_back_and_another_worker_resumes_it(live_service: LiveService) -> None:
    spec = tiny_spec(
        name="sigterm", epochs=5, seed=7, dataset={"name": "digits", "subset": 384, "image_size": 8}
    )
    with live_service.client() as client:
        search_id = submit(client, spec)
        deadline = time.monotonic() + 240  # generous: the test machine's cores are shared
        # Epoch 1 under way: epoch 0 ended with its checkpoint.
        while ((body := client.get(f"/searches/{search_id}").json()).get("progress") or {}).get(
            "epoch", 0
        ) < 1:
            assert body["status"] in ("queued", "running", "retrying"), body  # retrying: reaped under load
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        process = live_service.worker
        assert process is not None
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=WORKER_STOP_GRACE_S + 10)
        took = time.monotonic() - asked
        assert process.returncode == 0, live_service.logs()  # stopped at a step, not by the watchdog
        assert took < WORKER_STOP_GRACE_S, f"the worker took {took:.1f} s to stop"
        body = client.get(f"/searches/{search_id}").json()
        assert (body["status"], body["worker"]) == ("retrying", None), body

        live_service.start_worker()
        body = wait_for(client, search_id, {"succeeded", "failed", "cancelled"}, timeout=240)
    assert body["status"] == "succeeded", body
    logs = live_service.logs(tail=200_000)
    assert f"search {search_id} handed back by" in logs
    assert re.search(rf"search {search_id}: resumed at epoch [1-4] of 5", logs), logs
