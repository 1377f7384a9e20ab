"""NAS-Bench-201's facts and genotype rules (docs/algorithms.md §1), torch-free; the network is
nas_core/spaces/nb201.py.

A genotype is six (op, input) pairs in the fixed edge order 1←0, 2←0, 2←1, 3←0, 3←1, 3←2; its text
form is the benchmark's architecture string. Distance is the Hamming distance of the six op choices
(the inputs are fixed per edge), so every genotype at distance d can be listed (24 at 1, 240 at 2).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from nas_core.genotype import (
    NB201_EDGES,
    NB201_OPS,
    Edge,
    Genotype,
    GenotypeError,
    check_op,
    check_pair,
    pairs_of,
)
from nas_core.spaces.definition import FLOAT_BYTES, EditStep, SpaceDefinition, SupernetShape

NB201_TARGETS = tuple(t for t, _ in NB201_EDGES)
NB201_SOURCES = tuple(s for _, s in NB201_EDGES)
NB201_OUTPUT = 3
#: Saved activations per search cell, in units of (cell channels × pixels) per image: per edge
#: ReLU, conv and BN outputs of both convs plus the pool's output, and the three node sums.
NB201_CELL_ACTIVATIONS = 45
NB201_BLOCK_ACTIVATIONS = 8  # a ResNet stage transition, in units of its input (channels × pixels)


class NB201Definition(SpaceDefinition):
    name = "nb201"
    groups = ("cell",)
    cell_kind = "edges"
    cell_edges = NB201_EDGES
    ops_variants = {"default": NB201_OPS}
    depth_field = "N"
    default_depth = 5
    a2m_default_rho = 1e-2
    gaea_dropped_ops = ("none",)
    text_field = "arch_str"
    tabular_benchmark = "nas-bench-201"
    implementation = "nas_core.spaces.nb201:NB201Space"
    node_labels = ("0", "1", "2", "3")
    summary = "NAS-Bench-201: one cell of 4 nodes and 6 edges, stacked N per stage over 3 stages"

    def supernet_cost(self, shape: SupernetShape) -> tuple[int, int]:
        # Follows nas_core/spaces/nb201.py's constructors exactly (tests/unit/test_cost.py).
        C, N, k = shape.C, shape.depth, shape.num_classes
        params = 27 * C + 2 * C  # stem conv 3x3 + affine BN
        activations = 3 * C * shape.side**2  # stem conv, BN and the image
        c, side = C, shape.side
        for stage in range(3):
            if stage:
                # ResNet block c -> 2c: two 3x3 convs, two affine BNs, a 1x1 shortcut.
                params += 9 * c * 2 * c + 4 * c + 9 * (2 * c) ** 2 + 4 * c + c * 2 * c
                activations += NB201_BLOCK_ACTIVATIONS * c * side**2
                c, side = 2 * c, side // 2 if side > 1 else 1
            c_op = c // shape.partial
            params += N * len(NB201_EDGES) * 10 * c_op**2  # per edge: conv 1x1 and 3x3 (BN not affine)
            activations += N * NB201_CELL_ACTIVATIONS * c * side**2 // shape.partial
        params += 2 * c + c * k + k  # last BN (affine) and the classifier
        return params, activations * shape.batch * FLOAT_BYTES

    # --- validation and serialisation ----------------------------------------------------------

    def validate_genotype(self, g: Genotype, ops: Sequence[str] | None) -> None:
        vocab = g.ops or NB201_OPS
        for op in vocab:
            check_op("ops", op, NB201_OPS)
        if len(g.edges) != len(NB201_EDGES):
            raise GenotypeError(
                f"genotype.edges: {len(g.edges)} edges, nb201 needs {len(NB201_EDGES)} "
                "(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)"
            )
        if g.normal or g.reduce or g.normal_concat or g.reduce_concat:
            raise GenotypeError("genotype: nb201 genotypes have only 'edges', not normal/reduce cells")
        for i, (pair, (target, source)) in enumerate(zip(g.edges, NB201_EDGES, strict=True)):
            check_pair(f"genotype.edges[{i}]", pair)
            check_op(f"genotype.edges[{i}]", pair[0], ops if ops is not None else vocab)
            if pair[1] != source:
                raise GenotypeError(
                    f"genotype.edges[{i}]: input {pair[1]} for node {target}; edge {i} must read node {source}"
                )

    def genotype_body(self, g: Genotype) -> dict[str, Any]:
        return {"edges": [[op, source] for op, source in g.edges]}

    def genotype_text(self, g: Genotype) -> str:
        return nb201_arch_str(g)

    def parse_text(self, text: Any, ops: Sequence[str]) -> Genotype:
        return parse_nb201_arch_str(text, ops)

    def genotype_from_body(self, body: Mapping[str, Any], ops: Sequence[str]) -> Genotype:
        unknown = set(body) - {"edges"}
        if unknown:
            raise GenotypeError(f"genotype: unknown fields {sorted(unknown)} for nb201; allowed: ['edges']")
        return self.checked(
            Genotype(space=self.name, ops=tuple(ops), edges=pairs_of("genotype.edges", body.get("edges")))
        )

    def genotype_edges(self, g: Genotype) -> dict[str, list[tuple[int, int, str]]]:
        return {"cell": [(t, s, op) for (op, s), (t, _) in zip(g.edges, NB201_EDGES, strict=True)]}

    def genotype_from_edges(
        self, ops: Sequence[str], edges: Mapping[str, Sequence[tuple[int, int, str]]]
    ) -> Genotype:
        by_edge = {(t, s): op for t, s, op in edges["cell"]}
        if set(by_edge) != set(NB201_EDGES):
            raise GenotypeError(f"edges.cell: needs exactly the (node, input) pairs {list(NB201_EDGES)}")
        return self.checked(
            Genotype(self.name, tuple(ops), edges=tuple((by_edge[e], e[1]) for e in NB201_EDGES))
        )

    def same_architecture(self, a: Genotype, b: Genotype) -> bool:
        return a.edges == b.edges

    # --- geometry ------------------------------------------------------------------------------

    def check_comparable(self, a: Genotype, b: Genotype) -> None:
        if len(a.edges) != len(b.edges):
            raise GenotypeError(f"edges: {len(a.edges)} and {len(b.edges)} edges; nb201 genotypes have 6")

    def genotype_key(self, g: Genotype) -> tuple:
        return (self.name, tuple(op for op, _ in g.edges))

    def edit_distance(self, a: Genotype, b: Genotype) -> int:
        return sum(ea[0] != eb[0] for ea, eb in zip(a.edges, b.edges, strict=True))

    def neighbourhood(self, g: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
        return _sample(nb201_neighbours(g, radius), max_samples, rng)

    def neighbour_ball(
        self, g: Genotype, radius: int, max_samples: int, rng: random.Random
    ) -> list[Genotype]:
        # The whole ball is enumerable (24 at d=1, 264 at d≤2): sample it uniformly.
        return _sample([n for r in range(1, radius + 1) for n in nb201_neighbours(g, r)], max_samples, rng)

    def edit_step_sets(self, a: Genotype, b: Genotype) -> list[list[EditStep]]:
        return [
            [("edges", i, eb) for i, (ea, eb) in enumerate(zip(a.edges, b.edges, strict=True)) if ea != eb]
        ]

    def cell_shape(self, g: Genotype, C: float) -> dict[str, dict[str, float]]:
        """Our analogue of Shu et al.'s shape: edges that are `none`, or lie on no path from node 0
        to node 3, are absent (they cannot change the output). depth = edges on the longest path
        0 → 3 (0 when the output is cut off, 3 at most); width = C × Σ over nodes 1, 2, 3 with a
        live input of the fraction of live inputs coming from node 0 (node 3 counts because,
        unlike a darts output, it is computed by ops on its edges; 3C at most)."""
        return {"cell": _shape(g, C)}

    def skip_count(self, g: Genotype) -> dict[str, int]:
        return {"cell": sum(op == "skip_connect" for op, _ in g.edges)}


# --- text form ---------------------------------------------------------------------------------


def nb201_arch_str(g: Genotype) -> str:
    """The NAS-Bench-201 string, e.g. |nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|...~2|."""
    NB201Definition().checked(g)
    nodes: list[list[str]] = [[] for _ in range(3)]
    for (op, source), (target, _) in zip(g.edges, NB201_EDGES, strict=True):
        nodes[target - 1].append(f"{op}~{source}")
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def parse_nb201_arch_str(text: Any, ops: Sequence[str] = NB201_OPS) -> Genotype:
    if not isinstance(text, str):
        raise GenotypeError(f"arch_str: expected a string, got {type(text).__name__}")
    nodes = text.split("+")
    if len(nodes) != 3:
        raise GenotypeError(f"arch_str: {text!r} has {len(nodes)} nodes separated by '+'; nb201 has 3")
    edges: list[Edge] = []
    for n, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|") and len(node) > 1):
            raise GenotypeError(f"arch_str: node {n} segment {node!r} must look like |op~j|...|")
        items = node[1:-1].split("|")
        if len(items) != n:
            raise GenotypeError(f"arch_str: node {n} has {len(items)} inputs, needs {n} ({node!r})")
        for item in items:
            op, sep, source = item.partition("~")
            if not sep or not source.isdigit():
                raise GenotypeError(f"arch_str: {item!r} in node {n} must be op~j with j an input index")
            edges.append((op, int(source)))
    return NB201Definition().checked(Genotype(space="nb201", ops=tuple(ops), edges=tuple(edges)))


# --- neighbourhoods and shape ------------------------------------------------------------------


def nb201_neighbours(g: Genotype, radius: int) -> list[Genotype]:
    """Every nb201 genotype at Hamming distance exactly `radius` (24 at 1, 240 at 2), in a fixed order."""
    if g.space != "nb201":
        raise ValueError(f"genotype.space: '{g.space}' is not allowed here; this function handles 'nb201'")
    if not 1 <= radius <= len(g.edges):
        raise ValueError(f"radius: {radius} is not allowed; nb201 radii are 1..{len(g.edges)}")
    vocabulary = g.ops or NB201_OPS
    out = []
    for positions in itertools.combinations(range(len(g.edges)), radius):
        alternatives = [[op for op in vocabulary if op != g.edges[p][0]] for p in positions]
        for choice in itertools.product(*alternatives):
            edges = list(g.edges)
            for p, op in zip(positions, choice, strict=True):
                edges[p] = (op, edges[p][1])
            out.append(replace(g, edges=tuple(edges)))
    return out


def _sample(population: list[Genotype], max_samples: int, rng: random.Random) -> list[Genotype]:
    if len(population) <= max_samples:
        return population
    return [population[i] for i in sorted(rng.sample(range(len(population)), max_samples))]


def _shape(g: Genotype, C: float) -> dict[str, float]:
    kept = [
        (t, s) for (op, _), t, s in zip(g.edges, NB201_TARGETS, NB201_SOURCES, strict=True) if op != "none"
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
