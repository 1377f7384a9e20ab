"""NASWOT: scoring an untrained network by how differently its ReLUs carve up one batch (§5).

For every ReLU on the compute path, each sample's binary code c = (input > 0) says which side of
each unit's hyperplane it lies on. K = Σ_relus [c·cᵀ + (1−c)·(1−c)ᵀ] counts, for every pair of
samples, the units on which they agree; a network whose ReLUs separate the samples well has K
close to diagonal-dominant and a large log|det K|. Score = slogdet's log|det K|, in float64.

"On the compute path" is what runs: the hooks sit on every nn.ReLU module and fire only when the
forward pass reaches it, so ops a genotype does not use never count. BN is in train mode (batch
statistics), as for the untrained network the score is defined on. The score is a property of the
set of samples: permuting the batch permutes K's rows and columns and leaves log|det K| unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nas_core.data import load_search_data
from nas_core.dataroots import DataRoots
from nas_core.genotype import Genotype, genotype_from_json
from nas_core.spaces import get_space, space_definition
from nas_core.spaces.base import SearchSpace
from nas_core.spec import DatasetConfig


@torch.no_grad()
def naswot_score(network: nn.Module, x: torch.Tensor) -> float:
    """log|det K| of `network` on the batch `x` (any nn.Module built from nn.ReLU modules)."""
    batch = x.shape[0]
    kernel = torch.zeros(batch, batch, dtype=torch.float64, device=x.device)
    fired = 0

    def accumulate(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        nonlocal kernel, fired
        # relu(x) > 0 exactly where x > 0, so this holds for in-place ReLUs (whose input is overwritten) too.
        codes = (inputs[0].detach().reshape(batch, -1) > 0).to(torch.float64)
        kernel += codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
        fired += 1

    handles = [m.register_forward_hook(accumulate) for m in network.modules() if isinstance(m, nn.ReLU)]
    was_training = network.training
    try:
        network.train()
        network(x)
    finally:
        for handle in handles:
            handle.remove()
        network.train(was_training)
    if fired == 0:
        raise ValueError("naswot_score: no nn.ReLU ran in the forward pass; the score is undefined")
    return float(torch.linalg.slogdet(kernel).logabsdet)


def score_genotype(
    genotype: Genotype,
    space: SearchSpace,
    x: torch.Tensor,
    *,
    C: int,
    depth: int,
    num_classes: int,
    seed: int = 0,
) -> float:
    """NASWOT score of a genotype's discrete network, initialised from `seed` (reproducible)."""
    # Module init draws from the global CPU RNG (the network is built on the CPU, then moved); fork
    # it so scoring never perturbs the caller's stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = space.build_network(genotype, C, depth, num_classes).to(x.device)
    return naswot_score(network, x)


def naswot_batch(images: torch.Tensor, normalize: Any, batch_size: int, seed: int) -> torch.Tensor:
    """A fixed, seeded batch of unaugmented images (uint8 N×3×H×W) passed through `normalize`."""
    n = images.shape[0]
    if n < batch_size:
        raise ValueError(
            f"method_params.naswot_batch={batch_size} exceeds the {n} images available for scoring"
        )
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(n, generator=generator)[:batch_size].to(images.device)
    return normalize(images[index])


def score_genotype_json(
    genotype_json: Mapping[str, Any],
    x: torch.Tensor,
    *,
    C: int,
    depth: int,
    num_classes: int,
    seed: int = 0,
) -> float:
    """NASWOT score of any stored genotype (its JSON form, docs/architecture.md), in its own space."""
    genotype = genotype_from_json(dict(genotype_json))
    space = get_space(genotype.space)
    return score_genotype(genotype, space, x, C=C, depth=depth, num_classes=num_classes, seed=seed)


def score_genotype_on_dataset(
    genotype_json: Mapping[str, Any],
    dataset: DatasetConfig,
    *,
    C: int = 16,
    depth: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data_roots: DataRoots | None = None,
) -> float:
    """NASWOT score of a stored genotype on a seeded batch of `dataset`'s weight half (§5 defaults:
    B=128, no augmentation; the paper-size network: C=16, N=5 cells per stage or 8 layers)."""
    data = load_search_data(dataset, seed=seed, device=device, roots=data_roots)
    x = naswot_batch(data.train.images, data.normalize, batch_size, seed)
    if depth is None:
        depth = space_definition(str(genotype_json.get("space"))).default_depth
    return score_genotype_json(genotype_json, x, C=C, depth=depth, num_classes=data.num_classes, seed=seed)
