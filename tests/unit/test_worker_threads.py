"""The worker's CPU thread budget (worker/threads.py): where it comes from, how the processes that
start workers hand it on, and that applying it sets torch's thread count."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from api.cli_up import PROCESSES, worker_env
from worker.gpu_share import worker_commands
from worker.threads import (
    apply_thread_budget,
    child_env,
    default_threads,
    thread_budget,
    usable_cores,
)

CORES = usable_cores()


def test_an_explicit_budget_wins_then_omp_then_cores_per_process() -> None:
    assert thread_budget({"WORKER_THREADS": "3", "OMP_NUM_THREADS": "5"}, processes=8) == 3
    assert thread_budget({"OMP_NUM_THREADS": "5"}, processes=8) == 5
    assert thread_budget({"WORKER_THREADS": " "}, processes=1) == CORES
    assert thread_budget({}, processes=1) == CORES
    assert thread_budget({}, processes=10_000) == 1  # never below one thread
    assert default_threads(3, cores=16) == 5 and default_threads(4, cores=2) == 1
    with pytest.raises(ValueError, match="WORKER_THREADS='two'"):
        thread_budget({"WORKER_THREADS": "two"})
    with pytest.raises(ValueError, match="WORKER_THREADS='0'"):
        thread_budget({"WORKER_THREADS": "0"})
    # OpenMP's own syntax: the outermost level counts; what OpenMP would refuse is no choice
    assert thread_budget({"OMP_NUM_THREADS": "4,2"}) == 4
    assert thread_budget({"OMP_NUM_THREADS": "0"}) == thread_budget({"OMP_NUM_THREADS": "x"}) == CORES
    with pytest.raises(ValueError, match="processes"):
        default_threads(0)


def test_usable_cores_follow_affinity_and_a_cgroup_quota(tmp_path: Path) -> None:
    assert 1 <= CORES <= len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    assert usable_cores(quota) == len(os.sched_getaffinity(0))
    quota.write_text("50000 100000\n")  # half a core: still one whole thread
    assert usable_cores(quota) == 1
    assert usable_cores(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_the_starting_processes_hand_the_budget_on() -> None:
    clean = {"PATH": "/bin"}
    half = str(max(1, CORES // 2))
    assert child_env(clean, 2) == {"WORKER_THREADS": half, "OMP_NUM_THREADS": half}
    # flatnas up: the worker shares the cores with the API
    env = worker_env(clean)
    assert env["WORKER_THREADS"] == env["OMP_NUM_THREADS"] == str(max(1, CORES // PROCESSES))
    assert env["PATH"] == "/bin"
    assert worker_env({"WORKER_THREADS": "7"})["OMP_NUM_THREADS"] == "7"
    # gpu_share: 2 GPUs x 3 workers share the host's cores
    commands = worker_commands(3, ["0", "1"], ["-Q", "gpu"], clean)
    assert {env["WORKER_THREADS"] for _, env in commands} == {str(max(1, CORES // 6))}
    commands = worker_commands(3, ["0", "1"], ["-Q", "gpu"], {"WORKER_THREADS": "2"})
    assert {env["WORKER_THREADS"] for _, env in commands} == {"2"}


@pytest.fixture
def torch_threads_restored() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("torch_threads_restored")
def test_applying_the_budget_sets_torchs_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    target = 3 if torch.get_num_threads() != 3 else 2
    assert apply_thread_budget(target) == target and torch.get_num_threads() == target
    monkeypatch.delenv("WORKER_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert apply_thread_budget() == 1 and torch.get_num_threads() == 1
