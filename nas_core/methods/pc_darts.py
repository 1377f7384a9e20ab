"""PC-DARTS (docs/algorithms.md §4): partial channels and edge normalisation.

Partial channels: the supernet is built with `partial_channels=K`, so every mixed op sees C/K of
its input channels (the rest bypass it, then a channel shuffle): K times less memory and compute
per op, and a regularising effect on α. The loop asks the method which K to build with through
the declared hook `partial_channels()`.

Edge normalisation: each α group gets a vector β (one entry per edge). A node's incoming edges are
weighted by softmax(β) over those edges, multiplied into the op weights:
    w[edge, op] = softmax(β over the target node's incoming edges)[edge] · softmax(α_edge)[op],
which steadies the edge selection that partial channels makes noisy. The genotype is derived from
the same product (for darts, the top-2 edge ranking then sees β).

β is trained with α by the same Adam. Its gradient is taken at the step's live α, in the first
`arch_grad` call of a step, and applied in `arch_update`; under A2M the later, perturbed calls
change α's gradient only (A2M is defined on α, docs/algorithms.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nas_core.methods.base import ArchMethod, LossFn
from nas_core.methods.params import PcDartsParams
from nas_core.spaces.base import SearchSpace


class PcDarts(ArchMethod[PcDartsParams]):
    name = "pc-darts"
    params_model = PcDartsParams

    def __init__(self, space: SearchSpace, params: PcDartsParams | Mapping[str, Any] | None = None) -> None:
        super().__init__(space, params)
        self.betas: list[torch.Tensor] = []
        self._pending_beta_grads: list[torch.Tensor] | None = None
        targets = [target for target, _ in space.edges]
        # node_of_edge[e] = index of edge e's target among the distinct targets, for a segment softmax.
        distinct = sorted(set(targets))
        self._node_of_edge = torch.tensor([distinct.index(t) for t in targets])
        # Per device, made once (no host-to-device copy inside a step: see Gaea._mask).
        self._node_index: dict[torch.device, torch.Tensor] = {}
        self._num_nodes = len(distinct)

    def partial_channels(self) -> int:
        return self.params.k

    @property
    def edge_normalization(self) -> bool:
        return self.params.edge_normalization

    def init_alphas(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        alphas = super().init_alphas(generator, device)
        if self.edge_normalization:
            self.betas = [
                (1e-3 * torch.randn(len(self.space.edges), generator=generator))
                .to(device)
                .requires_grad_(True)
                for _ in self.space.groups
            ]
        return alphas

    def extra_parameters(self) -> list[torch.Tensor]:
        return list(self.betas)

    def edge_weights(self, beta: torch.Tensor) -> torch.Tensor:
        """softmax(β) within each target node's incoming edges, as one value per edge."""
        if beta.device not in self._node_index:
            self._node_index[beta.device] = self._node_of_edge.to(beta.device)
        node = self._node_index[beta.device]
        # Subtracting the global max keeps exp finite; it cancels within every node's softmax.
        exp = torch.exp(beta - beta.max())
        per_node = torch.zeros(self._num_nodes, device=beta.device, dtype=beta.dtype).index_add(0, node, exp)
        return exp / per_node[node]

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        op_weights = super().mixing_weights(alphas)
        if not self.edge_normalization:
            return op_weights
        return [w * self.edge_weights(b)[:, None] for w, b in zip(op_weights, self.betas, strict=True)]

    def arch_grad(self, loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if not self.edge_normalization or self._pending_beta_grads is not None:
            return super().arch_grad(loss_fn, alphas)
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        grads = torch.autograd.grad(loss_fn(leaves), leaves + self.betas)
        self._pending_beta_grads = [g.detach() for g in grads[len(leaves) :]]
        return list(grads[: len(leaves)])

    def arch_update(
        self, alphas: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> None:
        if self._pending_beta_grads is not None:
            for beta, grad in zip(self.betas, self._pending_beta_grads, strict=True):
                beta.grad = grad.clone()
            self._pending_beta_grads = None
        super().arch_update(alphas, grads, optimizer)
