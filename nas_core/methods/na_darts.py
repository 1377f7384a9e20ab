"""NA-DARTS (ALGORITHMS.md §4): a neighbourhood-aware architecture loss.

Our reconstruction of the paper's formulation (aggregate f over the neighbourhood N(α), mean
aggregation), not a port of its code. The architecture loss is the mean of L_val(w, n_k(α)) over
K sampled neighbours n_k of the relaxed architecture, plus α itself when include_self. A neighbour
edits r random edges (drawn across all α groups): on each, the softmax probability of the edge's
current top op is swapped with that of another op drawn uniformly, the relaxed form of "replace
this op". A swap is a permutation of one edge's probabilities, so it stays on the simplex and the
gradient flows back to α through the swapped entries.

The edits are drawn once per step, at the live α (the first loss evaluation of the step), and
reused by every later evaluation in that step: the loss is then one fixed function of α within
a step, which A2M's finite differences need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nas_core.methods.base import ArchMethod, StepContext
from nas_core.spaces.base import SearchSpace

#: (group index, edge index, top op, replacement op) edits applied to one neighbour.
Edit = tuple[int, int, int, int]


@dataclass(frozen=True)
class Neighbour:
    edits: tuple[Edit, ...]


def sample_neighbours(
    probs: Sequence[torch.Tensor], k: int, r: int, generator: torch.Generator | None
) -> list[Neighbour]:
    """K neighbours, each swapping the top op with a uniformly drawn other op on r distinct edges."""
    slots = [(g, e) for g, p in enumerate(probs) for e in range(p.shape[0])]
    if r > len(slots):
        raise ValueError(f"method_params.r={r} exceeds the {len(slots)} edges of this space")
    num_ops = probs[0].shape[1]
    tops = [p.argmax(dim=-1).tolist() for p in probs]
    device = generator.device if generator is not None else None
    neighbours = []
    for _ in range(k):
        chosen = torch.randperm(len(slots), generator=generator, device=device)[:r].tolist()
        edits = []
        for slot in chosen:
            g, e = slots[slot]
            top = tops[g][e]
            # Uniform over the other num_ops−1 ops: draw in [0, num_ops−1) and skip `top`.
            other = int(torch.randint(num_ops - 1, (1,), generator=generator, device=device))
            edits.append((g, e, top, other + (other >= top)))
        neighbours.append(Neighbour(tuple(edits)))
    return neighbours


def apply_neighbour(probs: Sequence[torch.Tensor], neighbour: Neighbour) -> list[torch.Tensor]:
    """The neighbour's mixing weights: each edit permutes one edge's probabilities (differentiably)."""
    out = list(probs)
    for g, e, top, other in neighbour.edits:
        num_edges, num_ops = out[g].shape
        index = torch.arange(num_ops, device=out[g].device).expand(num_edges, num_ops).clone()
        index[e, top], index[e, other] = other, top
        # A gather, not an in-place write, so the swap is an ordinary differentiable op on α's softmax.
        out[g] = out[g].gather(1, index)
    return out


class NaDarts(ArchMethod):
    name = "na-darts"

    def __init__(self, space: SearchSpace, params: dict[str, Any]) -> None:
        super().__init__(space, params)
        self._neighbours: list[Neighbour] | None = None

    def begin_step(self, ctx: StepContext) -> None:
        super().begin_step(ctx)
        self._neighbours = None

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        probs = self.mixing_weights(alphas)
        if self._neighbours is None:
            self._neighbours = sample_neighbours(
                [p.detach() for p in probs], int(self.params["k"]), int(self.params["r"]), ctx.generator
            )
        members = [apply_neighbour(probs, n) for n in self._neighbours]
        if self.params["include_self"]:
            members.append(probs)
        losses = [ctx.criterion(ctx.supernet(ctx.x_val, weights), ctx.y_val) for weights in members]
        return torch.stack(losses).mean()
