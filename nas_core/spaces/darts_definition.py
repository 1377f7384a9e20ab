"""The DARTS space's facts and genotype rules (docs/algorithms.md §1), torch-free; the network is
nas_core/spaces/darts.py.

A genotype keeps two (op, input) pairs per intermediate node (states 0, 1 are the cell inputs,
2..5 the nodes) for each of the normal and reduce cells; its text form is DARTS's own
`Genotype(...)`. Distance: per cell and node, the node's two kept edges form a set of (op, input)
pairs, and the distance is Σ |A \\ B| over the nodes of both cells. One edit replaces one kept edge
(a new op on the same input, or a new input with any op), so the distance is the number of edits
on a shortest path. `none` is never chosen, as derivation never keeps it.
"""

from __future__ import annotations

import ast
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

from nas_core.genotype import (
    DARTS8_OPS,
    DARTS_CELLS,
    DARTS_CONCAT,
    DARTS_EDGES,
    DARTS_OPS,
    DARTS_STEPS,
    Edge,
    Genotype,
    GenotypeError,
    check_op,
    check_pair,
    pairs_of,
)
from nas_core.spaces.definition import FLOAT_BYTES, EditStep, SpaceDefinition, SupernetShape, with_pair

NONE_OP = "none"

DARTS_INPUT_EDGES = 8  # edges from the two cell inputs: strided in a reduction cell
#: Saved activations per cell, in units of (cell channels × output pixels) per image.
DARTS_CELL_ACTIVATIONS = 420
DARTS_REDUCTION_ACTIVATIONS = 620


def _darts_edge_params(c_op: int, c: int, stride: int) -> int:
    # sep 3x3 and 5x5 (two depthwise + pointwise blocks each), dil 3x3 and 5x5; pools have no
    # weights (their BN is not affine); skip is a FactorizedReduce on strided edges, as is the
    # DARTS− auxiliary skip (full channels) every MixedOp carries.
    params = 2 * (9 * c_op + c_op**2) + 2 * (25 * c_op + c_op**2) + 9 * c_op + c_op**2 + 25 * c_op + c_op**2
    if stride == 2:
        params += c_op**2 + c**2
    return params


class DartsDefinition(SpaceDefinition):
    name = "darts"
    groups = DARTS_CELLS
    cell_kind = "nodes"
    cell_edges = DARTS_EDGES
    # "default" is the A2M paper's 7 ops; "darts8" adds 'none' first, as the original DARTS.
    ops_variants = {"default": DARTS_OPS, "darts8": DARTS8_OPS}
    depth_field = "layers"
    default_depth = 8
    a2m_default_rho = 1e-1
    text_field = "darts_repr"
    implementation = "nas_core.spaces.darts:DartsSpace"
    node_labels = ("c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}")
    summary = "DARTS: a normal and a reduction cell of 4 intermediate nodes (14 edges), stacked into layers"

    def supernet_cost(self, shape: SupernetShape) -> tuple[int, int]:
        # Follows nas_core/spaces/darts.py's constructors exactly (tests/unit/test_cost.py).
        C, layers, k = shape.C, shape.depth, shape.num_classes
        params = 27 * 3 * C + 2 * 3 * C  # stem conv 3x3 to 3C + affine BN
        activations = 3 * 3 * C * shape.side**2
        c_pp, c_p, c, side = 3 * C, 3 * C, C, shape.side
        reductions = (layers // 3, 2 * layers // 3)
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c, side = 2 * c, max(1, side // 2)
            params += c_pp * c + c_p * c  # the two 1x1 preprocessing convs (or FactorizedReduce)
            c_op = c // shape.partial
            strided = DARTS_INPUT_EDGES if reduction else 0
            params += strided * _darts_edge_params(c_op, c, 2)
            params += (len(DARTS_EDGES) - strided) * _darts_edge_params(c_op, c, 1)
            per_cell = DARTS_REDUCTION_ACTIVATIONS if reduction else DARTS_CELL_ACTIVATIONS
            activations += per_cell * c * side**2 // shape.partial
            c_pp, c_p = c_p, DARTS_STEPS * c
        params += c_p * k + k
        return params, activations * shape.batch * FLOAT_BYTES

    # --- validation and serialisation ----------------------------------------------------------

    def validate_genotype(self, g: Genotype, ops: Sequence[str] | None) -> None:
        vocab = g.ops or DARTS_OPS
        for op in vocab:
            check_op("ops", op, DARTS8_OPS)
        if g.edges:
            raise GenotypeError("genotype: darts genotypes have normal/reduce cells, not 'edges'")
        allowed = [op for op in (ops if ops is not None else vocab) if op != NONE_OP]
        for cell in DARTS_CELLS:
            pairs = getattr(g, cell)
            if len(pairs) != 2 * DARTS_STEPS:
                raise GenotypeError(
                    f"genotype.{cell}: {len(pairs)} edges, darts needs {2 * DARTS_STEPS} (two per node)"
                )
            for i, pair in enumerate(pairs):
                field = f"genotype.{cell}[{i}]"
                check_pair(field, pair)
                check_op(field, pair[0], allowed)
                node = 2 + i // 2
                if not 0 <= pair[1] < node:
                    raise GenotypeError(f"{field}: input {pair[1]} for node {node}; allowed: 0..{node - 1}")
                if i % 2 == 1 and pair[1] == pairs[i - 1][1]:
                    raise GenotypeError(
                        f"{field}: node {node} reads input {pair[1]} twice; its inputs must differ"
                    )
            concat = getattr(g, f"{cell}_concat")
            if tuple(concat) != DARTS_CONCAT:
                raise GenotypeError(f"genotype.{cell}_concat: {list(concat)}; allowed: {list(DARTS_CONCAT)}")

    def genotype_body(self, g: Genotype) -> dict[str, Any]:
        return {
            "normal": [[op, source] for op, source in g.normal],
            "normal_concat": list(g.normal_concat),
            "reduce": [[op, source] for op, source in g.reduce],
            "reduce_concat": list(g.reduce_concat),
        }

    def genotype_text(self, g: Genotype) -> str:
        return darts_repr(g)

    def parse_text(self, text: Any, ops: Sequence[str]) -> Genotype:
        return parse_darts_repr(text, ops)

    def genotype_from_body(self, body: Mapping[str, Any], ops: Sequence[str]) -> Genotype:
        unknown = set(body) - {"normal", "normal_concat", "reduce", "reduce_concat"}
        if unknown:
            raise GenotypeError(
                f"genotype: unknown fields {sorted(unknown)} for darts; "
                "allowed: ['normal', 'normal_concat', 'reduce', 'reduce_concat']"
            )
        return _from_fields(body, ops, "genotype")

    def genotype_edges(self, g: Genotype) -> dict[str, list[tuple[int, int, str]]]:
        return {
            cell: [(2 + i // 2, s, op) for i, (op, s) in enumerate(getattr(g, cell))] for cell in DARTS_CELLS
        }

    def genotype_from_edges(
        self, ops: Sequence[str], edges: Mapping[str, Sequence[tuple[int, int, str]]]
    ) -> Genotype:
        cells = {}
        for cell in DARTS_CELLS:
            kept = sorted(edges[cell], key=lambda e: e[0])  # stable: keeps each node's input order
            cells[cell] = tuple((op, s) for _, s, op in kept)
            if [t for t, _, _ in kept] != [2 + i // 2 for i in range(len(kept))]:
                raise GenotypeError(f"edges.{cell}: each of the nodes 2..5 needs exactly two inputs")
        return self.checked(
            Genotype(
                self.name,
                tuple(ops),
                normal=cells["normal"],
                normal_concat=DARTS_CONCAT,
                reduce=cells["reduce"],
                reduce_concat=DARTS_CONCAT,
            )
        )

    def same_architecture(self, a: Genotype, b: Genotype) -> bool:
        # DARTS lists a node's two inputs strongest first: the order does not matter.
        edges_a, edges_b = self.genotype_edges(a), self.genotype_edges(b)
        return all(sorted(edges_a[c]) == sorted(edges_b[c]) for c in DARTS_CELLS) and (
            a.normal_concat,
            a.reduce_concat,
        ) == (b.normal_concat, b.reduce_concat)

    # --- geometry ------------------------------------------------------------------------------

    def genotype_key(self, g: Genotype) -> tuple:
        return (
            self.name,
            *(tuple(tuple(sorted(node)) for node in _nodes(g, cell)) for cell in DARTS_CELLS),
            tuple(g.normal_concat),
            tuple(g.reduce_concat),
        )

    def edit_distance(self, a: Genotype, b: Genotype) -> int:
        return sum(
            len(set(na) - set(nb))
            for cell in DARTS_CELLS
            for na, nb in zip(_nodes(a, cell), _nodes(b, cell), strict=True)
        )

    def neighbourhood(self, g: Genotype, radius: int, max_samples: int, rng: random.Random) -> list[Genotype]:
        if radius == 1:
            population = darts_single_edits(g)
            if len(population) <= max_samples:
                return population
            return [population[i] for i in sorted(rng.sample(range(len(population)), max_samples))]
        # Beyond radius 1 the shells are too large to list: keep distinct results of `radius` random
        # edits that land at that distance. Random walks rarely return at a shorter distance; the
        # cap only stops pathological loops.
        seen = {self.genotype_key(g)}
        out: list[Genotype] = []
        for _ in range(50 * max_samples):
            candidate = g
            for _ in range(radius):
                candidate = darts_random_edit(candidate, rng)
            key = self.genotype_key(candidate)
            if key not in seen and self.edit_distance(g, candidate) == radius:
                seen.add(key)
                out.append(candidate)
                if len(out) == max_samples:
                    break
        return out

    def edit_step_sets(self, a: Genotype, b: Genotype) -> list[list[EditStep]]:
        # A node whose two kept edges both differ can be rebuilt by two pairings of old to new edge.
        per_node_options: list[list[list[EditStep]]] = []
        for cell in DARTS_CELLS:
            for node, (na, nb) in enumerate(zip(_nodes(a, cell), _nodes(b, cell), strict=True)):
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

    def path_is_valid(self, g: Genotype) -> bool:
        """Two distinct earlier inputs per node, no `none` (what derivation can produce)."""
        for cell in DARTS_CELLS:
            for node, ((op1, s1), (op2, s2)) in enumerate(_nodes(g, cell), start=2):
                if s1 == s2 or not (0 <= s1 < node and 0 <= s2 < node) or NONE_OP in (op1, op2):
                    return False
        return True

    def cell_shape(self, g: Genotype, C: float) -> dict[str, dict[str, float]]:
        """Shu et al.: depth = edges on the longest path from a cell input to the output, counting
        the concat into the output as one edge; width = C × Σ over intermediate nodes of the
        fraction of its kept inputs that are cell inputs. DARTS_V2 normal: width 3.5C, depth 3."""
        return {cell: _shape(getattr(g, cell), getattr(g, f"{cell}_concat"), C) for cell in DARTS_CELLS}

    def skip_count(self, g: Genotype) -> dict[str, int]:
        return {cell: sum(op == "skip_connect" for op, _ in getattr(g, cell)) for cell in DARTS_CELLS}


# --- text form ---------------------------------------------------------------------------------


def darts_repr(g: Genotype) -> str:
    """DARTS's own `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)` text."""
    DartsDefinition().checked(g)

    def pairs(cell: tuple[Edge, ...]) -> str:
        return repr([(op, source) for op, source in cell])

    return (
        f"Genotype(normal={pairs(g.normal)}, normal_concat={list(g.normal_concat)}, "
        f"reduce={pairs(g.reduce)}, reduce_concat={list(g.reduce_concat)})"
    )


def _literal(field: str, node: ast.expr) -> Any:
    # DARTS's published genotypes write the concat as range(2, 6); accept that one call.
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
    ):
        return list(range(*[_literal(field, a) for a in node.args]))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise GenotypeError(f"darts_repr.{field}: not a literal: {ast.unparse(node)!r}") from None


def parse_darts_repr(text: Any, ops: Sequence[str] = DARTS_OPS) -> Genotype:
    """Parse the DARTS `Genotype(...)` text without evaluating it (literals only)."""
    if not isinstance(text, str):
        raise GenotypeError(f"darts_repr: expected a string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise GenotypeError(f"darts_repr: not valid Genotype(...) text: {err.msg}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise GenotypeError(
            "darts_repr: must be a call Genotype(normal=..., normal_concat=..., reduce=..., ...)"
        )
    if tree.args:
        raise GenotypeError(
            "darts_repr: use keyword arguments normal=, normal_concat=, reduce=, reduce_concat="
        )
    fields = {str(kw.arg): _literal(str(kw.arg), kw.value) for kw in tree.keywords}
    expected = {"normal", "normal_concat", "reduce", "reduce_concat"}
    if set(fields) != expected:
        raise GenotypeError(f"darts_repr: fields {sorted(fields)}; expected {sorted(expected)}")
    return _from_fields(fields, ops, "darts_repr")


def _from_fields(fields: Mapping[str, Any], ops: Sequence[str], prefix: str) -> Genotype:
    concat = {}
    for cell in DARTS_CELLS:
        value = fields.get(f"{cell}_concat", list(DARTS_CONCAT))
        if not isinstance(value, list | tuple) or not all(isinstance(v, int) for v in value):
            raise GenotypeError(f"{prefix}.{cell}_concat: expected a list of node indices, got {value!r}")
        concat[cell] = tuple(value)
    g = Genotype(
        space="darts",
        ops=tuple(ops),
        normal=pairs_of(f"{prefix}.normal", fields.get("normal")),
        normal_concat=concat["normal"],
        reduce=pairs_of(f"{prefix}.reduce", fields.get("reduce")),
        reduce_concat=concat["reduce"],
    )
    try:
        return DartsDefinition().checked(g)
    except GenotypeError as err:
        raise GenotypeError(str(err).replace("genotype.", f"{prefix}.", 1)) from None


# --- edits and shape ---------------------------------------------------------------------------


def darts_single_edits(g: Genotype) -> list[Genotype]:
    """Every darts genotype one edit away, in a fixed order (132 per cell with the 7 default ops).

    An edit touches one kept edge of one cell: a different op on the same input, or a different
    earlier input (not the node's other kept input) with any op.
    """
    ops = _ops(g)
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
                        out.append(with_pair(g, cell, index, (new_op, new_source)))
    return out


def darts_random_edit(g: Genotype, rng: random.Random) -> Genotype:
    """One random edit: a random kept edge of a random cell, then a random new (op, input) for it."""
    ops = _ops(g)
    cell = rng.choice(DARTS_CELLS)
    pairs = getattr(g, cell)
    index = rng.randrange(len(pairs))
    node = 2 + index // 2
    op, source = pairs[index]
    other_source = pairs[index ^ 1][1]
    choices = [
        (new_op, s) for s in range(node) if s != other_source for new_op in ops if (new_op, s) != (op, source)
    ]
    return with_pair(g, cell, index, rng.choice(choices))


def _ops(g: Genotype) -> list[str]:
    return [op for op in (g.ops or DARTS_OPS) if op != NONE_OP]


def _nodes(g: Genotype, cell: str) -> list[tuple[Edge, Edge]]:
    pairs = getattr(g, cell)
    if len(pairs) != 2 * DARTS_STEPS:
        raise GenotypeError(
            f"{cell}: has {len(pairs)} (op, input) pairs; a darts cell needs {2 * DARTS_STEPS}"
        )
    return [(pairs[2 * i], pairs[2 * i + 1]) for i in range(DARTS_STEPS)]


def _shape(pairs: Sequence[Edge], concat: Sequence[int], C: float) -> dict[str, float]:
    depth = {0: 0, 1: 0}
    width = 0.0
    for node in range(2, 2 + DARTS_STEPS):
        sources = [s for _, s in pairs[2 * (node - 2) : 2 * (node - 1)]]
        depth[node] = 1 + max(depth[s] for s in sources)
        width += sum(s < 2 for s in sources) / len(sources)
    return {"width": width * C, "width_c": width, "depth": float(1 + max(depth[n] for n in concat))}
