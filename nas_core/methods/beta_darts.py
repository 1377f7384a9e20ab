"""β-DARTS (docs/algorithms.md §4): DARTS with the β-regulariser on α's logsumexp.

Architecture loss L_val + λ_t·R(α), R(α) = Σ_groups mean_edges logsumexp(α_edge), λ_t = τ·epoch.
The schedule reads the *epoch* (0-based, as the loop counts it): the reference's DARTS-space script
passes the step index instead, which makes λ explode within the first epoch; we do not.
∂R/∂α_edge = softmax(α_edge)/|E|: the regulariser pushes every logit down in proportion to its
share, which keeps α's softmax from saturating early (the paper's "β-continuity").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas_core.methods.base import ArchMethod, StepContext
from nas_core.methods.params import BetaDartsParams


def beta_regulariser(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
    """R(α) = Σ over α groups of the mean over edges of logsumexp over ops."""
    return torch.stack([torch.logsumexp(a, dim=-1).mean() for a in alphas]).sum()


class BetaDarts(ArchMethod[BetaDartsParams]):
    name = "beta-darts"
    params_model = BetaDartsParams

    def regulariser_weight(self, epoch: int) -> float:
        return self.params.tau * epoch

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        return super().arch_loss(ctx, alphas) + self.regulariser_weight(ctx.epoch) * beta_regulariser(alphas)
