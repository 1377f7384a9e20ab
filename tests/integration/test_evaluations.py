"""Evaluations through the whole service: submitted over HTTP, trained by the real worker process
(`flatnas.run_evaluation` on the search queue), followed over SSE, served back; and a worker killed
with SIGKILL mid-training, whose evaluation the next worker resumes from its checkpoint to exactly
the curves of an uninterrupted twin."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from nas_core.genotype import genotype_to_json, parse_nb201_arch_str
from tests.fixtures.live_service import LiveService
from tests.integration.test_end_to_end import sse_events, wait_for_status

pytestmark = pytest.mark.integration

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
GENOTYPE = genotype_to_json(parse_nb201_arch_str(ARCH))


def request(epochs: int, **overrides: Any) -> dict[str, Any]:
    return {
        "genotype": {"json": GENOTYPE},
        "protocol": "nb201",
        # No crop/flip: they wreck 8×8 digits; the accuracy check needs a few epochs only.
        "dataset": {"name": "digits", "image_size": 8, "augment": False},
        "seed": 2,
        "overrides": {"epochs": epochs, "C": 8, "layers": 1, "batch_size": 32, "lr": 0.05, **overrides},
    }


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    resp = client.post("/evaluations", json=body)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def curves(client: httpx.Client, evaluation_id: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k != "seconds"}
        for row in client.get(f"/evaluations/{evaluation_id}/curves").json()["epochs"]
    ]


def test_evaluation_runs_on_the_worker_and_streams_its_epochs(live_service: LiveService) -> None:
    with live_service.client() as client:
        evaluation_id = submit(client, request(epochs=3))
        events = list(sse_events(client, f"/evaluations/{evaluation_id}/events", timeout=180))
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "status" and events[-1][1]["status"] == "succeeded", (events, live_service.logs())
        streamed = [data for kind, data in events if kind == "epoch"]
        assert [e["epoch"] for e in streamed] == [0, 1, 2]
        assert "progress" in kinds

        body = client.get(f"/evaluations/{evaluation_id}").json()
        assert body["status"] == "succeeded" and body["worker"]
        assert body["test_acc"] > 0.7, body  # digits, 10 classes: chance is 0.1
        assert body["test_acc"] == streamed[-1]["test_acc"] == body["latest_test_acc"]
        assert 0 < body["params_m"] < 0.2 and body["flops_m"] > 0
        assert body["result"]["epochs"] == 3 and body["progress"]["total_epochs"] == 3
        assert curves(client, evaluation_id) == [
            {k: v for k, v in e.items() if k != "seconds"} for e in streamed
        ]
        listed = client.get("/evaluations", params={"status": "succeeded", "protocol": "nb201"}).json()
        assert evaluation_id in [e["id"] for e in listed["items"]]


def test_killed_worker_evaluation_resumes_to_the_uninterrupted_curves(live_service: LiveService) -> None:
    body = request(epochs=4)
    body["dataset"]["subset"] = 320
    with live_service.client() as client:
        interrupted = submit(client, body)
        deadline = time.monotonic() + 120
        while not client.get(f"/evaluations/{interrupted}/curves").json()["epochs"]:
            assert time.monotonic() < deadline, f"no epoch yet:\n{live_service.logs()}"
            time.sleep(0.05)
        first = client.get(f"/evaluations/{interrupted}").json()
        live_service.kill_worker()
        assert first["status"] == "running", "it ended before the worker could be killed; make it longer"
        live_service.start_worker()
        done = wait_for_status(client, f"/evaluations/{interrupted}", {"succeeded", "failed"}, timeout=180)
        assert done["status"] == "succeeded", (done, live_service.logs())
        assert done["attempts"] >= 2 and done["worker"] != first["worker"]
        logs = live_service.logs(tail=100_000)
        assert f"evaluation {interrupted}: worker silent" in logs
        assert re.search(rf"evaluation {interrupted}: resumed at epoch [1-3] of 4", logs), logs

        twin = submit(client, body)
        twin_done = wait_for_status(client, f"/evaluations/{twin}", {"succeeded", "failed"}, timeout=180)
        assert twin_done["status"] == "succeeded", twin_done
        assert len(curves(client, interrupted)) == 4
        assert curves(client, interrupted) == curves(client, twin)
        assert done["test_acc"] == twin_done["test_acc"]
