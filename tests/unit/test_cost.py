"""nas_core.cost: the estimate the service judges specs by, against the real supernets: parameter
counts exactly, saved activations of one forward pass within a small factor."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nas_core.cost import FLOAT_BYTES, estimate_cost, shape_of
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec

BASE: dict[str, Any] = {"dataset": {"name": "synthetic", "image_size": 16}, "batch_size": 4, "a2m": None}
SPECS = [
    {"space": "nb201", "supernet": {"C": 4, "N": 1}},
    {"space": "nb201", "supernet": {"C": 8, "N": 2}},
    {"space": "nb201", "supernet": {"C": 8, "N": 1}, "method": "pc-darts", "method_params": {"k": 2}},
    {"space": "darts", "supernet": {"C": 4, "layers": 3}},
    {"space": "darts", "supernet": {"C": 8, "layers": 5}, "method": "pc-darts", "method_params": {"k": 4}},
    {"space": "darts", "supernet": {"C": 4, "layers": 4, "ops": "darts8"}, "dataset": {"name": "cifar10"}},
]


def saved_activation_bytes(net: torch.nn.Module, weights: list[torch.Tensor], x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of one forward (each tensor once)."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x, weights)
    return sum(seen.values())


@pytest.mark.parametrize(
    "overrides", SPECS, ids=lambda s: f"{s['space']}-{s['supernet']}-{s.get('method', 'darts')}"
)
def test_the_estimate_matches_the_built_supernet(overrides: dict[str, Any]) -> None:
    spec = SearchSpec.model_validate({**BASE, **overrides})
    estimate, shape = estimate_cost(spec), shape_of(spec)
    space = get_space(spec)
    net = space.build_supernet(shape.C, shape.depth, shape.num_classes, partial_channels=shape.partial)
    assert estimate.params == sum(p.numel() for p in net.parameters())
    assert estimate.weight_bytes == 3 * FLOAT_BYTES * estimate.params
    weights = [torch.softmax(torch.zeros(s, requires_grad=True), -1) for s in space.alpha_shapes()]
    measured = saved_activation_bytes(net, weights, torch.randn(shape.batch, 3, shape.side, shape.side))
    assert 0.5 < estimate.activation_bytes / measured < 2.0, (estimate.activation_bytes, measured)


def test_the_estimate_scales_with_batch_and_data() -> None:
    small = estimate_cost(SearchSpec.model_validate({"batch_size": 64}))
    large = estimate_cost(SearchSpec.model_validate({"batch_size": 128}))
    assert large.activation_bytes == 2 * small.activation_bytes and large.params == small.params
    assert small.data_bytes == 50_000 * 3 * 32 * 32  # CIFAR-10 on the device as uint8
    subset = estimate_cost(SearchSpec.model_validate({"dataset": {"name": "synthetic", "subset": 100}}))
    assert subset.data_bytes == 100 * 3 * 16 * 16
    huge = estimate_cost(SearchSpec.model_validate({"supernet": {"C": 256, "N": 20}, "batch_size": 4096}))
    assert huge.params > 1e9 and huge.step_bytes > 1 << 40  # the example: terabytes per step
