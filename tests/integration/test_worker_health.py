"""The worker container's health check (docker-compose.yml's `healthcheck.test` of the worker
service), run for real against a real worker process: unhealthy before the worker has swept,
healthy once its reaper has reached the database and the broker, unhealthy again once the worker
is gone and its liveness file goes stale."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures.live_service import (
    HEARTBEAT_TIMEOUT_S,
    REPO_ROOT,
    LiveService,
    _executable,
    service_on_postgres,
)
from tests.wait import wait_until
from worker.reaper import sweep_interval

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The file may be this old (python -m worker.health): three sweeps.
MAX_AGE_S = 3 * sweep_interval(HEARTBEAT_TIMEOUT_S)


def health_command() -> list[str]:
    """The worker service's health check from docker-compose.yml, runnable here."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    test = compose["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD", f"expected an exec-form health check, got {test}"
    return _executable(list(test[1:]))


def check(service: LiveService) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        health_command(), cwd=REPO_ROOT, env=service.env, capture_output=True, text=True, timeout=60
    )


def wait_for_code(service: LiveService, code: int, timeout_s: float) -> subprocess.CompletedProcess[str]:
    last: list[subprocess.CompletedProcess[str]] = []

    def exited_with_code() -> subprocess.CompletedProcess[str] | None:
        last[:] = [check(service)]
        return last[0] if last[0].returncode == code else None

    return wait_until(
        exited_with_code,
        timeout_s,
        f"the health check to exit {code}",
        every=0.5,
        detail=lambda: f"last: {last[0].returncode}, {last[0].stderr.strip()}\n{service.logs()}",
    )


def test_compose_health_check_follows_the_workers_reaper(tmp_path: Path) -> None:
    with service_on_postgres("flatnas_health", tmp_path / "service", worker=False) as service:
        before = check(service)
        assert before.returncode == 1 and "has not swept yet" in before.stderr

        worker = service.start_worker()
        # The first sweep runs when the worker is ready; the start-up is slow on a busy machine.
        wait_for_code(service, 0, timeout_s=60)
        alive = Path(service.env["DATA_DIR"]) / "workers"
        (liveness,) = alive.glob("*.alive")
        first = liveness.stat().st_mtime
        # Refreshed by every sweep (one per sweep_interval), not only the first.
        wait_until(
            lambda: liveness.stat().st_mtime != first,
            60,
            "the liveness file to be refreshed",
            every=0.2,
            detail=service.logs,
        )
        assert check(service).returncode == 0

        worker.kill()  # kill -9: nothing refreshes the file any more
        worker.wait(timeout=30)
        stale = wait_for_code(service, 1, timeout_s=MAX_AGE_S + 60)
        assert "old (allowed" in stale.stderr
        # The file is still there: stale, not missing, is what made it unhealthy.
        assert liveness.exists() and time.time() - liveness.stat().st_mtime > MAX_AGE_S


def test_health_help_names_the_file_and_the_age() -> None:
    result = subprocess.run(
        [*health_command(), "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "HEARTBEAT_TIMEOUT_S": "120"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "workers/<host>.alive" in result.stdout and "180 s" in result.stdout
