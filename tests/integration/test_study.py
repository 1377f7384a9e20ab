"""A study through the whole service: a 2 methods × A2M on/off × 2 seeds grid run by the real
worker process, its results table equal to the statistics recomputed from the children's own
API responses, and the CLI printing the same table."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import httpx
import pytest

from flatnas import Client
from flatnas.cli import main as cli_main
from tests.fixtures.live_service import LiveService
from tests.integration.test_end_to_end import NO_FLATNESS
from tests.unit.tiny import tiny_body

pytestmark = pytest.mark.integration

BASE = tiny_body(
    space="nb201",
    dataset={"name": "digits", "subset": 64, "image_size": 8},
    epochs=1,
    flatness={
        **NO_FLATNESS,
        "hessian_eigenvalue": True,
        "interval": 1,
        "power_iterations": 2,
        "val_batches": 1,
    },
)
GRID = {"method": ["darts", "pc-darts"], "a2m.enabled": [True, False], "seed": [0, 1]}


def wait_for_study(client: httpx.Client, study_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/studies/{study_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return dict(body)
        assert time.monotonic() < deadline, f"study still {body['status']}: {body['counts']}"
        time.sleep(0.5)


def test_tiny_study_runs_and_its_statistics_match_the_children(
    live_service: LiveService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_service.client() as client:
        resp = client.post("/studies", json={"name": "tiny-study", "base": BASE, "grid": GRID})
        assert resp.status_code == 201, resp.text
        study = wait_for_study(client, resp.json()["id"])
        assert study["status"] == "succeeded", (study, live_service.logs())
        assert study["counts"] == {"succeeded": 8} and study["fraction"] == 1.0

        final_acc: dict[tuple[str, bool, int], float] = {}
        eigen: dict[tuple[str, bool, int], float] = {}
        for child in study["children"]:
            cell = child["cell"]
            key = (cell["method"], cell["a2m.enabled"], cell["seed"])
            detail = client.get(f"/searches/{child['search_id']}").json()
            assert (detail["method"], detail["a2m_enabled"], detail["spec"]["seed"]) == key
            final_acc[key] = client.get(f"/searches/{child['search_id']}/curves").json()["items"][-1][
                "val_acc"
            ]
            rows = client.get(
                f"/searches/{child['search_id']}/flatness", params={"kind": "hessian_eigenvalue"}
            )
            eigen[key] = rows.json()["items"][-1]["value"]

        results = client.get(f"/studies/{study['id']}/results").json()
        assert [c["values"] for c in results["cells"]] == [
            {"method": m, "a2m.enabled": a} for m in GRID["method"] for a in (True, False)
        ]
        for cell in results["cells"]:
            m, a = cell["values"]["method"], cell["values"]["a2m.enabled"]
            accs = [final_acc[(m, a, s)] for s in (0, 1)]
            got = cell["metrics"]["final_val_acc"]
            assert cell["n"] == 2 and got["mean"] == pytest.approx(statistics.fmean(accs))
            assert got["std"] == pytest.approx(statistics.stdev(accs))
            assert cell["metrics"]["hessian_eigenvalue"]["mean"] == pytest.approx(
                statistics.fmean(eigen[(m, a, s)] for s in (0, 1))
            )
        assert [p["values"] for p in results["paired"]] == [{"method": "darts"}, {"method": "pc-darts"}]
        for pair in results["paired"]:
            m = pair["values"]["method"]
            diffs = [final_acc[(m, True, s)] - final_acc[(m, False, s)] for s in (0, 1)]
            got = pair["metrics"]["final_val_acc"]
            assert got["n"] == 2 and got["mean"] == pytest.approx(statistics.fmean(diffs))
            if statistics.stdev(diffs) > 0:
                t = statistics.fmean(diffs) / (statistics.stdev(diffs) / math.sqrt(2))
                assert got["t_p"] == pytest.approx(1 - 2 * math.atan(abs(t)) / math.pi)

    monkeypatch.setenv("FLATNAS_URL", live_service.base_url)
    monkeypatch.setenv("FLATNAS_API_KEY", live_service.api_key)
    assert cli_main(["study", "results", study["id"]]) == 0
    printed = capsys.readouterr().out
    assert f"study {study['id']}: succeeded" in printed and "A2M on vs off, paired by seed:" in printed
    assert cli_main(["study", "results", study["id"], "--csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("method,a2m.enabled,n,best_val_acc_mean,best_val_acc_std")


def test_study_with_evaluate_trains_each_best_genotype_and_ends_with_its_evaluations(
    live_service: LiveService,
) -> None:
    """Through the Python client: submit, wait with a progress callback, results, evaluations."""
    evaluate = {
        "protocol": "nb201",
        "dataset": {"name": "digits", "image_size": 8, "augment": False},
        "overrides": {"epochs": 1, "C": 4, "layers": 1, "batch_size": 32},
    }
    body = {"name": "evaluated", "base": BASE, "grid": {"a2m.enabled": [True, False]}, "evaluate": evaluate}
    seen: list[str] = []
    with Client(live_service.base_url, live_service.api_key) as client:
        study = client.submit_study(body)
        study = client.wait_study(
            study.id, timeout=300, interval=0.5, on_progress=lambda s: seen.append(s.status)
        )
        assert study.status == "succeeded", (study, live_service.logs())
        assert seen[-1] == "succeeded" and "running" in seen
        assert study.evaluation_counts == {"succeeded": 2} and study.fraction == 1.0
        results = client.study_results(study.id[:8])  # a unique prefix will do
        assert "eval_test_acc" in results.metrics
        assert client.study_table(study.id).splitlines()[0].startswith("a2m.enabled,n,")
        for child in study.children:
            assert child.evaluation_id is not None
            evaluation = client.get_evaluation(child.evaluation_id[:8])
            best = client.genotype(child.search_id, "best")
            assert evaluation.genotype["arch_str"] == best.arch_str
            assert evaluation.source["which"] == "best"
            assert [row.epoch for row in client.evaluation_curves(evaluation.id)] == [0]
            (row,) = [c for c in results.children if c["search_id"] == child.search_id]
            assert row["metrics"]["eval_test_acc"] == pytest.approx(evaluation.test_acc)
        first = study.children[0]
        assert {e.id for e in client.list_evaluations(search_id=first.search_id)} == {first.evaluation_id}
        assert study.id in [s.id for s in client.list_studies()]
