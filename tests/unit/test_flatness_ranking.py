"""Ranking stability: Kendall τ against a pair-by-pair computation, the fixed sample, the hook's
carried state, and the record in a tiny search (resume: tests/unit/test_resume.py)."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pytest
import torch

from nas_core.flatness.evaluation import ArchitectureEvaluator
from nas_core.flatness.geometry import genotype_key
from nas_core.flatness.hooks import epoch_metrics
from nas_core.flatness.ranking import kendall_tau, ranking_sample
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec
from tests.unit.test_flatness_hooks import make_ctx

ONLY_RANKING = {
    "hessian_eigenvalue": False,
    "a2m_sharpness": False,
    "skip_count": False,
    "alpha_entropy": False,
    "neighbourhood": False,
    "cell_shape": False,
}


def tau_by_pairs(x: list[float], y: list[float]) -> float:
    """τ_b from its definition: (concordant − discordant) / √((n0 − ties_x)(n0 − ties_y))."""
    concordant = discordant = ties_x = ties_y = pairs = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        pairs += 1
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0:
            ties_x += 1
        if dy == 0:
            ties_y += 1
        if dx * dy > 0:
            concordant += 1
        elif dx * dy < 0:
            discordant += 1
    return (concordant - discordant) / math.sqrt((pairs - ties_x) * (pairs - ties_y))


def test_kendall_tau_known_values() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # one swapped pair of six
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None  # no order on one side
    with pytest.raises(ValueError, match="equally long"):
        kendall_tau([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", range(6))
def test_kendall_tau_matches_the_pairwise_definition(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 20)
    # Small integer scores make ties common, which is where τ_a and τ_b differ.
    x = [float(rng.randint(0, 4)) for _ in range(n)]
    y = [float(rng.randint(0, 4)) for _ in range(n)]
    if len(set(x)) == 1 or len(set(y)) == 1:
        assert kendall_tau(x, y) is None
    else:
        assert kendall_tau(x, y) == pytest.approx(tau_by_pairs(x, y), abs=1e-12)
    z = [rng.random() for _ in range(n)]
    w = [rng.random() for _ in range(n)]
    assert kendall_tau(z, w) == pytest.approx(tau_by_pairs(z, w), abs=1e-12)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_ranking_sample_is_seeded_and_distinct(space: str) -> None:
    s = get_space(space)
    sample = ranking_sample(s, 16, seed=5)
    assert len({genotype_key(g) for g in sample}) == 16
    assert sample == ranking_sample(s, 16, seed=5)
    assert sample != ranking_sample(s, 16, seed=6)


def test_hook_stores_first_then_compares_with_the_previous_metric_epoch() -> None:
    ctx = make_ctx(**ONLY_RANKING, ranking_sample=6)
    assert epoch_metrics(ctx, 0) == []  # the first metric epoch only stores its scores
    first = ctx.state["ranking_stability"]
    sample = ranking_sample(ctx.space, 6, ctx.spec.seed)
    evaluator = ArchitectureEvaluator(ctx.supernet, ctx.space, ctx.val_batches[:2], ctx.criterion, "cpu")
    assert first["epoch"] == 0 and first["loss"] == [evaluator(g).loss for g in sample]

    # Move the shared weights, so the second ranking differs, then compare.
    with torch.no_grad():
        for p in ctx.supernet.parameters():
            p.add_(0.3 * torch.randn_like(p))
    (record,) = epoch_metrics(ctx, 3)
    assert record.kind == "ranking_stability" and record.epoch == 3
    second = [
        ArchitectureEvaluator(ctx.supernet, ctx.space, ctx.val_batches[:2], ctx.criterion, "cpu")(g)
        for g in sample
    ]
    assert record.params["loss"] == [r.loss for r in second]
    assert record.value == pytest.approx(tau_by_pairs(first["loss"], record.params["loss"]))
    assert record.params["previous_epoch"] == 0 and record.params["sample"] == 6
    assert record.params["val_batches"] == 2 and -1 <= record.value <= 1
    assert ctx.state["ranking_stability"]["epoch"] == 3


def test_ranking_stability_in_a_tiny_search(tmp_path: Path) -> None:
    spec = SearchSpec.model_validate(
        {
            "dataset": {"name": "synthetic", "subset": 64, "image_size": 8, "num_classes": 4},
            "epochs": 3,
            "batch_size": 16,
            "a2m": None,
            "supernet": {"C": 4, "N": 1},
            "flatness": {**ONLY_RANKING, "interval": 1, "ranking_sample": 8, "val_batches": 1},
        }
    )
    result = run_search(spec, NullReporter(), workdir=tmp_path)
    records = [r for r in result.flatness if r.kind == "ranking_stability"]
    assert [r.epoch for r in records] == [1, 2]
    assert [r.params["previous_epoch"] for r in records] == [0, 1]
    assert records[1].value == pytest.approx(
        tau_by_pairs(records[0].params["loss"], records[1].params["loss"])
    )
    assert all(-1 <= r.value <= 1 and r.params["sample"] == 8 for r in records)

    off = spec.model_copy(update={"flatness": spec.flatness.model_copy(update={"ranking_stability": False})})
    assert run_search(off, NullReporter(), workdir=tmp_path / "off").flatness == []
