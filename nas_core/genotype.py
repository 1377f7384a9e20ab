"""Genotypes: plain, serialisable data (never a model object).

JSON form (docs/architecture.md): {space, ops, genotype: {...}, <the space's text form>, epoch,
search_id}. What `genotype` holds and the text form are the space's (nas_core/spaces/*_definition.py);
the functions here dispatch on `space` to its definition in the registry. Every reader validates,
and every error names the field, the value and what is allowed, because genotypes also arrive from
users (barriers, on-demand metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas_core.spaces.definition import SpaceDefinition

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
#: Bounds of a genotype document's `ops` list (a request may carry one).
MAX_OPS = 32
MAX_OP_NAME = 64


@dataclass(frozen=True)
class Genotype:
    space: str  # a name in the spaces registry (nas_core/spaces)
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


# --- shared checks (the space definitions use them) ---------------------------------------------


def check_op(field: str, op: Any, allowed: Sequence[str]) -> None:
    if op not in allowed:
        raise GenotypeError(f"{field}: unknown op {op!r}; allowed: {list(allowed)}")


def check_pair(field: str, pair: Any) -> None:
    if not (
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
        and not isinstance(pair[1], bool)
    ):
        raise GenotypeError(f"{field}: {pair!r} is not an [op, input] pair (op a string, input an integer)")


def pairs_of(field: str, value: Any) -> tuple[Edge, ...]:
    if not isinstance(value, list | tuple):
        raise GenotypeError(f"{field}: expected a list of [op, input] pairs, got {type(value).__name__}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list | tuple):
            raise GenotypeError(f"{field}[{i}]: {pair!r} is not an [op, input] pair")
        out.append(tuple(pair))
    return tuple(out)  # type: ignore[return-value]


# --- dispatch to the space ------------------------------------------------------------------------


def space_of(space: Any) -> SpaceDefinition:
    """The registered definition of `space`, or GenotypeError naming the allowed spaces."""
    # Imported here: the registry's definitions import this module.
    from nas_core.spaces import SPACES

    definition = SPACES.get(space) if isinstance(space, str) else None
    if definition is None:
        raise GenotypeError(f"space: {space!r} is not a search space; allowed: {list(SPACES)}")
    return definition


def default_ops(space: str) -> tuple[str, ...]:
    return space_of(space).default_ops


def validate(g: Genotype, *, space: str | None = None, ops: Sequence[str] | None = None) -> Genotype:
    """Raise GenotypeError unless `g` is a well-formed genotype (of `space`, using only `ops`)."""
    if space is not None and g.space != space:
        raise GenotypeError(f"space: genotype is for {g.space!r}, expected {space!r}")
    space_of(g.space).validate_genotype(g, ops)
    return g


# --- JSON -----------------------------------------------------------------------------------


def genotype_to_json(
    g: Genotype, *, epoch: int | None = None, search_id: str | None = None
) -> dict[str, Any]:
    validate(g)
    definition = space_of(g.space)
    return {
        "space": g.space,
        "ops": list(g.ops or definition.default_ops),
        "genotype": definition.genotype_body(g),
        definition.text_field: definition.genotype_text(g),
        "epoch": epoch,
        "search_id": search_id,
    }


def genotype_from_json(d: Mapping[str, Any]) -> Genotype:
    """Read the JSON form. `genotype` wins; the space's text form alone also suffices; both must agree.

    The older CLI file `{"best": ..., "final": ...}` is read too: its `best` genotype.
    """
    if not isinstance(d, Mapping):
        raise GenotypeError(f"genotype JSON must be an object, got {type(d).__name__}")
    if "space" not in d and isinstance(d.get("best"), Mapping):
        d = d["best"]
    if "space" not in d:
        from nas_core.spaces import SPACES

        keys = ", ".join(sorted(map(str, d))[:8]) or "none"
        raise GenotypeError(
            "not a genotype document: it has no 'space' (one of "
            f"{', '.join(SPACES)}) beside 'genotype' or the space's text form; its keys: {keys}. "
            "Expected a search's genotype.json or the download of GET /searches/{id}/genotype"
        )
    definition = space_of(d.get("space"))
    ops = d.get("ops")
    if ops is None:
        ops = definition.default_ops
    if not isinstance(ops, list | tuple) or not all(isinstance(o, str) for o in ops):
        raise GenotypeError(f"ops: expected a list of op names, got {str(ops)[:80]!r}")
    if len(ops) > MAX_OPS or any(not 1 <= len(o) <= MAX_OP_NAME for o in ops):
        # Stored with an evaluation and shown back: bounded like every other submitted string.
        raise GenotypeError(f"ops: at most {MAX_OPS} op names of 1 to {MAX_OP_NAME} characters each")
    text_field = definition.text_field
    from_text = None
    if d.get(text_field) is not None:
        from_text = definition.parse_text(d[text_field], tuple(ops))
    body = d.get("genotype")
    if body is None:
        if from_text is None:
            raise GenotypeError(f"genotype: missing; give 'genotype' or '{text_field}'")
        return from_text
    if not isinstance(body, Mapping):
        raise GenotypeError(f"genotype: expected an object, got {type(body).__name__}")
    g = definition.genotype_from_body(body, tuple(ops))
    if from_text is not None and from_text != g:
        raise GenotypeError(f"{text_field}: disagrees with 'genotype'")
    return g


# --- helpers for methods and metrics ----------------------------------------------------------


def genotype_edges(g: Genotype) -> dict[str, list[tuple[int, int, str]]]:
    """(node, input, op) per kept edge, per α group, e.g. {"cell": ...} or {"normal": ..., "reduce": ...}."""
    return space_of(g.space).genotype_edges(g)


def genotype_from_edges(
    space: str, ops: Sequence[str], edges: Mapping[str, Sequence[tuple[int, int, str]]]
) -> Genotype:
    """Inverse of genotype_edges (validated), e.g. after editing one edge of a neighbour."""
    return space_of(space).genotype_from_edges(ops, edges)


def same_architecture(a: Genotype, b: Genotype) -> bool:
    """The same cells, whatever op vocabulary each came from (DARTS_V2 vs a 7-op search) and in
    whatever order a DARTS node lists its two inputs (DARTS lists them strongest first)."""
    return a.space == b.space and space_of(a.space).same_architecture(a, b)
