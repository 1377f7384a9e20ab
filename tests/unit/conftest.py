"""Fixtures every unit test module uses."""

from __future__ import annotations

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
