"""Seconds per training epoch of the evaluation protocols, on whatever device is here.

    python benchmarks/eval_epoch.py                        # darts and nb201, fp32
    python benchmarks/eval_epoch.py --precision bf16 --channels-last --steps 20
    python benchmarks/eval_epoch.py --paths fp32,bf16cl,compiled   # each path in one run

Each protocol trains its published network (darts: DARTS_V2, 20 cells, C=36, auxiliary head,
drop-path, cutout 16, batch 96; nb201: the NAS-Bench-201 optimum's cell, C=16, N=5, batch 256) with
the real loop (nas_core.evaluation.train.train_one_epoch) on CIFAR-shaped random images held on
the device. After `--warmup` steps, `--steps` steps are timed (device synced at both ends); the
epoch figure scales that to CIFAR-10's 50 000 training images plus the 10 000-image test pass,
which is timed on `--test-batches` batches and scaled the same way.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.search_step import machine  # noqa: E402
from nas_core.data import ImageSet  # noqa: E402
from nas_core.evaluation.data import EvalData  # noqa: E402
from nas_core.evaluation.networks import count_flops, count_params  # noqa: E402
from nas_core.evaluation.protocol import EvalSpec  # noqa: E402
from nas_core.evaluation.reporter import NullEvalReporter  # noqa: E402
from nas_core.evaluation.train import build_eval_state, test, train_one_epoch  # noqa: E402
from nas_core.genotype import DARTS_V2, Genotype  # noqa: E402
from nas_core.loop import StepClock  # noqa: E402
from nas_core.search import resolve_device  # noqa: E402
from nas_core.spaces.nb201_definition import parse_nb201_arch_str  # noqa: E402

CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
GENOTYPES: dict[str, Genotype] = {"darts": DARTS_V2, "nb201": parse_nb201_arch_str(NB201_BEST)}
#: --paths: the evaluation's runtime settings (fp32 eager is the reference).
PATHS: dict[str, dict[str, object]] = {
    "fp32": {"precision": "fp32", "channels_last": False},
    "bf16cl": {"precision": "bf16", "channels_last": True},
    "compiled": {"precision": "fp32", "channels_last": False, "compile": True},
    "compiled-bf16cl": {"precision": "bf16", "channels_last": True, "compile": True},
}


def random_images(n: int, device: torch.device, generator: torch.Generator) -> ImageSet:
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    return ImageSet(images.to(device), labels.to(device), num_classes=10, name="random")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    protocol: str, args: argparse.Namespace, device: torch.device, runtime: dict[str, object]
) -> dict[str, float]:
    overrides = {k: v for k, v in (("C", args.C), ("layers", args.layers), ("batch_size", args.batch)) if v}
    spec = EvalSpec.model_validate({"protocol": protocol, "runtime": runtime, **overrides})
    gen = torch.Generator().manual_seed(0)
    batch = spec.batch_size
    test_set = random_images(batch * args.test_batches, device, gen)

    def data(steps: int) -> EvalData:
        train = random_images(batch * steps, device, gen)
        mean = torch.full((1, 3, 1, 1), 127.5, device=device)
        return EvalData(train=train, test=test_set, mean=mean, std=mean.clone(), num_classes=10)

    state = build_eval_state(spec, GENOTYPES[protocol], data(args.warmup), device)
    epoch = spec.epochs // 2  # drop-path at half its final rate
    train_one_epoch(state, epoch, NullEvalReporter(), StepClock(args.warmup, 0))  # warm-up
    state.data = data(args.steps)
    sync(device)
    started = time.perf_counter()
    train_one_epoch(state, epoch, NullEvalReporter(), StepClock(args.steps, 0))
    sync(device)
    per_step = (time.perf_counter() - started) / args.steps
    batches = state.data.test_batches(max(batch, 256))
    test(state, batches[:1])
    sync(device)
    started = time.perf_counter()
    test(state, batches)
    sync(device)
    per_test_image = (time.perf_counter() - started) / len(test_set)
    epoch_s = per_step * math.ceil(CIFAR_TRAIN / batch) + per_test_image * CIFAR_TEST
    return {
        "params_m": count_params(state.model) / 1e6,
        "flops_m": count_flops(state.model, 32, device) / 1e6,
        "batch": batch,
        "step_s": per_step,
        "epoch_s": epoch_s,
        "run_h": epoch_s * spec.epochs / 3600,
        "epochs": spec.epochs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocols", default="darts,nb201")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--paths",
        default=None,
        help=f"comma list of {', '.join(PATHS)}; overrides --precision/--channels-last",
    )
    parser.add_argument("--C", type=int, default=None, help="smaller network (smoke runs)")
    parser.add_argument("--layers", type=int, default=None, help="smaller network (smoke runs)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: the protocol's)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--test-batches", type=int, default=2, help="test batches timed")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"machine: {machine(device)}")
    if args.paths:
        unknown = [p for p in args.paths.split(",") if p not in PATHS]
        if unknown:
            parser.error(f"--paths: unknown {', '.join(unknown)}; allowed: {', '.join(PATHS)}")
        paths = {p: PATHS[p] for p in args.paths.split(",")}
    else:
        name = f"{args.precision}{'cl' if args.channels_last else ''}"
        paths = {name: {"precision": args.precision, "channels_last": args.channels_last}}
    print(f"device {device}")
    print(
        f"{'protocol':8} {'path':16} {'params M':>8} {'FLOPs M':>8} {'batch':>5} {'s/step':>8} {'s/epoch':>9} "
        f"{'h/run':>8}"
    )
    failed = False
    for protocol in [p.strip() for p in args.protocols.split(",") if p.strip()]:
        for path, runtime in paths.items():
            try:
                r = measure(protocol, args, device, runtime)
            except Exception as err:  # one path failing (a compile) must not cost the others' figures
                print(f"{protocol:8} {path:16} failed: {type(err).__name__}: {str(err)[:300]}")
                failed = True
                continue
            print(
                f"{protocol:8} {path:16} {r['params_m']:8.3f} {r['flops_m']:8.1f} {r['batch']:5d} "
                f"{r['step_s']:8.4f} {r['epoch_s']:9.1f} {r['run_h']:8.2f}  ({r['epochs']:.0f} epochs)"
            )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
