"""Several searches per device (worker.gpu_share): two workers on one host run two searches at the
same time, and each result is exactly the result of that search run alone.

On CPU (no GPU here) the memory cap is a no-op, but the process layout, the node names, the queue
sharing and the isolation of the two searches are the same as on a GPU node.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spec import SearchSpec
from store.models import EpochMetric, Search
from tests.fixtures.database import make_search
from tests.fixtures.live_service import REDIS_URL
from tests.unit.tiny import FLATNESS_OFF
from worker.app import TASK_NAME, create_app
from worker.gpu_share import main, memory_fraction, worker_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_ARGS = ["--per-gpu", "2", "--gpus", "cpu"]  # two workers on this host's one device
SPEC = {"epochs": 2, "a2m": None, "flatness": FLATNESS_OFF}


def test_memory_shares_and_worker_commands() -> None:
    assert memory_fraction(1) == 0.95 and memory_fraction(4) == pytest.approx(0.2375)
    commands = worker_commands(2, ["0", "1"], ["-Q", "gpu"], {"PATH": "/bin"})
    names = [argv[argv.index("-n") + 1] for argv, _ in commands]
    assert names == ["gpu0-0@%h", "gpu0-1@%h", "gpu1-0@%h", "gpu1-1@%h"]
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in commands] == ["0", "0", "1", "1"]
    assert {env["GPU_MEMORY_FRACTION"] for _, env in commands} == {"0.475"}
    assert all(argv[-2:] == ["-Q", "gpu"] and "solo" in argv for argv, _ in commands)
    with pytest.raises(SystemExit):
        main(["--per-gpu", "0"])


def _wait(predicate, timeout: float, what: str, logs: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s:\n{logs.read_text(errors='replace')[-4000:]}")
        time.sleep(0.5)


def test_two_concurrent_searches_equal_each_run_alone(pg_clean: Engine, tmp_path: Path) -> None:
    queue = f"flatnas_share_{os.getpid()}_{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_clean.url.render_as_string(hide_password=False),
        "BROKER_URL": REDIS_URL,
        "FLATNAS_QUEUE": queue,
        "DATA_DIR": str(tmp_path / "data"),
        "DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "workers.log"
    with open(log_path, "ab") as log:
        node = subprocess.Popen(
            [sys.executable, "-m", "worker.gpu_share", *NODE_ARGS, "--", "-Q", queue, "--loglevel", "INFO"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(
            lambda: log_path.read_text(errors="replace").count("ready.") >= 2,
            120,
            "two workers ready",
            log_path,
        )
        with Session(pg_clean) as session:
            ids = [make_search(session, seed=seed, **SPEC).id for seed in (3, 4)]
            session.commit()
        app = create_app(REDIS_URL)
        for search_id in ids:
            app.send_task(TASK_NAME, args=[search_id], queue=queue)

        def finished() -> bool:
            with Session(pg_clean) as session:
                statuses = session.scalars(select(Search.status).where(Search.id.in_(ids))).all()
            assert not set(statuses) & {"failed", "cancelled"}, statuses
            return set(statuses) == {"succeeded"}

        _wait(finished, 300, "both searches succeeded", log_path)
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=60)
    assert node.returncode == 0

    with Session(pg_clean) as session:
        rows = {s.id: s for s in session.scalars(select(Search).where(Search.id.in_(ids)))}
        metrics = {
            i: session.scalars(
                select(EpochMetric).where(EpochMetric.search_id == i).order_by(EpochMetric.epoch)
            ).all()
            for i in ids
        }
    first, second = (rows[i] for i in ids)
    # Two workers of one node, running at the same time.
    assert first.worker and second.worker and first.worker != second.worker
    assert first.worker.startswith("gpucpu-") and second.worker.startswith("gpucpu-")
    assert first.started_at < second.finished_at and second.started_at < first.finished_at
    # Each equals the same search run alone, in this process, on one thread.
    torch.set_num_threads(1)
    for search_id in ids:
        alone = EpochRecorder()
        spec = SearchSpec.model_validate(rows[search_id].spec)
        run_search(spec, alone, device="cpu", workdir=tmp_path / "alone" / search_id)
        stored = [(m.epoch, m.train_loss, m.val_loss, m.alphas) for m in metrics[search_id]]
        assert stored == alone.records, search_id


class EpochRecorder(NullReporter):
    def __init__(self) -> None:
        self.records: list[tuple[int, float, float, dict]] = []

    def on_epoch(self, record) -> None:  # type: ignore[no-untyped-def]
        self.records.append((record.epoch, record.train_loss, record.val_loss, record.alphas))
