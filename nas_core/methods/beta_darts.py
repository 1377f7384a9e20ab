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

from nas_core.methods.base import ArchMethod, StepContext, epoch_scalar
from nas_core.methods.params import BetaDartsParams
from nas_core.spaces.base import Supernet


def beta_regulariser(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
    """R(α) = Σ over α groups of the mean over edges of logsumexp over ops."""
    return torch.stack([torch.logsumexp(a, dim=-1).mean() for a in alphas]).sum()


class BetaDarts(ArchMethod[BetaDartsParams]):
    name = "beta-darts"
    params_model = BetaDartsParams

    _lam: torch.Tensor | None = None  # λ_t on the device, set per epoch (a captured step reads it)

    def regulariser_weight(self, epoch: int) -> float:
        return self.params.tau * epoch

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        self._lam = epoch_scalar(self._lam, self.regulariser_weight(epoch), supernet)

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        lam = self._lam if self._lam is not None else self.regulariser_weight(ctx.epoch)
        return super().arch_loss(ctx, alphas) + lam * beta_regulariser(alphas)
