"""α-space metrics: power iteration and Lanczos against explicit Hessians, A2M sharpness, per-edge
entropy."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas_core.flatness.alpha import (
    a2m_sharpness,
    alpha_entropy,
    hessian_eigenvalue,
    hessian_lanczos,
    hessian_power_iteration,
)
from nas_core.flatness.evaluation import batch_stat_mode
from nas_core.methods.base import ArchMethod, StepContext
from nas_core.spaces import get_space

SHAPES = [(2, 3), (3, 3)]  # two α groups, 15 numbers


def split(flat: torch.Tensor) -> list[torch.Tensor]:
    out, start = [], 0
    for shape in SHAPES:
        n = shape[0] * shape[1]
        out.append(flat[start : start + n].reshape(shape))
        start += n
    return out


def symmetric_with_spectrum(eigenvalues: list[float], seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(
            len(eigenvalues),
            len(eigenvalues),
            generator=torch.Generator().manual_seed(seed),
            dtype=torch.float64,
        )
    )
    return q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


@pytest.mark.parametrize("dominant", [5.0, -6.0])
def test_power_iteration_on_a_quadratic_with_a_known_spectrum(dominant: float) -> None:
    spectrum = [dominant, 2.0, -1.5, 1.0, 0.5] + [0.1 * i for i in range(10)]
    A = symmetric_with_spectrum(spectrum, seed=1)  # the Hessian, built explicitly

    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([a.reshape(-1) for a in alphas])
        return 0.5 * x @ A @ x

    alphas = split(torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(2)))
    result = hessian_power_iteration(loss, alphas, iterations=80, generator=torch.Generator().manual_seed(0))
    assert result.eigenvalue == pytest.approx(dominant, rel=1e-6)
    assert len(result.history) == 80
    assert result.residual < 1e-5
    # Power iteration converges: the last estimates agree far better than the first ones.
    assert abs(result.history[-1] - result.history[-2]) < abs(result.history[1] - result.history[0]) + 1e-12


def test_power_iteration_on_a_non_quadratic_loss() -> None:
    W = torch.randn(15, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))

    def loss_flat(x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(x @ W, dim=0) + 0.3 * (x**2).sum() + 0.1 * torch.sin(x).sum()

    x0 = torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_flat, x0))
    dominant = eigenvalues[eigenvalues.abs().argmax()].item()
    result = hessian_power_iteration(
        lambda alphas: loss_flat(torch.cat([a.reshape(-1) for a in alphas])),
        split(x0),
        iterations=200,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.eigenvalue == pytest.approx(dominant, rel=1e-5)


def test_power_iteration_on_a_tiny_supernet_matches_the_full_hessian() -> None:
    torch.manual_seed(0)
    space = get_space("nb201")
    supernet = space.build_supernet(4, 1, 10)
    method = ArchMethod(space, {})
    x = torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(2))
    ctx = StepContext(supernet, space, nn.CrossEntropyLoss(), x, y, x, y, epoch=0, total_epochs=1, step=0)
    # α away from the uniform start, so the Hessian has a clear top direction
    alpha = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))

    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        return method.arch_loss(ctx, alphas)

    with batch_stat_mode(supernet):
        H = torch.autograd.functional.hessian(lambda a: loss([a.reshape(6, 5)]), alpha.reshape(-1))
        result = hessian_power_iteration(
            loss, [alpha], iterations=40, generator=torch.Generator().manual_seed(0)
        )
    eigenvalues = torch.linalg.eigvalsh(0.5 * (H + H.T))
    dominant = eigenvalues[eigenvalues.abs().argmax()].item()
    assert result.eigenvalue == pytest.approx(dominant, rel=1e-4)
    assert result.residual < 1e-3


def quadratic(A: torch.Tensor):  # type: ignore[no-untyped-def]
    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([a.reshape(-1) for a in alphas])
        return 0.5 * x @ A @ x

    return loss


@pytest.mark.parametrize("top", [5.0, 0.8, -0.2])
def test_lanczos_finds_the_largest_algebraic_eigenvalue_of_an_explicit_matrix(top: float) -> None:
    # -6 has the largest magnitude: power iteration would report it; Lanczos reports the top one.
    spectrum = [top, -6.0, top - 0.5, -1.5, top - 1.0] + [top - 1.2 - 0.1 * i for i in range(10)]
    A = symmetric_with_spectrum(spectrum, seed=1)
    alphas = split(torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(2)))
    result = hessian_lanczos(quadratic(A), alphas, 15, torch.Generator().manual_seed(0), tol=1e-8)
    assert result.eigenvalue == pytest.approx(top, rel=1e-8, abs=1e-10)
    assert result.method == "lanczos" and result.converged and result.residual <= 1e-8
    assert result.hvps == len(result.history) <= 15
    # power iteration, by contrast, finds the largest magnitude
    power = hessian_power_iteration(quadratic(A), alphas, 300, torch.Generator().manual_seed(0))
    assert power.eigenvalue == pytest.approx(-6.0, rel=1e-6)


def test_lanczos_needs_fewer_products_than_power_iteration_to_a_tolerance() -> None:
    # A clustered top (5.0 vs 4.8) is slow for power iteration (ratio 0.96 per step), not for Lanczos.
    A = symmetric_with_spectrum([5.0, 4.8, 4.5, 3.0, 1.0] + [0.1 * i for i in range(10)], seed=3)
    alphas = split(torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(4)))
    runs = {
        method: hessian_eigenvalue(
            quadratic(A),
            alphas,
            method=method,
            iterations=500,
            generator=torch.Generator().manual_seed(0),
            tol=1e-4,
        )
        for method in ("lanczos", "power")
    }
    assert all(r.residual <= 1e-4 and r.eigenvalue == pytest.approx(5.0, rel=1e-5) for r in runs.values())
    assert runs["lanczos"].hvps < runs["power"].hvps / 3


def test_an_unconverged_estimate_says_so() -> None:
    A = symmetric_with_spectrum([5.0, 4.9, 4.8, -4.95] + [0.1 * i for i in range(11)], seed=5)
    alphas = split(torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(6)))
    result = hessian_power_iteration(quadratic(A), alphas, 2, torch.Generator().manual_seed(0))
    assert result.residual > 0.1 and not result.converged
    with pytest.raises(ValueError, match="lanczos, power"):
        hessian_eigenvalue(quadratic(A), alphas, method="arnoldi", iterations=2, generator=torch.Generator())


def test_lanczos_on_a_tiny_supernet_matches_the_full_hessian() -> None:
    torch.manual_seed(0)
    space = get_space("nb201")
    supernet = space.build_supernet(4, 1, 10)
    method = ArchMethod(space, {})
    x = torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(2))
    ctx = StepContext(supernet, space, nn.CrossEntropyLoss(), x, y, x, y, epoch=0, total_epochs=1, step=0)
    alpha = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))

    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        return method.arch_loss(ctx, alphas)

    with batch_stat_mode(supernet):
        H = torch.autograd.functional.hessian(lambda a: loss([a.reshape(6, 5)]), alpha.reshape(-1))
        result = hessian_lanczos(loss, [alpha], 30, torch.Generator().manual_seed(0), tol=1e-4)
    top = torch.linalg.eigvalsh(0.5 * (H + H.T))[-1].item()
    assert result.eigenvalue == pytest.approx(top, rel=1e-3)
    assert result.converged and result.hvps < 30


def test_a2m_sharpness_on_a_quadratic() -> None:
    A = symmetric_with_spectrum([3.0, 1.0, 0.5, 0.2] + [0.0] * 11, seed=7)
    x0 = torch.randn(15, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    rho = 0.05

    def loss(alphas: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([a.reshape(-1) for a in alphas])
        return 0.5 * x @ A @ x

    g = A @ x0
    moved = x0 + rho * g / g.norm()
    expected = (0.5 * moved @ A @ moved - 0.5 * x0 @ A @ x0).item()
    result = a2m_sharpness(loss, split(x0), rho)
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.grad_norm == pytest.approx(g.norm().item(), rel=1e-9)
    assert result.perturbed_loss - result.loss == pytest.approx(result.value)
    flat = a2m_sharpness(lambda alphas: sum(a.sum() * 0 for a in alphas), split(x0), rho)
    assert flat.value == 0.0


def test_alpha_entropy_extremes() -> None:
    uniform = torch.full((6, 5), 0.2)
    one_hot = torch.eye(5)[[0, 1, 2, 3, 4, 0]]
    result = alpha_entropy([uniform, one_hot], ["normal", "reduce"])
    assert result["max"] == pytest.approx(math.log(5))
    assert result["per_edge"]["normal"] == pytest.approx([math.log(5)] * 6, rel=1e-6)
    assert result["per_edge"]["reduce"] == pytest.approx([0.0] * 6, abs=1e-6)
    assert result["mean"] == pytest.approx(math.log(5) / 2, rel=1e-6)
    # a row scaled by an edge weight (PC-DARTS) is renormalised: same entropy
    assert alpha_entropy([0.3 * uniform], ["cell"])["mean"] == pytest.approx(math.log(5), rel=1e-6)
