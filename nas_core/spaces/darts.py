"""The DARTS space (docs/algorithms.md §1): cells with two inputs, 4 intermediate nodes, 14 edges, output
the concat of the 4 nodes; reduction cells at layers L//3 and 2L//3. α groups "normal", "reduce".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from nas_core.genotype import (
    DARTS_CELLS,
    DARTS_CONCAT,
    DARTS_EDGES,
    DARTS_STEPS,
    Genotype,
    validate,
)
from nas_core.ops import FactorizedReduce, ReLUConvBN, build_op
from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spaces.compiled_cells import cell_function
from nas_core.spaces.darts_definition import DartsDefinition
from nas_core.spaces.darts_fused import check_fusable, fused_cell_forward
from nas_core.spaces.mixed import MixedOp, check_weights, op_masks


def _preprocess(
    C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool
) -> tuple[nn.Module, nn.Module]:
    pre0 = FactorizedReduce(C_pp, C, affine) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, affine)
    return pre0, ReLUConvBN(C_p, C, 1, 1, 0, affine)


class SearchCell(nn.Module):
    def __init__(
        self,
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        op_names: Sequence[str],
        partial_channels: int,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0, self.pre1 = _preprocess(C_pp, C_p, C, reduction_prev, affine=False)
        self.edges = nn.ModuleList(
            MixedOp("darts", op_names, C, 2 if reduction and s < 2 else 1, partial_channels, pool_bn=True)
            for _, s in DARTS_EDGES
        )

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        w: torch.Tensor,
        used: list[list[bool]] | None,
        aux_scale: float,
    ) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for _ in range(DARTS_STEPS):
            total = None
            for h in list(states):
                y = self.edges[e](h, w[e], None if used is None else used[e], aux_scale)
                total = y if total is None else total + y
                e += 1
            states.append(total)
        return torch.cat(states[2:], dim=1)


def plain_cell_forward(
    cell: SearchCell,
    s0: torch.Tensor,
    s1: torch.Tensor,
    w: torch.Tensor,
    aux_scale: float,
    op_names: tuple[str, ...],
) -> torch.Tensor:
    """The plain cell with every op evaluated, as a function (what `runtime.compile` compiles)."""
    return cell(s0, s1, w, None, aux_scale)


class DiscreteCell(nn.Module):
    """A stand-alone cell built from the genotype's (op, input) pairs; pools without BN, affine BN."""

    def __init__(
        self, C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool, genotype: Genotype
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0, self.pre1 = _preprocess(C_pp, C_p, C, reduction_prev, affine=True)
        pairs = genotype.reduce if reduction else genotype.normal
        self.inputs = [s for _, s in pairs]
        self.ops = nn.ModuleList(
            build_op("darts", op, C, 2 if reduction and s < 2 else 1, affine=True) for op, s in pairs
        )
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(DARTS_STEPS):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


def reduction_layers(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


class DartsNetwork(nn.Module):
    """Stem Conv3×3(3->3C)+BN, `layers` cells (C doubles at each reduction), global pool, Linear."""

    def __init__(self, C: int, layers: int, num_classes: int, make_cell: Callable[..., nn.Module]) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"layers: {layers}; the DARTS network needs at least 3 (two reduction cells)")
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
        C_pp, C_p, c = 3 * C, 3 * C, C
        reduction_prev = False
        cells = []
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c *= 2
            cells.append(make_cell(C_pp, C_p, c, reduction, reduction_prev))
            reduction_prev = reduction
            C_pp, C_p = C_p, len(DARTS_CONCAT) * c
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(C_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean(dim=(2, 3)))


class DartsSupernet(DartsNetwork, Supernet):
    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        op_names: Sequence[str],
        partial_channels: int = 1,
        fused: bool = False,
    ) -> None:
        super().__init__(
            C,
            layers,
            num_classes,
            lambda C_pp, C_p, c, red, red_prev: SearchCell(
                C_pp, C_p, c, red, red_prev, op_names, partial_channels
            ),
        )
        self.op_names = tuple(op_names)
        self.groups = DARTS_CELLS
        #: see nas_core.spaces.mixed: None = skip zero-weight ops only in CPU inference; True = whenever w needs no grad.
        self.skip_zero_ops: bool | None = None
        if fused:
            check_fusable(self.op_names)
        #: the fused fast path (nas_core.spaces.darts_fused); same parameters, switchable any time.
        #: Whenever zero-weight ops are to be skipped (a mask below), the plain path runs instead.
        self.fused = fused

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        check_weights(weights, [(len(DARTS_EDGES), len(self.op_names))] * 2, self.groups)
        masks = op_masks(weights, self.skip_zero_ops, self.training)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            g = 1 if cell.reduction else 0
            if masks[g] is None:
                fn = fused_cell_forward if self.fused else plain_cell_forward
                run = cell_function(fn, self.compiled_cells)
                s0, s1 = s1, run(cell, s0, s1, weights[g], self.aux_skip_scale, self.op_names)
            else:
                s0, s1 = s1, cell(s0, s1, weights[g], masks[g], self.aux_skip_scale)
        return self.classifier(s1.mean(dim=(2, 3)))


class DartsSpace(DartsDefinition, SearchSpace):
    def __init__(self, ops_variant: str = "default", fused_cells: bool = False) -> None:
        if ops_variant not in self.ops_variants:
            raise ValueError(f"ops: unknown darts op set {ops_variant!r}; allowed: {list(self.ops_variants)}")
        self.ops_variant = ops_variant
        self._ops = self.ops_variants[ops_variant]
        self.fused_cells = fused_cells

    @property
    def ops(self) -> tuple[str, ...]:
        return self._ops

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return DARTS_EDGES

    def build_supernet(self, C: int, depth: int, num_classes: int, *, partial_channels: int = 1) -> Supernet:
        return DartsSupernet(C, depth, num_classes, self.ops, partial_channels, fused=self.fused_cells)

    def derive(self, weights: Sequence[torch.Tensor]) -> Genotype:
        check_weights(weights, self.alpha_shapes(), self.groups)
        candidates = [i for i, op in enumerate(self.ops) if op != "none"]
        cells = {}
        for group, w in zip(self.groups, weights, strict=True):
            rows: list[list[float]] = w.detach().float().cpu()[:, candidates].tolist()
            pairs: list[tuple[str, int]] = []
            start = 0
            for node in range(2, 2 + DARTS_STEPS):
                strength = [max(row) for row in rows[start : start + node]]
                # Rank inputs by their strongest non-none op; sorted() is stable, so ties keep the
                # lower input first (as DARTS does).
                kept = sorted(range(node), key=lambda j: -strength[j])[:2]
                for j in kept:
                    row = rows[start + j]
                    pairs.append((self.ops[candidates[row.index(max(row))]], j))
                start += node
            cells[group] = tuple(pairs)
        return self._genotype(cells)

    def one_hot(self, genotype: Genotype) -> list[torch.Tensor]:
        validate(genotype, space=self.name, ops=self.ops)
        out = []
        for group in self.groups:
            w = torch.zeros(len(DARTS_EDGES), len(self.ops))
            for i, (op, source) in enumerate(getattr(genotype, group)):
                w[DARTS_EDGES.index((2 + i // 2, source)), self.ops.index(op)] = 1.0
            out.append(w)
        return out

    def build_network(self, genotype: Genotype, C: int, depth: int, num_classes: int) -> nn.Module:
        validate(genotype, space=self.name, ops=self.ops)
        return DartsNetwork(
            C,
            depth,
            num_classes,
            lambda C_pp, C_p, c, red, red_prev: DiscreteCell(C_pp, C_p, c, red, red_prev, genotype),
        )

    def random_genotype(self, generator: torch.Generator) -> Genotype:
        candidates = [op for op in self.ops if op != "none"]
        cells = {}
        for group in self.groups:
            pairs: list[tuple[str, int]] = []
            for node in range(2, 2 + DARTS_STEPS):
                inputs = torch.randperm(node, generator=generator)[:2].tolist()
                picks = torch.randint(len(candidates), (2,), generator=generator).tolist()
                pairs.extend((candidates[k], j) for k, j in zip(picks, inputs, strict=True))
            cells[group] = tuple(pairs)
        return self._genotype(cells)

    def _genotype(self, cells: dict[str, tuple[tuple[str, int], ...]]) -> Genotype:
        """A genotype of this space from its normal and reduce pairs (both cells concat nodes 2-5)."""
        return Genotype(
            space=self.name,
            ops=self.ops,
            normal=cells["normal"],
            normal_concat=DARTS_CONCAT,
            reduce=cells["reduce"],
            reduce_concat=DARTS_CONCAT,
        )

    def describe(self) -> dict:
        return {**super().describe(), "ops_variant": self.ops_variant}
