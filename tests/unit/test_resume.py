"""Resume: on CPU, stopping after any checkpoint and resuming gives bit-identical α and genotypes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nas_core.checkpoint import CheckpointError, latest_checkpoint
from nas_core.reporter import NullReporter, SearchCancelled
from nas_core.search import run_search
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_spec


def spec(**overrides: Any) -> SearchSpec:
    defaults: dict[str, Any] = {
        "method": "darts",  # with A2M (the default): the wrapper's extra passes are part of the state
        "dataset": {"name": "synthetic", "subset": 96, "image_size": 8, "num_classes": 4},
        "epochs": 3,
        # Per-epoch metrics draw random vectors and run the supernet: they must be captured too.
        "flatness": {
            "interval": 1,
            "hessian_eigenvalue": True,
            "power_iterations": 2,
            "val_batches": 1,
            "a2m_sharpness": False,
            "neighbourhood": False,
            "cell_shape": False,
            # Carries the previous metric epoch's scores across epochs: resume must restore them.
            "ranking_stability": True,
            "ranking_sample": 6,
        },
    }
    return tiny_spec(**{**defaults, **overrides})


class StopAfterCheckpoint(NullReporter):
    def __init__(self, epoch: int) -> None:
        self.epoch, self.stop, self.genotypes = epoch, False, []

    def on_checkpoint(self, epoch: int, path: str) -> None:
        self.stop = self.stop or epoch == self.epoch

    def on_genotype(self, genotype, *, epoch, is_best, is_final):
        self.genotypes.append((epoch, genotype, is_best, is_final))

    def should_stop(self) -> bool:
        return self.stop


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path: Path) -> None:
    straight_reporter = StopAfterCheckpoint(-1)
    straight = run_search(spec(), straight_reporter, workdir=tmp_path / "straight")

    first = StopAfterCheckpoint(1)
    with pytest.raises(SearchCancelled):
        run_search(spec(), first, workdir=tmp_path / "resumed")
    assert latest_checkpoint(tmp_path / "resumed").name == "epoch_0001.pt"
    second = StopAfterCheckpoint(-1)
    resumed = run_search(spec(), second, workdir=tmp_path / "resumed", resume=True)

    assert all(torch.equal(a, b) for a, b in zip(straight.alphas, resumed.alphas, strict=True))
    assert [r.to_dict() for r in straight.epochs] == [
        {**r.to_dict(), "seconds": s.seconds, "extra": s.extra}
        for r, s in zip(resumed.epochs, straight.epochs, strict=True)
    ]
    assert (straight.best_epoch, straight.best_genotype) == (resumed.best_epoch, resumed.best_genotype)
    assert straight.final_genotype == resumed.final_genotype
    assert [(g[0], g[1]) for g in first.genotypes + second.genotypes] == [
        (g[0], g[1]) for g in straight_reporter.genotypes
    ]
    values = lambda result: [(f.kind, f.epoch, f.value) for f in result.flatness]  # noqa: E731
    assert values(straight) == values(resumed)

    # Any checkpoint will do: resume from the first one.
    older = tmp_path / "older"
    shutil.copytree(tmp_path / "resumed", older)
    for later in ("epoch_0001.pt", "epoch_0002.pt"):
        (older / "checkpoints" / later).unlink()
    (older / "checkpoints" / "latest").write_text("epoch_0000.pt\n")
    again = run_search(spec(), NullReporter(), workdir=older, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(straight.alphas, again.alphas, strict=True))


def test_resume_without_checkpoint_starts_fresh_and_refuses_another_spec(tmp_path: Path) -> None:
    fresh = run_search(
        spec(epochs=1, flatness={"interval": 1}, a2m=None), NullReporter(), workdir=tmp_path, resume=True
    )
    assert len(fresh.epochs) == 1
    with pytest.raises(CheckpointError, match="batch_size"):
        run_search(spec(epochs=1, a2m=None, batch_size=8), NullReporter(), workdir=tmp_path, resume=True)
