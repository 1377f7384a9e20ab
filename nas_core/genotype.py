"""Genotypes: plain, serialisable data (never a model object).

JSON form (DESIGN.md): {space, ops, genotype: {edges: [[op, source], ...]} (nb201) |
{normal, normal_concat, reduce, reduce_concat} (darts), arch_str (nb201), darts_repr (darts)}.
"""

from __future__ import annotations

from dataclasses import dataclass

Edge = tuple[str, int]  # (op name, input node index)


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
