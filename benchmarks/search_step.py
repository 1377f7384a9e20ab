"""Seconds per search step and per epoch, at the paper's settings, on whatever device is here.

    python benchmarks/search_step.py                       # DARTS and DARTS+A2M on nb201
    python benchmarks/search_step.py --methods all --steps 3
    python benchmarks/search_step.py --space darts --precision bf16 --fused
    python benchmarks/search_step.py --paths plain,bf16cl,fused,compiled,all   # fast paths side by side
    python benchmarks/search_step.py --paths plain,fused,fused+graph --warmup 4   # the captured step

Each method runs the real loop (nas_core.loop.train_epoch) on 32×32 synthetic data held on the
device, batch 64, C=16, N=5 (nb201) or 8 layers (darts). After `--warmup` steps, the next `--steps`
are timed (with a device sync at each step boundary, for the measurement only). "passes" counts
supernet forward calls per step; "first s" is the first (warm-up) step, which includes any
compilation; "peak MiB" is the device's peak allocated memory (CUDA only). The epoch figure is 391 steps (CIFAR-10's 25 000-image weight half
at batch 64) plus one evaluation of the 25 000-image architecture half.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from nas_core.captured import WARMUP_STEPS
from nas_core.data import load_search_data
from nas_core.loop import StepClock, build_state, evaluate, train_epoch
from nas_core.methods import METHODS
from nas_core.reporter import NullReporter
from nas_core.search import resolve_device
from nas_core.spaces import SPACES, get_space
from nas_core.spec import DatasetConfig, SearchSpec

CIFAR_HALF = 25_000


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    parts = [f"CPU {cpu} ({torch.get_num_threads()} torch threads)", f"torch {torch.__version__}"]
    if device.type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    return ", ".join(parts)


def method_list(text: str) -> list[str]:
    if text != "all":
        return [m.strip() for m in text.split(",") if m.strip()]
    names = []
    for name, info in METHODS.items():
        if info.kind != "gradient":
            continue
        names.append(name)
        if info.supports_a2m:
            names.append(f"{name}+a2m")
    return names


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: The fast paths by name: runtime settings on top of the command line's.
PATHS: dict[str, dict[str, object]] = {
    "plain": {"precision": "fp32", "channels_last": False, "fused_cells": False, "compile": "none"},
    "bf16cl": {"precision": "bf16", "channels_last": True, "fused_cells": False, "compile": "none"},
    "fused": {"precision": "fp32", "channels_last": False, "fused_cells": True, "compile": "none"},
    "compiled": {"precision": "fp32", "channels_last": False, "fused_cells": False, "compile": "cells"},
    "all": {"precision": "bf16", "channels_last": True, "fused_cells": True, "compile": "cells"},
    # The captured step (runtime.cuda_graph, nas_core.captured): replayed CUDA graphs on CUDA; on a
    # CPU the same static-buffer step called directly ("direct"), which only shows that it runs.
    "graph": {"precision": "fp32", "channels_last": False, "fused_cells": False, "compile": "none"},
    "fused+graph": {"precision": "fp32", "channels_last": False, "fused_cells": True, "compile": "none"},
}
GRAPH_PATHS = ("graph", "fused+graph")


def bench_spec(entry: str, args: argparse.Namespace, runtime: dict[str, object]) -> SearchSpec:
    """The spec one benchmark entry ("darts", "darts+a2m") runs, at the command line's sizes."""
    method, _, wrapper = entry.partition("+")
    space = SPACES[args.space]
    return SearchSpec(
        space=args.space,
        method=method,
        a2m={"enabled": True} if wrapper == "a2m" else None,
        batch_size=args.batch,
        epochs=50,
        supernet={"C": args.C, space.depth_field: args.depth or space.default_depth},
        runtime=runtime,
    )


def bench(
    entry: str,
    args: argparse.Namespace,
    device: torch.device,
    runtime: dict[str, object] | None = None,
    step_mode: str = "eager",
) -> dict[str, float]:
    spec = bench_spec(
        entry,
        args,
        runtime
        or {
            "precision": args.precision,
            "fused_cells": args.fused,
            "channels_last": args.channels_last,
            "compile": "cells" if args.compile else "none",
        },
    )
    total = args.warmup + args.steps
    data_cfg = DatasetConfig(
        name="synthetic", subset=2 * args.batch * total, image_size=args.image_size, num_classes=10
    )
    data = load_search_data(data_cfg, seed=0, device=device)
    state = build_state(spec, get_space(spec), data, device, step_mode=step_mode)  # type: ignore[arg-type]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()

    passes = [0]
    handle = state.supernet.register_forward_pre_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))
    marks: dict[int, tuple[float, int]] = {}

    def mark(step: int) -> None:
        sync(device)
        marks[step] = (time.perf_counter(), passes[0])

    train_epoch(state, 0, NullReporter(), StepClock(total, 0), step_hook=mark)
    handle.remove()
    (t0, p0), (t1, p1) = marks[args.warmup - 1], marks[total - 1]
    first_s = marks[0][0] - started
    step_s = (t1 - t0) / args.steps

    eval_batches = data.eval_batches(args.batch)[:2]
    evaluate(state, eval_batches[:1])
    sync(device)
    start = time.perf_counter()
    evaluate(state, eval_batches)
    sync(device)
    eval_batch_s = (time.perf_counter() - start) / len(eval_batches)
    steps_per_epoch = -(-CIFAR_HALF // args.batch)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {
        "first_s": first_s,
        "peak_mib": peak,
        "passes": (p1 - p0) / args.steps,
        "step_s": step_s,
        "epoch_s": steps_per_epoch * (step_s + eval_batch_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per method (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument(
        "--methods", default="darts,darts+a2m", help="comma list (name or name+a2m), or 'all'"
    )
    parser.add_argument("--space", default="nb201", choices=tuple(SPACES))
    parser.add_argument("--fused", action="store_true", help="runtime.fused_cells")
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16"), help="bf16 autocast (CUDA only)"
    )
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format (CUDA only)")
    parser.add_argument("--compile", action="store_true", help="runtime.compile cells")
    parser.add_argument(
        "--paths",
        default=None,
        help=f"comma list of fast paths to compare in one run ({', '.join(PATHS)}); overrides the flags above",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument(
        "--depth", type=int, default=None, help="cells per stage (nb201, 5) or layers (darts, 8)"
    )
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    device = resolve_device(args.device)
    print(machine(device))
    paths = [p.strip() for p in args.paths.split(",")] if args.paths else [""]
    unknown = [p for p in paths if p and p not in PATHS]
    if unknown:
        parser.error(f"--paths: unknown {unknown}; allowed: {list(PATHS)}")
    print(
        f"space {args.space}, batch {args.batch}, C={args.C}, depth {args.depth or 'paper'}, "
        f"{args.image_size}x{args.image_size} synthetic on {device}, "
        f"{args.steps} timed steps after {args.warmup} warm-up"
    )
    if not args.paths:
        print(f"precision {args.precision}, fused {args.fused}, compile {args.compile}")
    if any(p in GRAPH_PATHS for p in paths) and args.warmup <= WARMUP_STEPS:
        # Time replays only: the graph's warm-up steps and its capture come first.
        args.warmup = WARMUP_STEPS + 1
        print(
            f"graph paths: --warmup raised to {args.warmup} (eager warm-up and capture untimed; "
            "'passes' counts Python forward calls, which a replay does not make)"
        )
    print(
        f"{'method':<18} {'path':<12} {'passes':>6} {'first s':>8} {'s/step':>8} {'s/epoch':>8} {'peak MiB':>9}"
    )
    failed = 0
    for entry in method_list(args.methods):
        for path in paths:
            try:
                mode = ("graph" if device.type == "cuda" else "direct") if path in GRAPH_PATHS else "eager"
                r = bench(entry, args, device, PATHS[path] if path else None, mode)
            except Exception as exc:  # one path failing must not cost the other paths' figures
                failed += 1
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                print(
                    f"{entry:<18} {path or '-':<12} FAILED: {type(exc).__name__}: {reason[:300]}", flush=True
                )
                continue
            print(
                f"{entry:<18} {path or '-':<12} {r['passes']:>6.1f} {r['first_s']:>8.2f} {r['step_s']:>8.4f} "
                f"{r['epoch_s']:>8.1f} {r['peak_mib']:>9.0f}",
                flush=True,
            )
    if failed:
        raise SystemExit(f"{failed} method/path pair(s) failed")


if __name__ == "__main__":
    main()
