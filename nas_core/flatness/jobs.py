"""On-demand flatness jobs for the service (POST /barriers, metrics of a stored genotype).

The worker rebuilds a `FlatnessContext` from a search's checkpoint (supernet weights, α, method,
its fixed validation batches) exactly as the engine does during the search, then calls:

- `final_metrics(ctx, genotype)` (hooks) for a stored genotype's neighbourhood profile and cell shape;
- `barrier_records(ctx, a, b, max_paths=N, alphas_a=..., alphas_b=...)` for one pair;
- `barrier_matrix_record(ctx, genotypes, max_paths=N)` for a set of genotypes.

Every architecture is evaluated with `ctx.supernet`'s shared weights (for two searches, the
caller picks whose supernet judges both). The α-line barrier needs both α's to belong to that
supernet, so it is computed only when the caller passes them. Records have epoch None and are
stored like the search's own flatness rows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from nas_core.flatness.evaluation import ArchitectureEvaluator, batch_params
from nas_core.flatness.hooks import FlatnessContext, metric_batches, timed
from nas_core.flatness.landscape import alpha_line_barrier, barrier_matrix, path_barrier
from nas_core.genotype import Genotype
from nas_core.reporter import FlatnessRecord


def evaluator_for(ctx: FlatnessContext) -> ArchitectureEvaluator:
    """An evaluator over ctx's first spec.flatness.val_batches batches (reuse it across calls: it caches)."""
    return ArchitectureEvaluator(ctx.supernet, ctx.space, metric_batches(ctx), ctx.criterion, ctx.device)


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
) -> list[FlatnessRecord]:
    """kind "barrier": landscape.path_barrier over up to `max_paths` shortest edit paths; and,
    when both α's are given, kind "alpha_line_barrier": landscape.alpha_line_barrier."""
    evaluator = evaluator if evaluator is not None else evaluator_for(ctx)
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
    ctx: FlatnessContext, genotypes: Sequence[Genotype], *, max_paths: int = 10
) -> FlatnessRecord:
    """kind "barrier_matrix": landscape.barrier_matrix of `genotypes` (in the given order)."""
    evaluator = evaluator_for(ctx)
    seed = ctx.spec.seed
    result, seconds = timed(ctx.device, lambda: barrier_matrix(evaluator, genotypes, max_paths, seed))
    params = {"max_paths": max_paths, "seed": seed, "size": len(genotypes), **batch_params(evaluator.batches)}
    return FlatnessRecord("barrier_matrix", None, params, result, seconds)
