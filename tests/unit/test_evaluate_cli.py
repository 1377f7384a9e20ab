"""`flatnas evaluate` on the command line: its --out rule (the one `flatnas search` follows), what a
failed run leaves behind, and its messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_core.cli import main as cli_main
from nas_core.evaluation.cli import EvalFileReporter
from nas_core.evaluation.reporter import EvalInfo
from nas_core.genotype import genotype_to_json
from nas_core.reporter import Progress
from nas_core.spaces.nb201_definition import parse_nb201_arch_str

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY = ["--set", "dataset.name=digits", "--set", "dataset.image_size=8", "--set", "dataset.subset=64"]
TINY += ["--set", "dataset.test_subset=32", "--set", "C=4", "--set", "layers=1", "--set", "batch_size=32"]


@pytest.fixture()
def genotype(tmp_path: Path) -> Path:
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(genotype_to_json(parse_nb201_arch_str(ARCH))))
    return path


def evaluate(genotype: Path, out: Path, *extra: str) -> int:
    args = ["evaluate", str(genotype), "--out", str(out), "--device", "cpu", "--threads", "1"]
    return cli_main([*args, "--no-progress", *TINY, *extra])


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").glob("epoch_*.pt"))


def test_a_used_out_is_refused_unless_resume_or_force(
    genotype: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    assert evaluate(genotype, out, "--set", "epochs=2") == 0
    first = (out / "result.json").read_text()
    done = capsys.readouterr()
    assert "after epoch 1 of 0–1;" in done.out  # numbered from 0, as the log lines
    assert "epoch 0: train" in done.err and "epoch 1: train" in done.err

    assert evaluate(genotype, out, "--set", "epochs=1") == 2
    err = capsys.readouterr().err
    assert f"{out} holds another run" in err and "--resume" in err and "--force" in err
    assert (out / "result.json").read_text() == first  # untouched
    assert checkpoints(out) == ["epoch_0000.pt", "epoch_0001.pt"]

    # --force starts over: no checkpoint of the earlier two-epoch run stays beside the new one.
    assert evaluate(genotype, out, "--set", "epochs=1", "--force") == 0
    assert checkpoints(out) == ["epoch_0000.pt"]
    assert json.loads((out / "spec.json").read_text())["epochs"] == 1
    with pytest.raises(SystemExit):  # argparse: not both
        evaluate(genotype, out, "--resume", "--force")


def test_a_failed_evaluation_leaves_no_directory_behind(
    genotype: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLATNAS_DATA_ROOT", raising=False)
    out = tmp_path / "new" / "eval"
    args = ["evaluate", str(genotype), "--out", str(out), "--device", "cpu", "--no-progress"]
    assert cli_main([*args, "--set", "dataset.name=cifar10"]) == 1  # no CIFAR here: fails reading it
    assert "failed:" in capsys.readouterr().err
    assert not out.exists()

    # A directory that was already there stays, with what it held, and without the run's spec.json.
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    assert cli_main([*args, "--set", "dataset.name=cifar10"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_unknown_field_lists_the_allowed_ones(
    genotype: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(genotype, tmp_path / "e", "--set", "epoch=1") == 2
    err = capsys.readouterr().err
    assert "epoch: unknown field; allowed:" in err and "epochs" in err and "batch_size" in err
    assert "Extra inputs" not in err
    assert evaluate(genotype, tmp_path / "e", "--set", "dataset.nme=x") == 2
    err = capsys.readouterr().err
    assert "dataset.nme: unknown field; allowed:" in err and "augment" in err
    assert not (tmp_path / "e").exists()


def test_a_json_that_is_no_genotype_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "spec.json"
    other.write_text(json.dumps({"name": "x", "space": None, "epochs": 3}))
    stray = tmp_path / "curves.json"
    stray.write_text(json.dumps({"epochs": [1, 2]}))
    assert evaluate(stray, tmp_path / "e") == 2
    err = capsys.readouterr().err
    assert "not a genotype document" in err and "epochs" in err and "None" not in err


def test_the_progress_bar_numbers_epochs_from_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = EvalFileReporter(tmp_path, progress=True)
    info = EvalInfo(
        protocol="nb201",
        params_m=0.1,
        flops_m=1.0,
        train_images=64,
        test_images=32,
        device="cpu",
        precision="fp32",
        channels_last=False,
        total_epochs=3,
        steps_per_epoch=2,
        start_epoch=0,
    )
    reporter.on_start(info)
    reporter.on_progress(Progress(1, 1, 2, 3, "train", loss=1.0))
    reporter.bar.refresh()
    reporter.close()
    err = capsys.readouterr().err
    assert "epoch 1 of 0–2" in err and "epoch 2/3" not in err


def test_an_unknown_method_lists_the_allowed_values_once() -> None:
    from pydantic import ValidationError

    from api.errors import field_errors, spec_fields_at
    from flatnas.errors import describe_problem
    from nas_core.spec import SearchSpec

    with pytest.raises(ValidationError) as caught:
        SearchSpec.model_validate({"space": "nb201", "method": "foo"})
    (error,) = field_errors(list(caught.value.errors()), known_fields=spec_fields_at)
    problem = {"title": "Invalid", "detail": "1 invalid field(s): method", "errors": [error.model_dump()]}
    text = describe_problem(422, problem)
    assert text.count("pc-darts") == 1 and "method:" in text
    # a message that does not name the values keeps the list
    problem["errors"] = [{"field": "dataset.nme", "message": "unknown field", "allowed": ["name", "root"]}]
    assert describe_problem(422, problem).endswith("dataset.nme: unknown field (allowed: name, root)")
