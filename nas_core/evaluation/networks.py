"""The networks a protocol trains, built from a genotype through its space's `build_network`.

nb201: the space's discrete network as it is (NAS-Bench-201's macro skeleton; its parameter count
equals the benchmark's own model). darts: the space's discrete network plus what the DARTS
evaluation adds, namely an auxiliary classifier on the output of the second reduction cell and
drop-path on every non-identity op of every cell. Parameter counts exclude the auxiliary head, as
the papers count them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas_core.genotype import DARTS_CONCAT, Genotype
from nas_core.spaces import get_space, space_definition
from nas_core.spaces.darts import DartsNetwork, reduction_layers

AUX_NAME = "auxiliary_head"


class AuxiliaryHead(nn.Module):
    """ReLU, 5×5 average pool (stride 3), 1×1 conv to 128, BN, ReLU, 2×2 conv to 768, BN, ReLU, linear.

    On CIFAR the input is 8×8 and the convolutions end at 1×1; smaller inputs (tiny test images)
    are pooled to 2×2 instead, and any spatial size left is averaged away.
    """

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, 5, stride=3, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, scaling the kept ones by 1/(1-p)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class DropPathOp(nn.Module):
    """Wraps one cell op; drops its output per sample while the network trains with drop_prob > 0."""

    def __init__(self, op: nn.Module, network: DartsEvalNetwork) -> None:
        super().__init__()
        self.op = op
        # A plain attribute (not a submodule), so the network is not registered inside itself.
        self.__dict__["_network"] = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.op(x)
        p = self.__dict__["_network"].drop_prob
        return drop_path(y, p) if self.training and p > 0 else y


class DartsEvalNetwork(nn.Module):
    """The DARTS space's discrete network, with the auxiliary head and drop-path of its evaluation."""

    def __init__(self, base: DartsNetwork, C: int, layers: int, num_classes: int, auxiliary: bool) -> None:
        super().__init__()
        self.base = base
        self.drop_prob = 0.0
        for cell in base.cells:
            ops = getattr(cell, "ops", None)
            if isinstance(ops, nn.ModuleList):
                for i, op in enumerate(ops):
                    if not isinstance(op, nn.Identity):
                        ops[i] = DropPathOp(op, self)
        # The head reads the output of the second reduction cell (2/3 of the depth).
        self.aux_after = reduction_layers(layers)[1]
        self.auxiliary_head: nn.Module | None = None
        if auxiliary:
            # After the second reduction a cell outputs its 4 concatenated nodes at 4C channels each.
            self.auxiliary_head = AuxiliaryHead(len(DARTS_CONCAT) * 4 * C, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits or None); the head runs only while training."""
        s0 = s1 = self.base.stem(x)
        aux = None
        for i, cell in enumerate(self.base.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.base.classifier(s1.mean(dim=(2, 3))), aux


class PlainEvalNetwork(nn.Module):
    """A network without auxiliary output (nb201), behind the same (logits, aux) interface."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.drop_prob = 0.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.base(x), None


def build_eval_network(
    genotype: Genotype, *, protocol: str, C: int, layers: int, num_classes: int, auxiliary: bool
) -> nn.Module:
    """The network `protocol` trains for `genotype`; forward(x) -> (logits, aux logits | None)."""
    space = get_space(genotype.space, _ops_variant(genotype))
    base = space.build_network(genotype, C, layers, num_classes)
    if protocol == "darts":
        assert isinstance(base, DartsNetwork)
        return DartsEvalNetwork(base, C, layers, num_classes, auxiliary)
    return PlainEvalNetwork(base)


def _ops_variant(genotype: Genotype) -> str:
    return space_definition(genotype.space).ops_variant_of(genotype.ops)


def count_params(model: nn.Module) -> int:
    """Trainable parameters, the auxiliary head excluded."""
    return sum(p.numel() for name, p in model.named_parameters() if AUX_NAME not in name.split("."))


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int, device: torch.device | str = "cpu") -> int:
    """Multiply-accumulates of one forward pass of one image (convolutions and linear layers),
    counted by forward hooks in eval mode (the auxiliary head does not run)."""
    total = 0

    def conv_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total
