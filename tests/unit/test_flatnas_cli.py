"""The `flatnas` command's tree (flatnas.cli): every group in the help, deprecated verbs rewritten
with a note, engine and server code imported only by the commands that need them, one-line errors
when a part is missing, and a local search through `search run` and its old spelling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flatnas.cli import ALIASES, build_parser, main, modernise
from flatnas.cli.server import MAX_KEY_NAME, SCOPES
from store.models import MAX_KEY_NAME as STORE_MAX_KEY_NAME
from store.models import SCOPES as STORE_SCOPES
from tests.fixtures.live_service import free_port
from tests.unit.tiny import FLATNESS_OFF, tiny_body

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("search", "study", "eval", "landscape", "benchmark", "methods", "server")
HEAVY = ("nas_core", "api", "store", "worker", "torch")


def test_help_lists_every_group_and_every_action(capsys: pytest.CaptureFixture[str]) -> None:
    text = build_parser().format_help()
    for group in GROUPS:
        assert f"\n    {group}" in text
    for old in ALIASES:  # the deprecated forms are listed with what replaces them
        assert f"flatnas {old} " in text
    for group, actions in (
        (
            "search",
            ("submit", "list", "status", "events", "curves", "genotype", "cancel", "retry", "wait", "run"),
        ),
        ("study", ("submit", "list", "status", "wait", "results", "cancel", "retry")),
        ("eval", ("run", "submit", "list", "status", "wait", "curves", "cancel", "retry")),
        (
            "landscape",
            ("barrier", "barrier-matrix", "neighbourhood", "status", "wait", "list", "cancel", "retry"),
        ),
        ("server", ("up", "keys", "migrate")),
    ):
        with pytest.raises(SystemExit):
            main([group, "--help"])
        shown = capsys.readouterr().out
        assert all(f"\n    {action}" in shown for action in actions), (group, shown)


def test_user_commands_and_help_import_neither_engine_nor_server() -> None:
    """What a flatnas-client user runs never loads nas_core, torch, api, store or worker."""
    script = (
        "import sys\n"
        "from flatnas.cli import build_parser, main\n"
        "build_parser().format_help()\n"
        "rc = main(['search', 'status', 'zz'])\n"  # fails before any request: not a hexadecimal id
        f"print(rc, sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1 []", done.stdout + done.stderr
    assert "not a search id or id prefix" in done.stderr


def test_deprecated_verbs_are_rewritten_with_a_note() -> None:
    assert modernise(["submit", "s.yaml", "--wait"])[0] == ["search", "submit", "s.yaml", "--wait"]
    assert modernise(["up", "--no-worker"])[0] == ["server", "up", "--no-worker"]
    assert modernise(["keys", "list"])[0] == ["server", "keys", "list"]
    args, note = modernise(["evaluate", "g.json", "--out", "d"])
    assert args == ["eval", "run", "g.json", "--out", "d"] and note and "flatnas eval run" in note
    # `flatnas search SPEC` (a file) is the old `search run`; an action is left alone.
    assert modernise(["search", "spec.yaml", "--out", "d"])[0] == ["search", "run", "spec.yaml", "--out", "d"]
    assert modernise(["search", "list", "--limit", "3"]) == (["search", "list", "--limit", "3"], None)
    assert modernise(["study", "status", "ab"]) == (["study", "status", "ab"], None)


def test_an_engine_command_is_built_from_the_engine_when_used(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["search", "run", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "optim.w_lr (float, default 0.025)" in text and "--resume" in text and "--benchmark" in text
    with pytest.raises(SystemExit):
        main(["eval", "run", "--help"])
    assert "--protocol" in capsys.readouterr().out


def test_a_missing_part_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in a flatnas-client installation: the engine and the store cannot be imported.
    for module in ("nas_core.cli", "nas_core.benchmarks.cli", "store.migrate"):
        monkeypatch.setitem(sys.modules, module, None)
    assert main(["search", "run", "spec.yaml", "--out", "o"]) == 1
    assert main(["methods"]) == 1
    err = capsys.readouterr().err
    assert err.count("needs the full flatnas distribution") == 2 and "Traceback" not in err
    assert "`flatnas search run`" in err and "`flatnas methods`" in err
    assert main(["server", "migrate"]) == 1
    assert "`flatnas server migrate` needs the full flatnas distribution" in capsys.readouterr().err


def test_scopes_match_the_store() -> None:
    assert SCOPES == tuple(STORE_SCOPES)
    assert MAX_KEY_NAME == STORE_MAX_KEY_NAME


def test_list_prints_nothing_before_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLATNAS_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    for command in (["search", "list"], ["study", "list"], ["eval", "list"], ["landscape", "list"]):
        assert main(command) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("cannot reach"), (command, out, err)


def test_search_run_and_its_old_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        yaml.safe_dump(
            tiny_body(
                dataset={"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 4},
                epochs=1,
                flatness=FLATNESS_OFF,
            )
        )
    )
    out = tmp_path / "run"
    assert main(["search", "run", str(spec), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((out / "genotype.json").read_text())["space"] == "nb201"
    capsys.readouterr()
    # The old form runs the same command (here: refusing the used directory), with a note.
    assert main(["search", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "`flatnas search run SPEC`" in err and "holds another run" in err


def test_the_package_exports_what_it_lists() -> None:
    import flatnas

    assert all(getattr(flatnas, name) is not None for name in flatnas.__all__)
    with pytest.raises(AttributeError):
        _ = flatnas.NoSuchName  # type: ignore[attr-defined]


def test_epochs_are_labelled_from_zero_and_a_single_epoch_plainly() -> None:
    from flatnas.labels import epoch_label

    assert epoch_label(1, 3) == "epoch 1 of 0–2"
    assert epoch_label(0, 1) == "epoch 0 (the only one)"
