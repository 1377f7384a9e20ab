"""What the search loop calls: per-epoch and end-of-search flatness metrics as `FlatnessRecord`s.

The engine builds a `FlatnessContext` and calls `epoch_metrics` every `spec.flatness.interval`
epochs and at the last epoch, and `final_metrics` once with the final genotype. The epoch metrics
are those of the metric registry (nas_core/flatness/metrics.py), each computed by the function it
names and switched by its `spec.flatness` flag, uses only the first `spec.flatness.val_batches` validation
batches (fixed, so epochs are comparable), and records its own wall time. The supernet's BN
buffers and train/eval modes are restored afterwards (evaluation.batch_stat_mode), and α is
never modified, so computing a metric does not change the search.

Records (value; params):
- hessian_eigenvalue: top eigenvalue of ∇²_α L_val (float; Lanczos: largest algebraic, power:
  largest magnitude); method, iterations (the budget), hvps (products spent), val_batches,
  val_images, seed, history (estimate per product), residual ‖Hv−λv‖/|λ|, converged (residual ≤ 0.1).
- a2m_sharpness: L(α+ρ·g/‖g‖) − L(α) (float); rho, val_batches, val_images, loss,
  perturbed_loss, grad_norm.
- skip_count: skip_connect edges of the derived genotype's normal cell (nb201: its one cell)
  (int); cell, per_cell.
- alpha_entropy: mean per-edge entropy of the op distribution in nats (float); max (log |O|),
  per_edge {group: [...]}.
- neighbourhood (end, one per radius 1 and 2): landscape.neighbourhood_profile's dict; radius,
  max_samples, val_batches, val_images, seed.
- cell_shape (end): {cell: {width, width_c, depth, skip_count}}; C.
- ranking_stability: Kendall τ_b between the shared-weight validation losses of a fixed seeded
  sample of architectures at this metric epoch and at the previous one (float, None when one
  epoch's scores are all equal); previous_epoch, sample, tau_acc (τ_b of the accuracies), loss,
  acc (this epoch's scores, in sample order), val_batches, val_images, seed. The first metric
  epoch only stores its scores (no record); they live in `FlatnessContext.state`, which the
  engine keeps in its checkpoints, so a resumed search compares with the same scores.
L_val(α) is the cross-entropy of the supernet under the method's mixing weights
(`method.mixing_weights`: softmax for DARTS, θ for GAEA, edge-normalised for PC-DARTS), averaged
over the fixed batches, as docs/algorithms.md §6 and RobustDARTS define it. It is deliberately *not*
`method.arch_loss`: that adds method-specific terms (β-DARTS's regulariser, MiLeNAS's train
loss), which would make the numbers incomparable across methods, and some methods keep per-step
state in it (NA-DARTS caches the step's neighbours), which a metric must not disturb.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from nas_core.flatness.alpha import a2m_sharpness, alpha_entropy, hessian_eigenvalue
from nas_core.flatness.evaluation import ArchitectureEvaluator, batch_params, batch_stat_mode, move_batches
from nas_core.flatness.geometry import cell_shape, skip_count
from nas_core.flatness.landscape import neighbourhood_profile
from nas_core.flatness.metrics import record_metrics
from nas_core.flatness.ranking import ranking_sample, ranking_stability, sample_scores
from nas_core.genotype import Genotype
from nas_core.methods.base import ArchMethod
from nas_core.reporter import FlatnessRecord
from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spec import SearchSpec

T = TypeVar("T")
NEIGHBOURHOOD_RADII = (1, 2)


@dataclass
class FlatnessContext:
    supernet: Supernet
    space: SearchSpace
    method: ArchMethod
    alphas: list[torch.Tensor]
    val_batches: list[tuple[torch.Tensor, torch.Tensor]]  # the engine's fixed validation batches
    criterion: nn.Module
    spec: SearchSpec
    device: str | torch.device
    #: What metrics carry from one metric epoch to the next (plain lists and numbers); the engine
    #: passes the same dict every epoch and saves it in its checkpoints.
    state: dict[str, Any] = field(default_factory=dict)
    #: Told, for people watching, which metric is being computed ("hessian eigenvalue 1/4").
    announce: Callable[[str], None] | None = None

    def starting(self, label: str, index: int, total: int) -> None:
        if self.announce is not None:
            self.announce(f"{label} {index}/{total}")


@dataclass(frozen=True)
class EpochInputs:
    """What every epoch metric of one metric epoch shares: the fixed batches on the device, their
    description for a record's params, and L_val(α) on them (see the module docstring)."""

    batches: list[tuple[torch.Tensor, torch.Tensor]]
    data: dict[str, Any]
    loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor]


EpochMetricFn = Callable[[FlatnessContext, int, EpochInputs], FlatnessRecord | None]


def _load(path: str) -> EpochMetricFn:
    module, name = path.split(":")
    fn: EpochMetricFn = getattr(importlib.import_module(module), name)
    return fn


def _final_metric_labels(cfg: Any) -> list[str]:
    radii = [f"neighbourhood radius {r}" for r in NEIGHBOURHOOD_RADII] if cfg.neighbourhood else []
    return radii + (["cell shape"] if cfg.cell_shape else [])


def epoch_metrics(ctx: FlatnessContext, epoch: int) -> list[FlatnessRecord]:
    """Every registered epoch metric (nas_core/flatness/metrics.py) that the spec switches on, in
    registry order, at `epoch` (0-based)."""
    enabled = [m for m in record_metrics("epoch") if m.enabled(ctx.spec.flatness)]
    batches = metric_batches(ctx)
    inputs = EpochInputs(batches, batch_params(batches), _val_loss_fn(ctx, batches))
    records = []
    for index, entry in enumerate(enabled, start=1):
        assert entry.compute is not None  # register_metric refuses an epoch metric without one
        ctx.starting(entry.name.replace("_", " "), index, len(enabled))
        record = _load(entry.compute)(ctx, epoch, inputs)
        if record is not None:
            records.append(record)
    return records


def hessian_eigenvalue_record(ctx: FlatnessContext, epoch: int, inputs: EpochInputs) -> FlatnessRecord:
    cfg = ctx.spec.flatness
    generator = torch.Generator().manual_seed(ctx.spec.seed)
    with batch_stat_mode(ctx.supernet):
        result, seconds = timed(
            ctx.device,
            lambda: hessian_eigenvalue(
                inputs.loss_fn,
                ctx.alphas,
                method=cfg.hessian_method,
                iterations=cfg.power_iterations,
                generator=generator,
                tol=cfg.hessian_tol,
            ),
        )
    params = {
        "method": result.method,
        "iterations": cfg.power_iterations,
        "hvps": result.hvps,
        **inputs.data,
        "seed": ctx.spec.seed,
        "history": result.history,
        "residual": result.residual,
        "converged": result.converged,
    }
    return FlatnessRecord("hessian_eigenvalue", epoch, params, result.eigenvalue, seconds)


def a2m_sharpness_record(ctx: FlatnessContext, epoch: int, inputs: EpochInputs) -> FlatnessRecord:
    rho = ctx.spec.a2m_rho
    with batch_stat_mode(ctx.supernet):
        sharp, seconds = timed(ctx.device, lambda: a2m_sharpness(inputs.loss_fn, ctx.alphas, rho))
    params = {
        "rho": rho,
        **inputs.data,
        "loss": sharp.loss,
        "perturbed_loss": sharp.perturbed_loss,
        "grad_norm": sharp.grad_norm,
    }
    return FlatnessRecord("a2m_sharpness", epoch, params, sharp.value, seconds)


def skip_count_record(ctx: FlatnessContext, epoch: int, inputs: EpochInputs) -> FlatnessRecord:
    start = time.perf_counter()
    counts = skip_count(ctx.space.derive(ctx.method.genotype_weights(ctx.alphas)))
    cell = "normal" if "normal" in counts else "cell"
    params = {"cell": cell, "per_cell": counts}
    return FlatnessRecord("skip_count", epoch, params, counts[cell], time.perf_counter() - start)


def alpha_entropy_record(ctx: FlatnessContext, epoch: int, inputs: EpochInputs) -> FlatnessRecord:
    start = time.perf_counter()
    with torch.no_grad():
        entropy = alpha_entropy(ctx.method.mixing_weights(ctx.alphas), ctx.space.groups)
    params = {"max": entropy["max"], "per_edge": entropy["per_edge"]}
    return FlatnessRecord("alpha_entropy", epoch, params, entropy["mean"], time.perf_counter() - start)


def ranking_stability_epoch_record(
    ctx: FlatnessContext, epoch: int, inputs: EpochInputs
) -> FlatnessRecord | None:
    return ranking_stability_record(ctx, inputs.batches, epoch)


def ranking_stability_record(
    ctx: FlatnessContext, batches: Sequence[tuple[torch.Tensor, torch.Tensor]], epoch: int
) -> FlatnessRecord | None:
    """Score the fixed sample, compare with the previous metric epoch's scores, keep this epoch's."""
    sample = ranking_sample(ctx.space, ctx.spec.flatness.ranking_sample, ctx.spec.seed)
    evaluator = ArchitectureEvaluator(ctx.supernet, ctx.space, batches, ctx.criterion, ctx.device)
    scores, seconds = timed(ctx.device, lambda: sample_scores(evaluator, sample))
    previous = ctx.state.get("ranking_stability")
    ctx.state["ranking_stability"] = {"epoch": epoch, **scores}
    if previous is None:
        return None
    tau, params = ranking_stability(previous, scores)
    params.update({**batch_params(batches), "seed": ctx.spec.seed})
    return FlatnessRecord("ranking_stability", epoch, params, tau, seconds)


def final_metrics(ctx: FlatnessContext, genotype: Genotype) -> list[FlatnessRecord]:
    """End-of-search metrics of `genotype`: neighbourhood profiles (radius 1, 2) and cell shape."""
    cfg = ctx.spec.flatness
    records = []
    labels = _final_metric_labels(cfg)
    if cfg.neighbourhood:
        evaluator = ArchitectureEvaluator(
            ctx.supernet, ctx.space, metric_batches(ctx), ctx.criterion, ctx.device
        )
        for index, radius in enumerate(NEIGHBOURHOOD_RADII):
            ctx.starting(labels[index], index + 1, len(labels))
            records.append(
                neighbourhood_record(evaluator, genotype, radius, cfg.neighbour_samples, ctx.spec.seed)
            )
    if cfg.cell_shape:
        ctx.starting("cell shape", len(labels), len(labels))
        records.append(cell_shape_record(genotype, ctx.spec.supernet.C))
    return records


def cell_shape_record(genotype: Genotype, C: int, epoch: int | None = None) -> FlatnessRecord:
    """Width (C units and channels), depth and skip count per cell, as one record."""
    start = time.perf_counter()
    shape: dict[str, dict[str, float]] = cell_shape(genotype, C)
    for cell, count in skip_count(genotype).items():
        shape[cell]["skip_count"] = count
    return FlatnessRecord("cell_shape", epoch, {"C": C}, shape, time.perf_counter() - start)


def neighbourhood_record(
    evaluator: ArchitectureEvaluator,
    genotype: Genotype,
    radius: int,
    max_samples: int,
    seed: int,
    epoch: int | None = None,
) -> FlatnessRecord:
    """One timed neighbourhood profile as a record (also for on-demand jobs on stored genotypes).

    The neighbour sample is drawn from Random(seed, radius), so a repeat gives the same neighbours.
    """
    rng = random.Random(f"{seed}:{radius}")
    profile, seconds = timed(
        evaluator.device, lambda: neighbourhood_profile(evaluator, genotype, radius, max_samples, rng)
    )
    params = {
        "radius": radius,
        "max_samples": max_samples,
        **batch_params(evaluator.batches),
        "seed": seed,
    }
    return FlatnessRecord("neighbourhood", epoch, params, profile, seconds)


def metric_batches(ctx: FlatnessContext) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not ctx.val_batches:
        raise ValueError("val_batches: the flatness context has no validation batches")
    return move_batches(ctx.val_batches[: ctx.spec.flatness.val_batches], ctx.device)


def _val_loss_fn(
    ctx: FlatnessContext, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
    """α -> L_val on the fixed batches under the method's mixing (see the module docstring)."""

    def loss_fn(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        weights = ctx.method.mixing_weights(alphas)
        losses = [ctx.criterion(ctx.supernet(x, weights), y) for x, y in batches]
        return torch.stack(losses).mean()

    return loss_fn


def timed(device: str | torch.device, fn: Callable[[], T]) -> tuple[T, float]:
    """fn() and its wall seconds; CUDA work is synchronised so the time covers the kernels."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if cuda:
        torch.cuda.synchronize()
    return result, time.perf_counter() - start
