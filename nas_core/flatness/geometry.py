"""Architecture-space geometry (ALGORITHMS.md §6): distances, neighbourhoods, edit paths, cell shape.

Pure functions of `Genotype`s (no torch), so the service can use them without a supernet.

Distance. nb201: Hamming distance of the 6 op choices (sources are fixed per edge). darts: per
cell and intermediate node, the node's two kept edges form a set of (op, source) pairs; the
distance is Σ |A \\ B| over nodes of both cells. One *edit* replaces one kept edge by another
(a new op on the same input, or a new input with any op), so one edit changes the distance by at
most one and the distance is exactly the number of edits on a shortest path.

Randomness comes from a `random.Random` the caller seeds, so every sample is reproducible.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from nas_core.genotype import DARTS_CELLS, NB201_EDGES, Edge, Genotype, GenotypeError, default_ops
from nas_core.genotype import DARTS_STEPS as DARTS_NODES

NB201_TARGETS = tuple(t for t, _ in NB201_EDGES)
NB201_SOURCES = tuple(s for _, s in NB201_EDGES)
NB201_OUTPUT = 3
NONE_OP = "none"
SKIP_OP = "skip_connect"

#: Above this many differing edges, path orderings are sampled instead of enumerated (8! = 40320).
_ENUMERATE_PATHS_UP_TO = 8


# --- distance ----------------------------------------------------------------------------------


def edit_distance(a: Genotype, b: Genotype) -> int:
    """Number of single edits between `a` and `b` (see the module docstring)."""
    _check_comparable(a, b)
    if a.space == "nb201":
        return sum(ea[0] != eb[0] for ea, eb in zip(a.edges, b.edges, strict=True))
    return sum(
        len(set(na) - set(nb))
        for cell in DARTS_CELLS
        for na, nb in zip(_darts_nodes(a, cell), _darts_nodes(b, cell), strict=True)
    )


def genotype_key(g: Genotype) -> tuple:
    """A hashable key equal for genotypes that compute the same architecture.

    darts: the order of a node's two kept edges does not matter, so they are sorted.
    """
    if g.space == "nb201":
        return ("nb201", tuple(op for op, _ in g.edges))
    return (
        "darts",
        *(tuple(tuple(sorted(node)) for node in _darts_nodes(g, cell)) for cell in DARTS_CELLS),
        tuple(g.normal_concat),
        tuple(g.reduce_concat),
    )


# --- neighbourhoods ----------------------------------------------------------------------------


def nb201_neighbours(g: Genotype, radius: int) -> list[Genotype]:
    """Every nb201 genotype at Hamming distance exactly `radius` (24 at 1, 240 at 2), in a fixed order."""
    _require_space(g, "nb201")
    if not 1 <= radius <= len(g.edges):
        raise ValueError(f"radius: {radius} is not allowed; nb201 radii are 1..{len(g.edges)}")
    out = []
    for positions in itertools.combinations(range(len(g.edges)), radius):
        alternatives = [[op for op in _vocabulary(g) if op != g.edges[p][0]] for p in positions]
        for choice in itertools.product(*alternatives):
            edges = list(g.edges)
            for p, op in zip(positions, choice, strict=True):
                edges[p] = (op, edges[p][1])
            out.append(replace(g, edges=tuple(edges)))
    return out


def darts_single_edits(g: Genotype) -> list[Genotype]:
    """Every darts genotype one edit away, in a fixed order (132 per cell with the 7 default ops).

    An edit touches one kept edge of one cell: a different op on the same input, or a different
    earlier input (not the node's other kept input) with any op. `none` is never chosen, as
    derivation never keeps it.
    """
    _require_space(g, "darts")
    ops = _darts_ops(g)
    out = []
    for cell in DARTS_CELLS:
        pairs = getattr(g, cell)
        for index, (op, source) in enumerate(pairs):
            node = 2 + index // 2
            other_source = pairs[index ^ 1][1]
            for new_source in range(node):
                if new_source == other_source:
                    continue
                for new_op in ops:
                    if (new_op, new_source) != (op, source):
                        out.append(_with_pair(g, cell, index, (new_op, new_source)))
    return out


def darts_random_edit(g: Genotype, rng: random.Random) -> Genotype:
    """One random edit: a random kept edge of a random cell, then a random new (op, input) for it."""
    _require_space(g, "darts")
    ops = _darts_ops(g)
    cell = rng.choice(DARTS_CELLS)
    pairs = getattr(g, cell)
    index = rng.randrange(len(pairs))
    node = 2 + index // 2
    op, source = pairs[index]
    other_source = pairs[index ^ 1][1]
    choices = [
        (new_op, s) for s in range(node) if s != other_source for new_op in ops if (new_op, s) != (op, source)
    ]
    return _with_pair(g, cell, index, rng.choice(choices))


def neighbourhood(g: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
    """Distinct genotypes at distance exactly `radius`: all of them when there are at most
    `max_samples`, else a uniform sample of `max_samples` (nb201, darts radius 1), or for darts at
    radius ≥ 2 distinct results of `radius` random edits kept when they land at that distance.
    """
    if radius < 1:
        raise ValueError(f"radius: {radius} is not allowed; use 1 or more")
    if max_samples < 1:
        raise ValueError(f"max_samples: {max_samples} is not allowed; use 1 or more")
    if g.space == "nb201" or radius == 1:
        population = nb201_neighbours(g, radius) if g.space == "nb201" else darts_single_edits(g)
        if len(population) <= max_samples:
            return population
        return [population[i] for i in sorted(rng.sample(range(len(population)), max_samples))]
    seen = {genotype_key(g)}
    out: list[Genotype] = []
    # Random walks rarely return at a shorter distance; the cap only stops pathological loops.
    for _ in range(50 * max_samples):
        candidate = g
        for _ in range(radius):
            candidate = darts_random_edit(candidate, rng)
        key = genotype_key(candidate)
        if key not in seen and edit_distance(g, candidate) == radius:
            seen.add(key)
            out.append(candidate)
            if len(out) == max_samples:
                break
    return out


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
    steps_per_pairing = _step_sets(a, b)
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

    def sampled() -> Iterator[list[tuple]]:
        for _ in range(min(20 * max_paths, total)):
            steps = list(rng.choice(steps_per_pairing))
            rng.shuffle(steps)
            yield steps

    return _valid_distinct_paths(a, sampled(), limit=max_paths)


def _step_sets(a: Genotype, b: Genotype) -> list[list[tuple]]:
    """Alternative sets of single-edge steps turning a into b; a step is (cell, index, new pair)."""
    if a.space == "nb201":
        return [
            [("edges", i, eb) for i, (ea, eb) in enumerate(zip(a.edges, b.edges, strict=True)) if ea != eb]
        ]
    per_node_options: list[list[list[tuple]]] = []
    for cell in DARTS_CELLS:
        for node, (na, nb) in enumerate(zip(_darts_nodes(a, cell), _darts_nodes(b, cell), strict=True)):
            removed = [i for i, pair in enumerate(na) if pair not in nb]
            added = [pair for pair in nb if pair not in na]
            if not removed:
                continue
            options = [
                [(cell, 2 * node + i, pair) for i, pair in zip(removed, perm, strict=True)]
                for perm in itertools.permutations(added)
            ]
            per_node_options.append(options)
    return [
        [step for node_steps in combo for step in node_steps]
        for combo in itertools.product(*per_node_options)
    ] or [[]]


def _valid_distinct_paths(
    a: Genotype, orders: Iterator[list[tuple]], limit: int | None
) -> list[list[Genotype]]:
    seen: set[tuple] = set()
    paths = []
    for order in orders:
        path = [a]
        for cell, index, pair in order:
            path.append(_with_pair(path[-1], cell, index, pair))
        if a.space == "darts" and not all(_darts_valid(g) for g in path[1:-1]):
            continue
        key = tuple(genotype_key(g) for g in path)
        if key not in seen:
            seen.add(key)
            paths.append(path)
            if limit is not None and len(paths) == limit:
                break
    return paths


# --- cell shape and collapse -------------------------------------------------------------------


def cell_shape(g: Genotype, C: float = 1.0) -> dict[str, dict[str, float]]:
    """Width and depth per cell (Shu et al., ICLR 2020), keyed by cell ("cell" | "normal", "reduce").

    darts: depth = edges on the longest path from a cell input to the output, counting the
    concat into the output as one edge; width = C × Σ over intermediate nodes of the fraction of
    its kept inputs that are cell inputs. DARTS_V2 normal: width 3.5C, depth 3.
    nb201 (our analogue): edges that are `none`, or lie on no path from node 0 to node 3, are
    absent (they cannot change the output). depth = edges on the longest path 0 → 3 (0 when the
    output is cut off, 3 at most); width = C × Σ over nodes 1, 2, 3 with a live input of the
    fraction of live inputs coming from node 0 (node 3 counts because, unlike a darts output,
    it is computed by ops on its edges; 3C at most, when every live edge leaves the input).
    """
    if g.space == "nb201":
        return {"cell": _nb201_shape(g, C)}
    return {cell: _darts_shape(getattr(g, cell), getattr(g, f"{cell}_concat"), C) for cell in DARTS_CELLS}


def skip_count(g: Genotype) -> dict[str, int]:
    """`skip_connect` edges per cell (the collapse indicator), keyed like `cell_shape`."""
    if g.space == "nb201":
        return {"cell": sum(op == SKIP_OP for op, _ in g.edges)}
    return {cell: sum(op == SKIP_OP for op, _ in getattr(g, cell)) for cell in DARTS_CELLS}


def _nb201_shape(g: Genotype, C: float) -> dict[str, float]:
    kept = [
        (t, s) for (op, _), t, s in zip(g.edges, NB201_TARGETS, NB201_SOURCES, strict=True) if op != NONE_OP
    ]
    reach_from_input = {0}
    for t, s in sorted(kept):  # targets ascend, so one pass propagates reachability
        if s in reach_from_input:
            reach_from_input.add(t)
    reaches_output = {NB201_OUTPUT}
    for t, s in sorted(kept, reverse=True):
        if t in reaches_output:
            reaches_output.add(s)
    live = [(t, s) for t, s in kept if s in reach_from_input and t in reaches_output]
    depth = {0: 0}
    for t, s in sorted(live):
        depth[t] = max(depth.get(t, 0), depth[s] + 1)
    width = 0.0
    for node in (1, 2, 3):
        inputs = [s for t, s in live if t == node]
        if inputs:
            width += sum(s == 0 for s in inputs) / len(inputs)
    return {"width": width * C, "width_c": width, "depth": float(depth.get(NB201_OUTPUT, 0))}


def _darts_shape(pairs: Sequence[Edge], concat: Sequence[int], C: float) -> dict[str, float]:
    depth = {0: 0, 1: 0}
    width = 0.0
    for node in range(2, 2 + DARTS_NODES):
        sources = [s for _, s in pairs[2 * (node - 2) : 2 * (node - 1)]]
        depth[node] = 1 + max(depth[s] for s in sources)
        width += sum(s < 2 for s in sources) / len(sources)
    return {"width": width * C, "width_c": width, "depth": float(1 + max(depth[n] for n in concat))}


# --- helpers -----------------------------------------------------------------------------------


def _darts_nodes(g: Genotype, cell: str) -> list[tuple[Edge, Edge]]:
    pairs = getattr(g, cell)
    if len(pairs) != 2 * DARTS_NODES:
        raise GenotypeError(
            f"{cell}: has {len(pairs)} (op, input) pairs; a darts cell needs {2 * DARTS_NODES}"
        )
    return [(pairs[2 * i], pairs[2 * i + 1]) for i in range(DARTS_NODES)]


def _vocabulary(g: Genotype) -> tuple[str, ...]:
    return g.ops or default_ops(g.space)


def _darts_ops(g: Genotype) -> list[str]:
    return [op for op in _vocabulary(g) if op != NONE_OP]


def _darts_valid(g: Genotype) -> bool:
    """Two distinct earlier inputs per node, no `none` (what derivation can produce)."""
    for cell in DARTS_CELLS:
        for node, ((op1, s1), (op2, s2)) in enumerate(_darts_nodes(g, cell), start=2):
            if s1 == s2 or not (0 <= s1 < node and 0 <= s2 < node) or NONE_OP in (op1, op2):
                return False
    return True


def _with_pair(g: Genotype, cell: str, index: int, pair: Edge) -> Genotype:
    pairs = list(getattr(g, cell))
    pairs[index] = pair
    changes: dict[str, Any] = {cell: tuple(pairs)}
    return replace(g, **changes)


def _require_space(g: Genotype, space: str) -> None:
    if g.space != space:
        raise ValueError(f"genotype.space: '{g.space}' is not allowed here; this function handles '{space}'")


def _check_comparable(a: Genotype, b: Genotype) -> None:
    if a.space != b.space:
        raise ValueError(
            f"genotype.space: '{a.space}' and '{b.space}' differ; compare genotypes of one space"
        )
    if a.space == "nb201" and len(a.edges) != len(b.edges):
        raise GenotypeError(f"edges: {len(a.edges)} and {len(b.edges)} edges; nb201 genotypes have 6")
