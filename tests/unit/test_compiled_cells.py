"""`runtime.compile: cells` (nas_core.spaces.compiled_cells) against eager, its oracle.

Inductor compiles C++ kernels here: a cold compile of one tiny supernet's cells takes many minutes
on this 2-core box (measured 10-25 minutes under load, and 18 minutes at a load of 2-4 for
NB201), so the inductor tests (one per space, fused cells and A2M) are marked `compiled` and run
only with FLATNAS_RUN_COMPILED=1 (tests/unit/conftest.py). `make test` runs the same search step
with the graphs that dynamo captures run by aot_eager instead (NB201: about 30 s; DARTS's six
large graphs take about 4 minutes, so that one is opt-in too). The guards that keep double
backward eager cost nothing to test.
"""

from __future__ import annotations

import pytest
import torch

from nas_core.data import load_search_data
from nas_core.flatness.alpha import hessian_power_iteration
from nas_core.loop import SearchState, StepClock, build_state, train_epoch
from nas_core.reporter import NullReporter
from nas_core.spaces import compiled_cells, get_space
from nas_core.spaces.compiled_cells import cell_function, eager_cells
from nas_core.spaces.nb201 import plain_cell_forward
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_body

TOL = {"rtol": 1e-4, "atol": 1e-5}


def _spec(space: str, compile_mode: str) -> SearchSpec:
    return SearchSpec.model_validate(
        tiny_body(
            space=space,
            a2m={"enabled": True},
            dataset={"name": "synthetic", "subset": 16, "image_size": 8, "num_classes": 3},
            batch_size=8,  # one step per epoch
            supernet={"C": 4, "N": 1} if space == "nb201" else {"C": 4, "layers": 3},
            runtime={"fused_cells": True, "compile": compile_mode},
        )
    )


def _one_step(spec: SearchSpec) -> SearchState:
    device = torch.device("cpu")
    state = build_state(spec, get_space(spec), load_search_data(spec.dataset, seed=0, device=device), device)
    train_epoch(state, 0, NullReporter(), StepClock(1, 0))
    return state


def _assert_compiled_step_equals_eager(space: str) -> None:
    eager, compiled = _one_step(_spec(space, "none")), _one_step(_spec(space, "cells"))
    assert compiled.supernet.compiled_cells and not eager.supernet.compiled_cells
    for a, b in zip(compiled.arch_parameters, eager.arch_parameters, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    se, sc = eager.supernet.state_dict(), compiled.supernet.state_dict()
    for k in se:  # weights after the SGD step and BN running statistics
        torch.testing.assert_close(sc[k], se[k], **TOL, msg=k)


@pytest.mark.compiled
@pytest.mark.timeout(1800)  # a cold inductor cache on a loaded 2-core box; warm: well under a minute
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_compiled_cells_search_like_eager(space: str) -> None:
    _assert_compiled_step_equals_eager(space)


@pytest.mark.parametrize(
    "space",
    [
        "nb201",
        # A fused DARTS cell is a graph of ~600 ops: six of them trace in about 4 minutes here.
        pytest.param("darts", marks=[pytest.mark.compiled, pytest.mark.timeout(1800)]),
    ],
)
def test_traced_cells_search_like_eager(space: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same graphs as the inductor path (dynamo capture of the cell, a graph per shape, AOT
    # autograd's joint forward and backward, A2M's passes), run by aot_eager in seconds: what
    # `make test` can afford of regional compilation. Inductor's kernels: the test above.
    from torch._dynamo.utils import counters

    monkeypatch.setattr(compiled_cells, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    before = counters["stats"]["unique_graphs"]
    try:
        _assert_compiled_step_equals_eager(space)
        # A cell that dynamo failed to capture would run eagerly and pass the comparison unseen.
        assert counters["stats"]["unique_graphs"] > before
    finally:
        torch._dynamo.reset()


def test_compile_is_opt_in_and_double_backward_stays_eager() -> None:
    assert SearchSpec().runtime.compile == "none"
    assert cell_function(plain_cell_forward, False) is plain_cell_forward
    compiled = cell_function(plain_cell_forward, True)
    assert compiled is not plain_cell_forward and cell_function(plain_cell_forward, True) is compiled
    with eager_cells():
        assert cell_function(plain_cell_forward, True) is plain_cell_forward
    assert cell_function(plain_cell_forward, True) is compiled


def test_hessian_metric_runs_on_a_compiled_supernet_without_compiling() -> None:
    # A compiled graph has no double backward; the Hessian's passes run inside eager_cells(), so
    # this needs no compilation at all (dynamo would count a frame if it compiled one).
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    space = get_space("nb201")
    net = space.build_supernet(4, 1, 3)
    net.compiled_cells = True
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    before = counters["stats"]["unique_graphs"]

    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(net(x, [torch.softmax(a, -1) for a in alphas]), y)

    result = hessian_power_iteration(loss, [torch.zeros(6, 5)], 2, torch.Generator().manual_seed(0))
    assert torch.isfinite(torch.tensor(result.eigenvalue))
    assert counters["stats"]["unique_graphs"] == before
