"""The `flatnas` command: keys on a database, and `flatnas server up` as a user runs it (real uvicorn and
Celery worker on SQLite and the embedded broker), driven by the client commands."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flatnas.cli import main
from store import settings as settings_module
from store.db import Database
from store.repositories import keys
from store.settings import Settings
from tests.fixtures.live_service import free_port

FLATNAS = [sys.executable, "-m", "flatnas.cli"]
REPO = Path(__file__).resolve().parents[2]


def test_keys_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    monkeypatch.setattr(settings_module, "settings", Settings(DATABASE_URL=url))
    assert main(["server", "keys", "create", "ci bot", "--scope", "read"]) == 0
    out = capsys.readouterr().out
    # The key is on a line of its own that a shell can run as pasted.
    (line,) = [line for line in out.splitlines() if "fnas_" in line and "curl" not in line]
    assert line.startswith("export FLATNAS_API_KEY=fnas_")
    token = line.split("=", 1)[1]
    database = Database(url)
    with database.session() as session:
        key = keys.authenticate(session.connection(), token)
        assert (key.name, key.scope) == ("ci bot", "read")
    assert main(["server", "keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key.id in listing and "ci bot" in listing and token not in listing
    assert main(["keys", "revoke", key.id[:6]]) == 0  # the deprecated form, and an id prefix
    with database.session() as session:
        assert keys.authenticate(session.connection(), token) is None
    assert main(["server", "keys", "revoke", "nope"]) == 1
    database.dispose()
    with pytest.raises(SystemExit):
        main(["server", "keys", "create", "x", "--scope", "root"])


def test_server_migrate_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setattr(settings_module, "settings", Settings(DATABASE_URL=url))
    assert main(["server", "migrate"]) == 0
    assert "newest schema" in capsys.readouterr().out
    database = Database(url)
    with database.session() as session:
        assert keys.list_keys(session) == []  # the tables are there
    database.dispose()


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'flatnas.db'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "DATA_DIR": str(tmp_path / "var"),
        "API_PORT": str(port),
        "FLATNAS_QUEUE": f"flatnas_cli_{os.getpid()}",
        "FLATNAS_URL": f"http://127.0.0.1:{port}",
        "DEVICE": "cpu",
        "PYTHONPATH": str(REPO),
    }


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "flatnas up exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the service did not become ready")


@pytest.mark.integration
def test_up_runs_a_search_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    up = subprocess.Popen(
        [*FLATNAS, "server", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_healthy(env["FLATNAS_URL"], up)
        banner = ""
        while "Ctrl-C" not in banner:
            banner += up.stdout.readline()
        # A line to paste as it is: both variables, nothing before `export`.
        (export,) = [line for line in banner.splitlines() if line.startswith("export ")]
        url, key = (word.split("=", 1) for word in export.split()[1:])
        assert url == ["FLATNAS_URL", env["FLATNAS_URL"]] and key[0] == "FLATNAS_API_KEY"
        env["FLATNAS_API_KEY"] = key[1]
        # The worker's CPU thread budget (worker/threads.py): the runner's OMP_NUM_THREADS, if set.
        budget = os.environ.get("OMP_NUM_THREADS") or r"\d+"
        assert re.search(rf"the worker runs torch on {budget} CPU thread\(s\) \(WORKER_THREADS\)", banner)

        spec = tmp_path / "tiny.yaml"
        spec.write_text(
            "name: cli tiny\nepochs: 1\nbatch_size: 16\n"
            "dataset: {name: synthetic, subset: 32, image_size: 8}\nsupernet: {C: 4, N: 1}\n"
            "flatness: {hessian_eigenvalue: false, neighbourhood: false, a2m_sharpness: false}\n"
        )
        submitted = subprocess.run(
            [*FLATNAS, "search", "submit", str(spec)], env=env, capture_output=True, text=True, check=True
        )
        search_id = submitted.stdout.split()[1]
        waited = subprocess.run(
            [*FLATNAS, "search", "wait", search_id, "--interval", "0.5", "--timeout", "120"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "succeeded" in waited.stdout
        out = tmp_path / "g.json"
        subprocess.run(
            [*FLATNAS, "search", "genotype", search_id, "--out", str(out)],
            env=env,
            check=True,
            capture_output=True,
        )
        doc = json.loads(out.read_text())
        assert (doc["search_id"], doc["space"], len(doc["genotype"]["edges"])) == (search_id, "nb201", 6)
        listed = subprocess.run(
            [*FLATNAS, "search", "list"], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert search_id in listed and "succeeded" in listed

        bad = tmp_path / "bad.json"
        bad.write_text('{"dataset": {"name": "mnist"}}')
        refused = subprocess.run(
            [*FLATNAS, "search", "submit", str(bad)], env=env, capture_output=True, text=True
        )
        assert refused.returncode == 1 and refused.stderr.startswith(f"{bad}: HTTP 422")
        assert "dataset.name" in refused.stderr and "cifar10" in refused.stderr
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C: both children stop, `up` exits 0
        code = up.wait(timeout=60)
    assert code == 0


def test_up_exits_non_zero_when_a_child_dies_and_says_how_to_get_in_every_start(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:  # the API cannot bind: uvicorn exits, so must `up`
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = _env(tmp_path, port)
        runs = [
            subprocess.run(
                [*FLATNAS, "server", "up", "--no-worker"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            for _ in range(2)
        ]
    for result in runs:
        assert result.returncode != 0
        assert "the api process exited" in result.stderr
    first, again = (result.stdout.splitlines() for result in runs)
    # The first start created an admin key and printed it in a line to paste as it is.
    assert any(
        line.startswith(f"export FLATNAS_URL=http://127.0.0.1:{port} FLATNAS_API_KEY=fnas_") for line in first
    )
    # A restart prints the URL's export line again and says that keys exist (not to create one).
    assert f"export FLATNAS_URL=http://127.0.0.1:{port}" in again
    assert any("1 API key exists" in line for line in again)
    assert not any("fnas_" in line for line in again)
