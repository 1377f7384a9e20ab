"""GAEA (docs/algorithms.md §4): exponentiated-gradient descent on the simplex.

Each edge holds a point θ of the probability simplex (init 1/|O|) and the supernet mixes with θ
directly, no softmax. An update is θ ← θ ⊙ exp(−η·∇_θ L), floored at clamp_min and renormalised
per edge: mirror descent with the entropy mirror map, which drives θ to sparse, near one-hot
points, so the derived architecture is the one the supernet was trained on.

Parameterisation: the tensors the loop holds (its "α") are φ = log θ, and mixing_weights(φ) =
exp(φ). The plain gradient ∇_φ L = θ ⊙ ∇_θ L is what every method returns, so A2M wraps GAEA
unchanged and perturbs log θ (our extension, docs/algorithms.md §3); `arch_update` divides by θ to
recover ∇_θ L and takes the exponentiated step, which in φ is simply φ ← φ − η·∇_θ L.

On nb201 GAEA drops `none` (the paper's NB201 setting): its weight is fixed at 0 by a mask, so it
never mixes, never gets a gradient and is never derived. φ's `none` column is stored as
log(clamp_min) and ignored.

Levels: "bilevel" takes the architecture step on the validation half (as DARTS); "single" takes it
on training data, a different batch than the weight step's. The loop reads the declared hook
`arch_batch_source` ("val" | "train") to decide which half ctx.x_val/ctx.y_val are drawn from;
nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nas_core.methods.base import ArchBatchSource, ArchMethod
from nas_core.methods.params import GaeaParams
from nas_core.spaces.base import SearchSpace


class Gaea(ArchMethod[GaeaParams]):
    name = "gaea"
    params_model = GaeaParams

    def __init__(self, space: SearchSpace, params: GaeaParams | Mapping[str, Any] | None = None) -> None:
        super().__init__(space, params)
        self._allowed = torch.tensor([op not in space.gaea_dropped_ops for op in space.ops])
        # The mask per (device, dtype), made once: a host-to-device copy inside a step would be a
        # transfer per step, and one from pageable memory cannot be captured in a CUDA graph.
        self._masks: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    @property
    def arch_batch_source(self) -> ArchBatchSource:
        return "train" if self.params.level == "single" else "val"

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self._masks:
            self._masks[key] = self._allowed.to(device=like.device, dtype=like.dtype)
        return self._masks[key]

    def init_alphas(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        """φ = log θ with θ uniform over the allowed ops of each edge (no randomness: the paper's init)."""
        allowed = int(self._allowed.sum())
        phis = []
        for shape in self.space.alpha_shapes():
            phi = torch.full(shape, -math.log(allowed))
            phi[:, ~self._allowed] = math.log(self.params.clamp_min)
            phis.append(phi.to(device).requires_grad_(True))
        return phis

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.exp(phi) * self._mask(phi) for phi in alphas]

    def arch_update(
        self, alphas: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> None:
        """Exponentiated gradient in place; the loop's Adam is not used (its state stays empty)."""
        eta, floor = self.params.eta, self.params.clamp_min
        with torch.no_grad():
            for phi, grad_phi in zip(alphas, grads, strict=True):
                theta = torch.exp(phi) * self._mask(phi)
                # ∇_θ L = ∇_φ L / θ; the masked column has θ = 0 and gradient 0, so divide safely.
                grad_theta = torch.where(
                    theta > 0, grad_phi / theta.clamp_min(1e-30), torch.zeros_like(theta)
                )
                phi.copy_(torch.log(exponentiated_step(theta, grad_theta, eta, floor, self._mask(phi))))
                phi.grad = None
        optimizer.zero_grad(set_to_none=True)


def exponentiated_step(
    theta: torch.Tensor, grad: torch.Tensor, eta: float, floor: float, mask: torch.Tensor
) -> torch.Tensor:
    """θ ⊙ exp(−η·g), floored at `floor`, renormalised per edge over the allowed ops.

    Masked ops come back as `floor` (their stored placeholder); they are excluded from the sum.
    The exponent is capped at 80 so a pathological gradient cannot overflow float32 into inf/inf.
    """
    stepped = (theta * torch.exp((-eta * grad).clamp_max(80.0))).clamp_min(floor) * mask
    normalised = stepped / stepped.sum(dim=-1, keepdim=True)
    return torch.where(mask > 0, normalised, torch.full_like(normalised, floor))
