"""SDARTS-RS (docs/algorithms.md §4): random smoothing of the mixing weights in the weight step.

The α step is DARTS's. The weight step trains w under softmax(α) + U(−ε_t, ε_t), clamped to [0, 1]
and renormalised per edge, so w becomes good for a neighbourhood of α rather than a point: the
supernet's loss gets flatter in α. ε_t grows linearly from eps_start at the first epoch to eps_end at
the last one. Noise comes from the search's generator, so a seed (and a resume) reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas_core.methods.base import ArchMethod, StepContext, epoch_scalar
from nas_core.methods.params import SdartsRsParams
from nas_core.spaces.base import Supernet


def noise_radius(epoch: int, total_epochs: int, start: float, end: float) -> float:
    """Linear from `start` (epoch 0) to `end` (last epoch); a one-epoch search uses `start`."""
    if total_epochs <= 1:
        return start
    return start + (end - start) * epoch / (total_epochs - 1)


def smoothed_weights(
    probs: torch.Tensor, eps: float | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """probs + U(−eps, eps), clamped to [0, 1], renormalised over the last dim."""
    # Draw on the generator's device (a CPU generator may drive a CUDA search), then move.
    gen_device = generator.device if generator is not None else probs.device
    uniform = torch.rand(probs.shape, generator=generator, device=gen_device, dtype=probs.dtype)
    noisy = (probs + (2.0 * uniform.to(probs.device) - 1.0) * eps).clamp(0.0, 1.0)
    # An edge whose every entry clamps to 0 cannot happen for eps < 1/|O|, but guard the division.
    return noisy / noisy.sum(dim=-1, keepdim=True).clamp_min(1e-12)


class SdartsRs(ArchMethod[SdartsRsParams]):
    name = "sdarts-rs"
    params_model = SdartsRsParams

    _eps: torch.Tensor | None = None  # ε_t on the device, set per epoch (a captured step reads it)

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        radius = noise_radius(epoch, total_epochs, self.params.eps_start, self.params.eps_end)
        self._eps = epoch_scalar(self._eps, radius, supernet)

    def train_weights(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        eps: float | torch.Tensor
        if self._eps is not None:
            eps = self._eps
        else:
            eps = noise_radius(ctx.epoch, ctx.total_epochs, self.params.eps_start, self.params.eps_end)
        return [smoothed_weights(w, eps, ctx.generator) for w in super().train_weights(ctx, alphas)]
