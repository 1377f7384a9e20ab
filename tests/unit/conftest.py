"""Fixtures every unit test module uses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # The test machine's cores are shared; one intra-op thread avoids oversubscription stalls
    # (tiny tensors: extra threads only contend, 10-30x slower under load). Module scope so that
    # module-scoped fixtures (a search run once per module) run under it too; autouse fixtures are
    # set up before the others of their scope. The previous value is restored after each module.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A cold inductor compile of even a tiny supernet takes 10-25 minutes on the shared 2-core
    # development box, far past `make test`'s budget: compiled tests run where they are asked for
    # (FLATNAS_RUN_COMPILED=1; benchmarks/gpu_check.sh sets it on CUDA).
    if os.environ.get("FLATNAS_RUN_COMPILED") == "1":
        return
    skip = pytest.mark.skip(reason="inductor compile: set FLATNAS_RUN_COMPILED=1 to run")
    for item in items:
        if "compiled" in item.keywords:
            item.add_marker(skip)
