"""A real worker process (docker-compose.yml's command line) started with WORKER_THREADS runs its
search on that many torch threads: the task reports torch.get_num_threads() from the thread that
runs the job, which is where OpenMP keeps the count. OMP_NUM_THREADS is removed from the worker's
environment, so the budget cannot come from the test runner's own setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.live_service import service_on_postgres
from tests.integration.test_end_to_end import submit, wait_for
from tests.unit.tiny import FLATNESS_OFF, tiny_body
from tests.wait import wait_until
from worker.threads import usable_cores

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = tiny_body(
    name="thread budget",
    dataset={"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 4},
    epochs=1,
    flatness=FLATNESS_OFF,
)


def reported_threads(log: Path, search_id: str, timeout_s: float = 60) -> int:
    pattern = re.compile(rf"search {search_id} runs on (\d+) torch thread")
    found = wait_until(
        lambda: pattern.search(log.read_text(errors="replace")),
        timeout_s,
        f"the thread report of search {search_id}",
        every=0.2,
        detail=lambda: log.read_text(errors="replace")[-3000:],
    )
    return int(found.group(1))


@pytest.mark.parametrize("budget", [1, 3])
def test_the_worker_runs_its_search_on_the_budget(tmp_path: Path, budget: int) -> None:
    if budget == 3 and usable_cores() == 3:
        pytest.skip("3 is this machine's default; the budget would be indistinguishable")
    with service_on_postgres("flatnas_threads", tmp_path / "service", worker=False) as service:
        service.env.pop("OMP_NUM_THREADS", None)
        service.env["WORKER_THREADS"] = str(budget)
        service.start_worker()
        with service.client() as client:
            search_id = submit(client, SPEC)
            wait_for(client, search_id, {"succeeded"}, timeout=180)
        assert reported_threads(service.directory / "worker0.log", search_id) == budget
