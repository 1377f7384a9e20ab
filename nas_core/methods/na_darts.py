"""NA-DARTS (docs/algorithms.md §4): a neighbourhood-aware architecture loss.

Our reconstruction of the paper's formulation (aggregate f over the neighbourhood N(α), mean
aggregation), not a port of its code. The architecture loss is the mean of L_val(w, n_k(α)) over
K sampled neighbours n_k of the relaxed architecture, plus α itself when include_self. A neighbour
edits r distinct random edges (drawn across all α groups): on each, the softmax probability of the
edge's current top op is swapped with that of another op drawn uniformly, the relaxed form of
"replace this op". A swap is a permutation of one edge's probabilities, so it stays on the
simplex and the gradient flows back to α through the swapped entries.

The edits are drawn once per step, at the live α (the first loss evaluation of the step), and
reused by every later evaluation in that step: the loss is then one fixed function of α within a
step, which A2M's finite differences need. Edits are index tensors built on the device, so
sampling a neighbour costs no host sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nas_core.methods.base import ArchMethod, StepContext
from nas_core.methods.params import NaDartsParams
from nas_core.spaces.base import SearchSpace


def sample_neighbour_indices(
    probs: Sequence[torch.Tensor], k: int, r: int, generator: torch.Generator | None
) -> torch.Tensor:
    """K gather indices (K × total_edges × ops) over the α groups stacked by rows.

    Row e of neighbour k is the identity permutation except on its r edited edges, where the top
    op and one uniformly drawn other op trade places.
    """
    stacked = torch.cat([p.detach() for p in probs], dim=0)
    edges, ops = stacked.shape
    device = stacked.device
    gen_device = generator.device if generator is not None else device
    index = torch.arange(ops, device=device).expand(k, edges, ops).clone()
    top = stacked.argmax(dim=-1)  # (edges,)
    for n in range(k):
        rows = torch.randperm(edges, generator=generator, device=gen_device)[:r].to(device)
        # Uniform over the other ops-1 ops: draw in [0, ops-1) and step over the top op.
        other = torch.randint(ops - 1, (r,), generator=generator, device=gen_device).to(device)
        other = other + (other >= top[rows]).long()
        index[n, rows, top[rows]] = other
        index[n, rows, other] = top[rows]
    return index


def apply_neighbour(probs: Sequence[torch.Tensor], index: torch.Tensor) -> list[torch.Tensor]:
    """One neighbour's mixing weights: a gather with a permuted index, differentiable in `probs`."""
    stacked = torch.cat(list(probs), dim=0)
    return list(stacked.gather(1, index).split([p.shape[0] for p in probs], dim=0))


class NaDarts(ArchMethod[NaDartsParams]):
    name = "na-darts"
    params_model = NaDartsParams

    def __init__(self, space: SearchSpace, params: NaDartsParams | Mapping[str, Any] | None = None) -> None:
        super().__init__(space, params)
        edges = len(space.edges) * len(space.groups)
        if self.params.r > edges:
            raise ValueError(
                f"method_params.r: {self.params.r} edits per neighbour, but space '{space.name}' has "
                f"{edges} edges; allowed: 1..{edges}"
            )
        self._neighbours: torch.Tensor | None = None

    def begin_step(self, ctx: StepContext) -> None:
        super().begin_step(ctx)
        self._neighbours = None

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        probs = self.mixing_weights(alphas)
        if self._neighbours is None:
            self._neighbours = sample_neighbour_indices(probs, self.params.k, self.params.r, ctx.generator)
        members = [apply_neighbour(probs, index) for index in self._neighbours]
        if self.params.include_self:
            members.append(probs)
        losses = [ctx.criterion(ctx.supernet(ctx.x_val, weights), ctx.y_val) for weights in members]
        return torch.stack(losses).mean()
