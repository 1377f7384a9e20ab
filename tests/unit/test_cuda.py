"""The engine on a CUDA device (marker `cuda`; run by benchmarks/gpu_check.sh, skipped without CUDA).

FLATNAS_TEST_DEVICE=cpu runs the same checks on the CPU, which is how `gpu_check.sh --device cpu`
proves the script and these tests work on a machine without a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from nas_core.data import load_search_data
from nas_core.loop import StepClock, build_state, train_epoch
from nas_core.methods import METHODS
from nas_core.reporter import NullReporter, SearchCancelled
from nas_core.search import run_search
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_spec

pytestmark = pytest.mark.cuda
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "na-darts": {"k": 1},
    "pc-darts": {"k": 2},
    "random": {"num_samples": 2, "top_k": 2, "score": "supernet", "supernet_epochs": 1},
    "na-rs": {"num_samples": 2, "top_k": 2, "score": "supernet", "supernet_epochs": 1},
    "naswot": {"num_samples": 2, "top_k": 2, "naswot_batch": 8},
}


@pytest.fixture(autouse=True)
def ieee_fp32() -> Iterator[None]:
    # cuDNN runs fp32 convolutions as TF32 (10-bit mantissa) by default on Ampere and later; the
    # equality checks below compare fp32 arithmetic, and the bf16 check needs an fp32 reference.
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@pytest.fixture(scope="module")
def device() -> torch.device:
    wanted = os.environ.get("FLATNAS_TEST_DEVICE", "cuda")
    if wanted == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device (FLATNAS_TEST_DEVICE=cpu runs these on the CPU)")
    return torch.device(wanted)


def _spec(method: str = "darts", a2m: bool = False, **overrides: Any) -> SearchSpec:
    defaults: dict[str, Any] = {
        "method": method,
        "method_params": TINY_PARAMS.get(method, {}),
        "a2m": {"enabled": True} if a2m else None,
        "dataset": {"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 3},
        "batch_size": 8,
    }
    return tiny_spec(**{**defaults, **overrides})


CASES = [
    pytest.param(name, a2m, id=f"{name}{'+a2m' if a2m else ''}")
    for name, info in METHODS.items()
    for a2m in ((False, True) if info.supports_a2m else (False,))
]


@pytest.mark.parametrize(("method", "a2m"), CASES)
def test_tiny_search_per_method(method: str, a2m: bool, device: torch.device, tmp_path: Path) -> None:
    spec = _spec(method, a2m, epochs=1 if METHODS[method].kind == "sampling" else 2)
    result = run_search(spec, NullReporter(), device=device.type, workdir=tmp_path)
    assert result.final_genotype is not None
    assert all(torch.isfinite(a).all() for a in result.alphas)


GRAPH_CASES = [
    pytest.param(name, name == "darts", id=f"{name}{'+a2m' if name == 'darts' else ''}")
    for name, info in METHODS.items()
    if info.capturable
] + [pytest.param("sdarts-rs", True, id="sdarts-rs+a2m")]


@pytest.mark.parametrize(("method", "a2m"), GRAPH_CASES)
def test_captured_search_equals_eager(method: str, a2m: bool, device: torch.device, tmp_path: Path) -> None:
    # On CUDA the spec's runtime.cuda_graph captures the step (4 steps per epoch: 3 warm-up steps,
    # then the capture, replayed in the second epoch) and the evaluation pass; on the CPU the
    # same capture-ready loop runs directly (cuda_graph itself is refused there).
    eager = run_search(_spec(method, a2m), NullReporter(), device=device.type, workdir=tmp_path / "eager")
    if device.type == "cuda":
        spec = _spec(method, a2m, runtime={"cuda_graph": True})
        ready = run_search(spec, NullReporter(), device="cuda", workdir=tmp_path / "graph")
    else:
        ready = run_search(
            _spec(method, a2m), NullReporter(), workdir=tmp_path / "direct", step_mode="direct"
        )
    for a, b in zip(eager.alphas, ready.alphas, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    for e, r in zip(eager.epochs, ready.epochs, strict=True):
        assert r.val_loss == pytest.approx(e.val_loss, rel=1e-4)


class StopAfter(NullReporter):
    def __init__(self, epoch: int) -> None:
        self.epoch, self.stop = epoch, False

    def on_checkpoint(self, epoch: int, path: str) -> None:
        self.stop = self.stop or epoch == self.epoch

    def should_stop(self) -> bool:
        return self.stop


def test_resume_equals_an_uninterrupted_run(device: torch.device, tmp_path: Path) -> None:
    spec = _spec("darts", True, epochs=3)
    straight = run_search(spec, NullReporter(), device=device.type, workdir=tmp_path / "straight")
    with pytest.raises(SearchCancelled):
        run_search(spec, StopAfter(0), device=device.type, workdir=tmp_path / "resumed")
    resumed = run_search(spec, NullReporter(), device=device.type, workdir=tmp_path / "resumed", resume=True)
    # cuDNN may pick other algorithms after a restart: equal at fp32 rounding, not bit for bit.
    for a, b in zip(straight.alphas, resumed.alphas, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert straight.final_genotype == resumed.final_genotype


def _relative_error(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(a, b, strict=True)))
    den = torch.sqrt(sum((q**2).sum() for q in b))
    return float(num / den)


def _first_alpha_gradients(runtime: dict[str, Any], device: torch.device) -> list[torch.Tensor]:
    """The α gradients of a search's first step (nb201, C=16, N=2, batch 64, 32×32)."""
    spec = SearchSpec.model_validate(
        {
            "space": "nb201",
            "method": "darts",
            "a2m": {"enabled": True},
            "batch_size": 64,
            "supernet": {"C": 16, "N": 2},
            "dataset": {"name": "synthetic", "subset": 128, "image_size": 32, "num_classes": 10},
            "runtime": runtime,
        }
    )
    data = load_search_data(spec.dataset, seed=spec.seed, device=device)
    state = build_state(spec, get_space(spec), data, device)
    seen: list[torch.Tensor] = []
    update = state.method.arch_update

    def record(alphas: Any, grads: Any, optimizer: Any) -> None:
        seen.extend(g.detach().float().clone() for g in grads)
        update(alphas, grads, optimizer)

    state.method.arch_update = record  # type: ignore[method-assign]
    train_epoch(state, 0, NullReporter(), StepClock(1, 0))
    return seen


def test_bf16_search_keeps_the_alpha_gradient_at_fp32(device: torch.device) -> None:
    # Measured on an H200: the α gradient computed under bf16 autocast is 0.79 (relative) away from
    # fp32 at initialisation, where it is a small difference between the ops' contributions. The
    # search therefore runs only its weight steps and evaluation in bf16 (runtime.precision).
    if device.type != "cuda":
        pytest.skip("bf16 autocast is a CUDA path of the search")
    reference = _first_alpha_gradients({"precision": "fp32"}, device)
    fast = _first_alpha_gradients({"precision": "bf16", "channels_last": True}, device)
    error = _relative_error(fast, reference)
    print(f"search α gradient, bf16+channels_last vs fp32: relative error {error:.2e}")
    assert error <= 1e-2


def _fast_path_pair(
    space_name: str, device: torch.device, compiled: bool
) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    depth = 1 if space_name == "nb201" else 3
    plain = get_space(space_name).build_supernet(8, depth, 10).to(device)
    spec = SearchSpec(space=space_name, runtime={"fused_cells": True})
    fast = get_space(spec).build_supernet(8, depth, 10).to(device)
    fast.load_state_dict(plain.state_dict())
    fast.compiled_cells = compiled
    return plain, fast


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
@pytest.mark.parametrize(
    "compiled", [False, pytest.param(True, marks=[pytest.mark.compiled, pytest.mark.timeout(1800)])]
)
def test_fused_and_compiled_paths_equal_plain(space_name: str, compiled: bool, device: torch.device) -> None:
    plain, fast = _fast_path_pair(space_name, device, compiled)
    g = torch.Generator().manual_seed(1)
    x, y = (
        torch.randn(16, 3, 16, 16, generator=g).to(device),
        torch.randint(10, (16,), generator=g).to(device),
    )
    alphas = [torch.randn(s, generator=g).to(device) for s in get_space(space_name).alpha_shapes()]
    for step in range(3):  # a compiled graph runs from its first call; BN statistics build up
        outs = []
        for net in (plain, fast):
            weights = [torch.softmax(a, -1).requires_grad_(True) for a in alphas]
            net.zero_grad(set_to_none=True)
            logits = net(x, weights)
            F.cross_entropy(logits, y).backward()
            outs.append((logits.detach().clone(), [w.grad.clone() for w in weights]))  # type: ignore[union-attr]
        (lp, gp), (lf, gf) = outs
        torch.testing.assert_close(lf, lp, rtol=1e-4, atol=1e-5, msg=f"step {step}")
        for a, b in zip(gf, gp, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=f"step {step}")
    for (k, a), b in zip(fast.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)
