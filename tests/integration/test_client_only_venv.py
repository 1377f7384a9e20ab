"""The `flatnas-client` distribution on its own: a fresh virtual environment (no system site
packages), `pip install` of client/ alone, no torch and no engine in it, and then a search
submitted and followed against the live service by the Python client (Client, then AsyncClient) and
by the `flatnas` command of that environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.live_service import LiveService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 600  # a cold install resolves httpx and pydantic from the configured index

FOLLOW = """
import asyncio, json, sys
import flatnas
from flatnas import AsyncClient, Client

spec = {
    "name": "client-only venv",
    "space": "nb201",
    "method": "darts",
    "dataset": {"name": "digits", "subset": 64, "image_size": 8},
    "epochs": 2,
    "batch_size": 16,
    "supernet": {"C": 4, "N": 1},
    "flatness": {"hessian_eigenvalue": False, "neighbourhood": False, "a2m_sharpness": False},
}
with Client() as client:
    search = client.submit(spec)
    seen = []
    final = client.wait(search.id[:8], interval=0.3, timeout=300, on_progress=seen.append)
    events = [e.event for e in client.events(search.id)]
    curves = client.curves(search.id)
    best = client.genotype(search.id)


async def twin(search_id):
    async with AsyncClient() as client:
        got = await client.get(search_id[:8])
        listed = [s.id async for s in client.list(q="client-only", limit=5)]
        return got.status, search_id in listed, [e.event async for e in client.events(search_id)]


async_status, async_listed, async_events = asyncio.run(twin(search.id))
print(json.dumps({
    "file": flatnas.__file__,
    "id": search.id,
    "status": final.status,
    "reported": len(seen),
    "events": events,
    "epochs": [row.epoch for row in curves],
    "space": best.space,
    "async": {"status": async_status, "listed": async_listed, "same_events": async_events == events},
    "engine": sorted({m.split(".")[0] for m in sys.modules} & {"nas_core", "torch", "api", "store", "worker"}),
}))
"""


def _run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_the_client_alone_installs_without_torch_and_follows_a_search(
    tmp_path: Path, live_service: LiveService
) -> None:
    # The distribution's sources as a checkout has them (client/ beside flatnas/), copied so the
    # build writes nothing into the repository.
    source = tmp_path / "source"
    shutil.copytree(REPO / "flatnas", source / "flatnas", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "client").mkdir()
    shutil.copy(REPO / "client" / "pyproject.toml", source / "client" / "pyproject.toml")

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, flatnas_command = str(venv / "bin" / "python"), str(venv / "bin" / "flatnas")
    installed = _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source / "client")],
        env,
        tmp_path,
        PIP_TIMEOUT_S,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    for module in ("torch", "nas_core", "api", "store"):
        missing = _run([python, "-c", f"import {module}"], env, tmp_path)
        assert missing.returncode != 0 and f"No module named '{module}'" in missing.stderr

    env.update(FLATNAS_URL=live_service.base_url, FLATNAS_API_KEY=live_service.api_key)
    followed = _run([python, "-c", FOLLOW], env, tmp_path, timeout=400)
    assert followed.returncode == 0, followed.stdout + followed.stderr + live_service.logs()
    result = json.loads(followed.stdout)
    assert result["file"].startswith(str(venv))  # the installed copy, not the repository's
    assert result["status"] == "succeeded" and result["engine"] == []
    assert result["epochs"] == [0, 1] and result["space"] == "nb201" and result["reported"] >= 2
    assert result["events"].count("epoch") == 2 and result["events"][-1] == "status"
    assert result["async"] == {"status": "succeeded", "listed": True, "same_events": True}

    # The environment's `flatnas` command: user commands work, engine commands say what is missing.
    status = _run([flatnas_command, "search", "status", result["id"][:8]], env, tmp_path)
    assert status.returncode == 0 and "succeeded" in status.stdout, status.stderr
    listed = _run([flatnas_command, "search", "list", "--q", "client-only"], env, tmp_path)
    assert result["id"] in listed.stdout
    local = _run([flatnas_command, "search", "run", "spec.yaml", "--out", "o"], env, tmp_path)
    assert local.returncode == 1 and "needs the full flatnas distribution" in local.stderr
    assert "Traceback" not in local.stderr
