"""The bilevel loop (docs/algorithms.md): the state of a search and one epoch of it.

Per step: the method's α gradient on an architecture batch and its α update, then one SGD step of
the weights on a weight batch with the *updated* α (grad-norm clip on the weights only). Losses
and accuracies accumulate on the device; the host reads them only at progress points and at the
end of the epoch, which is also where NaN/inf is detected.

The step is one function, `search_step`. The eager loop (the reference) calls it with fresh
tensors every step. A capture-ready search (`step_mode` "direct" or "graph", nas_core.captured)
calls it on static buffers that each step's batch is copied into, so that on CUDA it can be
captured once and replayed (`runtime.cuda_graph`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas_core.captured import (
    Replay,
    StepMode,
    learning_rate,
    load_optimizer_state,
    optimizer_options,
    portable_optimizer_state,
)
from nas_core.data import EpochBatches, SearchData
from nas_core.methods import build_method
from nas_core.methods.base import ArchMethod, StepContext
from nas_core.reporter import Progress, Reporter, SearchCancelled, SearchDiverged
from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spec import SearchSpec

PROGRESS_REPORTS_PER_EPOCH = 20


@dataclass
class SearchState:
    """Everything that evolves during a search; a checkpoint is its state_dict at an epoch boundary."""

    spec: SearchSpec
    space: SearchSpace
    method: ArchMethod
    supernet: Supernet
    alphas: list[torch.Tensor]
    w_optimizer: torch.optim.SGD
    a_optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.CosineAnnealingLR
    data: SearchData
    data_generator: torch.Generator  # CPU: split order, permutations, augmentation
    method_generator: torch.Generator  # on the device: the method's own randomness
    criterion: nn.Module
    device: torch.device
    next_epoch: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = -1
    best_genotype: dict[str, Any] | None = None
    #: "eager" (the reference), or capture-ready: "direct" (any device) / "graph" (CUDA graphs).
    step_mode: StepMode = "eager"
    #: The capture-ready step and evaluation pass, built at their first use (after any resume,
    #: so the optimizer state they capture is the loaded one).
    captured_step: CapturedStep | None = None
    captured_eval: CapturedEval | None = None

    @property
    def arch_parameters(self) -> list[torch.Tensor]:
        return [*self.alphas, *self.method.extra_parameters()]

    def weight_parameters(self) -> list[torch.Tensor]:
        return [p for p in self.supernet.parameters() if p.requires_grad]

    def lr(self) -> float:
        return float(self.w_optimizer.param_groups[0]["lr"])

    def mixing_weights(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [w.detach() for w in self.method.mixing_weights(self.alphas)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "supernet": self.supernet.state_dict(),
            "alphas": [a.detach().cpu().clone() for a in self.alphas],
            "extra_parameters": [p.detach().cpu().clone() for p in self.method.extra_parameters()],
            "method": self.method.state_dict(),
            "w_optimizer": portable_optimizer_state(self.w_optimizer),
            "a_optimizer": portable_optimizer_state(self.a_optimizer),
            "scheduler": self.scheduler.state_dict(),
            "data_generator": self.data_generator.get_state(),
            "method_generator": self.method_generator.get_state(),
            "next_epoch": self.next_epoch,
            "best": {
                "val_loss": self.best_val_loss,
                "epoch": self.best_epoch,
                "genotype": self.best_genotype,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        with torch.no_grad():
            for live, saved in zip(
                self.arch_parameters, [*state["alphas"], *state["extra_parameters"]], strict=True
            ):
                live.copy_(saved)
        self.method.load_state_dict(state["method"])
        load_optimizer_state(self.w_optimizer, state["w_optimizer"])
        load_optimizer_state(self.a_optimizer, state["a_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.data_generator.set_state(state["data_generator"])
        self.method_generator.set_state(state["method_generator"])
        self.next_epoch = int(state["next_epoch"])
        best = state["best"]
        self.best_val_loss, self.best_epoch, self.best_genotype = (
            best["val_loss"],
            best["epoch"],
            best["genotype"],
        )


def build_state(
    spec: SearchSpec,
    space: SearchSpace,
    data: SearchData,
    device: torch.device,
    step_mode: StepMode = "eager",
) -> SearchState:
    """A fresh search: seeded init of w and α, the paper's optimizers and schedule.

    A capture-ready `step_mode` changes only how the optimizers compute (no host reads, the
    weights' lr a device tensor), not what."""
    torch.manual_seed(spec.seed)  # supernet init draws from the global generator
    method = build_method(spec, space)
    supernet = space.build_supernet(
        spec.supernet.C, spec.depth, data.num_classes, partial_channels=method.partial_channels()
    )
    supernet = supernet.to(device)
    supernet.compiled_cells = spec.runtime.compile == "cells"
    if device.type == "cuda" and spec.runtime.channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    alpha_generator = torch.Generator().manual_seed(spec.seed)
    alphas = method.init_alphas(alpha_generator, device)
    opt = spec.optim
    sgd_options, adam_options = optimizer_options(step_mode, device)
    w_optimizer = torch.optim.SGD(
        [p for p in supernet.parameters() if p.requires_grad],
        lr=learning_rate(step_mode, opt.w_lr, device),
        momentum=opt.w_momentum,
        weight_decay=opt.w_weight_decay,
        **sgd_options,
    )
    a_optimizer = torch.optim.Adam(
        [*alphas, *method.extra_parameters()],
        lr=opt.arch_lr,
        betas=(opt.arch_beta1, opt.arch_beta2),
        weight_decay=opt.arch_weight_decay,
        **adam_options,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        w_optimizer, T_max=spec.epochs, eta_min=opt.w_lr_min
    )
    method_generator = torch.Generator(device=device).manual_seed(spec.seed + 2)
    return SearchState(
        spec=spec,
        space=space,
        method=method,
        supernet=supernet,
        alphas=alphas,
        w_optimizer=w_optimizer,
        a_optimizer=a_optimizer,
        scheduler=scheduler,
        data=data,
        data_generator=torch.Generator().manual_seed(spec.seed + 1),
        method_generator=method_generator,
        criterion=nn.CrossEntropyLoss(),
        device=device,
        step_mode=step_mode,
    )


def autocast(state: SearchState) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when asked (weight steps and evaluation); fp32 everywhere else."""
    if state.device.type == "cuda" and state.spec.runtime.precision == "bf16":
        # A graph must not keep autocast's cast cache across replays (PyTorch's CUDA Graphs notes).
        return torch.autocast(
            device_type="cuda", dtype=torch.bfloat16, cache_enabled=state.step_mode == "eager"
        )
    return contextlib.nullcontext()


def _to_memory_format(state: SearchState, x: torch.Tensor) -> torch.Tensor:
    if state.device.type == "cuda" and state.spec.runtime.channels_last:
        return x.contiguous(memory_format=torch.channels_last)
    return x


@dataclass
class EpochTotals:
    loss: float
    acc: float
    seconds: float


class StepClock:
    """Wall time per step across the whole run (for the ETA); resumed runs start counting afresh."""

    def __init__(self, total_steps: int, done_before: int) -> None:
        self.start, self.total, self.done_before, self.done = time.perf_counter(), total_steps, done_before, 0

    def tick(self) -> None:
        self.done += 1

    def eta(self) -> float | None:
        if self.done == 0:
            return None
        per_step = (time.perf_counter() - self.start) / self.done
        return per_step * (self.total - self.done_before - self.done)


@dataclass
class StepTotals:
    """Device accumulators of the weight steps' loss and correct predictions."""

    loss_sum: torch.Tensor
    correct: torch.Tensor

    @classmethod
    def zeros(cls, device: torch.device) -> StepTotals:
        return cls(torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long))

    def zero_(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()


def search_step(state: SearchState, ctx: StepContext, totals: StepTotals) -> None:
    """One step on ctx's batches: the method's α step, then the weight step with the updated α.

    Capture-safe for every method that claims capture (nas_core.methods registry): no host read,
    no data-dependent shape, the same kernels every step."""
    method = state.method
    method.begin_step(ctx)

    def arch_loss(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        return method.arch_loss(ctx, alphas)

    # The architecture gradient stays fp32 under `precision: bf16`: near a uniform α it is a
    # small difference between the ops' contributions, and bf16 rounding swamps it (measured
    # on an H200: 0.79 relative error against fp32 for the NB201 supernet at initialisation).
    grads = method.arch_grad(arch_loss, state.alphas)
    method.arch_update(state.alphas, grads, state.a_optimizer)

    mixing = method.train_weights(ctx, state.alphas)
    state.w_optimizer.zero_grad(set_to_none=True)
    with autocast(state):
        logits = state.supernet(ctx.x_train, mixing)
        loss = state.criterion(logits, ctx.y_train)
    loss.backward()
    nn.utils.clip_grad_norm_(state.weight_parameters(), state.spec.optim.grad_clip)
    state.w_optimizer.step()

    totals.loss_sum += loss.detach().float()
    totals.correct += (logits.detach().argmax(dim=1) == ctx.y_train).sum()


def _step_context(state: SearchState, batch: Sequence[torch.Tensor], epoch: int, step: int) -> StepContext:
    x_train, y_train, x_val, y_val = batch
    return StepContext(
        supernet=state.supernet,
        space=state.space,
        criterion=state.criterion,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        epoch=epoch,
        total_epochs=state.spec.epochs,
        step=step,
        weight_optimizer=state.w_optimizer,
        generator=state.method_generator,
    )


class CapturedStep:
    """The search step over static batch buffers, run by a `Replay` (captured or direct).

    Each step copies its batch (gathered from the device-resident data set) into the buffers and
    runs the step; losses accumulate in `totals`, which live as long as the search. The step's
    context is built once, over the buffers: the epoch and step it carries are those of the
    first call, and no capturable method reads them (schedules are device tensors)."""

    def __init__(self, state: SearchState, batch: Sequence[torch.Tensor], epoch: int) -> None:
        assert state.step_mode != "eager"
        self.buffers = [b.detach().clone() for b in batch]
        self.totals = StepTotals.zeros(state.device)
        ctx = _step_context(state, self.buffers, epoch, 0)
        self.replay = Replay(
            lambda: search_step(state, ctx, self.totals),
            state.step_mode,  # type: ignore[arg-type]
            generators=[state.method_generator],
        )

    def __call__(self, batch: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for buffer, value in zip(self.buffers, batch, strict=True):
                buffer.copy_(value)
        self.replay()


def train_epoch(
    state: SearchState,
    epoch: int,
    reporter: Reporter,
    clock: StepClock,
    *,
    step_hook: Callable[[int], None] | None = None,
) -> EpochTotals:
    """One epoch of the bilevel loop; returns the mean train loss and accuracy of the weight steps."""
    spec, method, supernet = state.spec, state.method, state.supernet
    started = time.perf_counter()
    supernet.train()
    method.on_epoch_start(epoch, spec.epochs, supernet)
    batches = EpochBatches(
        state.data,
        spec.batch_size,
        state.data_generator,
        augment=spec.dataset.augment,
        arch_source=method.arch_batch_source,
    )
    steps = len(batches)
    every = max(1, steps // PROGRESS_REPORTS_PER_EPOCH)
    totals = StepTotals.zeros(state.device)
    if state.captured_step is not None:
        totals = state.captured_step.totals
        totals.zero_()
    last_loss: float | None = None
    for step in range(steps):
        if reporter.should_stop():
            raise SearchCancelled(f"cancelled at epoch {epoch}, step {step}")
        x_train, y_train, x_val, y_val = batches.batch(step)
        batch = [_to_memory_format(state, x_train), y_train, _to_memory_format(state, x_val), y_val]
        if state.step_mode == "eager":
            search_step(state, _step_context(state, batch, epoch, step), totals)
        else:
            if state.captured_step is None:
                state.captured_step = CapturedStep(state, batch, epoch)
                totals = state.captured_step.totals
            state.captured_step(batch)
        clock.tick()
        if step_hook is not None:
            step_hook(step)
        if (step + 1) % every == 0 or step + 1 == steps:
            # The one host sync between epochs' ends: progress and the divergence check share it.
            last_loss = float(totals.loss_sum) / (step + 1)
            if not math.isfinite(last_loss):
                raise SearchDiverged(epoch, step, "training")
            reporter.on_progress(
                Progress(
                    epoch, step + 1, steps, spec.epochs, "train", loss=last_loss, eta_seconds=clock.eta()
                )
            )
    if not all(torch.isfinite(a).all() for a in state.arch_parameters):
        raise SearchDiverged(epoch, steps - 1, "architecture")
    n = steps * spec.batch_size
    return EpochTotals(
        float(totals.loss_sum) / steps, float(totals.correct) / n, time.perf_counter() - started
    )


@torch.no_grad()
def evaluate(
    state: SearchState,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    weights: list[torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Supernet loss and accuracy on fixed batches (eval mode), with α's mixing weights by default."""
    weights = state.mixing_weights() if weights is None else weights
    state.supernet.eval()
    totals = StepTotals.zeros(state.device)
    count = 0
    try:
        if state.step_mode != "eager":
            if state.captured_eval is None:
                state.captured_eval = CapturedEval(state, weights)
            totals = state.captured_eval.run(batches, weights)
        else:
            for x, y in batches:
                _eval_batch(state, _to_memory_format(state, x), y, weights, totals)
        count = sum(int(y.shape[0]) for _, y in batches)
    finally:
        state.supernet.train()
    return float(totals.loss_sum) / max(count, 1), float(totals.correct) / max(count, 1)


def _eval_batch(
    state: SearchState, x: torch.Tensor, y: torch.Tensor, weights: Sequence[torch.Tensor], totals: StepTotals
) -> None:
    with autocast(state):
        logits = state.supernet(x, list(weights))
    totals.loss_sum += state.criterion(logits.float(), y) * y.shape[0]
    totals.correct += (logits.argmax(dim=1) == y).sum()


class CapturedEval:
    """The evaluation pass over static buffers: one `Replay` per batch shape (the last batch of
    the architecture half may be short), the mixing weights copied in before each pass."""

    def __init__(self, state: SearchState, weights: Sequence[torch.Tensor]) -> None:
        self.state = state
        self.weights = [w.detach().clone() for w in weights]
        self.totals = StepTotals.zeros(state.device)
        self.by_shape: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor, Replay]] = {}

    def run(
        self, batches: list[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[torch.Tensor]
    ) -> StepTotals:
        for live, given in zip(self.weights, weights, strict=True):
            live.copy_(given)
        self.totals.zero_()
        for x, y in batches:
            x_buffer, y_buffer, replay = self._for_shape(x, y)
            x_buffer.copy_(x)
            y_buffer.copy_(y)
            replay()
        return self.totals

    def _for_shape(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Replay]:
        key = tuple(x.shape)
        if key not in self.by_shape:
            state = self.state
            x_buffer, y_buffer = _to_memory_format(state, x).clone(), y.clone()
            replay = Replay(
                lambda: _eval_batch(state, x_buffer, y_buffer, self.weights, self.totals),
                state.step_mode,  # type: ignore[arg-type]
                warmup=1,
            )
            self.by_shape[key] = (x_buffer, y_buffer, replay)
        return self.by_shape[key]
