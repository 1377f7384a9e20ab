"""The fused NB201 cell (docs/operations.md, Scaling: fused cells): same function, same parameters, fewer kernels.

All edges leaving a node see the same input, so per source node: one ReLU; one convolution whose
output channels stack every outgoing edge's 1×1 (zero-padded to 3×3) and 3×3 kernels; one
affine-free BN over the stacked channels (BN is per channel, so this equals the per-op BNs); one
avg-pool shared by every edge; and one matrix product that applies every edge's mixing weights
(skip, pool, its two convs, plus DARTS−'s β on the skip) to produce all outgoing edge outputs.

It reads the plain cell's parameters and BN buffers in place (stacked on the fly), so a checkpoint
loads into either path and `supernet.fused` can be switched at any time. Running statistics are
written back to the per-op BN buffers, so both paths leave the same state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from nas_core.genotype import NB201_EDGES, NB201_OPS
from nas_core.ops import ReLUConvBN
from nas_core.spaces.fused_bn import stacked_batch_norm

if TYPE_CHECKING:
    from nas_core.spaces.mixed import MixedOp
    from nas_core.spaces.nb201 import SearchCell

SKIP, CONV1, CONV3, POOL = (
    NB201_OPS.index(op) for op in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
)
#: For each source node, the edges leaving it (row indices into w and cell.edges).
OUT_EDGES = [[e for e, (_, s) in enumerate(NB201_EDGES) if s == j] for j in range(3)]


def fused_cell_forward(cell: SearchCell, x: torch.Tensor, w: torch.Tensor, aux_scale: float) -> torch.Tensor:
    """The output of an nb201 SearchCell (no partial channels) with mixing weights w (6×5)."""
    B, C, H, W = x.shape
    partial: list[torch.Tensor | None] = [None, None, None, None]  # running sums of nodes 1..3
    nodes = [x]
    for j, out_edges in enumerate(OUT_EDGES):
        src = nodes[j]
        E = len(out_edges)
        edges: list[MixedOp] = [cell.edges[e] for e in out_edges]  # type: ignore[misc]
        conv1: list[ReLUConvBN] = [edge.ops[CONV1] for edge in edges]  # type: ignore[misc]
        conv3: list[ReLUConvBN] = [edge.ops[CONV3] for edge in edges]  # type: ignore[misc]
        # Per edge its 1×1 (embedded in a 3×3) then its 3×3 kernel: (2E·C, C, 3, 3).
        k1 = F.pad(torch.stack([op.conv.weight for op in conv1]), (1, 1, 1, 1))
        k3 = torch.stack([op.conv.weight for op in conv3])
        kernel = torch.stack([k1, k3], dim=1).reshape(2 * E * C, C, 3, 3)
        y = F.conv2d(F.relu(src), kernel, padding=1)
        bns = [bn for pair in zip(conv1, conv3, strict=True) for bn in (pair[0].bn, pair[1].bn)]
        y = stacked_batch_norm(bns, y)
        pool = F.avg_pool2d(src, 3, 1, 1, count_include_pad=False)
        z = torch.cat([src.unsqueeze(1), pool.unsqueeze(1), y.view(B, 2 * E, C, H, W)], dim=1)
        # Mixing matrix (E, 2 + 2E): shared skip and pool columns, then each edge's own two convs.
        we = w[out_edges]
        own = we[:, [CONV1, CONV3]].unsqueeze(1) * torch.eye(E, dtype=w.dtype, device=w.device).unsqueeze(-1)
        mix = torch.cat(
            [(we[:, SKIP] + aux_scale).unsqueeze(1), we[:, POOL].unsqueeze(1), own.reshape(E, 2 * E)], 1
        )
        out = torch.matmul(mix.to(z.dtype), z.view(B, 2 + 2 * E, C * H * W)).view(B, E, C, H, W)
        for i, e in enumerate(out_edges):
            target = NB201_EDGES[e][0]
            so_far = partial[target]
            partial[target] = out[:, i] if so_far is None else so_far + out[:, i]
        node = partial[j + 1]
        assert node is not None  # every edge into node j+1 leaves a node ≤ j, all done by now
        nodes.append(node)
    return nodes[3]
