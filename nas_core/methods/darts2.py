"""Second-order DARTS (docs/algorithms.md §2): the α gradient through one unrolled weight step.

    w' = w − ξ·(momentum·buf + ∇_w L_tr(w, α) + wd·w)      (the SGD step the optimizer would take)
    g  = ∇_α L_val(w', α) − ξ·[∇_α L_tr(w⁺, α) − ∇_α L_tr(w⁻, α)] / (2ε)
    w± = w ± ε·v,  v = ∇_{w'} L_val(w', α),  ε = unrolled_eps / ‖v‖

The weights are moved in place and restored bit-exactly, so no copy of the supernet is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nas_core.methods.base import ArchMethod, LossFn, StepContext
from nas_core.methods.params import Darts2Params
from nas_core.spaces.base import SearchSpace


class Darts2(ArchMethod[Darts2Params]):
    name = "darts2"
    params_model = Darts2Params

    def __init__(self, space: SearchSpace, params: Darts2Params | Mapping[str, Any] | None = None) -> None:
        super().__init__(space, params)
        # The unrolled step needs the step's batches and weight optimizer inside arch_grad, whose
        # signature is any closure's (so A2M can wrap it); begin_step hands them over.
        self._step: StepContext | None = None

    def begin_step(self, ctx: StepContext) -> None:
        self._step = ctx

    def arch_grad(self, loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        ctx = self._step
        if ctx is None:
            raise ValueError(
                "darts2: begin_step(ctx) must come before arch_grad (it needs the step's batches)"
            )
        params = [p for p in ctx.supernet.parameters() if p.requires_grad]
        xi, step_dir = self._sgd_direction(ctx, params, alphas)
        saved = [p.detach().clone() for p in params]

        with torch.no_grad():
            for p, d in zip(params, step_dir, strict=True):
                p.sub_(xi * d)
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        grads = torch.autograd.grad(loss_fn(leaves), [*leaves, *params], allow_unused=True)
        dalpha = [
            g if g is not None else torch.zeros_like(a)
            for g, a in zip(grads[: len(leaves)], leaves, strict=True)
        ]
        v = [
            g if g is not None else torch.zeros_like(p)
            for g, p in zip(grads[len(leaves) :], params, strict=True)
        ]

        eps = self.params.unrolled_eps / torch.cat([t.flatten() for t in v]).norm().clamp_min(1e-12)
        hessian_terms = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, w, vi in zip(params, saved, v, strict=True):
                    p.copy_(w + sign * eps * vi)
            hessian_terms.append(self._train_alpha_grad(ctx, alphas))
        with torch.no_grad():
            for p, w in zip(params, saved, strict=True):
                p.copy_(w)
        return [
            da - xi * (gp - gm) / (2 * eps)
            for da, gp, gm in zip(dalpha, hessian_terms[0], hessian_terms[1], strict=True)
        ]

    def _train_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        logits = ctx.supernet(ctx.x_train, self.mixing_weights(alphas))
        return ctx.criterion(logits, ctx.y_train)

    def _train_alpha_grad(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        return list(torch.autograd.grad(self._train_loss(ctx, leaves), leaves))

    def _sgd_direction(
        self, ctx: StepContext, params: Sequence[torch.Tensor], alphas: Sequence[torch.Tensor]
    ) -> tuple[float | torch.Tensor, list[torch.Tensor]]:
        """ξ and the direction d of the optimizer's next step (w' = w − ξ·d), as torch SGD computes it."""
        if ctx.weight_optimizer is None:
            raise ValueError(
                "darts2 needs the weight optimizer in the step context (StepContext.weight_optimizer)"
            )
        group = ctx.weight_optimizer.param_groups[0]
        # ξ as the optimizer holds it: a device tensor on a capture-ready search, where a float()
        # would be a host read in every step.
        xi, momentum, wd = group["lr"], float(group["momentum"]), float(group["weight_decay"])
        weights = [a.detach() for a in alphas]
        grads = torch.autograd.grad(self._train_loss(ctx, weights), params, allow_unused=True)
        direction = []
        for p, g in zip(params, grads, strict=True):
            d = (torch.zeros_like(p) if g is None else g) + wd * p.detach()
            buf = ctx.weight_optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None and momentum > 0:
                d = d + momentum * buf
            direction.append(d)
        return xi, direction
