"""The fused DARTS cell (nas_core.spaces.darts_fused) against the plain per-edge cell, its oracle.

Same parameters, so one state dict drives both; forward, every gradient and every BN running
statistic must agree at fp32 rounding, on the supernet alone and through the real search loop for
every registered method (with and without A2M).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nas_core.data import load_search_data
from nas_core.flatness.evaluation import batch_stat_mode
from nas_core.genotype import DARTS_V2
from nas_core.loop import SearchState, StepClock, build_state, train_epoch
from nas_core.methods import METHODS
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spaces import get_space
from nas_core.spaces.darts_fused import NotFusable, check_fusable
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_body

C, LAYERS, CLASSES = 4, 3, 10
TOL = {"rtol": 1e-4, "atol": 1e-5}


def _pair(variant: str, partial: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    plain = get_space("darts", variant).build_supernet(C, LAYERS, CLASSES, partial_channels=partial)
    spec = SearchSpec(space="darts", supernet={"ops": variant}, runtime={"fused_cells": True})
    fused = get_space(spec).build_supernet(C, LAYERS, CLASSES, partial_channels=partial)
    assert getattr(fused, "fused", False) and not getattr(plain, "fused", True)
    fused.load_state_dict(plain.state_dict())  # a checkpoint of either path loads into the other
    return plain, fused


@pytest.mark.parametrize(
    ("variant", "partial", "aux"),
    [("default", 1, 0.0), ("default", 2, 0.7), ("darts8", 1, 0.7), ("darts8", 2, 0.0)],
)
def test_fused_darts_cells_equal_the_plain_path(variant: str, partial: int, aux: float) -> None:
    plain, fused = _pair(variant, partial)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8, generator=g), torch.randint(CLASSES, (4,), generator=g)
    ops = len(get_space("darts", variant).ops)
    alphas = [torch.randn(14, ops, generator=g) for _ in range(2)]
    results = []
    for net in (plain, fused):
        net.aux_skip_scale = aux  # DARTS−: stride-2 edges carry a factorized reduction with weights
        weights = [torch.softmax(a, -1).requires_grad_(True) for a in alphas]
        logits = net(x, weights)
        F.cross_entropy(logits, y).backward()
        grads = {k: p.grad for k, p in net.named_parameters()}
        buffers = {k: b.clone() for k, b in net.named_buffers()}
        results.append((logits, [w.grad for w in weights], grads, buffers))
    (lp, wp, gp, bp), (lf, wf, gf, bf) = results
    torch.testing.assert_close(lf, lp, **TOL)
    for a, b in zip(wf, wp, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    for k in gp:
        assert (gp[k] is None) == (gf[k] is None), k
        if gp[k] is not None:
            torch.testing.assert_close(gf[k], gp[k], **TOL, msg=k)
    assert any(k.endswith("num_batches_tracked") and int(v) == 1 for k, v in bf.items())
    for k in bp:  # BN running statistics land in the same per-op buffers
        torch.testing.assert_close(bf[k], bp[k], **TOL, msg=k)

    weights = [torch.softmax(a, -1) for a in alphas]
    with torch.no_grad():
        # The flatness metrics' mode: BN on batch statistics inside an eval-mode supernet.
        outs = []
        for net in (plain, fused):
            with batch_stat_mode(net):
                outs.append(net(x, weights))
        torch.testing.assert_close(outs[1], outs[0], **TOL)
        # Eval mode (running statistics), and one-hot weights (the plain path skips zero ops there).
        plain.eval(), fused.eval()
        torch.testing.assert_close(fused(x, weights), plain(x, weights), **TOL)
        if variant == "darts8":
            one_hot = get_space("darts", variant).one_hot(DARTS_V2)
            torch.testing.assert_close(fused(x, one_hot), plain(x, one_hot), **TOL)


def test_ops_without_a_fused_form_are_refused() -> None:
    check_fusable(("none", "max_pool_3x3", "sep_conv_5x5"))
    with pytest.raises(NotFusable, match="conv_7x1"):
        check_fusable(("skip_connect", "conv_7x1_1x7"))


# --- every registered method, through the real loop ------------------------------------------

GRADIENT_CASES = [
    pytest.param(name, a2m, id=f"{name}-{'a2m' if a2m else 'plain'}")
    for name, info in METHODS.items()
    if info.kind == "gradient"
    for a2m in ((False, True) if info.supports_a2m else (False,))
]
TINY_PARAMS = {"na-darts": {"k": 1}, "pc-darts": {"k": 2}}


def _spec(method: str, a2m: bool, fused: bool, **extra: object) -> SearchSpec:
    return SearchSpec.model_validate(
        tiny_body(
            space="darts",
            method=method,
            method_params=TINY_PARAMS.get(method, {}) | dict(extra),
            # freeze_bn_stats restores the buffers between A2M's passes: a path that wrote them
            # differently would show up in the next pass.
            a2m={"enabled": True, "freeze_bn_stats": True} if a2m else None,
            dataset={"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 3},
            epochs=3,
            batch_size=8,
            supernet={"C": 4, "layers": 3},
            runtime={"fused_cells": fused},
        )
    )


def _two_steps(spec: SearchSpec) -> SearchState:
    device = torch.device("cpu")
    state = build_state(spec, get_space(spec), load_search_data(spec.dataset, seed=0, device=device), device)
    # Epoch 1 of 3: DARTS−'s β is 0.5 there, so its auxiliary skip is on.
    train_epoch(state, 1, NullReporter(), StepClock(2, 0))
    return state


@pytest.mark.parametrize(("method", "a2m"), GRADIENT_CASES)
def test_every_gradient_method_searches_the_same_on_the_fused_path(method: str, a2m: bool) -> None:
    plain, fused = _two_steps(_spec(method, a2m, False)), _two_steps(_spec(method, a2m, True))
    assert getattr(fused.supernet, "fused", False)
    for a, b in zip(fused.arch_parameters, plain.arch_parameters, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    sp, sf = plain.supernet.state_dict(), fused.supernet.state_dict()
    for k in sp:
        torch.testing.assert_close(sf[k], sp[k], **TOL, msg=k)


SAMPLING = [name for name, info in METHODS.items() if info.kind == "sampling"]


@pytest.mark.parametrize("method", SAMPLING)
def test_sampling_methods_keep_the_plain_path_and_its_results(method: str, tmp_path: Path) -> None:
    # Sampling methods train and score single paths: zero-weight ops must be skipped (no BN update,
    # no gradient), which only the plain path does, so a fused supernet runs its plain path there.
    extra = {"num_samples": 1, "top_k": 1, "naswot_batch": 4}
    if method != "naswot":
        extra |= {"score": "supernet", "supernet_epochs": 1}
    results = [
        run_search(
            _spec(method, False, fused, **extra).model_copy(update={"epochs": 1}),
            NullReporter(),
            workdir=tmp_path / str(fused),
        )
        for fused in (False, True)
    ]
    assert results[0].final_genotype == results[1].final_genotype
    assert results[0].best_genotype == results[1].best_genotype
