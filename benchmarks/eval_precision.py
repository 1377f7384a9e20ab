"""Does bf16 autocast (+ channels_last) hold the evaluation's accuracy against fp32?

    OMP_NUM_THREADS=1 python benchmarks/eval_precision.py                  # digits, 5 seeds
    python benchmarks/eval_precision.py --datasets digits,synthetic --seeds 0,1,2 --epochs 3 --C 8

Trains the same genotype (the NAS-Bench-201 optimum's cell) from scratch with the real evaluation
code (nas_core.evaluation.train.run_evaluation) once per seed and precision: `fp32` (the
reference) and `bf16` with channels_last. Each seed starts both precisions from the same weights
and batch order, so the per-seed difference is paired. Prints per-seed test accuracy after the
last epoch, mean ± sample std per precision, the paired difference bf16 − fp32, and the verdict of
the rule the `auto` default follows: bf16 holds accuracy when |mean Δ| ≤ max(1 pp, 2 × the larger
seed-to-seed std).

On a CPU this measures bf16's number format (the same 8-bit mantissa as on CUDA) through CPU
kernels; CUDA kernels round in other places, so the GPU figure is a separate check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_epoch import GENOTYPES  # noqa: E402
from benchmarks.search_step import machine  # noqa: E402
from nas_core.evaluation.protocol import EvalSpec  # noqa: E402
from nas_core.evaluation.reporter import NullEvalReporter  # noqa: E402
from nas_core.evaluation.train import run_evaluation  # noqa: E402
from nas_core.search import resolve_device  # noqa: E402

#: The runtime settings compared (fp32 eager is the reference).
PRECISIONS: dict[str, dict[str, object]] = {
    "fp32": {"precision": "fp32", "channels_last": False},
    "bf16": {"precision": "bf16", "channels_last": True},
}


def train(
    dataset: str, seed: int, runtime: dict[str, object], args: argparse.Namespace
) -> tuple[float, float]:
    """Test accuracy after the last epoch and the training seconds of one from-scratch run."""
    spec = EvalSpec.model_validate(
        {
            "protocol": "nb201",
            "seed": seed,
            "epochs": args.epochs,
            "batch_size": args.batch,
            "C": args.C,
            "layers": args.layers,
            "dataset": {"name": dataset, "augment": False},
            "runtime": runtime,
        }
    )
    with tempfile.TemporaryDirectory() as workdir:
        result = run_evaluation(
            spec, GENOTYPES["nb201"], NullEvalReporter(), device=args.device, workdir=workdir
        )
    assert result.precision == runtime["precision"], "the run did not compute in the precision asked"
    return result.test_acc, result.seconds


def verdict(fp32: list[float], bf16: list[float]) -> tuple[float, float, bool]:
    """Mean paired difference (bf16 − fp32), the noise bound, and whether bf16 stays within it."""
    delta = statistics.mean(b - f for b, f in zip(bf16, fp32, strict=True))
    noise = max(0.01, 2 * max(_std(fp32), _std(bf16)))
    return delta, noise, abs(delta) <= noise


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="digits", help="comma list of digits, synthetic")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma list of seeds")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=1, help="nb201: cells per stage")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(machine(resolve_device(args.device)))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start")
    print(
        f"nb201 protocol, C={args.C}, N={args.layers}, batch {args.batch}, {args.epochs} epochs, no augmentation"
    )
    held = True
    for dataset in args.datasets.split(","):
        accs: dict[str, list[float]] = {name: [] for name in PRECISIONS}
        for seed in seeds:
            row = []
            for name, runtime in PRECISIONS.items():
                acc, seconds = train(dataset, seed, runtime, args)
                accs[name].append(acc)
                row.append(f"{name} {acc:.4f} ({seconds:.1f} s)")
            print(f"{dataset} seed {seed}: " + ", ".join(row), flush=True)
        for name, values in accs.items():
            print(f"{dataset} {name}: {statistics.mean(values):.4f} ± {_std(values):.4f}")
        delta, noise, ok = verdict(accs["fp32"], accs["bf16"])
        diffs = ", ".join(f"{b - f:+.4f}" for b, f in zip(accs["bf16"], accs["fp32"], strict=True))
        print(
            f"{dataset} bf16 − fp32 per seed: {diffs}; mean {delta:+.4f} "
            f"({'within' if ok else 'beyond'} the noise bound {noise:.4f})"
        )
        held = held and ok
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")
    print("bf16 holds accuracy" if held else "bf16 does NOT hold accuracy")
    return 0 if held else 1


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    raise SystemExit(main())
