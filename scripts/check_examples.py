"""Run every example spec and every `flatnas eval run` command of the README and docs; check each
learns (its accuracy at least `FACTOR` × chance) and print the wall time it took.

    python scripts/check_examples.py            # everything that runs on a CPU (~2 min, 2 cores)
    python scripts/check_examples.py --list     # what would run, and what is only validated

What runs here:
- a search example (examples/*.yaml with `space:`) on a generated data set (digits, synthetic)
  runs as `flatnas search run FILE --threads 1`, as the README shows it; checked:
  the best epoch's supernet validation accuracy.
- a study example (`grid:`) on a generated data set: every grid cell runs as a search in this
  process (the service runs the same `run_search`); checked: every cell's mean best_val_acc over
  its seeds, the number `flatnas study results` prints.
- a `flatnas eval run` command of README.md or docs/*.md on digits or synthetic runs as written
  (its `--out` moved to a temporary directory, its genotype taken from the tiny NB201 search above);
  checked: the final test accuracy in result.json.

Examples and commands that need CIFAR or ImageNet16 (the paper settings) are only validated: the
spec, the study's whole grid or the evaluation settings must parse. The numbers are measured with
one torch thread per process, which is how the README runs them on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: "Clearly above chance": at least this many times the accuracy of guessing.
FACTOR = 2.0
#: Data sets that ship with the code (nothing to download), so their examples run anywhere.
GENERATED = ("digits", "synthetic")
DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
#: The search whose genotype the evaluate commands train (README: `flatnas search` then `evaluate`).
GENOTYPE_SOURCE = "examples/tiny-nb201-digits.yaml"


@dataclass
class Outcome:
    name: str
    kind: str  # search | study | evaluate | validated
    seconds: float  # wall time
    accuracy: float | None = None  # the checked accuracy (None: validated only)
    cpu_seconds: float = 0.0  # CPU time spent: about the wall time on an idle machine (one thread)
    chance: float | None = None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.accuracy is None or (self.chance is not None and self.accuracy >= FACTOR * self.chance)

    def line(self) -> str:
        if self.accuracy is None:
            return f"{'ok' if self.passed else 'FAIL':4} {self.name}: validated ({self.detail})"
        verdict = "ok" if self.passed else "FAIL"
        return (
            f"{verdict:4} {self.name}: {self.kind} accuracy {self.accuracy:.3f} "
            f"(chance {self.chance:.3f}, needs {FACTOR * (self.chance or 0):.3f}) in {self.seconds:.1f} s "
            f"wall, {self.cpu_seconds:.1f} s CPU" + (f"; {self.detail}" if self.detail else "")
        )


# --- what there is ----------------------------------------------------------------------------


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a mapping")
    return doc


def _dataset(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc.get("dataset") or {})


def chance_of(dataset: dict[str, Any]) -> float:
    """Accuracy of guessing: one over the classes (digits 10; synthetic num_classes, default 10)."""
    classes = dataset.get("num_classes") if dataset.get("name") == "synthetic" else None
    return 1.0 / float(classes or 10)


def example_files() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml"))


def runs_here(path: Path) -> bool:
    doc = _load_yaml(path)
    base = doc.get("base", doc)
    return _dataset(base).get("name") in GENERATED


@dataclass
class DocCommand:
    """One `flatnas eval run` command from a fenced block of a document (continuations joined)."""

    where: str  # "README.md:105"
    argv: list[str]  # the words after `evaluate`

    @property
    def overrides(self) -> dict[str, Any]:
        from nas_core.evaluation.cli import parse_overrides

        sets = [self.argv[i + 1] for i, word in enumerate(self.argv[:-1]) if word == "--set"]
        return parse_overrides(sets)

    def option(self, name: str) -> str | None:
        return next((self.argv[i + 1] for i, w in enumerate(self.argv[:-1]) if w == name), None)


_EVALUATE = re.compile(r"(?:^|\s)(?:\S*/)?flatnas eval run\s+(.*)$")


def doc_commands() -> list[DocCommand]:
    """Every `flatnas eval run` command inside a fenced code block of README.md and docs/*.md."""
    found = []
    for doc in DOCS:
        lines = (ROOT / doc).read_text().splitlines()
        fenced, i = False, 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif fenced and (match := _EVALUATE.search(line.split("#")[0])):
                start, text = i + 1, match.group(1)
                while text.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text.rstrip()[:-1] + " " + lines[i].split("#")[0]
                found.append(DocCommand(f"{doc}:{start}", shlex.split(text)))
            i += 1
    return found


# --- running ----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(args: list[str]) -> tuple[float, float]:
    """Run `flatnas ARGS` (as `python -m flatnas.cli`); its wall and CPU seconds. Raises with its
    stderr on failure."""
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-m", "flatnas.cli", *args], env=_env(), cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"flatnas {shlex.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return seconds, _children_cpu() - cpu


def _best_val_acc(curves_csv: Path) -> float:
    import csv

    with curves_csv.open(newline="") as f:
        return max(float(row["val_acc"]) for row in csv.DictReader(f))


def run_search_example(path: Path, out: Path) -> Outcome:
    seconds, cpu = _cli(
        ["search", "run", str(path), "--out", str(out), "--device", "cpu", "--threads", "1", "--no-progress"]
    )
    doc = _load_yaml(path)
    return Outcome(
        str(path.relative_to(ROOT)),
        "search",
        seconds,
        cpu_seconds=cpu,
        accuracy=_best_val_acc(out / "curves.csv"),
        chance=chance_of(_dataset(doc)),
        detail="best epoch's supernet val_acc",
    )


def run_study_example(path: Path) -> Outcome:
    """Every search of the grid, in this process; the worst cell's mean best_val_acc is checked."""
    import statistics

    import torch

    from nas_core.reporter import NullReporter
    from nas_core.search import run_search
    from nas_core.study import SEED_AXIS, cell_label, expand_grid

    study = _load_yaml(path)
    cells = expand_grid(study["base"], study["grid"], name=study["name"], max_searches=10_000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    by_cell: dict[str, list[float]] = {}
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for cell in cells:
            with tempfile.TemporaryDirectory() as work:
                result = run_search(cell.spec, NullReporter(), device="cpu", workdir=work)
            label = cell_label({k: v for k, v in cell.values.items() if k != SEED_AXIS})
            by_cell.setdefault(label, []).append(max(e.val_acc for e in result.epochs))
    finally:
        torch.set_num_threads(threads)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    means = {label: statistics.fmean(values) for label, values in by_cell.items()}
    worst = min(means, key=lambda label: means[label])
    return Outcome(
        str(path.relative_to(ROOT)),
        "study",
        seconds,
        cpu_seconds=cpu,
        accuracy=means[worst],
        chance=chance_of(_dataset(study["base"])),
        detail=f"{len(cells)} searches; mean best_val_acc per cell: "
        + ", ".join(f"[{label}] {mean:.3f}" for label, mean in means.items()),
    )


def run_evaluate_command(command: DocCommand, genotype: Path, out: Path) -> Outcome:
    argv = list(command.argv)
    argv[0] = str(genotype)
    argv[argv.index("--out") + 1] = str(out)
    seconds, cpu = _cli(["eval", "run", *argv, "--device", "cpu", "--threads", "1", "--no-progress"])
    result = json.loads((out / "result.json").read_text())
    dataset = command.overrides.get("dataset", {})
    return Outcome(
        f"{command.where} flatnas eval run",
        "evaluate",
        seconds,
        cpu_seconds=cpu,
        accuracy=float(result["test_acc"]),
        chance=chance_of(dataset),
        detail="final test_acc",
    )


def validate_example(path: Path) -> Outcome:
    from nas_core.spec import SearchSpec
    from nas_core.study import expand_grid

    doc = _load_yaml(path)
    if "grid" in doc:
        cells = expand_grid(doc["base"], doc["grid"], name=doc["name"], max_searches=10_000)
        detail = f"{len(cells)} searches of the grid are valid specs"
    else:
        SearchSpec.model_validate(doc)
        detail = "valid spec"
    return Outcome(
        str(path.relative_to(ROOT)),
        "validated",
        0.0,
        detail=detail + f"; needs {_dataset(doc.get('base', doc)).get('name')}",
    )


def validate_command(command: DocCommand) -> Outcome:
    from nas_core.evaluation.protocol import EvalSpec

    data = command.overrides
    data["protocol"] = command.option("--protocol") or data.get("protocol") or "nb201"
    spec = EvalSpec.model_validate(data)
    return Outcome(
        f"{command.where} flatnas eval run",
        "validated",
        0.0,
        detail=f"valid settings; needs {spec.dataset.name}",
    )


def _command_runs_here(command: DocCommand) -> bool:
    return "--resume" not in command.argv and command.overrides.get("dataset", {}).get("name") in GENERATED


def checks(*, quick: bool = False) -> Iterator[tuple[str, Callable[[Path], Outcome]]]:
    """(name, run(workdir)) of every check, the tiny NB201 search first (its genotype is reused).

    quick: skip the DARTS-space example (its 7-op cells take the longest on a CPU)."""
    genotype_example = ROOT / GENOTYPE_SOURCE
    yield GENOTYPE_SOURCE, lambda work: run_search_example(genotype_example, work / "search")
    for path in example_files():
        if path == genotype_example:
            continue
        name = str(path.relative_to(ROOT))
        if not runs_here(path):
            yield name, lambda work, p=path: validate_example(p)
        elif "grid" in _load_yaml(path):
            yield name, lambda work, p=path: run_study_example(p)
        elif not (quick and _load_yaml(path).get("space") == "darts"):
            yield name, lambda work, p=path: run_search_example(p, work / p.stem)
    for command in doc_commands():
        if _command_runs_here(command):
            genotype = "search/genotype.json"
            yield (
                command.where,
                lambda work, c=command, g=genotype: run_evaluate_command(
                    c, work / g, work / f"eval-{c.where.replace('/', '_')}"
                ),
            )
        else:
            yield command.where, lambda work, c=command: validate_command(c)


def run_all(*, quick: bool = False, echo: Callable[[str], None] = print) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="flatnas-examples-") as tmp:
        work = Path(tmp)
        for _name, run in checks(quick=quick):
            outcome = run(work)
            echo(outcome.line())
            outcomes.append(outcome)
    return outcomes


def _echo(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--quick", action="store_true", help="skip the DARTS-space example")
    args = parser.parse_args(argv)
    if args.list:
        for name, _run in checks(quick=args.quick):
            print(name)
        return 0
    outcomes = run_all(quick=args.quick, echo=_echo)
    failed = [o for o in outcomes if not o.passed]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
