"""On-demand flatness computations for the service's landscape jobs (POST /landscape-jobs/...).

The worker rebuilds the search's state from one of its checkpoints with `context_from_checkpoint`
(supernet weights, α, the method, the fixed validation batches: what the engine hands the hooks),
then calls:

- `neighbourhood_records(ctx, genotype)` for a stored genotype's neighbourhood profile (radius 1
  and 2) and cell shape;
- `barrier_records(ctx, a, b, max_paths=N, alphas_a=..., alphas_b=...)` for one pair;
- `barrier_matrix_record(ctx, genotypes, max_paths=N)` for a set of genotypes.

Every architecture is evaluated with `ctx.supernet`'s shared weights (for two searches, the
caller picks whose supernet judges both). The α-line barrier needs both α's to belong to that
supernet (e.g. `checkpoint_alphas` of two epochs of one search), so it is computed only when the
caller passes them. Records have epoch None and are stored like the search's own flatness rows.
Each takes `should_stop` (the worker's cancel check), asked before every architecture evaluation:
True stops the computation with SearchCancelled (nas_core.flatness.evaluation).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from nas_core.checkpoint import load_checkpoint
from nas_core.data import load_search_data
from nas_core.dataroots import DataRoots
from nas_core.flatness.evaluation import ArchitectureEvaluator, batch_params
from nas_core.flatness.hooks import (
    FlatnessContext,
    cell_shape_record,
    metric_batches,
    neighbourhood_record,
    timed,
)
from nas_core.flatness.landscape import alpha_line_barrier, barrier_matrix, path_barrier
from nas_core.genotype import Genotype
from nas_core.loop import build_state
from nas_core.reporter import FlatnessRecord
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec

StopCheck = Callable[[], bool]


def context_from_checkpoint(
    path: str | Path, *, device: str | torch.device = "cpu", data_roots: DataRoots | None = None
) -> FlatnessContext:
    """The search state saved in checkpoint `path`, as the hooks see it during that search.

    Reads the checkpoint's own spec and its data set (from `data_roots`, as the search did), so
    the validation batches are the same.
    """
    body = load_checkpoint(path)
    spec = SearchSpec.model_validate(body["spec"])
    dev = torch.device(device)
    data = load_search_data(spec.dataset, seed=spec.seed, device=dev, roots=data_roots)
    state = build_state(spec, get_space(spec), data, dev)
    state.load_state_dict(body["state"])
    batches = data.eval_batches(spec.batch_size, spec.dataset.eval_subset)[: spec.flatness.val_batches]
    alphas = [a.detach().clone() for a in state.alphas]
    return FlatnessContext(
        state.supernet, state.space, state.method, alphas, batches, state.criterion, spec, dev
    )


def checkpoint_alphas(path: str | Path, *, device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """α saved in checkpoint `path` (one tensor per α group), for the α-line barrier."""
    return [a.to(device) for a in load_checkpoint(path)["state"]["alphas"]]


def neighbourhood_records(
    ctx: FlatnessContext,
    genotype: Genotype,
    *,
    radii: Sequence[int] = (1, 2),
    max_samples: int | None = None,
    should_stop: StopCheck | None = None,
) -> list[FlatnessRecord]:
    """kind "neighbourhood" per radius (max_samples default spec.flatness.neighbour_samples) and
    kind "cell_shape", whatever the spec's end-of-search switches say (the caller asked)."""
    samples = max_samples if max_samples is not None else ctx.spec.flatness.neighbour_samples
    evaluator = evaluator_for(ctx, should_stop)
    records = [neighbourhood_record(evaluator, genotype, r, samples, ctx.spec.seed) for r in radii]
    return [*records, cell_shape_record(genotype, ctx.spec.supernet.C)]


def evaluator_for(ctx: FlatnessContext, should_stop: StopCheck | None = None) -> ArchitectureEvaluator:
    """An evaluator over ctx's first spec.flatness.val_batches batches (reuse it across calls: it caches)."""
    return ArchitectureEvaluator(
        ctx.supernet, ctx.space, metric_batches(ctx), ctx.criterion, ctx.device, should_stop
    )


def barrier_records(
    ctx: FlatnessContext,
    a: Genotype,
    b: Genotype,
    *,
    max_paths: int = 10,
    alphas_a: Sequence[torch.Tensor] | None = None,
    alphas_b: Sequence[torch.Tensor] | None = None,
    line_points: int = 11,
    evaluator: ArchitectureEvaluator | None = None,
    should_stop: StopCheck | None = None,
) -> list[FlatnessRecord]:
    """kind "barrier": landscape.path_barrier over up to `max_paths` shortest edit paths; and,
    when both α's are given, kind "alpha_line_barrier": landscape.alpha_line_barrier.
    `should_stop` applies to the evaluator made here (a given `evaluator` brings its own)."""
    evaluator = evaluator if evaluator is not None else evaluator_for(ctx, should_stop)
    seed = ctx.spec.seed
    params = {"max_paths": max_paths, "seed": seed, **batch_params(evaluator.batches)}
    result, seconds = timed(ctx.device, lambda: path_barrier(evaluator, a, b, max_paths, random.Random(seed)))
    records = [FlatnessRecord("barrier", None, params, result, seconds)]
    if (alphas_a is None) != (alphas_b is None):
        raise ValueError("alphas_a, alphas_b: give both α's for the α-line barrier, or neither")
    if alphas_a is not None and alphas_b is not None:
        line, seconds = timed(
            ctx.device, lambda: alpha_line_barrier(evaluator, ctx.method, alphas_a, alphas_b, line_points)
        )
        line_params = {"points": line_points, **batch_params(evaluator.batches)}
        records.append(FlatnessRecord("alpha_line_barrier", None, line_params, line, seconds))
    return records


def barrier_matrix_record(
    ctx: FlatnessContext,
    genotypes: Sequence[Genotype],
    *,
    max_paths: int = 10,
    should_stop: StopCheck | None = None,
) -> FlatnessRecord:
    """kind "barrier_matrix": landscape.barrier_matrix of `genotypes` (in the given order)."""
    evaluator = evaluator_for(ctx, should_stop)
    seed = ctx.spec.seed
    result, seconds = timed(ctx.device, lambda: barrier_matrix(evaluator, genotypes, max_paths, seed))
    params = {"max_paths": max_paths, "seed": seed, "size": len(genotypes), **batch_params(evaluator.batches)}
    return FlatnessRecord("barrier_matrix", None, params, result, seconds)
