"""Every registered space, from the registry alone: a space added to nas_core/spaces (one
definition, one SearchSpace, one registry line) is covered here without editing this file."""

from __future__ import annotations

import random

import pytest
import torch
from pydantic import ValidationError

from nas_core.flatness.geometry import cell_shape, edit_distance, neighbourhood
from nas_core.genotype import genotype_from_json, genotype_to_json, same_architecture
from nas_core.methods import METHODS
from nas_core.spaces import SPACES, get_space
from nas_core.spaces.base import SearchSpace
from nas_core.spec import SearchSpec

VARIANTS = [(name, variant) for name, d in SPACES.items() for variant in d.ops_variants]


@pytest.mark.parametrize(("name", "variant"), VARIANTS)
def test_get_space_builds_the_registered_definition(name: str, variant: str) -> None:
    definition = SPACES[name]
    space = get_space(name, variant)
    assert isinstance(space, SearchSpace) and isinstance(space, type(definition))
    assert (space.name, space.groups, space.edges) == (name, definition.groups, definition.cell_edges)
    assert space.ops == definition.ops_variants[variant]
    assert space.alpha_shapes() == [(len(definition.cell_edges), len(space.ops))] * len(definition.groups)


@pytest.mark.parametrize("name", list(SPACES))
def test_the_spec_takes_its_defaults_and_rules_from_the_space(name: str) -> None:
    definition = SPACES[name]
    spec = SearchSpec(space=name)
    assert spec.depth == definition.default_depth and spec.a2m_rho == definition.a2m_default_rho
    deeper = SearchSpec(space=name, supernet={definition.depth_field: definition.default_depth + 1})
    assert deeper.depth == definition.default_depth + 1
    for other in SPACES.values():
        if other.depth_field == definition.depth_field:
            continue
        with pytest.raises(ValidationError, match=f"applies to space '{other.name}'"):
            SearchSpec(space=name, supernet={other.depth_field: other.default_depth})


@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_accepts_every_space_with_its_defaults(name: str, method: str) -> None:
    spec = SearchSpec(space=name, method=method, a2m=None)
    assert spec.method_params == METHODS[method].params_model().model_dump()


@pytest.mark.parametrize(("name", "variant"), VARIANTS)
def test_genotypes_round_trip_and_have_neighbours(name: str, variant: str) -> None:
    space = get_space(name, variant)
    rng = random.Random(0)
    for seed in range(5):
        g = space.random_genotype(torch.Generator().manual_seed(seed))
        doc = genotype_to_json(g, epoch=seed, search_id="s")
        assert genotype_from_json(doc) == g and doc["space"] == name and doc["ops"] == list(space.ops)
        assert same_architecture(space.derive(space.one_hot(g)), g)
        ring = neighbourhood(g, 1, 8, rng)
        assert ring and all(edit_distance(g, n) == 1 for n in ring)
        assert set(cell_shape(g)) == set(space.groups) or set(cell_shape(g)) == {"cell"}


@pytest.mark.parametrize(("name", "variant"), VARIANTS)
def test_a_genotype_names_the_op_set_it_came_from(name: str, variant: str) -> None:
    space = get_space(name, variant)
    g = space.random_genotype(torch.Generator().manual_seed(0))
    found = SPACES[name].ops_variant_of(g.ops)
    assert set(g.ops) <= set(SPACES[name].ops_variants[found])
    assert list(SPACES[name].ops_variants).index(found) <= list(SPACES[name].ops_variants).index(variant)
