"""One affine-free batch norm over the stacked channels of several BN modules (the fused cells).

BN is per channel, so normalising the concatenation equals normalising each part with its own
module. The modules' running statistics are read and written back in place, so the plain and the
fused path leave the same state. Each module's own `training` flag decides batch vs running
statistics, as it does on the plain path (the flatness metrics run BN in train mode inside an
eval-mode supernet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stacked_batch_norm(bns: list[nn.BatchNorm2d], y: torch.Tensor) -> torch.Tensor:
    first = bns[0]
    training = first.training
    if any(b.training != training for b in bns):
        raise ValueError("fused cells: the BN layers of one source node must all be in the same mode")
    tracking = first.track_running_stats
    means: list[torch.Tensor] = [b.running_mean for b in bns] if tracking else []  # type: ignore[misc]
    variances: list[torch.Tensor] = [b.running_var for b in bns] if tracking else []  # type: ignore[misc]
    mean = torch.cat(means) if tracking else None
    var = torch.cat(variances) if tracking else None
    weight = torch.cat([b.weight for b in bns]) if first.affine else None
    bias = torch.cat([b.bias for b in bns]) if first.affine else None
    out = F.batch_norm(y, mean, var, weight, bias, training or not tracking, first.momentum or 0.0, first.eps)
    if training and mean is not None and var is not None:
        if first.momentum is None:
            raise ValueError("fused cells need BN with a fixed momentum (momentum=None is cumulative)")
        with torch.no_grad():
            n = first.num_features
            torch._foreach_copy_(means, list(mean.split(n)))
            torch._foreach_copy_(variances, list(var.split(n)))
            torch._foreach_add_([b.num_batches_tracked for b in bns], 1)  # type: ignore[misc]
    return out
