"""The mixed edge shared by both supernets: Σ_o w_o·o(x), with PC-DARTS partial channels and the
DARTS− auxiliary skip.

Ops whose mixing weight is exactly zero are skipped only when that cannot change the result:
'none' always (it adds zeros and its weight's gradient is zero either way); any other op only in
inference: the weights do not require grad, autograd is off and the supernet is in eval mode. In a
weight step (SDARTS-RS clamps noisy weights at 0) a skipped op's parameters would get no gradient,
so SGD would skip their momentum and weight decay, and its BN no running statistics: the search
would change. Knowing which weights are zero needs their values on the host, which on a GPU is a
sync, so by default that only happens for CPU weights. `skip_zero_ops=True` forces skipping
(single-path training and shared-weight evaluation, which want exactly one path).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas_core.ops import build_op, skip

#: Per α group: None (evaluate every op) or, per edge, which ops have a non-zero weight.
OpMask = list[list[bool]] | None


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _capturing() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def op_masks(weights: Sequence[torch.Tensor], skip_zero_ops: bool | None, training: bool) -> list[OpMask]:
    """Which ops may be skipped, per group. skip_zero_ops None = only in inference (no autograd,
    eval mode) and only when the read is free (CPU); True = whenever the weights need no grad."""
    masks: list[OpMask] = []
    inference = not training and not torch.is_grad_enabled()
    for w in weights:
        wanted = (inference and w.device.type == "cpu") if skip_zero_ops is None else skip_zero_ops
        if w.requires_grad or not wanted or _capturing():
            masks.append(None)
        else:
            masks.append((w != 0).tolist())
    return masks


def check_weights(
    weights: Sequence[torch.Tensor], shapes: list[tuple[int, int]], groups: Sequence[str]
) -> None:
    if len(weights) != len(shapes):
        raise ValueError(f"weights: {len(weights)} tensors given, expected one per α group {list(groups)}")
    for w, shape, group in zip(weights, shapes, groups, strict=True):
        if tuple(w.shape) != shape:
            raise ValueError(f"weights[{group!r}]: shape {tuple(w.shape)}, expected {shape} (edges × ops)")


class MixedOp(nn.Module):
    """One supernet edge. partial_channels=K: the ops see the first C/K channels, the rest bypass
    (max-pooled on stride-2 edges, as PC-DARTS does), then the channels are shuffled."""

    def __init__(
        self,
        space: str,
        op_names: Sequence[str],
        C: int,
        stride: int,
        partial_channels: int = 1,
        pool_bn: bool = False,
    ) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ValueError(
                f"partial_channels: {partial_channels} must be ≥ 1 and divide the edge's channels C={C}"
            )
        self.k = partial_channels
        self.stride = stride
        self.c_op = C // partial_channels
        ops = []
        for name in op_names:
            op = build_op(space, name, self.c_op, stride, affine=False)
            if pool_bn and name.endswith("pool_3x3"):
                # DARTS search: a pool's output is normalised like the parametric ops' outputs.
                op = nn.Sequential(op, nn.BatchNorm2d(self.c_op, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        self.active = [i for i, name in enumerate(op_names) if name != "none"]
        # DARTS−'s auxiliary skip of the edge's source (full channels); parameter-free on stride 1.
        self.aux_skip = skip(C, stride, affine=False)
        self.bypass = nn.MaxPool2d(2, 2) if stride == 2 else nn.Identity()

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, used: list[bool] | None = None, aux_scale: float = 0.0
    ) -> torch.Tensor:
        x_op = x[:, : self.c_op] if self.k > 1 else x
        out = None
        for i in self.active:
            if used is not None and not used[i]:
                continue
            y = w[i] * self.ops[i](x_op)
            out = y if out is None else out + y
        if out is None:
            h, wd = -(-x.shape[2] // self.stride), -(-x.shape[3] // self.stride)
            out = x.new_zeros(x.shape[0], self.c_op, h, wd)
        if self.k > 1:
            out = channel_shuffle(torch.cat([out, self.bypass(x[:, self.c_op :])], dim=1), self.k)
        if aux_scale:
            out = out + aux_scale * self.aux_skip(x)
        return out
