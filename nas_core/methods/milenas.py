"""MiLeNAS (docs/algorithms.md §4): mixed-level architecture gradient ∇_α L_val + λ·∇_α L_tr.

Written as an architecture *loss* L_val + λ·L_tr (both at the current w), so the gradient is the
mixed-level one by linearity and A2M wraps it unchanged. α's gradient is never clipped (the
reference clips α's gradient instead of w's: a bug); the loop clips the weights only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas_core.methods.base import ArchMethod, StepContext
from nas_core.methods.params import MilenasParams


class Milenas(ArchMethod[MilenasParams]):
    name = "milenas"
    params_model = MilenasParams

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        val_loss = super().arch_loss(ctx, alphas)
        lam = self.params.lam
        if lam == 0.0:
            return val_loss
        train_logits = ctx.supernet(ctx.x_train, self.mixing_weights(alphas))
        return val_loss + lam * ctx.criterion(train_logits, ctx.y_train)
