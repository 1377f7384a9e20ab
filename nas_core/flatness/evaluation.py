"""Shared-weight evaluation of architectures: the supernet with fixed mixing weights on fixed batches.

BN policy (one rule for every flatness metric): BatchNorm layers normalise with the statistics of
the batch being evaluated ("train-mode" BN), everything else runs in eval mode, and every BN
buffer (running mean/var, batch count) is snapshotted and restored afterwards, so a metric never
changes the supernet the search goes on with. Why batch statistics: the running statistics were
accumulated under the *mixture* of ops, so they do not describe any single genotype's
activations; batch statistics give every architecture its own normalisation, the usual choice
for one-shot evaluation. The batches are fixed (the first `val_batches` of the α half), so
every architecture sees the same images and comparisons are fair and reproducible.
Evaluation is fp32 and takes no gradients.

A landscape job is hundreds of these evaluations; an evaluator given `should_stop` asks it before
each one and raises SearchCancelled when it says stop, so a cancelled job ends within one
evaluation (worker/landscape.py passes its reporter's `should_stop`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from nas_core.flatness.geometry import genotype_key
from nas_core.genotype import Genotype
from nas_core.reporter import SearchCancelled
from nas_core.spaces.base import SearchSpace, Supernet

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy per image
    acc: float  # fraction of images classified correctly, in [0, 1]

    def to_dict(self) -> dict[str, float]:
        return {"loss": self.loss, "acc": self.acc}


@contextmanager
def batch_stat_mode(module: nn.Module) -> Iterator[None]:
    """BN on batch statistics, other layers in eval mode; modes and BN buffers restored on exit."""
    modes = [(m, m.training) for m in module.modules()]
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{name: buf.clone() for name, buf in bn.named_buffers(recurse=False)} for bn in norms]
    module.eval()
    for bn in norms:
        bn.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for bn, buffers in zip(norms, saved, strict=True):
                for name, value in buffers.items():
                    getattr(bn, name).copy_(value)
        for m, training in modes:
            m.training = training


@contextmanager
def _skipping_zero_ops(supernet: nn.Module) -> Iterator[None]:
    """Let the supernet skip ops whose weight is 0 even on a GPU (spaces' `skip_zero_ops` switch).

    A one-hot genotype zeroes all but one op per edge, so skipping them is worth one host read of
    the weights per forward; without grad it cannot change the result.
    """
    if not hasattr(supernet, "skip_zero_ops"):
        yield
        return
    previous = supernet.skip_zero_ops
    setattr(supernet, "skip_zero_ops", True)  # noqa: B010 (a plain attribute, not an nn.Module field)
    try:
        yield
    finally:
        setattr(supernet, "skip_zero_ops", previous)  # noqa: B010


def batch_params(batches: Batches) -> dict[str, int]:
    """How much data a metric used, for its record's params."""
    return {"val_batches": len(batches), "val_images": sum(int(y.shape[0]) for _, y in batches)}


def move_batches(batches: Batches, device: torch.device | str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.to(device, non_blocking=True), y.to(device, non_blocking=True)) for x, y in batches]


@torch.no_grad()
def evaluate_mixing(
    supernet: Supernet, weights: Sequence[torch.Tensor], batches: Batches, criterion: nn.Module
) -> Evaluation:
    """Loss and accuracy of the supernet under `weights`, averaged per image over `batches`."""
    if not batches:
        raise ValueError("val_batches: empty; a flatness evaluation needs at least one batch")
    total_loss = torch.zeros((), device=batches[0][0].device)
    correct = torch.zeros((), device=batches[0][0].device)
    images = 0
    with batch_stat_mode(supernet), _skipping_zero_ops(supernet):
        for x, y in batches:
            logits = supernet(x, weights)
            total_loss += criterion(logits, y).float() * y.shape[0]  # criterion averages per batch
            correct += (logits.argmax(dim=-1) == y).sum()
            images += y.shape[0]
    # One host sync per evaluation, not per batch.
    loss, right = torch.stack([total_loss, correct.float()]).tolist()
    return Evaluation(loss=loss / images, acc=right / images)


class ArchitectureEvaluator:
    """Evaluates genotypes with the supernet's shared weights (α = the one-hot genotype).

    Results are cached per architecture, so a barrier matrix or overlapping paths never evaluate
    the same genotype twice. Call it like a function: `evaluator(genotype) -> Evaluation`.
    `should_stop`, when given, is asked before each evaluation; True raises SearchCancelled.
    """

    def __init__(
        self,
        supernet: Supernet,
        space: SearchSpace,
        batches: Batches,
        criterion: nn.Module,
        device: torch.device | str,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.supernet = supernet
        self.space = space
        self.criterion = criterion
        self.device = torch.device(device)
        self.batches = move_batches(batches, self.device)
        self._cache: dict[tuple, Evaluation] = {}
        self._should_stop = should_stop

    @property
    def evaluations(self) -> int:
        """Distinct architectures evaluated so far (the cost driver)."""
        return len(self._cache)

    def __call__(self, genotype: Genotype) -> Evaluation:
        key = genotype_key(genotype)
        if key not in self._cache:
            self._stop_if_asked()
            weights = [w.to(self.device) for w in self.space.one_hot(genotype)]
            self._cache[key] = evaluate_mixing(self.supernet, weights, self.batches, self.criterion)
        return self._cache[key]

    def mixing(self, weights: Sequence[torch.Tensor]) -> Evaluation:
        """Evaluate arbitrary mixing weights (not cached): the continuous barrier uses this."""
        self._stop_if_asked()
        return evaluate_mixing(
            self.supernet, [w.to(self.device) for w in weights], self.batches, self.criterion
        )

    def _stop_if_asked(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise SearchCancelled(f"cancelled after {self.evaluations} architecture evaluations")
