"""The search-space registry: every space by name. Torch-free, so the spec and the API derive their
space lists and per-space rules from it; `get_space` imports a space's network code on first use.

To add a space: its definition (nas_core/spaces/<name>_definition.py: facts, genotype rules and its
own cost estimate), its SearchSpace subclass (nas_core/spaces/<name>.py) and one line in `SPACES`
below, or `register_space` from a plugin (docs/architecture.md has the steps;
tests/unit/test_registries_extend.py adds a toy space that way). Everything else (the spec's
`space` values, admission, GET /catalog, the dashboard) reads this registry when it runs.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from nas_core.registry import add_entry, registered_while
from nas_core.spaces.darts_definition import DartsDefinition
from nas_core.spaces.definition import SpaceDefinition
from nas_core.spaces.nb201_definition import NB201Definition

if TYPE_CHECKING:
    from nas_core.spaces.base import SearchSpace
    from nas_core.spec import SearchSpec

SPACES: dict[str, SpaceDefinition] = {d.name: d for d in (NB201Definition(), DartsDefinition())}


def register_space(definition: SpaceDefinition) -> None:
    """Add a space (a plugin's, a test's); its name must be new."""
    add_entry(SPACES, "space", definition.name, definition)


def unregister_space(name: str) -> None:
    SPACES.pop(name, None)


def registered_space(definition: SpaceDefinition) -> AbstractContextManager[SpaceDefinition]:
    """The space registered for the duration of a `with` block (tests)."""
    return registered_while(register_space, unregister_space, definition, definition.name)


def space_definition(name: str) -> SpaceDefinition:
    definition = SPACES.get(name)
    if definition is None:
        raise ValueError(f"space: unknown search space {name!r}; allowed: {list(SPACES)}")
    return definition


def get_space(name_or_spec: str | SearchSpec, ops_variant: str = "default") -> SearchSpace:
    """A spec sets the space, its op set (supernet.ops) and the fused fast path (runtime.fused_cells)."""
    fused = False
    if isinstance(name_or_spec, str):
        name = name_or_spec
    else:
        name = name_or_spec.space
        ops_variant = name_or_spec.supernet.ops
        fused = name_or_spec.runtime.fused_cells
    definition = space_definition(name)
    if ops_variant not in definition.ops_variants:
        raise ValueError(
            f"ops: unknown {name} op set {ops_variant!r}; allowed: {list(definition.ops_variants)}"
        )
    module, cls_name = definition.implementation.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    space: SearchSpace = cls(ops_variant=ops_variant, fused_cells=fused)
    return space


def describe_spaces() -> list[dict[str, object]]:
    """One entry per registered space (GET /spaces)."""
    return [d.listing() for d in SPACES.values()]


__all__ = [
    "SPACES",
    "SpaceDefinition",
    "describe_spaces",
    "get_space",
    "register_space",
    "registered_space",
    "space_definition",
    "unregister_space",
]
