"""The contract every search method implements (ALGORITHMS.md §2-4).

A method is one small object with one job: turn α into mixing weights and produce α's gradient.
The loop owns data, optimizers and schedules; per step it calls

    method.begin_step(ctx)                              # batches, epoch, the weight optimizer
    loss_fn = lambda a: method.arch_loss(ctx, a)        # L_val(w, mix(a)) + the method's regulariser
    grads = method.arch_grad(loss_fn, alphas)           # A2M wraps exactly this call
    method.arch_update(alphas, grads, arch_optimizer)   # Adam by default; GAEA: exponentiated gradient
    weights = method.train_weights(ctx, alphas)         # mixing weights for the weight step (SDARTS: noisy)
    ... SGD step of w on ctx.x_train with `weights` ...

`arch_grad(loss_fn, alphas)` takes any differentiable closure, so a test can check a method (and
A2M around it) on a plain quadratic, not only on a supernet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nas_core.spaces.base import SearchSpace, Supernet

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]


@dataclass
class StepContext:
    """Everything a method may look at during one search step."""

    supernet: Supernet
    space: SearchSpace
    criterion: nn.Module
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    epoch: int  # 0-based
    total_epochs: int
    step: int
    weight_optimizer: torch.optim.Optimizer | None = None  # darts2 unrolls through it
    generator: torch.Generator | None = None  # the search's RNG for method randomness
    extra: dict[str, Any] = field(default_factory=dict)


class ArchMethod:
    """First-order DARTS behaviour; subclasses override what their paper changes."""

    name = "darts"

    def __init__(self, space: SearchSpace, params: dict[str, Any]) -> None:
        self.space = space
        self.params = params

    # --- α and mixing weights -------------------------------------------------------------

    def init_alphas(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        """α init 1e-3·N(0,1) per group (leaf tensors with requires_grad)."""
        return [
            (1e-3 * torch.randn(shape, generator=generator)).to(device).requires_grad_(True)
            for shape in self.space.alpha_shapes()
        ]

    def extra_parameters(self) -> list[torch.Tensor]:
        """Further architecture parameters trained with α (PC-DARTS edge β); part of checkpoints."""
        return []

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.softmax(a, dim=-1) for a in alphas]

    def genotype_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Weights the genotype is derived from (PC-DARTS folds in its edge β)."""
        return [w.detach() for w in self.mixing_weights(alphas)]

    # --- one step -------------------------------------------------------------------------

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        """Schedules that change per epoch (β-DARTS λ_t, SDARTS ε_t, DARTS− β_t)."""

    def begin_step(self, ctx: StepContext) -> None:
        self.ctx = ctx

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        logits = ctx.supernet(ctx.x_val, self.mixing_weights(alphas))
        return ctx.criterion(logits, ctx.y_val)

    def arch_grad(self, loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """∇_α loss_fn(α) at the given α (which need not be the live parameters)."""
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        return list(torch.autograd.grad(loss_fn(leaves), leaves))

    def arch_update(
        self, alphas: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> None:
        for a, g in zip(alphas, grads, strict=True):
            a.grad = g.detach().clone()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def train_weights(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [w.detach() for w in self.mixing_weights(alphas)]

    def state_dict(self) -> dict[str, Any]:
        """Method state for checkpoints (beyond α and the optimizers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
