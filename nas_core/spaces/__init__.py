"""Search-space registry: `get_space("nb201" | "darts" | spec, ops_variant=...)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spaces.darts import OPS_VARIANTS, DartsSpace
from nas_core.spaces.nb201 import NB201Space

if TYPE_CHECKING:
    from nas_core.spec import SearchSpec

SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201Space, "darts": DartsSpace}


def get_space(name_or_spec: str | SearchSpec, ops_variant: str = "default") -> SearchSpace:
    """A spec sets the space, its op set (supernet.ops) and the fused fast path (runtime.fused_cells)."""
    fused = False
    if isinstance(name_or_spec, str):
        name = name_or_spec
    else:
        name = name_or_spec.space
        ops_variant = name_or_spec.supernet.ops
        fused = name_or_spec.runtime.fused_cells
    if name == "nb201":
        if ops_variant != "default":
            raise ValueError(f"ops: {ops_variant!r} applies to space 'darts' only; nb201 has one op set")
        return NB201Space(fused_cells=fused)
    if name == "darts":
        return DartsSpace(ops_variant, fused_cells=fused)
    raise ValueError(f"space: unknown search space {name!r}; allowed: {list(SPACES)}")


__all__ = ["OPS_VARIANTS", "SPACES", "SearchSpace", "Supernet", "get_space"]
