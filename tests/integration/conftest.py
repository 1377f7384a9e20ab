"""Fixtures for integration modules that run the engine in-process (requested by name, not autouse:
the live-service modules run their searches in a worker subprocess, whose threads come from
OMP_NUM_THREADS in tests/fixtures/live_service.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    # The test machine's cores are shared; one intra-op thread avoids oversubscription stalls
    # (torch's default of one thread per core spins against every other process, 30x slower here).
    # The previous value is restored after.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
