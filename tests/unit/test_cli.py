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
from tests.unit.tiny import tiny_body

ROOT = Path(__file__).resolve().parents[2]
# A one-epoch NB201 search on 64 digits: seconds, with whatever flatness a test switches on.
TINY = tiny_body(dataset={"name": "digits", "subset": 64, "image_size": 8}, epochs=1)


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
    # One genotype document per file, as the API's genotype download serves it.
    best = json.loads((out / "genotype.json").read_text())
    final = json.loads((out / "genotype-final.json").read_text())
    assert set(best) == set(final) == {"space", "ops", "genotype", "arch_str", "epoch", "search_id"}
    assert genotype_from_json(final).space == "nb201" and final["epoch"] == 2
    best_epoch = min(rows, key=lambda r: float(r["val_loss"]))["epoch"]
    assert best["epoch"] == int(best_epoch)
    alphas = json.loads((out / "alphas.json").read_text())
    assert len(alphas["epochs"]) == 3 and len(alphas["final_raw"][0]) == 6
    flatness = json.loads((out / "flatness.json").read_text())
    kinds = {r["kind"] for r in flatness["records"]}
    assert set(flatness["kinds"]) == kinds
    assert "skip_count" in kinds
    assert (out / "checkpoints" / "epoch_0002.pt").is_file()
    assert "best genotype" in capsys.readouterr().out

    # The same directory again, without saying what to do with the run in it: refused.
    spec = str(ROOT / "examples/tiny-nb201-digits.yaml")
    assert main(["search", spec, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "--resume" in err and "--force" in err

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


def test_force_deletes_only_the_earlier_runs_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "epoch_0007.pt").write_text("stale")
    (out / "genotype.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "flatness": {"interval": 1, "neighbourhood": False}}))
    assert main(["search", str(spec), "--out", str(out), "--force", "--no-progress"]) == 0
    assert not (out / "checkpoints" / "epoch_0007.pt").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "genotype.json").read_text())["space"] == "nb201"


def test_flatness_phase_says_which_metric_it_computes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "tiny.yaml"
    flatness = {"interval": 1, "power_iterations": 2, "neighbourhood": False, "ranking_stability": False}
    spec.write_text(yaml.safe_dump({**TINY, "flatness": flatness}))
    assert main(["search", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "epoch 0: computing flatness metrics: hessian eigenvalue 1/4" in err
    assert "epoch 0: computing flatness metrics: alpha entropy 4/4" in err
    assert "computing flatness metrics: end of search: cell shape 1/1" in err


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("name: x\nepochs: [1\n", ".yaml", ":3:1: YAML syntax error: expected ',' or ']'"),
        ("name: x\nepochs: 3: 4\n", ".yaml", ":2:10: YAML syntax error: mapping values are not allowed"),
        ('{"name": "x",\n "epochs": }', ".json", ":2:12: JSON syntax error: Expecting value"),
        ("- 1\n- 2\n", ".yaml", ": a spec is a mapping of fields (name: value), got a list"),
    ],
)
def test_a_broken_spec_file_is_one_line_naming_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, suffix: str, expected: str
) -> None:
    spec = tmp_path / f"spec{suffix}"
    spec.write_text(text)
    assert main(["search", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == f"{spec}{expected}" + err.split(expected, 1)[1] and err.count("\n") == 1
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_missing_spec_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'nope.yaml'}: no such file\n"
