"""run_evaluation: train a genotype's network from scratch under a protocol and test it each epoch.

Per epoch: set the drop-path probability (protocol value × epoch / epochs), train on the whole
training split (SGD, cosine schedule stepped per epoch, optional gradient clip, auxiliary loss),
test on the held-out split, report, checkpoint. The checkpoint is the last thing an epoch does and
holds every generator (the data generator and the global ones drop-path draws from), so a run
killed at any point and resumed from its newest checkpoint continues bit-identically on the CPU.
Losses and accuracies accumulate on the device; the host reads them only at progress points.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas_core.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_global_rng,
    save_checkpoint,
    spec_changes,
)
from nas_core.data import steps_per_epoch
from nas_core.dataroots import DataRoots
from nas_core.evaluation.data import EvalData, TrainBatches, load_eval_data
from nas_core.evaluation.networks import build_eval_network, count_flops, count_params
from nas_core.evaluation.protocol import EvalSpec
from nas_core.evaluation.reporter import EvalEpochRecord, EvalInfo, EvalReporter
from nas_core.genotype import Genotype, GenotypeError, genotype_to_json
from nas_core.loop import PROGRESS_REPORTS_PER_EPOCH, StepClock
from nas_core.reporter import Progress, SearchCancelled, SearchDiverged
from nas_core.search import resolve_device


@dataclass
class EvalResult:
    test_acc: float  # after the last epoch (what the papers report)
    test_loss: float
    best_test_acc: float
    params_m: float
    flops_m: float
    epochs: list[EvalEpochRecord]  # every epoch, including those run before a resume
    seconds: float  # training time summed over epochs
    workdir: Path
    precision: str = "fp32"  # what ran ("fp32" or "bf16"), never the spec's "auto"
    channels_last: bool = False  # whether the network ran in NHWC
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready result (result.json, the job's stored result)."""
        return {
            "test_acc": self.test_acc,
            "test_loss": self.test_loss,
            "best_test_acc": self.best_test_acc,
            "params_m": self.params_m,
            "flops_m": self.flops_m,
            "epochs": len(self.epochs),
            "train_seconds": self.seconds,
            "precision": self.precision,
            "channels_last": self.channels_last,
        }


@dataclass
class EvalState:
    spec: EvalSpec
    model: nn.Module
    optimizer: torch.optim.SGD
    scheduler: torch.optim.lr_scheduler.CosineAnnealingLR
    data: EvalData
    generator: torch.Generator  # CPU: permutations and augmentation draws
    device: torch.device
    next_epoch: int = 0
    #: What the steps call: the model itself, or its torch.compile wrapper (runtime.compile), which
    #: shares the model's parameters; checkpoints always hold the plain model's state.
    forward: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if self.forward is None:
            self.forward = self.model

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "next_epoch": self.next_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.next_epoch = int(state["next_epoch"])


def build_eval_state(spec: EvalSpec, genotype: Genotype, data: EvalData, device: torch.device) -> EvalState:
    if genotype.space != spec.space:
        raise GenotypeError(
            f"genotype: the {spec.protocol} protocol trains {spec.space} genotypes; this one is {genotype.space}"
        )
    torch.manual_seed(spec.seed)  # weight init draws from the global generator
    model = build_eval_network(
        genotype,
        protocol=spec.protocol,
        C=spec.C,
        layers=spec.layers,
        num_classes=data.num_classes,
        auxiliary=spec.auxiliary_weight > 0,
    ).to(device)
    if resolved_channels_last(spec, device):
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=spec.lr,
        momentum=spec.momentum,
        nesterov=spec.nesterov and spec.momentum > 0,
        weight_decay=spec.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.epochs, eta_min=spec.lr_min)
    return EvalState(
        spec=spec,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        data=data,
        generator=torch.Generator().manual_seed(spec.seed + 1),
        device=device,
        forward=torch.compile(model) if spec.runtime.compile else model,
    )


def resolved_precision(spec: EvalSpec, device: torch.device) -> str:
    """fp32 or bf16 as this run computes. `auto` is bf16 on CUDA only (a fixed network's training
    is arithmetic-bound at the protocols' sizes, where bf16 pays; its accuracy against fp32 is
    measured by benchmarks/eval_precision.py); an explicit `bf16` autocasts on any device."""
    precision = spec.runtime.precision
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def resolved_channels_last(spec: EvalSpec, device: torch.device) -> bool:
    """NHWC as this run lays the network out: as set, or (null) whenever the run is bf16."""
    if spec.runtime.channels_last is None:
        return resolved_precision(spec, device) == "bf16"
    return spec.runtime.channels_last


def _autocast(spec: EvalSpec, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if resolved_precision(spec, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _format(spec: EvalSpec, device: torch.device, x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if resolved_channels_last(spec, device) else x


@dataclass
class EpochTotals:
    loss: float
    acc: float
    seconds: float


def train_one_epoch(state: EvalState, epoch: int, reporter: EvalReporter, clock: StepClock) -> EpochTotals:
    spec, model, device = state.spec, state.model, state.device
    forward = state.forward or model
    started = time.perf_counter()
    model.train()
    model.drop_prob = spec.drop_path * epoch / spec.epochs  # type: ignore[assignment]
    batches = TrainBatches(
        state.data, spec.batch_size, state.generator, augment=spec.dataset.augment, cutout=spec.cutout
    )
    steps = len(batches)
    every = max(1, steps // PROGRESS_REPORTS_PER_EPOCH)
    criterion = nn.CrossEntropyLoss()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    for step in range(steps):
        if reporter.should_stop():
            raise SearchCancelled(f"cancelled at epoch {epoch}, step {step}")
        x, y = batches.batch(step)
        state.optimizer.zero_grad(set_to_none=True)
        with _autocast(spec, device):
            logits, aux = forward(_format(spec, device, x))
            loss = criterion(logits, y)
            total = loss + spec.auxiliary_weight * criterion(aux, y) if aux is not None else loss
        total.backward()
        if spec.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, spec.grad_clip)
        state.optimizer.step()
        loss_sum += loss.detach().float()
        correct += (logits.detach().argmax(dim=1) == y).sum()
        clock.tick()
        if (step + 1) % every == 0 or step + 1 == steps:
            last = float(loss_sum) / (step + 1)  # the host sync of a progress point
            if not math.isfinite(last):
                raise SearchDiverged(epoch, step, "training")
            reporter.on_progress(
                Progress(epoch, step + 1, steps, spec.epochs, "train", loss=last, eta_seconds=clock.eta())
            )
    n = steps * spec.batch_size
    return EpochTotals(float(loss_sum) / steps, float(correct) / n, time.perf_counter() - started)


@torch.no_grad()
def test(state: EvalState, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
    """Loss and accuracy on the held-out batches, in eval mode."""
    model, spec, device = state.model, state.spec, state.device
    forward = state.forward or model
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    try:
        for x, y in batches:
            with _autocast(spec, device):
                logits, _ = forward(_format(spec, device, x))
            loss_sum += criterion(logits.float(), y)
            correct += (logits.argmax(dim=1) == y).sum()
            count += int(y.shape[0])
    finally:
        model.train()
    return float(loss_sum) / max(count, 1), float(correct) / max(count, 1)


def run_evaluation(
    spec: EvalSpec,
    genotype: Genotype,
    reporter: EvalReporter,
    *,
    device: str = "cpu",
    workdir: str | Path,
    resume: bool = False,
    data_roots: DataRoots | None = None,
) -> EvalResult:
    """Train (or resume) `genotype` under `spec`; see the module docstring for the order of work.
    File-backed data sets are read from `data_roots` (nas_core.dataroots)."""
    workdir = Path(workdir)
    dev = resolve_device(device)
    data = load_eval_data(spec.dataset, device=dev, roots=data_roots)
    state = build_eval_state(spec, genotype, data, dev)
    genotype_json = genotype_to_json(genotype)
    history: list[EvalEpochRecord] = []
    if resume and (path := latest_checkpoint(workdir)) is not None:
        body = load_checkpoint(path)
        _check_same_run(spec, genotype_json, body, path)
        state.load_state_dict(body["state"])
        restore_global_rng(body["rng"])
        history = [EvalEpochRecord(**r) for r in body["history"]]

    params_m = count_params(state.model) / 1e6
    flops_m = count_flops(state.model, data.image_size, dev) / 1e6
    test_batches = data.test_batches(max(spec.batch_size, 256))
    steps = steps_per_epoch(len(data.train), spec.batch_size)
    reporter.on_start(
        EvalInfo(
            protocol=spec.protocol,
            total_epochs=spec.epochs,
            steps_per_epoch=steps,
            start_epoch=state.next_epoch,
            device=str(dev),
            precision=resolved_precision(spec, dev),
            channels_last=resolved_channels_last(spec, dev),
            params_m=params_m,
            flops_m=flops_m,
            train_images=len(data.train),
            test_images=len(data.test),
        )
    )
    clock = StepClock(spec.epochs * steps, state.next_epoch * steps)
    for epoch in range(state.next_epoch, spec.epochs):
        lr = float(state.optimizer.param_groups[0]["lr"])
        totals = train_one_epoch(state, epoch, reporter, clock)
        reporter.on_progress(Progress(epoch, steps, steps, spec.epochs, "test", eta_seconds=clock.eta()))
        test_loss, test_acc = test(state, test_batches)
        if not math.isfinite(test_loss):
            raise SearchDiverged(epoch, steps - 1, "test")
        state.scheduler.step()
        record = EvalEpochRecord(
            epoch=epoch,
            train_loss=totals.loss,
            train_acc=totals.acc,
            test_loss=test_loss,
            test_acc=test_acc,
            lr=lr,
            seconds=totals.seconds,
            drop_prob=float(state.model.drop_prob),  # type: ignore[arg-type]
        )
        history.append(record)
        reporter.on_epoch(record)
        state.next_epoch = epoch + 1
        payload = {
            "state": state.state_dict(),
            "history": [r.to_dict() for r in history],
            "spec": spec.model_dump(mode="json"),
            "genotype": genotype_json,
        }
        reporter.on_checkpoint(epoch, str(save_checkpoint(workdir, epoch, payload)))
        prune_checkpoints(workdir, spec.runtime.keep_checkpoints)

    last = history[-1]
    return EvalResult(
        test_acc=last.test_acc,
        test_loss=last.test_loss,
        best_test_acc=max(r.test_acc for r in history),
        params_m=params_m,
        flops_m=flops_m,
        epochs=history,
        seconds=sum(r.seconds for r in history),
        workdir=workdir,
        precision=resolved_precision(spec, dev),
        channels_last=resolved_channels_last(spec, dev),
    )


def _check_same_run(spec: EvalSpec, genotype: dict[str, Any], body: dict[str, Any], path: Path) -> None:
    changed = spec_changes(spec, body.get("spec", {}))
    if body.get("genotype") != genotype:
        changed.append("genotype")
    if changed:
        raise CheckpointError(
            f"cannot resume from {path}: the evaluation differs in {', '.join(changed)}; resume with "
            "the spec and genotype the checkpoint was written with, or use a new output directory"
        )
