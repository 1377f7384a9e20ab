"""runtime.keep_checkpoints (the newest N plus the best epoch's) and resuming across spec versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nas_core.checkpoint import checkpoint_dir, latest_checkpoint, prune_checkpoints, spec_changes
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from tests.unit.tiny import FLATNESS_OFF, tiny_spec


def fake_checkpoints(workdir: Path, epochs: range) -> None:
    directory = checkpoint_dir(workdir)
    directory.mkdir(parents=True)
    for e in epochs:
        (directory / f"epoch_{e:04d}.pt").write_bytes(b"x")
    (directory / "latest").write_text(f"epoch_{epochs[-1]:04d}.pt\n")


def names(workdir: Path) -> list[str]:
    return sorted(p.name for p in checkpoint_dir(workdir).glob("epoch_*.pt"))


def test_prune_keeps_the_newest_n_and_the_protected_epoch(tmp_path: Path) -> None:
    fake_checkpoints(tmp_path, range(6))
    assert prune_checkpoints(tmp_path, None, protect=1) == []
    assert len(names(tmp_path)) == 6
    removed = prune_checkpoints(tmp_path, 2, protect=1)
    assert sorted(p.name for p in removed) == ["epoch_0000.pt", "epoch_0002.pt", "epoch_0003.pt"]
    assert names(tmp_path) == ["epoch_0001.pt", "epoch_0004.pt", "epoch_0005.pt"]
    # The protected epoch among the newest costs nothing extra.
    assert prune_checkpoints(tmp_path, 1, protect=5) != []
    assert names(tmp_path) == ["epoch_0005.pt"]
    assert latest_checkpoint(tmp_path).name == "epoch_0005.pt"
    with pytest.raises(ValueError, match="keep_checkpoints"):
        prune_checkpoints(tmp_path, 0)


def test_search_keeps_newest_and_best_and_resumes_from_them(tmp_path: Path) -> None:
    spec = tiny_spec(epochs=4, a2m=None, runtime={"keep_checkpoints": 1})
    result = run_search(spec, NullReporter(), workdir=tmp_path)
    expected = {"epoch_0003.pt", f"epoch_{result.best_epoch:04d}.pt"}
    assert set(names(tmp_path)) == expected
    # A resume finds the newest one; a different retention does not block it.
    again = run_search(
        tiny_spec(epochs=4, a2m=None, runtime={"keep_checkpoints": 3}),
        NullReporter(),
        workdir=tmp_path,
        resume=True,
    )
    assert all(torch.equal(a, b) for a, b in zip(result.alphas, again.alphas, strict=True))

    everything = run_search(tiny_spec(epochs=2, a2m=None), NullReporter(), workdir=tmp_path / "all")
    assert len(everything.epochs) == 2 and names(tmp_path / "all") == ["epoch_0000.pt", "epoch_0001.pt"]


def test_spec_changes_fills_fields_added_later_and_names_nested_fields() -> None:
    # ranking_stability on: the new fields' defaults.
    spec = tiny_spec(epochs=4, a2m=None, flatness={**FLATNESS_OFF, "ranking_stability": True})
    saved = spec.model_dump(mode="json")
    # A checkpoint written before these fields existed still matches the spec with their defaults.
    for key in ("ranking_stability", "ranking_sample"):
        del saved["flatness"][key]
    del saved["runtime"]["keep_checkpoints"]
    assert spec_changes(spec, saved) == []
    saved["flatness"]["interval"] = 7
    saved["runtime"]["keep_checkpoints"] = 2  # retention does not change what a search computes
    saved["name"] = "renamed"
    assert spec_changes(spec, saved) == ["flatness.interval"]
