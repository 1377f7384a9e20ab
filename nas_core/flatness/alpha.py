"""Metrics in α space (docs/algorithms.md §6): Hessian eigenvalue, A2M sharpness, per-edge entropy.

Each takes a differentiable closure `loss_fn(alphas) -> scalar` (the hooks pass the method's
arch loss on fixed validation batches), so it can be checked on a plain function with a known
Hessian as well as on a supernet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from nas_core.spaces.compiled_cells import eager_cells

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]


#: An estimate whose relative residual ‖Hv − λv‖/|λ| is above this is reported as not converged:
#: at 0.1 the Ritz value is already close (its error is of the order of residual² for a separated
#: eigenvalue), above it the number may be far from any eigenvalue.
CONVERGED_RESIDUAL = 0.1
HESSIAN_METHODS = ("lanczos", "power")


@dataclass(frozen=True)
class EigenEstimate:
    eigenvalue: float  # power: the Rayleigh quotient vᵀHv at the last iterate; lanczos: the top Ritz value
    history: list[float]  # the estimate after each Hessian-vector product (convergence)
    residual: float  # ‖Hv − λv‖ / |λ| at the last iterate: 0 when v is an exact eigenvector
    hvps: int = 0  # Hessian-vector products spent
    method: str = "power"

    @property
    def converged(self) -> bool:
        return math.isfinite(self.residual) and self.residual <= CONVERGED_RESIDUAL


def _flat_dot(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(xs, ys, strict=True))  # type: ignore[return-value]


def _leaves(alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [a.detach().clone().requires_grad_(True) for a in alphas]


HVP = Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]


def _hvp_at(loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> tuple[HVP, list[torch.Tensor]]:
    """A Hessian-vector product closure at `alphas`, and the leaves it differentiates.

    One forward and a gradient with `create_graph` build ∇_α L once; each product is a double
    backward through that retained graph, so memory is one double-differentiable graph of the
    validation batches and time is one double backward per product."""
    leaves = _leaves(alphas)
    with eager_cells():  # compiled cells have no double backward
        grads = torch.autograd.grad(loss_fn(leaves), leaves, create_graph=True)

    def hvp(v: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [
            h.detach() for h in torch.autograd.grad(grads, leaves, grad_outputs=list(v), retain_graph=True)
        ]

    return hvp, leaves


def _start_vector(leaves: Sequence[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    v = [torch.randn(a.shape, generator=generator, dtype=a.dtype).to(a.device) for a in leaves]
    norm = torch.sqrt(_flat_dot(v, v))
    return [t / norm for t in v]


def hessian_power_iteration(
    loss_fn: LossFn,
    alphas: Sequence[torch.Tensor],
    iterations: int,
    generator: torch.Generator,
    tol: float | None = None,
) -> EigenEstimate:
    """Dominant (largest-magnitude) eigenvalue of ∇²_α loss_fn at `alphas` by power iteration.

    Each iteration is one Hessian-vector product (_hvp_at). The start vector is N(0, I) drawn from
    `generator` (seeded by the caller), so the same α gives the same number. The sign is kept: a
    negative dominant eigenvalue means the loss is concave along that direction. With `tol`, stops
    as soon as the relative residual is at most `tol` (one host sync per iteration); without it,
    runs exactly `iterations`.
    """
    if iterations < 1:
        raise ValueError(f"iterations: {iterations} is not allowed; use 1 or more")
    hvp, leaves = _hvp_at(loss_fn, alphas)
    v = _start_vector(leaves, generator)
    estimates = []
    for _ in range(iterations):
        hv = hvp(v)
        eigenvalue = _flat_dot(v, hv)
        estimates.append(eigenvalue)
        residual_vec = [h - eigenvalue * t for h, t in zip(hv, v, strict=True)]
        residual = torch.sqrt(_flat_dot(residual_vec, residual_vec)) / eigenvalue.abs().clamp_min(1e-30)
        # A zero Hessian-vector product (flat loss) makes v zero and the estimate 0, without a host sync.
        hv_norm = torch.sqrt(_flat_dot(hv, hv)).clamp_min(1e-30)
        v = [h / hv_norm for h in hv]
        if tol is not None and float(residual) <= tol:
            break
    history = torch.stack(estimates).tolist()
    return EigenEstimate(history[-1], history, float(residual), hvps=len(history), method="power")


def hessian_lanczos(
    loss_fn: LossFn,
    alphas: Sequence[torch.Tensor],
    iterations: int,
    generator: torch.Generator,
    tol: float | None = None,
) -> EigenEstimate:
    """Largest (algebraic) eigenvalue of ∇²_α loss_fn at `alphas` by Lanczos: the quantity
    RobustDARTS and the A2M paper plot.

    Each iteration is one Hessian-vector product (_hvp_at) that extends the Krylov basis Q (kept
    orthogonal by full re-orthogonalisation: α has at most a few hundred numbers); the estimate is
    the top eigenvalue θ of the tridiagonal T = QᵀHQ, and β·|last component of its eigenvector| is
    exactly ‖Hx − θx‖ for the Ritz vector x = Qy, so the residual costs no extra product. Stops at
    relative residual ≤ `tol` (when given), at `iterations` products, or when the basis spans an
    invariant subspace (the answer is then exact). Same start vector as power iteration.
    """
    if iterations < 1:
        raise ValueError(f"iterations: {iterations} is not allowed; use 1 or more")
    hvp, leaves = _hvp_at(loss_fn, alphas)
    q = _start_vector(leaves, generator)
    dim = sum(a.numel() for a in leaves)
    basis: list[list[torch.Tensor]] = []
    diag: list[float] = []
    off: list[float] = []  # off[j] = β_j, between basis vectors j and j + 1
    history: list[float] = []
    residual = math.inf
    for _ in range(min(iterations, dim)):
        basis.append(q)
        w = hvp(q)
        a_j = _flat_dot(q, w)
        for b in basis:  # w ⟂ every basis vector, twice for stability (cheap at these sizes)
            c = _flat_dot(b, w)
            w = [wi - c * bi for wi, bi in zip(w, b, strict=True)]
        for b in basis:
            c = _flat_dot(b, w)
            w = [wi - c * bi for wi, bi in zip(w, b, strict=True)]
        beta = float(torch.sqrt(_flat_dot(w, w)))
        diag.append(float(a_j))
        T = torch.diag(torch.tensor(diag, dtype=torch.float64))
        if off:
            band = torch.tensor(off, dtype=torch.float64)
            T = T + torch.diag(band, 1) + torch.diag(band, -1)
        values, vectors = torch.linalg.eigh(T)
        theta = float(values[-1])
        history.append(theta)
        residual = beta * abs(float(vectors[-1, -1])) / max(abs(theta), 1e-30)
        scale = max(abs(float(values[0])), abs(theta), 1e-30)
        if (tol is not None and residual <= tol) or beta <= 1e-10 * scale:
            break
        off.append(beta)
        q = [wi / beta for wi in w]
    return EigenEstimate(history[-1], history, residual, hvps=len(history), method="lanczos")


def hessian_eigenvalue(
    loss_fn: LossFn,
    alphas: Sequence[torch.Tensor],
    *,
    method: str,
    iterations: int,
    generator: torch.Generator,
    tol: float | None = None,
) -> EigenEstimate:
    """The Hessian eigenvalue metric by `method` (HESSIAN_METHODS)."""
    if method == "lanczos":
        return hessian_lanczos(loss_fn, alphas, iterations, generator, tol)
    if method == "power":
        return hessian_power_iteration(loss_fn, alphas, iterations, generator, tol)
    raise ValueError(f"method: {method!r} is not allowed; use one of {', '.join(HESSIAN_METHODS)}")


@dataclass(frozen=True)
class Sharpness:
    value: float  # L(α + ρ·g/‖g‖) − L(α)
    loss: float  # L(α)
    perturbed_loss: float
    grad_norm: float  # ‖g‖ over every α group together


def a2m_sharpness(loss_fn: LossFn, alphas: Sequence[torch.Tensor], rho: float) -> Sharpness:
    """L(α + ρ·g/‖g‖) − L(α) with g = ∇_α L(α): the loss rise one normalised ascent step away.

    The norm is taken over all α groups jointly (the same vector A2M perturbs). A zero gradient
    gives sharpness 0 (no ascent direction).
    """
    if rho <= 0:
        raise ValueError(f"rho: {rho} is not allowed; use a positive radius")
    leaves = _leaves(alphas)
    loss = loss_fn(leaves)
    grads = torch.autograd.grad(loss, leaves)
    grad_norm = torch.sqrt(_flat_dot(grads, grads))
    scale = rho / grad_norm.clamp_min(1e-30)
    with torch.no_grad():
        perturbed = loss_fn([a + scale * g for a, g in zip(leaves, grads, strict=True)])
    values = torch.stack([loss.detach(), perturbed.detach(), grad_norm.detach()]).tolist()
    base, moved, gnorm = values
    if gnorm == 0.0:
        moved = base
    return Sharpness(value=moved - base, loss=base, perturbed_loss=moved, grad_norm=gnorm)


def alpha_entropy(weights: Sequence[torch.Tensor], groups: Sequence[str]) -> dict[str, object]:
    """Entropy (nats) of each edge's op distribution, per α group, with their mean.

    `weights` are the method's mixing weights (softmax(α) for DARTS, θ for GAEA); each row is
    renormalised, so edge-scaled variants (PC-DARTS) still give a distribution over ops. The
    maximum, log |O|, is the entropy of a uniform edge (α at initialisation).
    """
    per_edge: dict[str, list[float]] = {}
    for name, w in zip(groups, weights, strict=True):
        p = w.detach().float().clamp_min(0)
        p = p / p.sum(dim=-1, keepdim=True).clamp_min(1e-30)
        entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(dim=-1)
        per_edge[name] = entropy.tolist()
    values = [e for edges in per_edge.values() for e in edges]
    return {
        "mean": sum(values) / len(values),
        "per_edge": per_edge,
        "max": math.log(weights[0].shape[-1]),
    }
