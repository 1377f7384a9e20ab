"""The fused DARTS search cell: the plain cell's function and parameters, a fraction of its kernels.

Every edge leaving one state sees the same input, so per source state and for all its outgoing
edges at once (in a reduction cell the edges of one state share their stride too):

- one ReLU, shared by every convolution and by the skip's factorized reduction;
- the first depthwise convolution of each separable/dilated op type is one grouped convolution
  over the edges (the ReLU output repeated once per edge, groups = edges × channels), and all their
  pointwise 1×1 convolutions are one grouped convolution (one group per edge and op);
- each pool is computed once and shared;
- one affine-free BN over the stacked channels of the pools and the first conv blocks, and one
  over the separable convolutions' second blocks (BN is per channel, so stacking is exact);
- an edge's mixed output is one weighted reduction over its op outputs; node sums add the edges.

PC-DARTS partial channels (the ops see the first C/K channels, the shared bypass and channel
shuffle follow) and DARTS−'s auxiliary skip are supported. Like the fused NB201 cell, this reads
the plain cell's parameters and BN buffers in place, so checkpoints load into either path and the
running statistics land in the per-op buffers. Ops it does not know raise `NotFusable`; the
supernet uses the plain path whenever it must skip zero-weight ops (single-path evaluation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from nas_core.genotype import DARTS_EDGES, DARTS_STEPS
from nas_core.ops import DilConv, FactorizedReduce, SepConv
from nas_core.spaces.fused_bn import stacked_batch_norm

if TYPE_CHECKING:
    from nas_core.spaces.darts import SearchCell
    from nas_core.spaces.mixed import MixedOp

POOLS = ("max_pool_3x3", "avg_pool_3x3")
DILS = ("dil_conv_3x3", "dil_conv_5x5")
SEPS = ("sep_conv_3x3", "sep_conv_5x5")
#: Per source state, the edges leaving it (indices into w and cell.edges); states 0..4 feed nodes.
OUT_EDGES = [[e for e, (_, s) in enumerate(DARTS_EDGES) if s == j] for j in range(2 + DARTS_STEPS - 1)]


class NotFusable(ValueError):
    """The cell has an op the fused path does not implement."""


def check_fusable(op_names: tuple[str, ...]) -> None:
    unknown = [n for n in op_names if n not in (*POOLS, *DILS, *SEPS, "skip_connect", "none")]
    if unknown:
        raise NotFusable(f"fused DARTS cells: no fused form for ops {unknown}")


def _block(op: nn.Module, first: bool) -> nn.Sequential:
    """(ReLU, depthwise, pointwise, BN) of a DilConv, or of a SepConv's first/second DilConv."""
    if isinstance(op, SepConv):
        op = op.op[0 if first else 1]
    assert isinstance(op, DilConv)
    return op.op


def _grouped_depthwise(x: torch.Tensor, blocks: list[nn.Sequential]) -> torch.Tensor:
    """Each block's depthwise conv on its own slice of x (E slices of c channels): one conv."""
    dw: nn.Conv2d = blocks[0][1]  # type: ignore[assignment]
    weight = torch.cat([b[1].weight for b in blocks])  # type: ignore[misc]
    return F.conv2d(x, weight, None, dw.stride, dw.padding, dw.dilation, groups=weight.shape[0])


def _grouped_pointwise(x: torch.Tensor, blocks: list[nn.Sequential]) -> torch.Tensor:
    weight = torch.cat([b[2].weight for b in blocks])  # type: ignore[misc]
    return F.conv2d(x, weight, groups=len(blocks))


def _factorized_reduce(mods: list[FactorizedReduce], x_relu: torch.Tensor) -> torch.Tensor:
    """Every edge's FactorizedReduce of the same (already ReLU'd) input: (B, E, C_out, H/2, W/2)."""
    E, B = len(mods), x_relu.shape[0]
    shifted = F.pad(x_relu[:, :, 1:, 1:], (0, 1, 0, 1))
    a = F.conv2d(x_relu, torch.cat([m.conv_1.weight for m in mods]), stride=2)
    b = F.conv2d(shifted, torch.cat([m.conv_2.weight for m in mods]), stride=2)
    half, h, w = a.shape[1] // E, a.shape[2], a.shape[3]
    y = torch.cat([a.view(B, E, half, h, w), b.view(B, E, half, h, w)], dim=2).view(B, E * 2 * half, h, w)
    return stacked_batch_norm([m.bn for m in mods], y).view(B, E, 2 * half, h, w)


def _edges_from(
    edges: list[MixedOp], op_names: tuple[str, ...], x: torch.Tensor, we: torch.Tensor, aux_scale: float
) -> torch.Tensor:
    """The mixed outputs of all edges leaving state x, stacked: (B, E, C, H', W')."""
    first, E, B = edges[0], len(edges), x.shape[0]
    c, stride = first.c_op, first.stride
    x_op = x[:, :c] if first.k > 1 else x
    r = F.relu(x_op)
    index = {name: i for i, name in enumerate(op_names)}
    pools = [n for n in POOLS if n in index]
    dils = [n for n in DILS if n in index]
    seps = [n for n in SEPS if n in index]

    # Stage 1: pools (shared, repeated per edge) and every conv's first block, one BN for all.
    parts: list[torch.Tensor] = []
    bns: list[nn.BatchNorm2d] = []
    for name in pools:
        pool_bn: nn.Sequential = first.ops[index[name]]  # type: ignore[assignment]
        parts.append(pool_bn[0](x_op).repeat(1, E, 1, 1))
        bns.extend(edge.ops[index[name]][1] for edge in edges)  # type: ignore[index,misc]
    conv_types = [*dils, *seps]
    blocks1 = [[_block(edge.ops[index[n]], first=True) for edge in edges] for n in conv_types]
    if conv_types:
        r_rep = r.repeat(1, E, 1, 1)
        depthwise = torch.cat([_grouped_depthwise(r_rep, blocks) for blocks in blocks1], dim=1)
        flat = [b for blocks in blocks1 for b in blocks]
        parts.append(_grouped_pointwise(depthwise, flat))
        bns.extend(b[3] for b in flat)  # type: ignore[misc]
    finals: list[torch.Tensor] = []
    if parts:
        y1 = stacked_batch_norm(bns, torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        n_final = (len(pools) + len(dils)) * E * c
        finals.append(y1[:, :n_final])
        if seps:
            # Stage 2: the separable convs' second blocks, on their own stage-1 outputs.
            s1 = F.relu(y1[:, n_final:])
            blocks2 = [[_block(edge.ops[index[n]], first=False) for edge in edges] for n in seps]
            width = E * c
            depthwise = torch.cat(
                [_grouped_depthwise(s1[:, t * width : (t + 1) * width], bl) for t, bl in enumerate(blocks2)],
                1,
            )
            flat2 = [b for blocks in blocks2 for b in blocks]
            y2 = stacked_batch_norm([b[3] for b in flat2], _grouped_pointwise(depthwise, flat2))  # type: ignore[misc]
            finals.append(y2)
    H, W = -(-x.shape[2] // stride), -(-x.shape[3] // stride)
    types = [*pools, *dils, *seps]
    out: torch.Tensor | None = None
    if types:
        z = (torch.cat(finals, dim=1) if len(finals) > 1 else finals[0]).view(B, len(types), E, c, H, W)
        mix = we[:, [index[n] for n in types]].t().to(z.dtype)  # (types, E)
        out = (z * mix[None, :, :, None, None, None]).sum(1)
    if "skip_connect" in index:
        w_skip = we[:, index["skip_connect"]].to(x.dtype)[None, :, None, None, None]
        if stride == 1:
            skip = x_op.unsqueeze(1)
        else:
            mods: list[FactorizedReduce] = [edge.ops[index["skip_connect"]] for edge in edges]  # type: ignore[misc]
            skip = _factorized_reduce(mods, r)
        out = w_skip * skip if out is None else out + w_skip * skip
    if out is None:
        out = x.new_zeros(B, E, c, H, W)
    if first.k > 1:
        bypass = first.bypass(x[:, c:])
        C = x.shape[1]
        out = torch.cat([out, bypass.unsqueeze(1).expand(B, E, C - c, H, W)], dim=2)
        out = out.view(B, E, first.k, C // first.k, H, W).transpose(2, 3).reshape(B, E, C, H, W)
    if aux_scale:
        if stride == 1:
            out = out + aux_scale * x.unsqueeze(1)
        else:
            aux: list[FactorizedReduce] = [edge.aux_skip for edge in edges]  # type: ignore[misc]
            out = out + aux_scale * _factorized_reduce(aux, F.relu(x))
    return out


def fused_cell_forward(
    cell: SearchCell,
    s0: torch.Tensor,
    s1: torch.Tensor,
    w: torch.Tensor,
    aux_scale: float,
    op_names: tuple[str, ...],
) -> torch.Tensor:
    """What `cell(s0, s1, w, None, aux_scale)` computes (every op evaluated), fused per source state."""
    states = [cell.pre0(s0), cell.pre1(s1)]
    partial: dict[int, torch.Tensor] = {}
    for j, out_edges in enumerate(OUT_EDGES):
        edges: list[MixedOp] = [cell.edges[e] for e in out_edges]  # type: ignore[misc]
        outs = _edges_from(edges, op_names, states[j], w[out_edges], aux_scale)
        for i, e in enumerate(out_edges):
            target = DARTS_EDGES[e][0]
            so_far = partial.get(target)
            partial[target] = outs[:, i] if so_far is None else so_far + outs[:, i]
        if j >= 1:  # node j+1 takes edges from states 0..j only: complete now
            states.append(partial[j + 1])
    return torch.cat(states[2:], dim=1)
