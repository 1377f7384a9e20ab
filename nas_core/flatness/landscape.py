"""The loss landscape over architectures (docs/algorithms.md §6): neighbourhood profiles and barriers.

Every function takes `evaluate: Genotype -> Evaluation` (an `ArchitectureEvaluator` in use, a
table in tests), so the formulas are testable on hand-made numbers and the cost is the number of
distinct genotypes evaluated (the evaluator caches).

Barrier along a discrete path [a, g1, ..., b] (endpoints included):
    accuracy barrier = ½(acc(a) + acc(b)) − min acc on the path
    loss barrier     = max loss on the path − ½(L(a) + L(b))
The reference compares with the first intermediate instead of b (a bug); we use b. Because the
endpoints are on the path, each barrier is at least half the endpoints' gap, and 0 for a path
from an architecture to itself.
Continuous barrier on the straight line α(t) = (1−t)α_a + t·α_b: the largest excess over the
linear interpolation of the endpoints, max_t [L(t) − ((1−t)L(0) + tL(1))] (and for accuracy the
largest shortfall), the usual mode-connectivity definition; t = 0 and 1 give 0, so it is ≥ 0.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch

from nas_core.flatness.evaluation import ArchitectureEvaluator, Evaluation
from nas_core.flatness.geometry import edit_distance, edit_paths, neighbourhood
from nas_core.genotype import Genotype
from nas_core.methods.base import ArchMethod

Evaluate = Callable[[Genotype], Evaluation]


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "std": statistics.pstdev(values),  # population std: the sample is all we describe
    }


def neighbourhood_profile(
    evaluate: Evaluate, centre: Genotype, radius: int, max_samples: int, rng: random.Random
) -> dict[str, Any]:
    """Accuracy and loss of the architectures at distance `radius` from `centre` (sampled above
    `max_samples`), summarised as mean/min/max/std, with the drop from the centre.

    acc_drop_mean = acc(centre) − mean acc, acc_drop_max = acc(centre) − min acc;
    loss_rise_mean / loss_rise_max likewise with losses (positive = the neighbours are worse).
    """
    neighbours = neighbourhood(centre, radius, max_samples, rng)
    if not neighbours:
        raise ValueError(f"radius: no architecture at distance {radius} from the centre could be found")
    base = evaluate(centre)
    results = [evaluate(g) for g in neighbours]
    acc = _summary([r.acc for r in results])
    loss = _summary([r.loss for r in results])
    return {
        "radius": radius,
        "evaluated": len(results),
        "centre": base.to_dict(),
        "acc": acc,
        "loss": loss,
        "acc_drop_mean": base.acc - acc["mean"],
        "acc_drop_max": base.acc - acc["min"],
        "loss_rise_mean": loss["mean"] - base.loss,
        "loss_rise_max": loss["max"] - base.loss,
    }


def path_barrier(
    evaluate: Evaluate, a: Genotype, b: Genotype, max_paths: int, rng: random.Random | None = None
) -> dict[str, Any]:
    """Accuracy and loss barriers between `a` and `b` over up to `max_paths` shortest edit paths:
    per path (module docstring), then mean and max over the paths; per-path curves included."""
    paths = edit_paths(a, b, max_paths, rng)
    end_a, end_b = evaluate(a), evaluate(b)
    acc_mid = 0.5 * (end_a.acc + end_b.acc)
    loss_mid = 0.5 * (end_a.loss + end_b.loss)
    per_path: list[dict[str, Any]] = []
    acc_barriers: list[float] = []
    loss_barriers: list[float] = []
    for path in paths:
        results = [evaluate(g) for g in path]
        accs = [r.acc for r in results]
        losses = [r.loss for r in results]
        acc_barriers.append(acc_mid - min(accs))
        loss_barriers.append(max(losses) - loss_mid)
        per_path.append(
            {"acc": accs, "loss": losses, "acc_barrier": acc_barriers[-1], "loss_barrier": loss_barriers[-1]}
        )
    return {
        "distance": edit_distance(a, b),
        "paths": len(per_path),
        "a": end_a.to_dict(),
        "b": end_b.to_dict(),
        "acc_barrier_mean": statistics.fmean(acc_barriers),
        "acc_barrier_max": max(acc_barriers),
        "loss_barrier_mean": statistics.fmean(loss_barriers),
        "loss_barrier_max": max(loss_barriers),
        "per_path": per_path,
    }


def barrier_matrix(
    evaluate: Evaluate, genotypes: Sequence[Genotype], max_paths: int, seed: int = 0
) -> dict[str, Any]:
    """Pairwise path barriers of a set of genotypes: n×n matrices (symmetric, zero diagonal) of
    edit distance and mean/max accuracy and loss barriers. Pair (i, j) samples its paths with
    Random(seed, i, j), so adding a genotype does not change the other entries."""
    n = len(genotypes)
    keys = ("acc_barrier_mean", "acc_barrier_max", "loss_barrier_mean", "loss_barrier_max")
    out: dict[str, Any] = {k: [[0.0] * n for _ in range(n)] for k in keys}
    out["distance"] = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            result = path_barrier(
                evaluate, genotypes[i], genotypes[j], max_paths, random.Random(f"{seed}:{i}:{j}")
            )
            for k in (*keys, "distance"):
                out[k][i][j] = out[k][j][i] = result[k]
    out["evaluations"] = [evaluate(g).to_dict() for g in genotypes]
    return out


def alpha_line_barrier(
    evaluator: ArchitectureEvaluator,
    method: ArchMethod,
    alphas_a: Sequence[torch.Tensor],
    alphas_b: Sequence[torch.Tensor],
    points: int = 11,
) -> dict[str, Any]:
    """Loss and accuracy along α(t) = (1−t)α_a + t·α_b, t on `points` evenly spaced values in
    [0, 1], mixed by the method (`method.mixing_weights`, e.g. softmax) with the supernet's shared
    weights; plus the barrier heights (module docstring). α_a and α_b must belong to the
    supernet being evaluated (two epochs of one search, or two searches sharing a supernet)."""
    if points < 2:
        raise ValueError(f"points: {points} is not allowed; use 2 or more")
    ts = [i / (points - 1) for i in range(points)]
    results = []
    with torch.no_grad():
        for t in ts:
            alphas = [(1 - t) * a.detach() + t * b.detach() for a, b in zip(alphas_a, alphas_b, strict=True)]
            results.append(evaluator.mixing(method.mixing_weights(alphas)))
    losses = [r.loss for r in results]
    accs = [r.acc for r in results]
    loss_excess = [lt - ((1 - t) * losses[0] + t * losses[-1]) for t, lt in zip(ts, losses, strict=True)]
    acc_shortfall = [((1 - t) * accs[0] + t * accs[-1]) - at for t, at in zip(ts, accs, strict=True)]
    return {
        "t": ts,
        "loss": losses,
        "acc": accs,
        "loss_barrier": max(loss_excess),
        "acc_barrier": max(acc_shortfall),
    }
