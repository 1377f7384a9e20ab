"""NAS-Bench-201 (docs/algorithms.md §1): one 4-node cell with 6 edges, α 6×5 shared by every cell.

Network: stem Conv3×3+BN, N cells at C, ResNet basic block to 2C (stride 2), N cells, ResNet block
to 4C, N cells, BN-ReLU-global-avg-pool-Linear.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas_core.genotype import NB201_EDGES, NB201_OPS, Genotype, validate
from nas_core.ops import ReLUConvBN, build_op
from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spaces.compiled_cells import cell_function
from nas_core.spaces.mixed import MixedOp, check_weights, op_masks
from nas_core.spaces.nb201_definition import NB201Definition
from nas_core.spaces.nb201_fused import fused_cell_forward


class ResNetBasicBlock(nn.Module):
    """The stage transition: two ReLU-Conv-BN (the first strided) plus an avg-pool + 1×1 shortcut."""

    def __init__(self, C_in: int, C_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, affine=True)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine=True)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class SearchCell(nn.Module):
    def __init__(self, C: int, op_names: Sequence[str], partial_channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp("nb201", op_names, C, 1, partial_channels) for _ in NB201_EDGES)

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, used: list[list[bool]] | None, aux_scale: float
    ) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            inputs = [
                self.edges[e](nodes[source], w[e], None if used is None else used[e], aux_scale)
                for e, (t, source) in enumerate(NB201_EDGES)
                if t == target
            ]
            nodes.append(sum(inputs[1:], inputs[0]))
        return nodes[3]


def plain_cell_forward(cell: SearchCell, x: torch.Tensor, w: torch.Tensor, aux_scale: float) -> torch.Tensor:
    """The plain cell with every op evaluated, as a function (what `runtime.compile` compiles)."""
    return cell(x, w, None, aux_scale)


class DiscreteCell(nn.Module):
    """A stand-alone cell: only the chosen op per edge; 'none' edges are dropped."""

    def __init__(self, C: int, genotype: Genotype) -> None:
        super().__init__()
        self.wiring = [
            (t, s) for (op, s), (t, _) in zip(genotype.edges, NB201_EDGES, strict=True) if op != "none"
        ]
        self.ops = nn.ModuleList(
            build_op("nb201", op, C, 1, affine=True) for op, _ in genotype.edges if op != "none"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            inputs = [op(nodes[s]) for op, (t, s) in zip(self.ops, self.wiring, strict=True) if t == target]
            # A node with no kept input is zero (NAS-Bench-201 counts such architectures too).
            nodes.append(torch.stack(inputs).sum(0) if inputs else torch.zeros_like(x))
        return nodes[3]


class NB201Network(nn.Module):
    """The macro skeleton; `make_cell(C)` gives the cell of each stage."""

    def __init__(self, C: int, N: int, num_classes: int, make_cell) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage:
                layers.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            layers.extend(make_cell(c) for _ in range(N))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(h).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.head(h)


class NB201Supernet(NB201Network, Supernet):
    def __init__(
        self, C: int, N: int, num_classes: int, partial_channels: int = 1, fused: bool = False
    ) -> None:
        super().__init__(C, N, num_classes, lambda c: SearchCell(c, NB201_OPS, partial_channels))
        self.groups = ("cell",)
        #: see nas_core.spaces.mixed: None = skip zero-weight ops only in CPU inference; True = whenever w needs no grad.
        self.skip_zero_ops: bool | None = None
        self.partial_channels = partial_channels
        #: the fused fast path (nas_core.spaces.nb201_fused); same parameters, switchable any time.
        #: It has no partial channels and skips no zero-weight op: those cases use the plain path.
        self.fused = fused

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        check_weights(weights, [(len(NB201_EDGES), len(NB201_OPS))], self.groups)
        (w,) = weights
        fused = self.fused and self.partial_channels == 1
        # The fused path evaluates every op; zero weights contribute exactly nothing there.
        (used,) = [None] if fused else op_masks(weights, self.skip_zero_ops, self.training)
        h = self.stem(x)
        for cell in self.cells:
            if isinstance(cell, SearchCell) and used is None:
                run = cell_function(fused_cell_forward if fused else plain_cell_forward, self.compiled_cells)
                h = run(cell, h, w, self.aux_skip_scale)
            elif isinstance(cell, SearchCell):
                h = cell(h, w, used, self.aux_skip_scale)
            else:
                h = cell(h)
        return self.head(h)


class NB201Space(NB201Definition, SearchSpace):
    def __init__(self, ops_variant: str = "default", fused_cells: bool = False) -> None:
        self.ops_variant = ops_variant  # nb201 has one op set (the registry checks the name)
        self.fused_cells = fused_cells

    @property
    def ops(self) -> tuple[str, ...]:
        return NB201_OPS

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return NB201_EDGES

    def build_supernet(self, C: int, depth: int, num_classes: int, *, partial_channels: int = 1) -> Supernet:
        return NB201Supernet(C, depth, num_classes, partial_channels, fused=self.fused_cells)

    def derive(self, weights: Sequence[torch.Tensor]) -> Genotype:
        check_weights(weights, self.alpha_shapes(), self.groups)
        best = weights[0].detach().argmax(dim=-1).tolist()  # ties: the first op, like NAS-Bench-201
        return Genotype(
            space=self.name,
            ops=self.ops,
            edges=tuple((self.ops[i], s) for i, (_, s) in zip(best, NB201_EDGES, strict=True)),
        )

    def one_hot(self, genotype: Genotype) -> list[torch.Tensor]:
        validate(genotype, space=self.name, ops=self.ops)
        w = torch.zeros(len(NB201_EDGES), len(self.ops))
        for e, (op, _) in enumerate(genotype.edges):
            w[e, self.ops.index(op)] = 1.0
        return [w]

    def build_network(self, genotype: Genotype, C: int, depth: int, num_classes: int) -> nn.Module:
        validate(genotype, space=self.name, ops=self.ops)
        return NB201Network(C, depth, num_classes, lambda c: DiscreteCell(c, genotype))

    def random_genotype(self, generator: torch.Generator) -> Genotype:
        picks = torch.randint(len(self.ops), (len(NB201_EDGES),), generator=generator).tolist()
        return Genotype(
            space=self.name,
            ops=self.ops,
            edges=tuple((self.ops[i], s) for i, (_, s) in zip(picks, NB201_EDGES, strict=True)),
        )
