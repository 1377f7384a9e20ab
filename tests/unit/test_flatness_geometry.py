"""Architecture geometry: neighbourhoods, edit paths, cell shape (no supernet needed)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from nas_core.flatness.geometry import (
    cell_shape,
    edit_distance,
    edit_paths,
    genotype_key,
    neighbourhood,
    skip_count,
)
from nas_core.genotype import DARTS_OPS, DARTS_V2, NB201_EDGES, NB201_OPS, Genotype, validate
from nas_core.spaces import nb201_definition
from nas_core.spaces.darts_definition import darts_random_edit, darts_single_edits
from nas_core.spaces.nb201_definition import nb201_neighbours


def nb201(*ops: str) -> Genotype:
    return Genotype(
        "nb201", NB201_OPS, edges=tuple((op, s) for op, (_, s) in zip(ops, NB201_EDGES, strict=True))
    )


CENTRE = nb201("nor_conv_3x3", "skip_connect", "nor_conv_3x3", "skip_connect", "none", "nor_conv_3x3")


def hamming(a: Genotype, b: Genotype) -> int:
    # Independent of edit_distance: compare the arch strings character-free, op by op.
    return sum(x != y for x, y in zip([op for op, _ in a.edges], [op for op, _ in b.edges], strict=True))


@pytest.mark.parametrize(("radius", "expected"), [(1, 24), (2, 240), (3, 1280), (6, 4096)])
def test_nb201_neighbourhood_sizes_and_distances(radius: int, expected: int) -> None:
    neighbours = nb201_neighbours(CENTRE, radius)
    assert len(neighbours) == expected  # C(6, r) · 4^r
    assert len({genotype_key(g) for g in neighbours}) == expected
    assert all(hamming(CENTRE, g) == radius == edit_distance(CENTRE, g) for g in neighbours)
    assert genotype_key(CENTRE) not in {genotype_key(g) for g in neighbours}
    for g in neighbours:
        validate(g, space="nb201")


def test_nb201_sampling_is_seeded_and_bounded() -> None:
    first = neighbourhood(CENTRE, 2, 32, random.Random(7))
    again = neighbourhood(CENTRE, 2, 32, random.Random(7))
    assert [genotype_key(g) for g in first] == [genotype_key(g) for g in again]
    assert len({genotype_key(g) for g in first}) == 32
    assert len(neighbourhood(CENTRE, 1, 32, random.Random(7))) == 24  # all of them fit


def test_nb201_paths_at_distance_three() -> None:
    target = nb201("avg_pool_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1")
    assert edit_distance(CENTRE, target) == 3
    paths = edit_paths(CENTRE, target, max_paths=100)
    assert len(paths) == 6
    assert len({tuple(genotype_key(g) for g in p) for p in paths}) == 6
    for path in paths:
        assert len(path) == 4  # a, 2 intermediates, b
        assert path[0] == CENTRE and path[-1] == target
        assert all(hamming(x, y) == 1 for x, y in itertools.pairwise(path))
    assert len(edit_paths(CENTRE, target, max_paths=4)) == 4
    assert edit_paths(CENTRE, CENTRE, max_paths=3) == [[CENTRE]]


def test_cell_shape_of_darts_v2() -> None:
    shape = cell_shape(DARTS_V2, C=16)
    assert shape["normal"]["width"] == pytest.approx(3.5 * 16)
    assert shape["normal"]["depth"] == 3
    # reduce: node 3 = (skip 2, max 1), node 4 = (max 0, skip 2), node 5 = (skip 2, max 1): depth 2 + output
    assert shape["reduce"]["width_c"] == pytest.approx(1 + 0.5 * 3)
    assert shape["reduce"]["depth"] == 3
    assert skip_count(DARTS_V2) == {"normal": 2, "reduce": 3}


@pytest.mark.parametrize(
    ("ops", "width_c", "depth"),
    [
        # every edge live: node 1 ← {0}, node 2 ← {0, 1}, node 3 ← {0, 1, 2}
        (("skip_connect",) * 6, 1 + 1 / 2 + 1 / 3, 3),
        # only 3 ← 0: one wide branch, depth 1 (node 1 and 2 are dead, so they do not count)
        (("nor_conv_3x3", "none", "none", "nor_conv_1x1", "none", "none"), 1, 1),
        # chain 0 → 1 → 2 → 3
        (("nor_conv_3x3", "none", "nor_conv_3x3", "none", "none", "nor_conv_3x3"), 1, 3),
        # output cut off
        (("nor_conv_3x3", "nor_conv_3x3", "none", "none", "none", "none"), 0, 0),
    ],
)
def test_nb201_cell_shape(ops: tuple[str, ...], width_c: float, depth: int) -> None:
    shape = cell_shape(nb201(*ops), C=8)["cell"]
    assert shape["width_c"] == pytest.approx(width_c)
    assert shape["width"] == pytest.approx(8 * width_c)
    assert shape["depth"] == depth


def test_darts_single_edits_are_valid_and_at_distance_one() -> None:
    centre = replace(DARTS_V2, ops=DARTS_OPS)
    edits = darts_single_edits(centre)
    # per cell: nodes 2..5 have 2, 3, 4, 5 inputs; per kept edge 6 op changes + (inputs − 2) · 7 rewires
    per_cell = sum(2 * (6 + (inputs - 2) * 7) for inputs in (2, 3, 4, 5))
    assert len(edits) == 2 * per_cell == len({genotype_key(g) for g in edits})
    for g in edits:
        validate(g, space="darts")
        assert edit_distance(centre, g) == 1
        changed = [
            (cell, i)
            for cell in ("normal", "reduce")
            for i, (x, y) in enumerate(zip(getattr(centre, cell), getattr(g, cell), strict=True))
            if x != y
        ]
        assert len(changed) == 1
        cell, i = changed[0]
        node_sources = {s for _, s in getattr(g, cell)[2 * (i // 2) : 2 * (i // 2) + 2]}
        assert len(node_sources) == 2


def test_darts_random_edits_and_paths() -> None:
    rng = random.Random(3)
    far = DARTS_V2
    for _ in range(12):
        far = darts_random_edit(far, rng)
        validate(far, space="darts")
    distance = edit_distance(DARTS_V2, far)
    assert distance >= 3
    paths = edit_paths(DARTS_V2, far, max_paths=5, rng=random.Random(1))
    assert len(paths) == 5
    for path in paths:
        assert len(path) == distance + 1
        assert genotype_key(path[-1]) == genotype_key(far)
        for x, y in itertools.pairwise(path):
            assert edit_distance(x, y) == 1
            validate(y, space="darts")


def test_darts_radius_two_sample() -> None:
    sample = neighbourhood(DARTS_V2, 2, 20, random.Random(0))
    assert len(sample) == 20 == len({genotype_key(g) for g in sample})
    assert all(edit_distance(DARTS_V2, g) == 2 for g in sample)


def test_darts_distance_ignores_edge_order_within_a_node() -> None:
    swapped = list(DARTS_V2.normal)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    other = replace(DARTS_V2, normal=tuple(swapped))
    assert edit_distance(DARTS_V2, other) == 0
    assert genotype_key(DARTS_V2) == genotype_key(other)


def test_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="genotype.space"):
        edit_distance(CENTRE, DARTS_V2)
    with pytest.raises(ValueError, match="radius"):
        nb201_neighbours(CENTRE, 7)
    with pytest.raises(ValueError, match="max_paths"):
        edit_paths(CENTRE, CENTRE, 0)
    assert nb201_definition.NB201_SOURCES == tuple(s for _, s in NB201_EDGES)
