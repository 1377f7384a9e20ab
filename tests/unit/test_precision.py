"""`runtime.precision: bf16` covers the weight step and evaluation, never the architecture step.

On an H200 the α gradient computed under bf16 autocast was 0.79 (relative) away from fp32, so the
loop keeps `method.arch_grad` outside autocast. bf16 autocast itself is CUDA-only; here the loop's
autocast is replaced by a recording context, which shows where the loop asks for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from nas_core import loop
from nas_core.data import load_search_data
from nas_core.loop import StepClock, build_state, train_epoch
from nas_core.reporter import NullReporter
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec


@pytest.mark.parametrize(("method", "a2m"), [("darts", True), ("darts2", False)])
def test_arch_gradient_runs_outside_autocast(method: str, a2m: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    depth = 0
    entered = 0

    @contextlib.contextmanager
    def recording(state: Any) -> Iterator[None]:
        nonlocal depth, entered
        depth, entered = depth + 1, entered + 1
        try:
            yield
        finally:
            depth -= 1

    monkeypatch.setattr(loop, "autocast", recording)
    spec = SearchSpec.model_validate(
        {
            "method": method,
            "a2m": {"enabled": True} if a2m else None,
            "dataset": {"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 3},
            "batch_size": 8,
            "supernet": {"C": 4, "N": 1},
            "runtime": {"precision": "bf16"},
        }
    )
    device = torch.device("cpu")
    state = build_state(spec, get_space(spec), load_search_data(spec.dataset, seed=0, device=device), device)
    depths: list[int] = []
    arch_grad = state.method.arch_grad

    def watched(*args: Any, **kwargs: Any) -> Any:
        depths.append(depth)
        return arch_grad(*args, **kwargs)

    state.method.arch_grad = watched  # type: ignore[method-assign]
    train_epoch(state, 0, NullReporter(), StepClock(2, 0))
    assert depths == [0, 0], "the architecture gradient ran under autocast"
    assert entered >= 2, "the weight steps no longer ask for autocast"
