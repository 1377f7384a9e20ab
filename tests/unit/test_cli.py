"""The engine's command line, end to end on the tiny example."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas_core.cli import build_parser, main, spec_field_lines
from nas_core.genotype import genotype_from_json
from nas_core.methods import METHODS

ROOT = Path(__file__).resolve().parents[2]


def test_search_on_the_tiny_example_writes_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        ["search", str(ROOT / "examples/tiny-nb201-digits.yaml"), "--out", str(out), "--device", "cpu"]
    )
    assert code == 0
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert all(float(r["val_acc"]) >= 0 and float(r["lr"]) > 0 for r in rows)
    genotypes = json.loads((out / "genotype.json").read_text())
    assert set(genotypes) == {"best", "final"}
    assert genotype_from_json(genotypes["final"]).space == "nb201" and genotypes["final"]["epoch"] == 2
    best_epoch = min(rows, key=lambda r: float(r["val_loss"]))["epoch"]
    assert genotypes["best"]["epoch"] == int(best_epoch)
    alphas = json.loads((out / "alphas.json").read_text())
    assert len(alphas["epochs"]) == 3 and len(alphas["final_raw"][0]) == 6
    flatness = json.loads((out / "flatness.json").read_text())
    kinds = {r["kind"] for r in flatness["records"]}
    assert set(flatness["kinds"]) == kinds
    assert "skip_count" in kinds
    assert (out / "checkpoints" / "epoch_0002.pt").is_file()
    assert "best genotype" in capsys.readouterr().out

    # Resuming a finished search re-runs nothing and rewrites the same results.
    assert (
        main(
            [
                "search",
                str(ROOT / "examples/tiny-nb201-digits.yaml"),
                "--out",
                str(out),
                "--resume",
                "--no-progress",
            ]
        )
        == 0
    )
    assert list(csv.DictReader((out / "curves.csv").open())) == rows


def test_bad_spec_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"space": "nb201", "dataset": {"name": "digits", "rot": 1}, "epochs": 0}))
    assert main(["search", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "dataset.rot" in err and "epochs" in err


def test_missing_data_root_fails_with_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "cifar.json"
    spec.write_text(json.dumps({"dataset": {"name": "cifar10", "root": str(tmp_path / "nowhere")}}))
    assert main(["search", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_help_documents_every_spec_field_with_its_default() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["search"].format_help()  # type: ignore[union-attr]
    for expected in (
        "a2m.rho",
        "dataset.root",
        "optim.arch_lr",
        "flatness.interval",
        "runtime.precision",
        "supernet.C",
    ):
        assert expected in text
    assert "optim.w_lr (float, default 0.025)" in text and "epochs (int, default 50)" in text
    assert len(list(spec_field_lines())) > 50


def test_methods_command_lists_the_registry() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nas_core", "methods", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    described = json.loads(done.stdout)
    assert [m["name"] for m in described] == list(METHODS)
    darts2 = next(m for m in described if m["name"] == "darts2")
    assert darts2["params"]["properties"]["unrolled_eps"]["default"] == 0.01 and not darts2["supports_a2m"]
