"""The command line's side of NAS-Bench-201 ground truth.

`flatnas benchmark ARCH_STR|genotype.json [--benchmark PATH]` prints one architecture's numbers;
`flatnas search ... --benchmark PATH` writes every epoch's lookups to DIR/benchmark.json. The
benchmark path defaults to FLATNAS_NB201_BENCHMARK, read here at the command-line edge.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from nas_core.benchmarks.ground_truth import GroundTruth, GroundTruthRow
from nas_core.benchmarks.nb201 import (
    SETTING,
    BenchmarkUnavailable,
    UnknownArchitecture,
    covers,
    open_configured,
)
from nas_core.genotype import GenotypeError, genotype_from_json
from nas_core.spaces.nb201_definition import nb201_arch_str, parse_nb201_arch_str

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_benchmark_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--benchmark",
        default=os.environ.get(SETTING) or None,
        metavar="PATH",
        help=f"NAS-Bench-201 file or NATS-Bench directory (default: ${SETTING})",
    )


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "benchmark",
        help="look an NB201 architecture up in NAS-Bench-201",
        description="Print the benchmark's 200-epoch test/validation accuracy (mean ± std over its seeds), "
        "params and FLOPs on CIFAR-10, CIFAR-100 and ImageNet16-120.",
    )
    parser.add_argument("arch", help="an arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| or a genotype.json")
    parser.add_argument(
        "--which",
        choices=("best", "final"),
        default="final",
        help="for an older genotype.json holding {best, final}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_benchmark_option(parser)


def _arch_of(text: str, which: str) -> str:
    """An arch string from the argument: itself, or read from a genotype JSON file."""
    if text.lstrip().startswith("|"):
        return nb201_arch_str(parse_nb201_arch_str(text.strip()))
    path = Path(text)
    if not path.is_file():
        raise GenotypeError(f"arch: {text!r} is neither an arch string (|op~0|+...) nor a genotype file")
    data = json.loads(path.read_text())
    if isinstance(data, dict) and which in data and isinstance(data[which], dict):
        data = data[which]  # an older CLI genotype.json: {"best": ..., "final": ...}
    if not isinstance(data, dict):
        raise GenotypeError(f"arch: {path} does not hold a genotype JSON object")
    genotype = genotype_from_json(data)
    if not covers(genotype.space):
        raise GenotypeError(f"space: {path} holds a {genotype.space} genotype; NAS-Bench-201 covers nb201")
    return nb201_arch_str(genotype)


def cmd_benchmark(args: argparse.Namespace) -> int:
    try:
        arch = _arch_of(args.arch, args.which)
    except (GenotypeError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        found = open_configured(args.benchmark).lookup(arch)
    except (BenchmarkUnavailable, UnknownArchitecture) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(found.to_dict(), indent=2))
        return EXIT_OK
    print(f"{found.arch_str} (index {found.index})")
    for name, r in found.results.items():
        valid = f"{r.valid_acc:.2f} ± {r.valid_acc_std:.2f}" if r.valid_acc is not None else "-"
        print(
            f"  {name:15s} test {r.test_acc:.2f} ± {r.test_acc_std:.2f}  valid {valid}  "
            f"params {r.params_m:.3f} M  FLOPs {r.flops_m:.2f} M  ({r.seeds} seeds)"
        )
    return EXIT_OK


class BenchmarkFile:
    """The CLI search's ground truth: every lookup so far, rewritten to DIR/benchmark.json."""

    def __init__(self, out: Path, benchmark_path: str | None) -> None:
        self.path = out / "benchmark.json"
        self.ground_truth = GroundTruth(benchmark_path, compute_optimum=False)
        # (kind, epoch for "epoch" rows, data set) -> row: one best and one final per data set
        self.rows: dict[tuple[str, int | None, str], GroundTruthRow] = {}

    def start(self, space: str) -> None:
        self.ground_truth.start(space)
        self._write()

    def add(self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool) -> None:
        for row in self.ground_truth.rows_for(genotype, epoch=epoch, is_best=is_best, is_final=is_final):
            self.rows[(row.kind, row.epoch if row.kind == "epoch" else None, row.dataset)] = row
        self._write()

    def _write(self) -> None:
        body = {
            "status": self.ground_truth.status.to_dict(),
            "items": [r.to_dict() for r in self.rows.values()],
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(self.path)
