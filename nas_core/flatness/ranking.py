"""Ranking stability (docs/algorithms.md §6, weight-sharing variance): does the supernet keep ranking a
fixed sample of architectures the same way from one metric epoch to the next?

A seeded sample of distinct architectures is evaluated with the supernet's shared weights (α set
to each one-hot genotype, `ArchitectureEvaluator`) on the fixed validation batches every other
metric uses. The value is Kendall's τ_b between the sample's scores at this metric epoch and at the
previous one: 1 = the same order, 0 = unrelated, −1 = reversed. τ_b (not τ_a) because accuracies
on a few batches tie often; ties count as neither concordant nor discordant and the denominator
shrinks accordingly. The score is the validation loss (continuous, so ties are rare); τ_b of the
accuracies is reported alongside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from nas_core.flatness.evaluation import ArchitectureEvaluator
from nas_core.flatness.geometry import genotype_key
from nas_core.genotype import Genotype
from nas_core.spaces.base import SearchSpace

#: Draws per wanted architecture before giving up on distinctness (a tiny space may hold fewer).
_DRAWS_PER_SAMPLE = 50


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's τ_b of two equally long score lists; None when it is undefined (fewer than two
    items, or one list constant, so there is no order to compare)."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau: {len(x)} and {len(y)} scores; the lists must be equally long")
    a = torch.tensor(list(x), dtype=torch.float64)
    b = torch.tensor(list(y), dtype=torch.float64)
    upper = torch.triu(torch.ones(len(a), len(a), dtype=torch.bool), diagonal=1)  # each pair once
    sa = torch.sign(a[:, None] - a[None, :])[upper]
    sb = torch.sign(b[:, None] - b[None, :])[upper]
    untied_a, untied_b = float((sa != 0).sum()), float((sb != 0).sum())
    if untied_a == 0 or untied_b == 0:
        return None
    return float((sa * sb).sum()) / math.sqrt(untied_a * untied_b)


def ranking_sample(space: SearchSpace, size: int, seed: int) -> list[Genotype]:
    """`size` distinct uniformly drawn architectures of `space`, the same for the same seed."""
    if size < 2:
        raise ValueError(f"flatness.ranking_sample: {size} is not allowed; a ranking needs 2 or more")
    generator = torch.Generator().manual_seed(seed)
    seen: set[tuple] = set()
    sample: list[Genotype] = []
    for _ in range(_DRAWS_PER_SAMPLE * size):
        genotype = space.random_genotype(generator)
        key = genotype_key(genotype)
        if key not in seen:
            seen.add(key)
            sample.append(genotype)
            if len(sample) == size:
                break
    return sample


def sample_scores(evaluator: ArchitectureEvaluator, sample: Sequence[Genotype]) -> dict[str, list[float]]:
    """Shared-weight validation loss and accuracy of every architecture of the sample, in order."""
    results = [evaluator(g) for g in sample]
    return {"loss": [r.loss for r in results], "acc": [r.acc for r in results]}


def ranking_stability(
    previous: dict[str, Any], current: dict[str, list[float]]
) -> tuple[float | None, dict[str, Any]]:
    """τ_b of the losses (the value) and the record's params, comparing two epochs' sample scores."""
    tau_acc = kendall_tau(previous["acc"], current["acc"])
    params = {
        "previous_epoch": previous["epoch"],
        "sample": len(current["loss"]),
        "tau_acc": tau_acc,
        "loss": current["loss"],
        "acc": current["acc"],
    }
    return kendall_tau(previous["loss"], current["loss"]), params
