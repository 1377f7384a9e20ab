"""Every example and every README/docs `flatnas evaluate` command learns (scripts/check_examples.py).

The fast ones run here: the tiny NB201 search, the study of tiny searches and the evaluate commands
on digits (about a minute on an idle 2-core machine; several on a loaded one). The DARTS-space
example runs from the script itself (`python scripts/check_examples.py`); the paper settings, which
need CIFAR-10, are only validated.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_examples", ROOT / "scripts/check_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_example_and_doc_command_is_checked() -> None:
    script = load_script()
    names = [name for name, _run in script.checks()]
    examples = {str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml")}
    assert examples <= set(names)
    commands = script.doc_commands()
    assert {c.where.split(":")[0] for c in commands} >= {"README.md", "docs/evaluation.md"}
    readme = next(c for c in commands if c.where.startswith("README.md"))
    assert readme.overrides["dataset"] == {"name": "digits", "augment": False}  # continuation lines joined
    # the paper settings are validated, not run: they need CIFAR-10
    assert not script.runs_here(ROOT / "examples/nb201-paper.yaml")


@pytest.mark.slow
def test_the_fast_examples_learn_well_above_chance() -> None:
    script = load_script()
    lines: list[str] = []
    outcomes = script.run_all(quick=True, echo=lines.append)
    print("\n".join(lines))  # the measured times, for -s
    failed = [o.line() for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)
    ran = {o.kind for o in outcomes}
    assert {"search", "study", "evaluate", "validated"} <= ran
