"""Architecture-space geometry (docs/algorithms.md §6): distances, neighbourhoods, edit paths, cell shape.

Pure functions of `Genotype`s (no torch), so the service can use them without a supernet. Each
function checks what holds for every space and hands the rest to the genotypes' space definition
(nas_core/spaces/*_definition.py), which knows its own distance, edits and cell shape.

Distance is the number of single edits on a shortest path, so one edit changes it by at most one.
Randomness comes from a `random.Random` the caller seeds, so every sample is reproducible.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

from nas_core.genotype import Genotype, space_of
from nas_core.spaces.definition import EditStep, with_pair

#: Above this many differing edges, path orderings are sampled instead of enumerated (8! = 40320).
_ENUMERATE_PATHS_UP_TO = 8


# --- distance ----------------------------------------------------------------------------------


def edit_distance(a: Genotype, b: Genotype) -> int:
    """Number of single edits between `a` and `b`."""
    _check_comparable(a, b)
    return space_of(a.space).edit_distance(a, b)


def genotype_key(g: Genotype) -> tuple:
    """A hashable key equal for genotypes that compute the same architecture (darts: the order of
    a node's two kept edges does not matter)."""
    return space_of(g.space).genotype_key(g)


# --- neighbourhoods ----------------------------------------------------------------------------


def neighbourhood(g: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
    """Distinct genotypes at distance exactly `radius`: all of them when there are at most
    `max_samples`, else a sample of `max_samples` (how, is the space's: nb201 and darts radius 1
    sample the full list uniformly; darts at radius ≥ 2 keeps distinct results of random edits)."""
    if radius < 1:
        raise ValueError(f"radius: {radius} is not allowed; use 1 or more")
    if max_samples < 1:
        raise ValueError(f"max_samples: {max_samples} is not allowed; use 1 or more")
    return space_of(g.space).neighbourhood(g, radius, max_samples, rng)


# --- shortest edit paths -----------------------------------------------------------------------


def edit_paths(
    a: Genotype, b: Genotype, max_paths: int, rng: random.Random | None = None
) -> list[list[Genotype]]:
    """Distinct shortest edit paths from `a` to `b`, each `[a, intermediates..., b]`.

    A path applies the differing edges one at a time, in every ordering (nb201 at distance 3: 3! = 6
    paths with 2 intermediates each). darts: a node whose two kept edges both differ can be
    rebuilt by two pairings of old to new edge; both are tried and paths through invalid
    genotypes (one input used twice) are dropped. When there are more than `max_paths`, a
    seeded sample of `max_paths` is returned (rng default: Random(0)).
    """
    _check_comparable(a, b)
    if max_paths < 1:
        raise ValueError(f"max_paths: {max_paths} is not allowed; use 1 or more")
    rng = rng if rng is not None else random.Random(0)
    steps_per_pairing = space_of(a.space).edit_step_sets(a, b)
    distance = len(steps_per_pairing[0])
    if distance <= 1:
        return [[a, b]] if distance == 1 else [[a]]
    if distance <= _ENUMERATE_PATHS_UP_TO:
        candidates = (list(order) for steps in steps_per_pairing for order in itertools.permutations(steps))
        paths = _valid_distinct_paths(a, candidates, limit=None)
        if len(paths) > max_paths:
            paths = [paths[i] for i in sorted(rng.sample(range(len(paths)), max_paths))]
        return paths
    # Too many orderings to list (d! · pairings): sample orderings until enough distinct valid paths.
    total = math.factorial(distance) * len(steps_per_pairing)

    def sampled() -> Iterator[list[EditStep]]:
        for _ in range(min(20 * max_paths, total)):
            steps = list(rng.choice(steps_per_pairing))
            rng.shuffle(steps)
            yield steps

    return _valid_distinct_paths(a, sampled(), limit=max_paths)


def _valid_distinct_paths(
    a: Genotype, orders: Iterator[list[EditStep]], limit: int | None
) -> list[list[Genotype]]:
    space = space_of(a.space)
    seen: set[tuple] = set()
    paths = []
    for order in orders:
        path = [a]
        for field, index, pair in order:
            path.append(with_pair(path[-1], field, index, pair))
        if not all(space.path_is_valid(g) for g in path[1:-1]):
            continue
        key = tuple(space.genotype_key(g) for g in path)
        if key not in seen:
            seen.add(key)
            paths.append(path)
            if limit is not None and len(paths) == limit:
                break
    return paths


# --- cell shape and collapse -------------------------------------------------------------------


def cell_shape(g: Genotype, C: float = 1.0) -> dict[str, dict[str, float]]:
    """Width and depth per cell (Shu et al., ICLR 2020), keyed by cell ("cell" | "normal", "reduce");
    the space's definition says how its cells are measured."""
    return space_of(g.space).cell_shape(g, C)


def skip_count(g: Genotype) -> dict[str, int]:
    """`skip_connect` edges per cell (the collapse indicator), keyed like `cell_shape`."""
    return space_of(g.space).skip_count(g)


# --- helpers -----------------------------------------------------------------------------------


def _check_comparable(a: Genotype, b: Genotype) -> None:
    if a.space != b.space:
        raise ValueError(
            f"genotype.space: '{a.space}' and '{b.space}' differ; compare genotypes of one space"
        )
    space_of(a.space).check_comparable(a, b)
