"""The radius-d neighbourhood NA-RS averages over (docs/algorithms.md §5), built on flatness.geometry.

The ball N_d(a) holds every architecture within d edits of a, a itself excluded (the caller adds
it). When the ball is larger than `max_samples` it is sampled, the space's way: on nb201 uniformly
over the whole ball (it is enumerable: 24 at d=1, 264 at d=2); on darts, where the shells beyond
radius 1 can only be sampled by random edits, the budget is split evenly over the radii 1..d
(remainder to radius 1).
"""

from __future__ import annotations

import random

from nas_core.genotype import Genotype, space_of


def neighbour_ball(genotype: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
    """Distinct architectures at distance 1..radius from `genotype` (at most `max_samples`)."""
    if radius < 1:
        raise ValueError(f"method_params.radius: {radius} is not allowed; use 1 or more")
    return space_of(genotype.space).neighbour_ball(genotype, radius, max_samples, rng)
