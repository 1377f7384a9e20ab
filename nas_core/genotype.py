"""Genotypes: plain, serialisable data (never a model object).

JSON form (DESIGN.md): {space, ops, genotype: {edges: [[op, source], ...]} (nb201) |
{normal, normal_concat, reduce, reduce_concat} (darts), arch_str (nb201), darts_repr (darts),
epoch, search_id}. Every reader validates, and every error names the field, the value and what
is allowed, because genotypes also arrive from users (barriers, on-demand metrics).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Edge = tuple[str, int]  # (op name, input node index)

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (target, source) in α's row order; node 0 is the cell input, node 3 the output.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS8_OPS: tuple[str, ...] = ("none", *DARTS_OPS)
#: States 0, 1 are the cell inputs, 2..5 the intermediate nodes; every earlier state feeds a node.
DARTS_EDGES: tuple[tuple[int, int], ...] = tuple((t, s) for t in range(2, 6) for s in range(t))
DARTS_STEPS = 4
DARTS_CONCAT: tuple[int, ...] = (2, 3, 4, 5)
DARTS_CELLS: tuple[str, ...] = ("normal", "reduce")

SPACES = ("nb201", "darts")


@dataclass(frozen=True)
class Genotype:
    space: str  # "nb201" | "darts"
    ops: tuple[str, ...]  # the op vocabulary of the space it came from
    edges: tuple[
        Edge, ...
    ] = ()  # nb201: 6 (op, source) pairs in the order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    normal: tuple[Edge, ...] = ()  # darts: 8 pairs, two per intermediate node
    normal_concat: tuple[int, ...] = ()
    reduce: tuple[Edge, ...] = ()
    reduce_concat: tuple[int, ...] = ()


class GenotypeError(ValueError):
    """A genotype that does not fit its space; the message names the field and what is allowed."""


DARTS_V2 = Genotype(
    space="darts",
    ops=DARTS8_OPS,  # found in the original 8-op space; every op is also in the 7-op default
    normal=(
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ),
    normal_concat=DARTS_CONCAT,
    reduce=(
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ),
    reduce_concat=DARTS_CONCAT,
)


# --- validation ---------------------------------------------------------------------------------


def default_ops(space: str) -> tuple[str, ...]:
    if space == "nb201":
        return NB201_OPS
    if space == "darts":
        return DARTS_OPS
    raise GenotypeError(f"space: {space!r} is not a search space; allowed: {list(SPACES)}")


def _check_op(field: str, op: Any, allowed: Sequence[str]) -> None:
    if op not in allowed:
        raise GenotypeError(f"{field}: unknown op {op!r}; allowed: {list(allowed)}")


def _check_pair(field: str, pair: Any) -> None:
    if not (
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
        and not isinstance(pair[1], bool)
    ):
        raise GenotypeError(f"{field}: {pair!r} is not an [op, input] pair (op a string, input an integer)")


def validate(g: Genotype, *, space: str | None = None, ops: Sequence[str] | None = None) -> Genotype:
    """Raise GenotypeError unless `g` is a well-formed genotype (of `space`, using only `ops`)."""
    if space is not None and g.space != space:
        raise GenotypeError(f"space: genotype is for {g.space!r}, expected {space!r}")
    vocab = default_ops(g.space) if not g.ops else g.ops
    if g.space == "nb201":
        for op in vocab:
            _check_op("ops", op, NB201_OPS)
        if len(g.edges) != len(NB201_EDGES):
            raise GenotypeError(
                f"genotype.edges: {len(g.edges)} edges, nb201 needs {len(NB201_EDGES)} "
                "(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)"
            )
        if g.normal or g.reduce or g.normal_concat or g.reduce_concat:
            raise GenotypeError("genotype: nb201 genotypes have only 'edges', not normal/reduce cells")
        for i, (pair, (target, source)) in enumerate(zip(g.edges, NB201_EDGES, strict=True)):
            _check_pair(f"genotype.edges[{i}]", pair)
            _check_op(f"genotype.edges[{i}]", pair[0], ops if ops is not None else vocab)
            if pair[1] != source:
                raise GenotypeError(
                    f"genotype.edges[{i}]: input {pair[1]} for node {target}; edge {i} must read node {source}"
                )
        return g
    for op in vocab:
        _check_op("ops", op, DARTS8_OPS)
    if g.edges:
        raise GenotypeError("genotype: darts genotypes have normal/reduce cells, not 'edges'")
    allowed = [op for op in (ops if ops is not None else vocab) if op != "none"]
    for cell in DARTS_CELLS:
        pairs = getattr(g, cell)
        if len(pairs) != 2 * DARTS_STEPS:
            raise GenotypeError(
                f"genotype.{cell}: {len(pairs)} edges, darts needs {2 * DARTS_STEPS} (two per node)"
            )
        for i, pair in enumerate(pairs):
            field = f"genotype.{cell}[{i}]"
            _check_pair(field, pair)
            _check_op(field, pair[0], allowed)
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
    return g


# --- text forms -----------------------------------------------------------------------------


def nb201_arch_str(g: Genotype) -> str:
    """The NAS-Bench-201 string, e.g. |nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|...~2|."""
    validate(g, space="nb201")
    nodes: list[list[str]] = [[] for _ in range(3)]
    for (op, source), (target, _) in zip(g.edges, NB201_EDGES, strict=True):
        nodes[target - 1].append(f"{op}~{source}")
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def parse_nb201_arch_str(text: str, ops: Sequence[str] = NB201_OPS) -> Genotype:
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
    return validate(Genotype(space="nb201", ops=tuple(ops), edges=tuple(edges)))


def darts_repr(g: Genotype) -> str:
    """DARTS's own `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)` text."""
    validate(g, space="darts")

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


def parse_darts_repr(text: str, ops: Sequence[str] = DARTS_OPS) -> Genotype:
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
    return _darts_from_fields(fields, ops, "darts_repr")


def _pairs(field: str, value: Any) -> tuple[Edge, ...]:
    if not isinstance(value, list | tuple):
        raise GenotypeError(f"{field}: expected a list of [op, input] pairs, got {type(value).__name__}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list | tuple):
            raise GenotypeError(f"{field}[{i}]: {pair!r} is not an [op, input] pair")
        out.append(tuple(pair))
    return tuple(out)  # type: ignore[return-value]


def _darts_from_fields(fields: Mapping[str, Any], ops: Sequence[str], prefix: str) -> Genotype:
    concat = {}
    for cell in DARTS_CELLS:
        value = fields.get(f"{cell}_concat", list(DARTS_CONCAT))
        if not isinstance(value, list | tuple) or not all(isinstance(v, int) for v in value):
            raise GenotypeError(f"{prefix}.{cell}_concat: expected a list of node indices, got {value!r}")
        concat[cell] = tuple(value)
    g = Genotype(
        space="darts",
        ops=tuple(ops),
        normal=_pairs(f"{prefix}.normal", fields.get("normal")),
        normal_concat=concat["normal"],
        reduce=_pairs(f"{prefix}.reduce", fields.get("reduce")),
        reduce_concat=concat["reduce"],
    )
    try:
        return validate(g)
    except GenotypeError as err:
        raise GenotypeError(str(err).replace("genotype.", f"{prefix}.", 1)) from None


# --- JSON -----------------------------------------------------------------------------------


def genotype_to_json(
    g: Genotype, *, epoch: int | None = None, search_id: str | None = None
) -> dict[str, Any]:
    validate(g)
    out: dict[str, Any] = {"space": g.space, "ops": list(g.ops or default_ops(g.space))}
    if g.space == "nb201":
        out["genotype"] = {"edges": [[op, source] for op, source in g.edges]}
        out["arch_str"] = nb201_arch_str(g)
    else:
        out["genotype"] = {
            "normal": [[op, source] for op, source in g.normal],
            "normal_concat": list(g.normal_concat),
            "reduce": [[op, source] for op, source in g.reduce],
            "reduce_concat": list(g.reduce_concat),
        }
        out["darts_repr"] = darts_repr(g)
    out["epoch"] = epoch
    out["search_id"] = search_id
    return out


def genotype_from_json(d: Mapping[str, Any]) -> Genotype:
    """Read the JSON form. `genotype` wins; arch_str / darts_repr alone also suffice; both must agree.

    The older CLI file `{"best": ..., "final": ...}` is read too: its `best` genotype.
    """
    if not isinstance(d, Mapping):
        raise GenotypeError(f"genotype JSON must be an object, got {type(d).__name__}")
    if "space" not in d and isinstance(d.get("best"), Mapping):
        d = d["best"]
    space = d.get("space")
    if space not in SPACES:
        raise GenotypeError(f"space: {space!r} is not a search space; allowed: {list(SPACES)}")
    ops = d.get("ops")
    if ops is None:
        ops = default_ops(space)
    if not isinstance(ops, list | tuple) or not all(isinstance(o, str) for o in ops):
        raise GenotypeError(f"ops: expected a list of op names, got {ops!r}")
    text_field = "arch_str" if space == "nb201" else "darts_repr"
    from_text = None
    if d.get(text_field) is not None:
        parse = parse_nb201_arch_str if space == "nb201" else parse_darts_repr
        from_text = parse(d[text_field], ops=tuple(ops))
    body = d.get("genotype")
    if body is None:
        if from_text is None:
            raise GenotypeError(f"genotype: missing; give 'genotype' or '{text_field}'")
        return from_text
    if not isinstance(body, Mapping):
        raise GenotypeError(f"genotype: expected an object, got {type(body).__name__}")
    if space == "nb201":
        unknown = set(body) - {"edges"}
        if unknown:
            raise GenotypeError(f"genotype: unknown fields {sorted(unknown)} for nb201; allowed: ['edges']")
        g = validate(
            Genotype(space="nb201", ops=tuple(ops), edges=_pairs("genotype.edges", body.get("edges")))
        )
    else:
        unknown = set(body) - {"normal", "normal_concat", "reduce", "reduce_concat"}
        if unknown:
            raise GenotypeError(
                f"genotype: unknown fields {sorted(unknown)} for darts; "
                "allowed: ['normal', 'normal_concat', 'reduce', 'reduce_concat']"
            )
        g = _darts_from_fields(body, ops, "genotype")
    if from_text is not None and from_text != g:
        raise GenotypeError(f"{text_field}: disagrees with 'genotype'")
    return g


# --- helpers for methods and metrics ----------------------------------------------------------


def genotype_edges(g: Genotype) -> dict[str, list[tuple[int, int, str]]]:
    """(node, input, op) per kept edge, per α group: {"cell": ...} (nb201, nodes 1..3) or
    {"normal": ..., "reduce": ...} (darts, states 2..5; inputs 0, 1 are the cell inputs)."""
    if g.space == "nb201":
        return {"cell": [(t, s, op) for (op, s), (t, _) in zip(g.edges, NB201_EDGES, strict=True)]}
    return {cell: [(2 + i // 2, s, op) for i, (op, s) in enumerate(getattr(g, cell))] for cell in DARTS_CELLS}


def genotype_from_edges(
    space: str, ops: Sequence[str], edges: Mapping[str, Sequence[tuple[int, int, str]]]
) -> Genotype:
    """Inverse of genotype_edges (validated), e.g. after editing one edge of a neighbour."""
    if space == "nb201":
        by_edge = {(t, s): op for t, s, op in edges["cell"]}
        if set(by_edge) != set(NB201_EDGES):
            raise GenotypeError(f"edges.cell: needs exactly the (node, input) pairs {list(NB201_EDGES)}")
        return validate(Genotype(space, tuple(ops), edges=tuple((by_edge[e], e[1]) for e in NB201_EDGES)))
    cells = {}
    for cell in DARTS_CELLS:
        kept = sorted(edges[cell], key=lambda e: e[0])  # stable: keeps each node's input order
        cells[cell] = tuple((op, s) for _, s, op in kept)
        if [t for t, _, _ in kept] != [2 + i // 2 for i in range(len(kept))]:
            raise GenotypeError(f"edges.{cell}: each of the nodes 2..5 needs exactly two inputs")
    return validate(
        Genotype(
            space,
            tuple(ops),
            normal=cells["normal"],
            normal_concat=DARTS_CONCAT,
            reduce=cells["reduce"],
            reduce_concat=DARTS_CONCAT,
        )
    )


def same_architecture(a: Genotype, b: Genotype) -> bool:
    """The same cells, whatever op vocabulary each came from (DARTS_V2 vs a 7-op search) and in
    whatever order a DARTS node lists its two inputs (DARTS lists them strongest first)."""
    if a.space != b.space:
        return False
    if a.space == "nb201":
        return a.edges == b.edges
    edges_a, edges_b = genotype_edges(a), genotype_edges(b)
    return all(sorted(edges_a[c]) == sorted(edges_b[c]) for c in DARTS_CELLS) and (
        a.normal_concat,
        a.reduce_concat,
    ) == (b.normal_concat, b.reduce_concat)
