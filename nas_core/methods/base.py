"""The contract every search method implements (docs/algorithms.md).

A method is one small object with one job: turn α into mixing weights and produce α's gradient.
It is built with its space and its validated params model (nas_core/methods/params.py). The loop
owns data, optimizers and schedules, and asks the method, through the hooks declared here:

    method.partial_channels()                           # once: the supernet's channel fraction (PC-DARTS)
    method.arch_batch_source                            # each epoch: α's batches from "val" or "train"
    method.on_epoch_start(epoch, total, supernet)       # schedules

and per step calls

    method.begin_step(ctx)                              # batches, epoch, the weight optimizer
    loss_fn = lambda a: method.arch_loss(ctx, a)        # L_val(w, mix(a)) + the method's regulariser
    grads = method.arch_grad(loss_fn, alphas)           # A2M wraps exactly this call
    method.arch_update(alphas, grads, arch_optimizer)   # Adam by default; GAEA: exponentiated gradient
    weights = method.train_weights(ctx, alphas)         # mixing weights for the weight step (SDARTS: noisy)
    ... SGD step of w on ctx.x_train with `weights` ...

`arch_grad(loss_fn, alphas)` takes any differentiable closure, so a test can check a method (and
A2M around it) on a plain quadratic, not only on a supernet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import torch
from pydantic import BaseModel
from torch import nn

from nas_core.methods.params import NoParams
from nas_core.spaces.base import SearchSpace, Supernet

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]


@dataclass
class StepContext:
    """Everything a method may look at during one search step."""

    supernet: Supernet
    space: SearchSpace
    criterion: nn.Module
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    epoch: int  # 0-based
    total_epochs: int
    step: int
    weight_optimizer: torch.optim.Optimizer | None = None  # darts2 unrolls through it
    generator: torch.Generator | None = None  # the search's RNG for method randomness


def epoch_scalar(current: torch.Tensor | None, value: float, supernet: Supernet) -> torch.Tensor:
    """A per-epoch schedule value as a 0-d tensor on the supernet's device, filled in place.

    A captured step reads the tensor's memory at every replay, so the value must change in the
    same tensor between epochs; a Python float would be frozen into the graph at capture."""
    if current is None:
        device = next(supernet.parameters()).device
        return torch.tensor(float(value), device=device)
    with torch.no_grad():
        current.fill_(float(value))
    return current


P = TypeVar("P", bound=BaseModel)
ArchBatchSource = Literal["val", "train"]


class ArchMethod(Generic[P]):
    """First-order DARTS behaviour; subclasses override what their paper changes."""

    name = "darts"
    #: The params model the registry validates method_params with (nas_core/methods/params.py).
    params_model: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, space: SearchSpace, params: P | Mapping[str, Any] | None = None) -> None:
        self.space = space
        # A mapping (library use, tests) is validated here, so the method always holds the model.
        model = params if isinstance(params, BaseModel) else self.params_model.model_validate(params or {})
        self.params: P = cast(P, model)

    # --- what the loop asks before it runs the method ---------------------------------------

    def partial_channels(self) -> int:
        """Build the supernet so each op sees C/K channels (PC-DARTS); 1 = every channel."""
        return 1

    @property
    def arch_batch_source(self) -> ArchBatchSource:
        """Which half of the data the architecture step's batches (ctx.x_val/ctx.y_val) come from."""
        return "val"

    # --- α and mixing weights -------------------------------------------------------------

    def init_alphas(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        """α init 1e-3·N(0,1) per group (leaf tensors with requires_grad)."""
        return [
            (1e-3 * torch.randn(shape, generator=generator)).to(device).requires_grad_(True)
            for shape in self.space.alpha_shapes()
        ]

    def extra_parameters(self) -> list[torch.Tensor]:
        """Further architecture parameters trained with α (PC-DARTS edge β); part of checkpoints."""
        return []

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.softmax(a, dim=-1) for a in alphas]

    def genotype_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Weights the genotype is derived from (PC-DARTS folds in its edge β)."""
        return [w.detach() for w in self.mixing_weights(alphas)]

    # --- one step -------------------------------------------------------------------------

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        """Schedules that change per epoch (β-DARTS λ_t, SDARTS ε_t, DARTS− β_t)."""

    def begin_step(self, ctx: StepContext) -> None:
        """Called once per step before arch_grad; a method that needs the step (darts2) keeps it."""

    def arch_loss(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        logits = ctx.supernet(ctx.x_val, self.mixing_weights(alphas))
        return ctx.criterion(logits, ctx.y_val)

    def arch_grad(self, loss_fn: LossFn, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """∇_α loss_fn(α) at the given α (which need not be the live parameters)."""
        leaves = [a.detach().requires_grad_(True) for a in alphas]
        return list(torch.autograd.grad(loss_fn(leaves), leaves))

    def arch_update(
        self, alphas: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> None:
        for a, g in zip(alphas, grads, strict=True):
            a.grad = g.detach().clone()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def train_weights(self, ctx: StepContext, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [w.detach() for w in self.mixing_weights(alphas)]

    def state_dict(self) -> dict[str, Any]:
        """Method state for checkpoints (beyond α and the optimizers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
