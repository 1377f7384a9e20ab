"""run_search end to end on tiny supernets: learning, reporting, cancellation, divergence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from nas_core.genotype import genotype_from_json
from nas_core.reporter import NullReporter, SearchCancelled, SearchDiverged
from nas_core.search import run_search
from nas_core.spec import SearchSpec
from tests.unit.tiny import FLATNESS_OFF, tiny_spec


class Recorder(NullReporter):
    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.polls, self.stop_after_steps = 0, stop_after_steps

    def on_start(self, info):
        self.events.append(("start", info))

    def on_progress(self, progress):
        self.events.append(("progress", progress))

    def on_epoch(self, record):
        self.events.append(("epoch", record))

    def on_genotype(self, genotype, *, epoch, is_best, is_final):
        self.events.append(("genotype", (genotype, epoch, is_best, is_final)))

    def on_checkpoint(self, epoch, path):
        self.events.append(("checkpoint", (epoch, path)))

    def on_flatness(self, record):
        self.events.append(("flatness", record))

    def should_stop(self) -> bool:
        self.polls += 1
        return self.stop_after_steps is not None and self.polls > self.stop_after_steps

    def of(self, kind: str) -> list[Any]:
        return [v for k, v in self.events if k == kind]


def test_three_epoch_digits_search_beats_chance(tmp_path: Path) -> None:
    spec = SearchSpec(
        dataset={"name": "digits", "image_size": 16},
        epochs=3,
        batch_size=16,
        supernet={"C": 8, "N": 1},
        a2m=None,
        flatness=FLATNESS_OFF,
    )
    rec = Recorder()
    result = run_search(spec, rec, workdir=tmp_path)
    epochs = rec.of("epoch")
    assert [e.epoch for e in epochs] == [0, 1, 2]
    assert epochs[-1].val_acc > 0.3, [e.val_acc for e in epochs]  # chance is 0.1
    assert epochs[-1].train_loss < epochs[0].train_loss
    # The cosine schedule: lr of epoch e is w_lr_min + ½(w_lr − w_lr_min)(1 + cos(πe/E)).
    assert epochs[0].lr == pytest.approx(0.025) and epochs[2].lr == pytest.approx(0.001 + 0.012 * 0.5)
    assert all(abs(sum(row) - 1) < 1e-5 for e in epochs for row in e.alphas["cell"])
    info = rec.of("start")[0]
    assert (info.steps_per_epoch, info.total_epochs, info.start_epoch) == (57, 3, 0)

    best = min(epochs, key=lambda e: e.val_loss)
    assert result.best_epoch == best.epoch and result.best_genotype == best.genotype
    genotypes = rec.of("genotype")
    assert [(g[1], g[3]) for g in genotypes] == [(0, False), (1, False), (2, False), (2, True)]
    assert genotypes[-1][0] == result.final_genotype == epochs[-1].genotype
    assert genotype_from_json(result.final_genotype).space == "nb201"
    assert [c[0] for c in rec.of("checkpoint")] == [0, 1, 2]
    progress = rec.of("progress")
    assert progress and all(p.loss is None or p.loss > 0 for p in progress)


def test_cancellation_stops_between_steps_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    rec = Recorder(stop_after_steps=6)  # 2 steps per epoch: stops inside the fourth epoch
    with pytest.raises(SearchCancelled):
        run_search(tiny_spec(epochs=5, a2m=None), rec, workdir=tmp_path)
    assert rec.polls == 7
    assert [c[0] for c in rec.of("checkpoint")] == [0, 1, 2]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "epoch_0002.pt"


def test_divergence_raises_search_diverged(tmp_path: Path) -> None:
    # lr 10 with weight decay 1 multiplies the weights by about −9 per step (decay is not clipped):
    # they overflow quickly.
    spec = tiny_spec(
        optim={"w_lr": 10.0, "w_weight_decay": 1.0, "grad_clip": 1e4}, a2m=None, epochs=3, batch_size=4
    )
    with pytest.raises(SearchDiverged, match="NaN or infinite") as info:
        run_search(spec, NullReporter(), workdir=tmp_path)
    assert info.value.which == "training" and info.value.epoch <= 2


def test_darts_space_and_second_order_run(tmp_path: Path) -> None:
    spec = tiny_spec(
        space="darts",
        method="darts2",
        a2m=None,
        epochs=1,
        supernet={"C": 4, "layers": 3},
        dataset={"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 4},
    )
    result = run_search(spec, NullReporter(), workdir=tmp_path)
    assert [a.shape for a in result.alphas] == [(14, 7), (14, 7)]
    assert "darts_repr" in result.final_genotype


def test_same_seed_same_search(tmp_path: Path) -> None:
    a = run_search(tiny_spec(epochs=1), NullReporter(), workdir=tmp_path / "a")
    b = run_search(tiny_spec(epochs=1), NullReporter(), workdir=tmp_path / "b")
    c = run_search(tiny_spec(epochs=1, seed=1), NullReporter(), workdir=tmp_path / "c")
    assert torch.equal(a.alphas[0], b.alphas[0]) and not torch.equal(a.alphas[0], c.alphas[0])
