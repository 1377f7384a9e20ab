"""What the service knows about a search space without building a network: a torch-free base of
every `SearchSpace` (nas_core/spaces/base.py), so the spec, the API and the geometry code read a
space's facts and its genotype rules from the space itself instead of branching on its name.

Each space has one definition class (nas_core/spaces/<name>_definition.py) listed once in the
registry (nas_core/spaces/__init__.py); its `SearchSpace` subclass (the torch part: supernet,
derivation, discrete network) inherits from it.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from nas_core.genotype import Edge, Genotype

#: One single-edge step of an edit path: (genotype field, pair index, new (op, input) pair).
EditStep = tuple[str, int, "Edge"]

FLOAT_BYTES = 4


@dataclass(frozen=True)
class SupernetShape:
    """What a space's cost estimate needs from a spec (nas_core/cost.py builds it)."""

    C: int
    depth: int  # in the space's own unit (its depth_field)
    side: int  # image side in pixels
    num_classes: int
    batch: int
    partial: int  # PC-DARTS: ops see C/K channels


class SpaceDefinition(ABC):
    #: The name specs, genotypes and URLs use.
    name: ClassVar[str]
    #: α group names in order, e.g. ("cell",) or ("normal", "reduce").
    groups: ClassVar[tuple[str, ...]]
    #: How the cell is built and drawn: "edges" (a DAG with one op edge per node pair on fixed
    #: nodes, NAS-Bench-201-like) or "nodes" (intermediate nodes that each pick two inputs from
    #: the cell inputs and earlier nodes, DARTS-like). Every space declares it.
    cell_kind: ClassVar[Literal["edges", "nodes"]]
    #: (target, source) node pairs in α's row order (the same for every group).
    cell_edges: ClassVar[tuple[tuple[int, int], ...]]
    #: The op sets a spec may pick with supernet.ops; "default" is the one used without it.
    ops_variants: ClassVar[Mapping[str, tuple[str, ...]]]
    #: The supernet field that sets this space's depth ("N": cells per stage, "layers": cells), and
    #: its default.
    depth_field: ClassVar[str]
    default_depth: ClassVar[int]
    #: A2M's ascent radius ρ when the spec leaves a2m.rho null (docs/algorithms.md §3).
    a2m_default_rho: ClassVar[float]
    #: Ops GAEA keeps at weight 0 in this space (its paper's per-space setting, docs/algorithms.md §4).
    gaea_dropped_ops: ClassVar[tuple[str, ...]] = ()
    #: The tabular benchmark that holds trained results for every architecture of the space
    #: (nas_core/benchmarks), or None.
    tabular_benchmark: ClassVar[str | None] = None
    #: The genotype JSON field holding the space's own text form ("arch_str", "darts_repr").
    text_field: ClassVar[str]
    #: "module:Class" of the SearchSpace subclass (imported on first use: it needs torch).
    implementation: ClassVar[str]
    #: How people read the cell's nodes, in node-id order (plain text; the dashboard draws them).
    node_labels: ClassVar[tuple[str, ...]] = ()
    #: One line on what the space is, for the catalog.
    summary: ClassVar[str] = ""

    @property
    def default_ops(self) -> tuple[str, ...]:
        return self.ops_variants["default"]

    @property
    def edge_count(self) -> int:
        """Edges over all α groups (what a per-edge edit can touch)."""
        return len(self.cell_edges) * len(self.groups)

    def ops_variant_of(self, ops: Sequence[str]) -> str:
        """The first op set (default first) holding every op of `ops`, e.g. a genotype's vocabulary."""
        wanted = set(ops)
        return next(
            (name for name, variant in self.ops_variants.items() if wanted <= set(variant)), "default"
        )

    def depth_of(self, supernet: Mapping[str, Any]) -> int:
        """The depth a spec's supernet section asks for (its depth field, else the default)."""
        value = supernet.get(self.depth_field)
        return self.default_depth if value is None else int(value)

    @abstractmethod
    def supernet_cost(self, shape: SupernetShape) -> tuple[int, int]:
        """(supernet parameters, activation bytes one training step keeps for its backward pass),
        without building anything: the API refuses specs over its limits with these (nas_core/cost.py),
        and tests/unit/test_cost.py compares them with a built supernet."""

    def listing(self) -> dict[str, Any]:
        """What GET /spaces, GET /catalog and the dashboard show about the space."""
        return {
            "name": self.name,
            "summary": self.summary,
            "groups": list(self.groups),
            "cell_kind": self.cell_kind,
            "edges": len(self.cell_edges),
            "cell_edges": [list(e) for e in self.cell_edges],
            "node_labels": list(self.node_labels),
            "ops_variants": {k: list(v) for k, v in self.ops_variants.items()},
            "depth_field": self.depth_field,
            "default_depth": self.default_depth,
            "a2m_default_rho": self.a2m_default_rho,
            "tabular_benchmark": self.tabular_benchmark,
            "text_field": self.text_field,
        }

    # --- genotypes: validation and serialisation (nas_core/genotype.py dispatches here) --------

    @abstractmethod
    def validate_genotype(self, g: Genotype, ops: Sequence[str] | None) -> None:
        """Raise GenotypeError (naming the field) unless `g` is well formed, using only `ops` if given."""

    def checked(self, g: Genotype) -> Genotype:
        self.validate_genotype(g, None)
        return g

    @abstractmethod
    def genotype_body(self, g: Genotype) -> dict[str, Any]:
        """The `genotype` object of the JSON form."""

    @abstractmethod
    def genotype_text(self, g: Genotype) -> str:
        """The space's own text form (stored under `text_field`)."""

    @abstractmethod
    def parse_text(self, text: Any, ops: Sequence[str]) -> Genotype: ...

    @abstractmethod
    def genotype_from_body(self, body: Mapping[str, Any], ops: Sequence[str]) -> Genotype: ...

    @abstractmethod
    def genotype_edges(self, g: Genotype) -> dict[str, list[tuple[int, int, str]]]:
        """(node, input, op) per kept edge, per α group."""

    @abstractmethod
    def genotype_from_edges(
        self, ops: Sequence[str], edges: Mapping[str, Sequence[tuple[int, int, str]]]
    ) -> Genotype:
        """Inverse of genotype_edges (validated)."""

    @abstractmethod
    def same_architecture(self, a: Genotype, b: Genotype) -> bool:
        """The same cells, whatever op vocabulary each came from."""

    # --- geometry (nas_core/flatness/geometry.py dispatches here) -------------------------------

    def check_comparable(self, a: Genotype, b: Genotype) -> None:
        """Raise GenotypeError when two genotypes of this space cannot be compared (default: any can)."""
        return None

    @abstractmethod
    def genotype_key(self, g: Genotype) -> tuple:
        """Hashable, equal for genotypes that compute the same architecture."""

    @abstractmethod
    def edit_distance(self, a: Genotype, b: Genotype) -> int:
        """Single edits on a shortest path from a to b."""

    @abstractmethod
    def neighbourhood(self, g: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
        """Distinct genotypes at distance exactly `radius` (at most `max_samples`, sampled by `rng`)."""

    def neighbour_ball(
        self, g: Genotype, radius: int, max_samples: int, rng: random.Random
    ) -> list[Genotype]:
        """Distinct genotypes at distance 1..radius (NA-RS). By default the budget is split evenly
        over the radii (remainder to radius 1), for spaces whose outer shells can only be sampled."""
        shares = [max_samples // radius] * radius
        shares[0] += max_samples - sum(shares)
        return [
            n
            for r, share in enumerate(shares, start=1)
            if share
            for n in self.neighbourhood(g, r, share, rng)
        ]

    @abstractmethod
    def edit_step_sets(self, a: Genotype, b: Genotype) -> list[list[EditStep]]:
        """Alternative sets of single-edge steps that turn a into b."""

    def path_is_valid(self, g: Genotype) -> bool:
        """Whether an intermediate genotype of an edit path is one the space can derive."""
        return True

    @abstractmethod
    def cell_shape(self, g: Genotype, C: float) -> dict[str, dict[str, float]]:
        """Width and depth per cell (docs/algorithms.md §6), keyed by cell."""

    @abstractmethod
    def skip_count(self, g: Genotype) -> dict[str, int]:
        """`skip_connect` edges per cell, keyed like cell_shape."""


def with_pair(g: Genotype, field: str, index: int, pair: Edge) -> Genotype:
    """`g` with pair `index` of its genotype field `field` replaced (one edit)."""
    pairs = list(getattr(g, field))
    pairs[index] = pair
    changes: dict[str, Any] = {field: tuple(pairs)}
    return replace(g, **changes)
