"""Candidate operations, as tables of builders keyed by op name (docs/algorithms.md §1).

A builder takes (C, stride, affine) and returns a module mapping C channels to C channels
(spatial size divided by `stride`). Search cells pass affine=False (the BN of a cell op carries no
scale/shift, so the mixing weights alone scale an op); discrete networks pass affine=True.
NB201 and DARTS share names with different meanings (`avg_pool_3x3`, `skip_connect`), hence two tables.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

OpBuilder = Callable[[int, int, bool], nn.Module]


class Zero(nn.Module):
    """The `none` op: zeros of the output shape (strided like the other ops of its edge)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv k×k (no bias) -> BN."""

    def __init__(
        self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool, dilation: int = 1
    ) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(C_in, C_out, kernel, stride, padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.relu(x)))


class DilConv(nn.Module):
    """ReLU -> depthwise k×k (dilated) -> pointwise 1×1 -> BN."""

    def __init__(
        self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two DilConv(dilation 1) blocks; the first one carries the stride."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel, 1, padding, 1, affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halves the resolution without losing every other pixel: two 1×1 stride-2 convs, offset by one."""

    def __init__(self, C_in: int, C_out: int, affine: bool) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce: C_out={C_out} must be even (two halves are concatenated)")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Pad so the offset branch keeps the same size on odd inputs.
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def skip(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)


NB201_OP_BUILDERS: dict[str, OpBuilder] = {
    "none": lambda C, stride, affine: Zero(stride),
    "skip_connect": skip,
    "nor_conv_1x1": lambda C, stride, affine: ReLUConvBN(C, C, 1, stride, 0, affine),
    "nor_conv_3x3": lambda C, stride, affine: ReLUConvBN(C, C, 3, stride, 1, affine),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride, padding=1, count_include_pad=False),
}

DARTS_OP_BUILDERS: dict[str, OpBuilder] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride, padding=1, count_include_pad=False),
    "skip_connect": skip,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}

OPS: dict[str, dict[str, OpBuilder]] = {"nb201": NB201_OP_BUILDERS, "darts": DARTS_OP_BUILDERS}


def build_op(space: str, name: str, C: int, stride: int, affine: bool) -> nn.Module:
    table = OPS[space]
    if name not in table:
        raise ValueError(f"op: unknown {space} op {name!r}; allowed: {list(table)}")
    return table[name](C, stride, affine)
