"""`flatnas evaluate GENOTYPE.json --protocol darts|nb201 --out DIR [--set FIELD=VALUE ...]`.

GENOTYPE.json is one genotype document (the API's download, or a search's genotype.json (best) or
genotype-final.json), or an older search output holding {"best": ..., "final": ...} (--which picks
one, final by default).
DIR receives spec.json, curves.csv (one row per epoch), checkpoints/ and, at the end, result.json
with test_acc, params_m (millions, auxiliary head excluded) and flops_m.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flatnas.labels import epoch_label
from nas_core.cli import claim_out_dir, first_ctrl_c_stops, local_data_roots, release_out_dir
from nas_core.console_run import ConsoleRun, write_json
from nas_core.evaluation.protocol import PROTOCOLS, EvalSpec, set_field
from nas_core.evaluation.reporter import EvalEpochRecord, EvalInfo
from nas_core.genotype import Genotype, GenotypeError, genotype_from_json
from nas_core.reporter import Progress
from nas_core.strict import error_lines

EVAL_CURVE_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
# What an evaluation leaves in its --out directory; --force (and a failed fresh start) delete exactly these.
EVAL_RUN_FILES = ("spec.json", "curves.csv", "result.json", "checkpoints")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="train a genotype from scratch under a protocol and report its test accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("genotype", help="genotype JSON (API download) or a search's genotype.json")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), help="default: the genotype's space")
    p.add_argument("--out", required=True, help="output directory (created; holds checkpoints too)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a protocol or dataset field, e.g. --set epochs=2 --set dataset.name=digits "
        "(VALUE is read as JSON when it parses, else as a string)",
    )
    p.add_argument(
        "--which", choices=("best", "final"), default="final", help="from an older {best, final} file"
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    again.add_argument(
        "--force", action="store_true", help="--out holds another run: delete its results and start over"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (a line per epoch)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def read_genotype(path: str, which: str = "final") -> Genotype:
    """One genotype document, or the `which` entry of a search's {best, final} output."""
    doc = json.loads(Path(path).read_text())
    if isinstance(doc, dict) and "space" not in doc and which in doc:
        doc = doc[which]
    return genotype_from_json(doc)


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: expected FIELD=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        set_field(data, name.strip(), value)
    return data


class EvalFileReporter(ConsoleRun):
    """Progress bar on stderr; curves.csv rewritten after every epoch."""

    def __init__(self, out: Path, *, progress: bool = True) -> None:
        super().__init__(progress=progress)
        self.out = out
        self.epochs: list[EvalEpochRecord] = []

    def on_start(self, info: EvalInfo) -> None:
        self.epochs = [r for r in read_curves(self.out / "curves.csv") if r.epoch < info.start_epoch]
        self.start(
            total_epochs=info.total_epochs,
            steps_per_epoch=info.steps_per_epoch,
            start_epoch=info.start_epoch,
            summary=(
                f"{info.protocol} protocol: {info.params_m:.3f}M params, {info.flops_m:.1f}M FLOPs, "
                f"{info.train_images} train / {info.test_images} test images on {info.device} "
                f"({info.precision}{', channels_last' if info.channels_last else ''})"
            ),
        )

    def on_progress(self, progress: Progress) -> None:
        self.show(progress, progress.phase)

    def on_epoch(self, record: EvalEpochRecord) -> None:
        self.epochs.append(record)
        write_curves(self.out / "curves.csv", self.epochs)
        self.log(
            f"epoch {record.epoch}: train {record.train_loss:.3f}/{record.train_acc:.3f} "
            f"test {record.test_loss:.3f}/{record.test_acc:.3f} lr {record.lr:.4f} {record.seconds:.1f}s"
        )


def write_curves(path: Path, epochs: Sequence[EvalEpochRecord]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(EVAL_CURVE_FIELDS)
        for r in epochs:
            writer.writerow([getattr(r, k) for k in EVAL_CURVE_FIELDS])


def read_curves(path: Path) -> list[EvalEpochRecord]:
    """The epochs an earlier run wrote (kept when resuming); none when there is no file."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [
            EvalEpochRecord(
                epoch=int(row["epoch"]),
                train_loss=float(row["train_loss"]),
                train_acc=float(row["train_acc"]),
                test_loss=float(row["test_loss"]),
                test_acc=float(row["test_acc"]),
                lr=float(row["lr"]),
                seconds=float(row["seconds"]),
            )
            for row in csv.DictReader(f)
        ]


def _has_checkpoint(out: Path) -> bool:
    checkpoints = out / "checkpoints"
    return checkpoints.is_dir() and any(checkpoints.iterdir())


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nas_core.checkpoint import CheckpointError
    from nas_core.data import DatasetError
    from nas_core.evaluation.train import run_evaluation
    from nas_core.reporter import SearchCancelled, SearchDiverged
    from nas_core.search import DeviceUnavailable

    try:
        genotype = read_genotype(args.genotype, args.which)
        data = parse_overrides(args.set)
        data["protocol"] = args.protocol or data.get("protocol") or genotype.space
        spec = EvalSpec.model_validate(data)
    except ValidationError as err:
        print(f"{args.genotype}: invalid evaluation settings", file=sys.stderr)
        for line in error_lines(err, EvalSpec):
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError, GenotypeError) as err:
        print(f"{args.genotype}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    refused = claim_out_dir(out, resume=args.resume, force=args.force, names=EVAL_RUN_FILES)
    if refused is not None:
        print(refused, file=sys.stderr)
        return EXIT_BAD_INPUT
    # A fresh start that fails leaves nothing behind; a resumed run keeps its checkpoints.
    fresh = not (args.resume and (out / "checkpoints").is_dir())
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", spec.model_dump(mode="json"))
    reporter = EvalFileReporter(out, progress=not args.no_progress)

    with first_ctrl_c_stops(reporter):
        try:
            result = run_evaluation(
                spec,
                genotype,
                reporter,
                device=args.device,
                workdir=out,
                resume=args.resume,
                data_roots=local_data_roots(),
            )
        except SearchCancelled as err:
            if fresh and not _has_checkpoint(out):
                release_out_dir(out, created=created, names=EVAL_RUN_FILES)
                print(f"stopped: {err}, before the first checkpoint; nothing was kept", file=sys.stderr)
            else:
                print(f"stopped: {err}; continue with --resume", file=sys.stderr)
            return EXIT_CANCELLED
        except (SearchDiverged, DatasetError, CheckpointError, DeviceUnavailable, GenotypeError) as err:
            if fresh:  # nothing worth resuming: a diverged or unreadable run starts over
                release_out_dir(out, created=created, names=EVAL_RUN_FILES)
            print(f"failed: {err}", file=sys.stderr)
            return EXIT_FAILED
        except BaseException:
            # An unexpected error or a second Ctrl-C: keep checkpoints to resume, never a bare spec.json.
            if fresh and not _has_checkpoint(out):
                release_out_dir(out, created=created, names=EVAL_RUN_FILES)
            raise
        finally:
            reporter.close()
    write_curves(out / "curves.csv", result.epochs)
    write_json(
        out / "result.json", {**result.summary(), "protocol": spec.protocol, "dataset": spec.dataset.name}
    )
    print(
        f"test accuracy {result.test_acc:.4f} after "
        f"{epoch_label(result.epochs[-1].epoch, spec.epochs) if result.epochs else 'no epoch'}; "
        f"{result.params_m:.3f}M params, {result.flops_m:.1f}M FLOPs; results in {out}"
    )
    return EXIT_OK
