"""Flatness through the whole service: a tiny A2M search's flatness rows served by the API, then a
landscape job of kind barrier and one of kind neighbourhood run by the real worker process
(`flatnas.run_landscape_job` on the same queue), their results served by the API. Plus the task's
lease discipline in-process: idempotent, a clear failure on bad input, and a cancel that stops a
running job before its next architecture evaluation, then a retry that computes it again."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import pytest

import nas_core.flatness.evaluation
import worker.landscape
from nas_core.checkpoint import checkpoint_dir
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from store.db import Database
from store.repositories import landscape, results
from tests.fixtures.database import make_search
from tests.fixtures.live_service import LiveService
from tests.integration.test_end_to_end import submit, tiny_spec, wait_for, wait_for_status
from tests.unit import tiny
from worker.landscape import execute_landscape_job
from worker.throttle import Throttle

pytestmark = pytest.mark.integration

EPOCH_KINDS = {"hessian_eigenvalue", "a2m_sharpness", "skip_count", "alpha_entropy"}
END_KINDS = {"neighbourhood", "cell_shape"}


def wait_for_job(client: httpx.Client, path: str, timeout: float = 90) -> dict[str, Any]:
    return wait_for_status(client, path, {"succeeded", "failed"}, timeout)


def test_a2m_search_flatness_rows_then_barrier_and_neighbourhood_jobs(live_service: LiveService) -> None:
    flatness = {"interval": 1, "power_iterations": 3, "neighbour_samples": 4, "val_batches": 1}
    spec = tiny_spec(name="a2m-flat", epochs=2, seed=3, a2m={"enabled": True}, flatness=flatness)
    with live_service.client() as client:
        search_id = submit(client, spec)
        detail = wait_for(client, search_id, {"succeeded", "failed"}, timeout=120)
        assert detail["status"] == "succeeded", (detail, live_service.logs())
        assert detail["a2m_enabled"] is True

        rows = client.get(f"/searches/{search_id}/flatness").json()["items"]
        per_epoch = {(r["kind"], r["epoch"]) for r in rows if r["epoch"] is not None}
        # Ranking stability compares with the previous metric epoch, so it starts at the second one.
        expected = {(kind, epoch) for kind in EPOCH_KINDS for epoch in (0, 1)} | {("ranking_stability", 1)}
        assert per_epoch == expected, rows
        assert {r["kind"] for r in rows if r["epoch"] is None} == END_KINDS
        assert all(r["seconds"] >= 0 for r in rows)
        hessian = client.get(f"/searches/{search_id}/flatness", params={"kind": "hessian_eigenvalue"}).json()
        assert [r["epoch"] for r in hessian["items"]] == [0, 1]
        assert all(isinstance(r["value"], float) for r in hessian["items"])
        radii = [r["value"]["radius"] for r in rows if r["kind"] == "neighbourhood"]
        assert sorted(radii) == [1, 2]

        # The barrier between the search's best and final genotypes, judged by its own weights.
        body = {"a": {"search_id": search_id, "which": "best"}, "b": {"search_id": search_id}}
        resp = client.post("/landscape-jobs/barrier", json=body)
        assert resp.status_code == 201, resp.text
        job = wait_for_job(client, resp.headers["Location"])
        assert job["status"] == "succeeded", (job, live_service.logs())
        result = job["result"]
        barrier = result["barrier"]
        assert barrier["distance"] == _hamming(job["params"]["a"]["genotype"], job["params"]["b"]["genotype"])
        assert barrier["paths"] >= 1 and len(barrier["per_path"]) == barrier["paths"]
        # Per path: ½(acc(a)+acc(b)) − min acc on the path, from the path's own curve.
        mid = 0.5 * (barrier["a"]["acc"] + barrier["b"]["acc"])
        expected = [mid - min(p["acc"]) for p in barrier["per_path"]]
        assert barrier["acc_barrier_max"] == pytest.approx(max(expected))
        line = result["alpha_line_barrier"]
        assert line is not None and line["alpha_source"] == "checkpoint"
        assert (line["epoch_a"], line["epoch_b"]) == (job["a"]["epoch"], job["b"]["epoch"])
        assert line["t"][0] == 0.0 and line["t"][-1] == 1.0 and line["loss_barrier"] >= 0
        assert job["worker"] and job["attempts"] == 1 and job["finished_at"]
        listed = client.get("/landscape-jobs", params={"search_id": search_id}).json()["items"]
        assert [j["id"] for j in listed] == [job["id"]]

        # On demand: the best genotype's radius-1 neighbourhood, also stored as flatness rows.
        body = {"search_id": search_id, "which": "best", "radius": [1]}
        resp = client.post("/landscape-jobs/neighbourhood", json=body)
        assert resp.status_code == 201, resp.text
        job = wait_for_job(client, resp.headers["Location"])
        assert job["status"] == "succeeded", (job, live_service.logs())
        best_epoch = job["params"]["epoch"]
        on_demand = [
            r
            for r in client.get(f"/searches/{search_id}/flatness").json()["items"]
            if r["params"].get("source") == "on_demand"
        ]
        assert {(r["kind"], r["epoch"]) for r in on_demand} == {
            ("neighbourhood", best_epoch),
            ("cell_shape", best_epoch),
        }
        assert [r["value"] for r in on_demand if r["kind"] == "neighbourhood"] == [
            r["value"] for r in job["result"]["records"] if r["kind"] == "neighbourhood"
        ]


def _hamming(a: dict[str, Any], b: dict[str, Any]) -> int:
    return sum(x != y for x, y in zip(a["genotype"]["edges"], b["genotype"]["edges"], strict=True))


def test_task_is_idempotent_and_fails_clearly_on_a_missing_checkpoint(
    sqlite_url: str, tmp_path: Path
) -> None:
    database = Database(sqlite_url)
    try:
        with database.session() as s:
            search_id = make_search(s).id
            results.record_checkpoint(s, search_id, epoch=1, uri=str(tmp_path / "gone.pt"))
            job_id = landscape.create_job(
                s,
                kind="neighbourhood",
                supernet_search_id=search_id,
                params={"supernet": {"search_id": search_id, "checkpoint_epoch": 1}},
                links=[(search_id, "target")],
                owner_key_id=None,
            ).id
        outcome = execute_landscape_job(
            job_id, worker="w1", session_factory=database.sessionmaker, device="cpu"
        )
        assert outcome == "failed"
        with database.sessionmaker() as s:
            job = landscape.get_job(s, job_id)
            assert job is not None and job.status == "failed" and job.result is None
            assert "checkpoint of epoch 1" in (job.error or "") and "gone.pt" in (job.error or "")
        # A redelivered message finds the job finished and does nothing.
        again = execute_landscape_job(
            job_id, worker="w2", session_factory=database.sessionmaker, device="cpu"
        )
        assert again == "skipped: already failed"
        assert execute_landscape_job("nope", worker="w1", session_factory=database.sessionmaker) == (
            "skipped: unknown landscape job"
        )
    finally:
        database.dispose()


def test_cancel_stops_a_running_job_before_its_next_evaluation_and_retry_computes_it_again(
    sqlite_url: str, tmp_path: Path, one_torch_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task in-process on SQLite, on a real checkpoint of a tiny search: the cancel is
    requested (as POST /landscape-jobs/{id}/cancel does) while the job evaluates its first
    neighbour, and the worker stops before the next one."""
    spec = tiny.tiny_spec(
        epochs=1,
        batch_size=8,
        dataset={"name": "synthetic", "subset": 32, "image_size": 8},
        flatness={"val_batches": 1},
    )
    found = run_search(spec, NullReporter(), device="cpu", workdir=tmp_path)
    database = Database(sqlite_url)
    try:
        with database.session() as s:
            search_id = make_search(s).id
            results.record_checkpoint(
                s, search_id, epoch=0, uri=str(checkpoint_dir(tmp_path) / "epoch_0000.pt")
            )
            params = {
                "which": "final",
                "epoch": 0,
                "genotype": found.final_genotype,
                "radius": [1],
                "samples": 6,
                "supernet": {"search_id": search_id, "checkpoint_epoch": 0, "finished": True},
            }
            job_id = landscape.create_job(
                s,
                kind="neighbourhood",
                supernet_search_id=search_id,
                params=params,
                links=[(search_id, "target")],
                owner_key_id=None,
            ).id

        # Every stop check polls the row (the worker's default polls at most twice a second), and
        # the first evaluation asks for the cancel, as the API would while the job runs.
        monkeypatch.setattr(worker.landscape, "Throttle", lambda _interval: Throttle(0.0))
        evaluate = nas_core.flatness.evaluation.evaluate_mixing
        evaluated: list[str] = []

        def evaluate_then_cancel(*args: Any, **kwargs: Any) -> Any:
            if not evaluated:
                with database.session() as other:
                    evaluated.append(str(landscape.lease.cancel(other, job_id)))
            else:
                evaluated.append("evaluated")
            return evaluate(*args, **kwargs)

        monkeypatch.setattr(nas_core.flatness.evaluation, "evaluate_mixing", evaluate_then_cancel)
        run = functools.partial(
            execute_landscape_job, worker="w1", session_factory=database.sessionmaker, device="cpu"
        )
        assert run(job_id) == "cancelled"
        assert evaluated == ["cancel_requested"]  # it was running; nothing evaluated after
        with database.sessionmaker() as s:
            job = landscape.get_job(s, job_id)
            assert job is not None and (job.status, job.result, job.error) == ("cancelled", None, None)
            assert results.list_flatness(s, search_id) == []  # nothing stored
            assert landscape.lease.request_retry(s, job_id)  # as POST /landscape-jobs/{id}/retry does
            s.commit()

        monkeypatch.setattr(nas_core.flatness.evaluation, "evaluate_mixing", evaluate)
        assert run(job_id) == "succeeded"
        with database.sessionmaker() as s:
            job = landscape.get_job(s, job_id)
            assert job is not None and (job.status, job.attempts, job.cancel_requested) == (
                "succeeded",
                2,
                False,
            )
            assert [r["kind"] for r in (job.result or {})["records"]] == ["neighbourhood", "cell_shape"]
            assert {r.kind for r in results.list_flatness(s, search_id)} == {"neighbourhood", "cell_shape"}
    finally:
        database.dispose()
