"""The f of the sampling searches: NASWOT of the untrained discrete network, or accuracy with
weights inherited from a supernet trained by uniform single-path sampling (docs/algorithms.md §5).

Both are functions of the architecture alone (given the seed), so scores are cached by the
architecture's key: NA-RS neighbourhoods overlap, and a repeated sample costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from nas_core.flatness.geometry import genotype_key
from nas_core.genotype import Genotype
from nas_core.naswot import score_genotype
from nas_core.spaces.base import SearchSpace, Supernet


class CachedScorer:
    """Memoises a score function by architecture (genotype_key)."""

    def __init__(self, score: Callable[[Genotype], float]) -> None:
        self._score = score
        self.cache: dict[tuple, float] = {}

    def __call__(self, genotype: Genotype) -> float:
        key = genotype_key(genotype)
        if key not in self.cache:
            self.cache[key] = self._score(genotype)
        return self.cache[key]


def naswot_scorer(
    space: SearchSpace, x: torch.Tensor, *, C: int, depth: int, num_classes: int, seed: int
) -> CachedScorer:
    """NASWOT of each architecture's discrete network, every one initialised from the same seed."""
    return CachedScorer(
        lambda g: score_genotype(g, space, x, C=C, depth=depth, num_classes=num_classes, seed=seed)
    )


def supernet_scorer(
    supernet: Supernet, space: SearchSpace, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> CachedScorer:
    """Accuracy of the supernet under the architecture's one-hot weights on fixed batches.

    BN runs on batch statistics (train mode): running statistics accumulated over random paths
    belong to no single architecture (the usual one-shot practice), and batch statistics make
    the score independent of the order architectures are scored in. Nothing is learnt here.
    """

    @torch.no_grad()
    def accuracy(genotype: Genotype) -> float:
        device = batches[0][0].device
        weights = [w.to(device) for w in space.one_hot(genotype)]
        saved = {
            k: v.clone() for k, v in supernet.state_dict().items() if "running" in k or "num_batches" in k
        }
        supernet.train()
        correct = total = 0
        try:
            for x, y in batches:
                correct += int((supernet(x, weights).argmax(dim=1) == y).sum())
                total += int(y.shape[0])
        finally:
            supernet.load_state_dict(saved, strict=False)
        return correct / max(total, 1)

    return CachedScorer(accuracy)


def single_path_step(
    supernet: Supernet,
    space: SearchSpace,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
    grad_clip: float,
) -> torch.Tensor:
    """One SGD step of w on a uniformly sampled architecture (its one-hot weights); returns the loss."""
    weights = [w.to(x.device) for w in space.one_hot(space.random_genotype(generator))]
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(supernet(x, weights), y)
    loss.backward()
    nn.utils.clip_grad_norm_([p for p in supernet.parameters() if p.requires_grad], grad_clip)
    optimizer.step()
    return loss.detach()
