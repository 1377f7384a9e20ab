"""The radius-d neighbourhood NA-RS averages over (ALGORITHMS.md §5), built on flatness.geometry.

The ball N_d(a) holds every architecture within d edits of a, a itself excluded (the caller adds
it). When the ball is larger than `max_samples` it is sampled: on nb201 uniformly over the whole
ball (it is enumerable: 24 at d=1, 264 at d=2); on darts, where the shells beyond radius 1 can only
be sampled by random edits, the budget is split evenly over the radii 1..d (remainder to radius 1).
"""

from __future__ import annotations

import random

from nas_core.flatness.geometry import nb201_neighbours, neighbourhood
from nas_core.genotype import Genotype


def neighbour_ball(genotype: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
    """Distinct architectures at distance 1..radius from `genotype` (at most `max_samples`)."""
    if radius < 1:
        raise ValueError(f"method_params.radius: {radius} is not allowed; use 1 or more")
    if genotype.space == "nb201":
        ball = [n for r in range(1, radius + 1) for n in nb201_neighbours(genotype, r)]
        if len(ball) <= max_samples:
            return ball
        return [ball[i] for i in sorted(rng.sample(range(len(ball)), max_samples))]
    shares = [max_samples // radius] * radius
    shares[0] += max_samples - sum(shares)
    return [
        n for r, share in enumerate(shares, start=1) if share for n in neighbourhood(genotype, r, share, rng)
    ]
