"""Evaluations through the whole service: submitted over HTTP, trained by the real worker process
(`flatnas.run_evaluation` on the search queue), followed over SSE, served back; and a worker killed
with SIGKILL mid-training, whose evaluation the next worker resumes from its checkpoint to exactly
the curves of an uninterrupted twin."""

from __future__ import annotations

import functools
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from nas_core.genotype import genotype_to_json
from nas_core.spaces.nb201_definition import parse_nb201_arch_str
from store.db import Database
from store.repositories import evaluations
from tests.fixtures.live_service import LiveService
from tests.integration.test_end_to_end import sse_events, wait_for_status
from tests.wait import wait_until
from worker.evaluation import execute_evaluation

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
    assert resp.status_code == 201, resp.text
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
        # The spec's runtime.precision is "auto"; the result says what the CPU worker ran.
        assert (body["result"]["precision"], body["result"]["channels_last"]) == ("fp32", False)
        assert (body["precision"], body["channels_last"]) == ("fp32", False)
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
        # An epoch's row is stored before its checkpoint is written, so only once the second epoch
        # shows is the first one's checkpoint surely on disk to resume from.
        wait_until(
            lambda: len(client.get(f"/evaluations/{interrupted}/curves").json()["epochs"]) >= 2,
            120,
            "the evaluation's second epoch",
            every=0.05,
            detail=live_service.logs,
        )
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


def test_cancel_stops_a_running_evaluation_within_a_step_and_retry_resumes_it(
    sqlite_url: str, tmp_path: Path, one_torch_thread: None
) -> None:
    """The task in-process on SQLite: cancel while it trains, then retry from its checkpoint."""
    from nas_core.evaluation.protocol import EvalSpec

    database = Database(sqlite_url)
    # Enough epochs that the cancel, polled at most every 0.5 s, lands well before the last one even
    # when the box is loaded (a 3-epoch run could finish first).
    epochs = 12
    spec = request(epochs=epochs)
    spec["dataset"]["subset"] = 640
    data = {**spec["overrides"], "protocol": "nb201", "dataset": spec["dataset"], "seed": 2}
    normal = EvalSpec.model_validate(data).model_dump(mode="json")
    run = functools.partial(
        execute_evaluation,
        worker="w1",
        session_factory=database.sessionmaker,
        data_dir=tmp_path,
        device="cpu",
    )
    try:
        with database.session() as s:
            evaluation_id = evaluations.create_evaluation(
                s, spec=normal, genotype=GENOTYPE, origin={}, priority=5, owner_key_id=None
            ).id
        outcome: list[str] = []
        worker = threading.Thread(target=lambda: outcome.append(run(evaluation_id)))
        worker.start()
        deadline = time.monotonic() + 120
        while True:
            with database.sessionmaker() as s:
                if evaluations.list_epochs(s, evaluation_id):
                    assert evaluations.lease.cancel(s, evaluation_id) == "cancel_requested"
                    s.commit()
                    break
            assert worker.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.02)
        worker.join(timeout=60)
        assert outcome == ["cancelled"]
        with database.sessionmaker() as s:
            row = evaluations.get_evaluation(s, evaluation_id)
            assert row is not None and row.status == "cancelled" and row.result is None
            done = len(evaluations.list_epochs(s, evaluation_id))
            assert 1 <= done < epochs  # stopped after the cancel, not at the end
            assert evaluations.lease.request_retry(s, evaluation_id)
            s.commit()
        assert run(evaluation_id) == "succeeded"
        with database.sessionmaker() as s:
            row = evaluations.get_evaluation(s, evaluation_id)
            assert row is not None and row.status == "succeeded" and row.attempts == 2
            assert [e.epoch for e in evaluations.list_epochs(s, evaluation_id)] == list(range(epochs))
            assert row.result is not None and row.result["epochs"] == epochs
        # A redelivered message finds it finished and does nothing.
        assert run(evaluation_id) == "skipped: already succeeded"
    finally:
        database.dispose()
