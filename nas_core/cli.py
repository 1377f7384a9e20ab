"""Command line: `python -m nas_core search SPEC --out DIR`, `... evaluate GENOTYPE --out DIR` and
`python -m nas_core methods`.

The top-level `flatnas` command (flatnas.cli) builds `flatnas search run`, `flatnas methods`,
`flatnas eval run` and `flatnas benchmark` from this module's add_* functions and runs its cmd_*
functions, importing this module only when one of them is used. A search writes into DIR: genotype.json (the best epoch's genotype) and
genotype-final.json (the last epoch's), each one genotype document exactly as the API's
`GET /searches/{id}/genotype` serves it, curves.csv, alphas.json, flatness.json, benchmark.json
(NAS-Bench-201 ground truth of nb201 searches) and checkpoints/. Epochs are numbered from 0 in
every file, log line and the progress bar. `benchmark ARCH` looks one architecture up.

A DIR that holds another run is refused unless `--resume` (continue it) or `--force` (delete its
results and checkpoints, then start over) says what to do with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from flatnas.documents import SpecFileError
from flatnas.labels import activity_label
from nas_core.benchmarks import cli as benchmark_cli
from nas_core.console_run import ConsoleRun, write_json
from nas_core.dataroots import ROOT_ENV, DataRoots
from nas_core.flatness.export import flatness_records_to_json
from nas_core.reporter import (
    CURVE_FIELDS,
    EpochRecord,
    FlatnessRecord,
    Progress,
    SampledArchitecture,
    SearchInfo,
)
from nas_core.spec import SearchSpec

# One genotype document per file, the API's download format (best and final, as `?which=`).
GENOTYPE_FILES = {"best": "genotype.json", "final": "genotype-final.json"}
# What a run leaves in its --out directory; --force deletes exactly these.
RUN_FILES = (
    "spec.json",
    *GENOTYPE_FILES.values(),
    "curves.csv",
    "alphas.json",
    "flatness.json",
    "benchmark.json",
    "samples.json",
    "checkpoints",
)
EXIT_OK, EXIT_FAILED, EXIT_BAD_SPEC, EXIT_CANCELLED = 0, 1, 2, 130


# --- help text generated from the spec --------------------------------------------------------


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return "|".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(annotation, "__name__", str(annotation))


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def spec_field_lines(model: type[BaseModel] = SearchSpec, prefix: str = "") -> Iterator[str]:
    """One line per spec field (nested sections flattened to dotted names) with type and default."""
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        dotted = f"{prefix}{name}"
        if nested is not None:
            yield f"  {dotted}: {info.description or 'section'}" + (
                " (may be null)" if type(None) in typing.get_args(info.annotation) else ""
            )
            yield from spec_field_lines(nested, dotted + ".")
            continue
        default = info.get_default(call_default_factory=True)
        shown = json.dumps(default, ensure_ascii=False) if default is not None else "null"
        type_name = _type_name(info.annotation)
        if callable(info.json_schema_extra):  # space, method: the registry's names (nas_core/spec.py)
            schema: dict[str, Any] = {}
            info.json_schema_extra(schema)
            type_name = "|".join(schema.get("enum", [])) or type_name
        line = f"  {dotted} ({type_name}, default {shown})"
        yield line + (f": {info.description}" if info.description else "")


def add_search_parser(sub: Any, name: str = "search") -> argparse.ArgumentParser:
    """The local search command's arguments (the `flatnas search run` command is built from this)."""
    search: argparse.ArgumentParser = sub.add_parser(
        name,
        help="run one search locally from a spec file",
        description="Run one search from a JSON or YAML spec; results and checkpoints go to --out.",
        epilog="spec fields (JSON/YAML keys; nested sections as dotted names):\n"
        + "\n".join(spec_field_lines())
        + "\n\nmethod_params depend on the method: see the `methods` command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("spec", help="spec file (.json, .yaml or .yml)")
    search.add_argument("--out", required=True, help="output directory (created; holds checkpoints too)")
    search.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    again = search.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    again.add_argument(
        "--force", action="store_true", help="--out holds another run: delete its results and start over"
    )
    search.add_argument("--no-progress", action="store_true", help="no progress bar (logs per epoch instead)")
    search.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice); 1 avoids stalls on a busy shared CPU",
    )
    benchmark_cli.add_benchmark_option(search)
    return search


def add_methods_parser(sub: Any, name: str = "methods") -> argparse.ArgumentParser:
    methods: argparse.ArgumentParser = sub.add_parser(
        name, help="list the search methods and their parameters"
    )
    methods.add_argument("--json", action="store_true", help="print the full description as JSON")
    return methods


def build_parser(prog: str = "python -m nas_core") -> argparse.ArgumentParser:
    """`python -m nas_core`'s own tree; the `flatnas` command builds its local commands from the
    same add_* functions (flatnas.cli.local)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="flatnas search engine: DARTS-family NAS with A2M"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_search_parser(sub)
    benchmark_cli.add_parser(sub)
    from nas_core.evaluation.cli import add_parser as add_evaluate

    add_evaluate(sub)
    add_methods_parser(sub)
    return parser


# --- the CLI's reporter -----------------------------------------------------------------------


class FileReporter(ConsoleRun):
    """Progress bar on stderr; results rewritten into the output directory after every epoch."""

    def __init__(self, out: Path, *, progress: bool = True, benchmark: str | None = None) -> None:
        from nas_core.benchmarks.cli import BenchmarkFile

        super().__init__(progress=progress)
        self.out = out
        self.ground_truth = BenchmarkFile(out, benchmark)
        self.epochs: list[EpochRecord] = []
        self.flatness: list[FlatnessRecord] = []

    def on_start(self, info: SearchInfo) -> None:
        self.ground_truth.start(info.space)
        self.start(
            total_epochs=info.total_epochs,
            steps_per_epoch=info.steps_per_epoch,
            start_epoch=info.start_epoch,
            summary=f"{info.method} on {info.space} ({info.num_params:,} weights, {info.device})",
        )

    def on_progress(self, progress: Progress) -> None:
        if self.bar is None and progress.phase == "flatness" and progress.detail:
            # a long quiet stretch without a bar: say what it is
            self.log(f"epoch {progress.epoch}: {activity_label(progress.phase, progress.detail)}")
        self.show(progress, activity_label(progress.phase, progress.detail))

    def on_epoch(self, record: EpochRecord) -> None:
        self.epochs.append(record)
        self.log(
            f"epoch {record.epoch}: train {record.train_loss:.3f}/{record.train_acc:.3f} "
            f"val {record.val_loss:.3f}/{record.val_acc:.3f} lr {record.lr:.4f} {record.seconds:.1f}s"
        )
        self.write_curves(self.epochs)

    def on_genotype(self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool) -> None:
        if is_best:
            write_json(self.out / GENOTYPE_FILES["best"], genotype)
        if is_final:
            write_json(self.out / GENOTYPE_FILES["final"], genotype)
        self.ground_truth.add(genotype, epoch=epoch, is_best=is_best, is_final=is_final)

    def on_flatness(self, record: FlatnessRecord) -> None:
        self.flatness.append(record)
        self.write_flatness(self.flatness)

    def on_samples(self, samples: list[SampledArchitecture]) -> None:
        write_json(self.out / "samples.json", [asdict(s) for s in samples])

    # --- files ---

    def write_curves(self, epochs: Sequence[EpochRecord]) -> None:
        with (self.out / "curves.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CURVE_FIELDS)
            for r in epochs:
                writer.writerow([getattr(r, k) for k in CURVE_FIELDS])
        write_json(
            self.out / "alphas.json",
            {"epochs": [{"epoch": r.epoch, "weights": r.alphas, "genotype": r.genotype} for r in epochs]},
        )

    def write_flatness(self, records: Sequence[FlatnessRecord]) -> None:
        # The shared export turns NaN/inf (a diverging Hessian estimate) into null: valid JSON.
        write_json(self.out / "flatness.json", flatness_records_to_json(records))


# --- commands ---------------------------------------------------------------------------------


def _print_spec_errors(path: str, err: ValidationError) -> None:
    from nas_core.strict import error_lines

    print(f"{path}: invalid spec", file=sys.stderr)
    for line in error_lines(err, SearchSpec):
        print(line, file=sys.stderr)


def previous_run_files(out: Path, names: Sequence[str] = RUN_FILES) -> list[str]:
    """The files of an earlier run in `out` (empty when `out` is missing or holds none)."""
    return [name for name in names if (out / name).exists()]


def remove_run_files(out: Path, names: Sequence[str] = RUN_FILES) -> None:
    """Delete what a run wrote into `out`, and nothing else the directory holds."""
    import shutil

    for name in names:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        tmp = out / (name + ".tmp")  # a write cut short (_write_json)
        if tmp.exists():
            tmp.unlink()


@contextmanager
def first_ctrl_c_stops(reporter: Any) -> Iterator[None]:
    """While a local run is inside: the first Ctrl-C sets `reporter.stop_requested`, so the run stops
    between steps and its newest checkpoint stays valid; a second one interrupts at once."""

    def request_stop(signum: int, frame: Any) -> None:
        reporter.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def claim_out_dir(out: Path, *, resume: bool, force: bool, names: Sequence[str] = RUN_FILES) -> str | None:
    """The rule for a command's --out directory, shared by `search` and `evaluate`: a directory
    that holds another run is refused unless --resume (continue it) or --force (delete that run's
    files, then start over). Returns the message to print when `out` may not be used, else None
    (after --force has deleted the earlier run)."""
    if out.exists() and not out.is_dir():
        return f"{out}: exists and is not a directory; --out names a directory"
    earlier = previous_run_files(out, names)
    if earlier and not (resume or force):
        return (
            f"{out} holds another run ({', '.join(earlier)}): continue it with --resume, "
            "delete it and start over with --force, or choose another --out"
        )
    if earlier and force:
        remove_run_files(out, names)
    return None


def release_out_dir(out: Path, *, created: bool, names: Sequence[str] = RUN_FILES) -> None:
    """After a run that failed before it had anything worth resuming: delete the files it wrote, and
    the directory too when this run created it and nothing else landed there."""
    remove_run_files(out, names)
    if created and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def local_data_roots() -> DataRoots:
    """The command line runs for a local, trusted user: dataset.root may be any directory, and a
    relative one is looked up under $FLATNAS_DATA_ROOT."""
    return DataRoots.parse(os.environ.get(ROOT_ENV), allow_absolute=True)


def cmd_search(args: argparse.Namespace) -> int:
    from nas_core.checkpoint import CheckpointError
    from nas_core.data import DatasetError
    from nas_core.methods import MethodUnavailable
    from nas_core.reporter import SearchCancelled, SearchDiverged
    from nas_core.search import DeviceUnavailable, run_search
    from nas_core.spec import load_spec_file

    try:
        spec = load_spec_file(args.spec)
    except ValidationError as err:
        _print_spec_errors(args.spec, err)
        return EXIT_BAD_SPEC
    except SpecFileError as err:
        print(err, file=sys.stderr)
        return EXIT_BAD_SPEC
    out = Path(args.out)
    refused = claim_out_dir(out, resume=args.resume, force=args.force)
    if refused is not None:
        print(refused, file=sys.stderr)
        return EXIT_BAD_SPEC
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", spec.model_dump(mode="json"))
    reporter = FileReporter(out, progress=not args.no_progress, benchmark=args.benchmark)

    with first_ctrl_c_stops(reporter):
        try:
            result = run_search(
                spec,
                reporter,
                device=args.device,
                workdir=out,
                resume=args.resume,
                data_roots=local_data_roots(),
            )
        except SearchCancelled as err:
            reporter.close()
            print(f"stopped: {err}; continue with --resume", file=sys.stderr)
            return EXIT_CANCELLED
        except (SearchDiverged, DatasetError, CheckpointError, MethodUnavailable, DeviceUnavailable) as err:
            reporter.close()
            print(f"failed: {err}", file=sys.stderr)
            return EXIT_FAILED
    reporter.close()
    if hasattr(result, "epochs"):  # the full history, including epochs run before a resume
        reporter.write_curves(result.epochs)
        reporter.write_flatness(result.flatness)
        write_json(out / GENOTYPE_FILES["best"], result.best_genotype)
        write_json(out / GENOTYPE_FILES["final"], result.final_genotype)
        alphas = json.loads((out / "alphas.json").read_text())
        alphas["final_raw"] = [a.tolist() for a in result.alphas]
        write_json(out / "alphas.json", alphas)
        best = result.best_genotype
        print(f"best genotype (epoch {result.best_epoch}): {best.get('arch_str') or best.get('darts_repr')}")
    print(f"results in {out}")
    return EXIT_OK


def cmd_methods(args: argparse.Namespace) -> int:
    from nas_core.methods import describe_methods

    described = describe_methods()
    if args.json:
        print(json.dumps(described, indent=2, ensure_ascii=False))
        return EXIT_OK
    for m in described:
        traits = [
            m["kind"],
            *(["A2M"] if m["supports_a2m"] else []),
            *(["cuda_graph"] if m["capturable"] else []),
        ]
        print(f"{m['name']} ({', '.join(traits)}): {m['summary']}")
        if not m["capturable"]:
            print(f"    no cuda_graph: {m['capture_note']}")
        for pname, prop in m["params"].get("properties", {}).items():
            print(f"    {pname} (default {json.dumps(prop.get('default'))}): {prop.get('description', '')}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m nas_core") -> int:
    """`prog` names the command in usage lines: the top-level `flatnas` command passes its own name."""
    args = build_parser(prog).parse_args(argv)
    if args.command == "search":
        return cmd_search(args)
    if args.command == "benchmark":
        return benchmark_cli.cmd_benchmark(args)
    if args.command == "evaluate":
        from nas_core.evaluation.cli import cmd_evaluate

        return cmd_evaluate(args)
    return cmd_methods(args)


if __name__ == "__main__":
    raise SystemExit(main())
