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


@dataclass(frozen=True)
class PowerIteration:
    eigenvalue: float  # the Rayleigh quotient vᵀHv at the last iterate
    history: list[float]  # the estimate after each iteration (convergence)
    residual: float  # ‖Hv − λv‖ / |λ| at the last iterate: 0 when v is an exact eigenvector


def _flat_dot(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(xs, ys, strict=True))  # type: ignore[return-value]


def _leaves(alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [a.detach().clone().requires_grad_(True) for a in alphas]


def hessian_power_iteration(
    loss_fn: LossFn, alphas: Sequence[torch.Tensor], iterations: int, generator: torch.Generator
) -> PowerIteration:
    """Dominant (largest-magnitude) eigenvalue of ∇²_α loss_fn at `alphas` by power iteration.

    One forward and a gradient with `create_graph` build ∇_α L once; each iteration is one
    Hessian-vector product (a double backward through that retained graph), so memory is one
    double-differentiable graph of the validation batches and time is `iterations` double
    backwards. The start vector is N(0, I) drawn from `generator` (seeded by the caller), so
    the same α gives the same number. The sign is kept: a negative dominant eigenvalue means
    the loss is concave along that direction.
    """
    if iterations < 1:
        raise ValueError(f"iterations: {iterations} is not allowed; use 1 or more")
    leaves = _leaves(alphas)
    with eager_cells():  # compiled cells have no double backward
        grads = torch.autograd.grad(loss_fn(leaves), leaves, create_graph=True)
    v = [torch.randn(a.shape, generator=generator, dtype=a.dtype).to(a.device) for a in leaves]
    norm = torch.sqrt(_flat_dot(v, v))
    v = [t / norm for t in v]
    estimates = []
    for _ in range(iterations):
        hv = torch.autograd.grad(grads, leaves, grad_outputs=v, retain_graph=True)
        eigenvalue = _flat_dot(v, hv)
        estimates.append(eigenvalue.detach())
        residual_vec = [h - eigenvalue * t for h, t in zip(hv, v, strict=True)]
        residual = torch.sqrt(_flat_dot(residual_vec, residual_vec)) / eigenvalue.abs().clamp_min(1e-30)
        # A zero Hessian-vector product (flat loss) makes v zero and the estimate 0, without a host sync.
        hv_norm = torch.sqrt(_flat_dot(hv, hv)).clamp_min(1e-30)
        v = [h.detach() / hv_norm for h in hv]
    history = torch.stack(estimates).tolist()
    return PowerIteration(eigenvalue=history[-1], history=history, residual=float(residual))


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
