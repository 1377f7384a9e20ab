"""NASWOT (docs/algorithms.md §5) against a direct computation of log|det K|."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nas_core.naswot import naswot_score


def _small_network(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
    )


def _direct_logdet(net: nn.Sequential, x: torch.Tensor) -> float:
    """K_ij = Σ_relus (units − Hamming distance of the two samples' codes), in numpy float64."""
    with torch.no_grad():
        bn_out = net[1](net[0](x))  # train-mode BN: batch statistics
        pre = [bn_out, net[3](torch.relu(bn_out))]
    kernel = np.zeros((x.shape[0], x.shape[0]))
    for p in pre:
        codes = (p.reshape(x.shape[0], -1) > 0).numpy().astype(np.int64)
        hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
        kernel += codes.shape[1] - hamming
    sign, logdet = np.linalg.slogdet(kernel)
    assert sign != 0
    return float(logdet)


def test_score_equals_direct_log_abs_det() -> None:
    x = torch.randn(12, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    net = _small_network()
    net.eval()  # the scorer must switch BN to train mode itself, and restore eval after
    expected = _direct_logdet(_small_network().train(), x)
    assert naswot_score(net, x) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert not net.training


def test_inplace_relu_gives_the_same_score() -> None:
    x = torch.randn(10, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    assert naswot_score(_small_network(inplace=True), x) == pytest.approx(
        naswot_score(_small_network(), x), rel=1e-12
    )


def test_invariant_to_batch_order() -> None:
    x = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(3))
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(4))
    net = _small_network()
    assert naswot_score(net, x[perm]) == pytest.approx(naswot_score(net, x), rel=1e-9)


def test_network_without_relu_is_rejected() -> None:
    with pytest.raises(ValueError, match="no nn.ReLU"):
        naswot_score(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), torch.randn(4, 3, 2, 2))
