"""The captured search step (runtime.cuda_graph) against the eager loop, step for step.

    python benchmarks/graph_check.py                         # CUDA: graph vs eager, 20 steps
    python benchmarks/graph_check.py --device cpu --C 4 --depth 1 --batch 16 --image-size 8 --steps 4

Each method runs `--steps` steps of the real loop (nas_core.loop.train_epoch) from the same seed,
once eagerly and once capture-ready ("graph" on CUDA: 3 eager warm-up steps, then one capture
replayed; "direct" on a CPU: the same static-buffer step called directly), then one evaluation
pass. It prints the largest relative difference of α, of the weights and of the validation loss,
next to the same figure for two eager runs (the device's own run-to-run floor: cuDNN picks
kernels per run). A method passes when graph-vs-eager stays within `--tolerance` or within 10×
the eager floor. Exit status 1 if any method fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.search_step import bench_spec, machine  # noqa: E402
from nas_core.data import load_search_data  # noqa: E402
from nas_core.loop import SearchState, StepClock, build_state, evaluate, train_epoch  # noqa: E402
from nas_core.reporter import NullReporter  # noqa: E402
from nas_core.search import resolve_device  # noqa: E402
from nas_core.spaces import SPACES, get_space  # noqa: E402
from nas_core.spec import DatasetConfig  # noqa: E402


def run(entry: str, args: argparse.Namespace, device: torch.device, mode: str) -> tuple[SearchState, float]:
    spec = bench_spec(entry, args, {"fused_cells": args.fused})
    data_cfg = DatasetConfig(
        name="synthetic", subset=2 * args.batch * args.steps, image_size=args.image_size, num_classes=10
    )
    data = load_search_data(data_cfg, seed=0, device=device)
    state = build_state(spec, get_space(spec), data, device, step_mode=mode)  # type: ignore[arg-type]
    train_epoch(state, 0, NullReporter(), StepClock(args.steps, 0))
    val_loss, _ = evaluate(state, data.eval_batches(args.batch)[:2])
    return state, val_loss


def relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = sum(float((x.double() - y.double()).norm() ** 2) for x, y in zip(a, b, strict=True)) ** 0.5
    den = sum(float(x.double().norm() ** 2) for x in a) ** 0.5
    return num / max(den, 1e-30)


def compare(x: tuple[SearchState, float], y: tuple[SearchState, float]) -> tuple[float, float, float]:
    (s, v), (t, w) = x, y
    weights = lambda st: [p.detach() for p in st.supernet.state_dict().values() if p.is_floating_point()]  # noqa: E731
    return (
        relative([a.detach() for a in s.arch_parameters], [a.detach() for a in t.arch_parameters]),
        relative(weights(s), weights(t)),
        abs(v - w) / max(abs(v), 1e-30),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", default="darts,darts+a2m,sdarts-rs")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--space", default="nb201", choices=tuple(SPACES))
    parser.add_argument("--fused", action="store_true", help="runtime.fused_cells on both runs")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="relative difference allowed")
    args = parser.parse_args()
    device = resolve_device(args.device)
    mode = "graph" if device.type == "cuda" else "direct"
    print(machine(device))
    print(
        f"space {args.space}, C={args.C}, depth {args.depth or 'paper'}, batch {args.batch}, "
        f"{args.steps} steps, eager vs {mode}{', fused cells' if args.fused else ''}"
    )
    print(f"{'method':<16} {'α rel':>9} {'w rel':>9} {'val rel':>9} | {'eager floor α, w, val':>30}  verdict")
    failed = []
    for entry in [m.strip() for m in args.methods.split(",") if m.strip()]:
        eager = run(entry, args, device, "eager")
        floor = compare(eager, run(entry, args, device, "eager"))
        ready = run(entry, args, device, mode)
        if mode == "graph":
            assert ready[0].captured_step is not None and ready[0].captured_step.replay.captured
        diff = compare(eager, ready)
        ok = all(d <= max(args.tolerance, 10 * f) for d, f in zip(diff, floor, strict=True))
        print(
            f"{entry:<16} {diff[0]:9.2e} {diff[1]:9.2e} {diff[2]:9.2e} | "
            f"{floor[0]:9.2e} {floor[1]:9.2e} {floor[2]:9.2e}  {'ok' if ok else 'DIFFERS'}"
        )
        if not ok:
            failed.append(entry)
    if failed:
        print(f"graph and eager differ for: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
