"""A tiny real search writes flatness records through the engine; on-demand jobs rebuild it from
its checkpoints (the path the service's landscape jobs take)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nas_core.checkpoint import checkpoint_dir
from nas_core.flatness.geometry import edit_distance
from nas_core.flatness.hooks import epoch_metrics
from nas_core.flatness.jobs import (
    barrier_records,
    checkpoint_alphas,
    context_from_checkpoint,
    neighbourhood_records,
)
from nas_core.genotype import genotype_from_json
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spaces.nb201_definition import nb201_neighbours
from nas_core.spec import SearchSpec


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    # One intra-op thread here too: tests/unit/conftest.py's module-scoped autouse fixture runs first.
    spec = SearchSpec.model_validate(
        {
            "space": "nb201",
            "method": "darts",
            "epochs": 2,
            "batch_size": 8,
            "supernet": {"C": 4, "N": 1},
            "dataset": {"name": "synthetic", "subset": 32, "image_size": 8},
            "flatness": {"interval": 1, "power_iterations": 3, "val_batches": 1, "neighbour_samples": 5},
        }
    )
    workdir = tmp_path_factory.mktemp("search")
    result = run_search(spec, NullReporter(), device="cpu", workdir=workdir)
    yield spec, workdir, result


def test_search_reports_flatness_records(search: tuple) -> None:
    _, _, result = search
    per_epoch = [(r.kind, r.epoch) for r in result.flatness if r.epoch is not None]
    kinds = ["hessian_eigenvalue", "a2m_sharpness", "skip_count", "alpha_entropy"]
    # Ranking stability compares with the previous metric epoch: the first one only stores scores.
    assert per_epoch == [(k, e) for e in (0, 1) for k in kinds] + [("ranking_stability", 1)]
    final = [(r.kind, r.params.get("radius")) for r in result.flatness if r.epoch is None]
    assert final == [("neighbourhood", 1), ("neighbourhood", 2), ("cell_shape", None)]


def test_checkpoint_context_reproduces_the_last_epoch_metrics(search: tuple) -> None:
    _, workdir, result = search
    ctx = context_from_checkpoint(checkpoint_dir(workdir) / "epoch_0001.pt")
    assert all(torch.equal(a, b) for a, b in zip(ctx.alphas, result.alphas, strict=True))
    again = {r.kind: r.value for r in epoch_metrics(ctx, 1)}
    during = {r.kind: r.value for r in result.flatness if r.epoch == 1}
    assert again["hessian_eigenvalue"] == pytest.approx(during["hessian_eigenvalue"], rel=1e-5)
    assert again["a2m_sharpness"] == pytest.approx(during["a2m_sharpness"], rel=1e-4, abs=1e-7)
    assert again["skip_count"] == during["skip_count"]


def test_on_demand_neighbourhood_and_barriers(search: tuple) -> None:
    _, workdir, result = search
    ctx = context_from_checkpoint(checkpoint_dir(workdir) / "epoch_0001.pt")
    genotype = genotype_from_json(result.final_genotype)
    records = neighbourhood_records(ctx, genotype, max_samples=24)
    assert [r.kind for r in records] == ["neighbourhood", "neighbourhood", "cell_shape"]
    assert records[0].value["evaluated"] == 24 and records[1].value["evaluated"] == 24
    # the end-of-search profile used the same batches and genotype: same centre
    final_r1 = next(r for r in result.flatness if r.kind == "neighbourhood")
    assert records[0].value["centre"] == pytest.approx(final_r1.value["centre"])

    far = nb201_neighbours(genotype, 3)[5]
    alphas_0 = checkpoint_alphas(Path(checkpoint_dir(workdir)) / "epoch_0000.pt")
    barrier, line = barrier_records(ctx, genotype, far, max_paths=6, alphas_a=alphas_0, alphas_b=ctx.alphas)
    assert barrier.value["distance"] == edit_distance(genotype, far) == 3
    assert barrier.value["paths"] == 6 and all(len(p["acc"]) == 4 for p in barrier.value["per_path"])
    assert line.value["t"][0] == 0.0 and len(line.value["loss"]) == 11
