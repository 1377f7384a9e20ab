"""A2M: G = g1 + ρ·h must equal the exact double-backward g1 + ρ·H(α~)·g1 (docs/algorithms.md §3)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import nn

from nas_core.methods import METHODS, build_method
from nas_core.methods.a2m import A2M
from nas_core.methods.base import ArchMethod, StepContext
from nas_core.spaces.nb201 import NB201Space
from nas_core.spec import SearchSpec

RHO = 0.05


def exact_a2m(loss_fn, alphas: Sequence[torch.Tensor], rho: float, grad_of=None) -> list[torch.Tensor]:
    """g1 + ρ·J_g(α~)·g1 by double backward, where g is ∇loss_fn (or `grad_of` with create_graph)."""

    def g(a: list[torch.Tensor], create_graph: bool) -> list[torch.Tensor]:
        if grad_of is not None:
            return grad_of(a, create_graph)
        return list(torch.autograd.grad(loss_fn(a), a, create_graph=create_graph))

    a0 = [a.detach().clone().requires_grad_(True) for a in alphas]
    g0 = g(a0, False)
    at = [(a.detach() + rho * gi).requires_grad_(True) for a, gi in zip(a0, g0, strict=True)]
    g1 = g(at, True)
    # J·g1 as the gradient of <g(α~), stop_grad(g1)>: exact for symmetric J (a Hessian) ...
    hv = torch.autograd.grad(sum((gi * vi.detach()).sum() for gi, vi in zip(g1, g1, strict=True)), at)
    return [gi.detach() + rho * h for gi, h in zip(g1, hv, strict=True)]


def cubic_problem() -> tuple[callable, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    A = 0.05 * torch.randn(6, 5, 6, 5, generator=gen, dtype=torch.float64)
    B = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    c = 0.2 * torch.randn(6, 5, generator=gen, dtype=torch.float64)

    def loss_fn(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        a, b = alphas
        quad = 0.5 * torch.einsum("ij,ijkl,kl->", a, A, a)
        return quad + (c * a**3).sum() + (B * b).sum() + torch.logsumexp(b, dim=-1).sum() * (a**2).sum()

    alphas = [
        0.3 * torch.randn(6, 5, generator=gen, dtype=torch.float64),
        torch.randn(2, 4, generator=gen, dtype=torch.float64),
    ]
    return loss_fn, alphas


def test_a2m_matches_double_backward_on_a_cubic() -> None:
    loss_fn, alphas = cubic_problem()
    base = ArchMethod(NB201Space(), {})
    want = exact_a2m(loss_fn, alphas, RHO)
    errors = []
    for eps in (1e-2, 1e-3, 1e-4):
        got = A2M(base, rho=RHO, eps=eps).arch_grad(loss_fn, alphas)
        errors.append(
            max(((g - w).abs().max() / w.abs().max()).item() for g, w in zip(got, want, strict=True))
        )
    # Central differences are exact on the cubic part; logsumexp·‖a‖² leaves an O(ε²) error.
    assert errors[0] < 1e-3 and errors[2] < 1e-7
    assert errors[1] < errors[0] / 50 and errors[2] < errors[1] / 50
    plain = ArchMethod(NB201Space(), {}).arch_grad(loss_fn, alphas)
    assert max((g - p).abs().max().item() for g, p in zip(got, plain, strict=True)) > 1e-2  # it does change g


class ScaledGradient(ArchMethod):
    """A non-DARTS method: its gradient is ∇L plus a nonlinear term (not the gradient of loss_fn)."""

    name = "scaled"

    def arch_grad(self, loss_fn, alphas):
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        grads = torch.autograd.grad(loss_fn(leaves), leaves)
        return [g + 0.3 * torch.tanh(a.detach()) for g, a in zip(grads, leaves, strict=True)]


def test_a2m_wraps_a_non_darts_method_and_uses_its_gradient() -> None:
    loss_fn, alphas = cubic_problem()
    base = ScaledGradient(NB201Space(), {})

    def grad_of(a: list[torch.Tensor], create_graph: bool) -> list[torch.Tensor]:
        grads = torch.autograd.grad(loss_fn(a), a, create_graph=create_graph)
        return [g + 0.3 * torch.tanh(x) for g, x in zip(grads, a, strict=True)]

    # This method's Jacobian J_g is the Hessian plus a diagonal, still symmetric: the oracle holds.
    want = exact_a2m(loss_fn, alphas, RHO, grad_of=grad_of)
    got = A2M(base, rho=RHO, eps=1e-3).arch_grad(loss_fn, alphas)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6 * w.abs().max().item())


def test_normalize_uses_a_step_of_length_rho() -> None:
    loss_fn, alphas = cubic_problem()
    seen: list[list[torch.Tensor]] = []

    class Recording(ArchMethod):
        def arch_grad(self, fn, a):
            seen.append([x.detach().clone() for x in a])
            return super().arch_grad(fn, a)

    A2M(Recording(NB201Space(), {}), rho=0.2, eps=1e-2, normalize=True).arch_grad(loss_fn, alphas)
    step = torch.cat([(t - a).flatten() for t, a in zip(seen[1], alphas, strict=True)])
    assert step.norm().item() == pytest.approx(0.2, rel=1e-9)


def tiny_supernet_problem(seed: int = 0):
    torch.manual_seed(seed)
    space = NB201Space()
    net = space.build_supernet(4, 1, 10).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=gen)
    ctx = StepContext(net, space, nn.CrossEntropyLoss(), x, y, x, y, epoch=0, total_epochs=1, step=0)
    alphas = [0.5 * torch.randn(6, 5, generator=gen, dtype=torch.float64)]
    return space, ctx, alphas


def test_a2m_matches_double_backward_on_a_tiny_supernet() -> None:
    space, ctx, alphas = tiny_supernet_problem()
    spec = SearchSpec(a2m={"rho": RHO, "eps": 1e-3}, supernet={"C": 4, "N": 1})
    method = build_method(spec, space)
    assert isinstance(method, A2M)
    method.begin_step(ctx)

    def loss_fn(a):
        return method.arch_loss(ctx, a)

    got = method.arch_grad(loss_fn, alphas)
    want = exact_a2m(loss_fn, alphas, RHO)
    torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-6 * want[0].abs().max().item())


def test_freeze_bn_stats_keeps_running_stats_of_the_extra_passes() -> None:
    space, ctx, alphas = tiny_supernet_problem()
    stats = lambda: [m.running_mean.clone() for m in ctx.supernet.modules() if isinstance(m, nn.BatchNorm2d)]  # noqa: E731
    frozen = A2M(METHODS["darts"].cls(space, {}), rho=RHO, freeze_bn_stats=True)
    frozen.begin_step(ctx)
    before = stats()
    frozen.base.arch_grad(lambda a: frozen.arch_loss(ctx, a), alphas)  # what the first pass alone does
    after_first = stats()
    for m, s in zip(
        [m for m in ctx.supernet.modules() if isinstance(m, nn.BatchNorm2d)], before, strict=True
    ):
        m.running_mean.copy_(s)
    frozen.arch_grad(lambda a: frozen.arch_loss(ctx, a), alphas)
    assert all(torch.equal(a, b) for a, b in zip(stats(), after_first, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(after_first, before, strict=True))


def test_wrapper_delegates_hooks_to_the_base() -> None:
    space = NB201Space()
    spec = SearchSpec(supernet={"C": 4, "N": 1})
    method = build_method(spec, space)
    assert method.name == "darts+a2m" and method.rho == spec.a2m_rho == 1e-2 and method.eps == 1e-2
    a = [torch.randn(6, 5)]
    assert torch.equal(method.mixing_weights(a)[0], torch.softmax(a[0], -1))
    assert build_method(SearchSpec(a2m=None), space).name == "darts"


@pytest.mark.parametrize("name", [n for n, i in METHODS.items() if i.kind == "gradient" and i.supports_a2m])
def test_every_a2m_capable_method_builds_wrapped(name: str) -> None:
    method = build_method(SearchSpec(method=name, supernet={"C": 4, "N": 1}), NB201Space())
    assert isinstance(method, A2M) and method.base.name == METHODS[name].cls.name
