"""Architecture-Aware Minimization (docs/algorithms.md §3), as a wrapper around any ArchMethod.

With g the base method's architecture gradient on one validation batch at fixed w:

    g0 = g(α);  α~ = α + ρ·g0;  g1 = g(α~)
    h  = [g(α~ + ε·g1) − g(α~ − ε·g1)] / (2ε)        ≈ H(α~)·g1
    G  = g1 + ρ·h                                     ≈ ∇_α L(α + ρ·∇_α L(α))

The perturbation is applied to the raw logits the base method differentiates (softmax logits
for DARTS-like methods). Every other hook is the base method's, so A2M composes with any method
whose `arch_grad` takes a loss closure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from nas_core.methods.base import ArchBatchSource, ArchMethod, LossFn, StepContext
from nas_core.spaces.base import Supernet


class A2M(ArchMethod[Any]):
    def __init__(
        self,
        base: ArchMethod,
        *,
        rho: float,
        eps: float = 1e-2,
        normalize: bool = False,
        freeze_bn_stats: bool = False,
    ) -> None:
        super().__init__(base.space, base.params)
        self.base, self.rho, self.eps = base, rho, eps
        self.normalize, self.freeze_bn_stats = normalize, freeze_bn_stats
        self.name = f"{base.name}+a2m"
        self._step_ctx: StepContext | None = None  # set by begin_step; None when used on a plain closure

    def arch_grad(self, loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        grad = self.base.arch_grad
        alpha = [a.detach() for a in alphas]
        g0 = grad(loss_fn, alpha)
        scale: float | torch.Tensor = self.rho
        if self.normalize:
            # Ours (SAM-style): a step of length ρ. ‖g0‖ is treated as a constant in G's Jacobian term.
            # It stays a device tensor: a host read here would stall every step and break capture.
            scale = self.rho / torch.cat([g.flatten() for g in g0]).norm().clamp_min(1e-12)
        alpha_t = [a + scale * g for a, g in zip(alpha, g0, strict=True)]
        with self._bn_frozen():
            g1 = grad(loss_fn, alpha_t)
            plus = grad(loss_fn, [a + self.eps * g for a, g in zip(alpha_t, g1, strict=True)])
            minus = grad(loss_fn, [a - self.eps * g for a, g in zip(alpha_t, g1, strict=True)])
        return [g + scale * (p - m) / (2 * self.eps) for g, p, m in zip(g1, plus, minus, strict=True)]

    @contextmanager
    def _bn_frozen(self) -> Iterator[None]:
        """Optionally keep BN running statistics as the first pass left them (ours; off by default)."""
        supernet: Supernet | None = self._step_ctx.supernet if self._step_ctx is not None else None
        if not self.freeze_bn_stats or supernet is None:
            yield
            return
        norms = [m for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False)} for m in norms]
        try:
            yield
        finally:
            with torch.no_grad():
                for m, buffers in zip(norms, saved, strict=True):
                    for k, b in m.named_buffers(recurse=False):
                        b.copy_(buffers[k])

    # --- everything else is the base method's -----------------------------------------------

    def init_alphas(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        return self.base.init_alphas(generator, device)

    def extra_parameters(self) -> list[torch.Tensor]:
        return self.base.extra_parameters()

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.base.mixing_weights(alphas)

    def genotype_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.base.genotype_weights(alphas)

    def partial_channels(self) -> int:
        return self.base.partial_channels()

    @property
    def arch_batch_source(self) -> ArchBatchSource:
        return self.base.arch_batch_source

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        self.base.on_epoch_start(epoch, total_epochs, supernet)

    def begin_step(self, ctx: StepContext) -> None:
        self._step_ctx = ctx
        self.base.begin_step(ctx)

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.base.arch_loss(ctx, alphas)

    def arch_update(
        self, alphas: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> None:
        self.base.arch_update(alphas, grads, optimizer)

    def train_weights(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.base.train_weights(ctx, alphas)

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state)

    def __getattr__(self, name: str) -> Any:
        # Method-specific attributes (e.g. a schedule's current value) read through to the base.
        if name in ("base", "_step_ctx"):
            raise AttributeError(name)
        return getattr(self.base, name)
