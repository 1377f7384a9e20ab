"""What each flatness metric costs, relative to one search epoch at the same configuration.

    .venv/bin/python benchmarks/flatness_cost.py                       # tiny-but-realistic CPU config
    .venv/bin/python benchmarks/flatness_cost.py --preset paper --device cuda   # paper settings, GPU
    .venv/bin/python benchmarks/flatness_cost.py --space darts --preset paper --device cuda

A real engine epoch (nas_core.loop.train_epoch: method step incl. A2M, weight step) on synthetic
data is timed, then every metric the hooks compute (spec.flatness defaults: 20 power iterations,
2 validation batches, 32 neighbours per radius) and the on-demand barrier landscape jobs. Everything runs
twice and the second run is reported, so one-off warm-up (allocator, cuDNN autotuning) is not
billed to either side. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_core.data import load_search_data  # noqa: E402
from nas_core.flatness.geometry import edit_distance, neighbourhood  # noqa: E402
from nas_core.flatness.hooks import FlatnessContext, epoch_metrics, final_metrics  # noqa: E402
from nas_core.flatness.jobs import barrier_records, evaluator_for  # noqa: E402
from nas_core.genotype import Genotype  # noqa: E402
from nas_core.loop import StepClock, build_state, train_epoch  # noqa: E402
from nas_core.reporter import NullReporter  # noqa: E402
from nas_core.spaces import SPACES, get_space  # noqa: E402
from nas_core.spec import SearchSpec  # noqa: E402

PRESETS = {
    # 16 steps per epoch of A2M-DARTS on a small NB201 supernet: seconds on a laptop core.
    "cpu-tiny": {"C": 8, "depth": 1, "batch": 32, "image_size": 16, "images": 1024},
    # The paper's NB201 / DARTS search: C=16, N=5 or 8 layers, batch 64, 32×32, a CIFAR-10-sized
    # training set (25,000 images per half, 391 steps per epoch).
    "paper": {"C": 16, "depth": None, "batch": 64, "image_size": 32, "images": 50_000},
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu-tiny")
    p.add_argument("--space", choices=list(SPACES), default="nb201")
    p.add_argument("--method", default="darts", help="a gradient method from the registry")
    p.add_argument("--no-a2m", action="store_true", help="time the epoch without A2M")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--images", type=int, default=None, help="synthetic training images (both halves)")
    p.add_argument("--C", type=int, default=None)
    p.add_argument("--depth", type=int, default=None, help="nb201 cells per stage / darts layers")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--power-iterations", type=int, default=20)
    p.add_argument("--val-batches", type=int, default=2)
    p.add_argument("--neighbour-samples", type=int, default=32)
    p.add_argument("--max-paths", type=int, default=6, help="paths of the barrier landscape job (distance 3)")
    return p.parse_args()


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    line = (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    )
    line += f", {torch.get_num_threads()} threads"
    if device.type == "cuda":
        line += f", {torch.cuda.get_device_name(device)}"
    return line


def build_spec(args: argparse.Namespace) -> SearchSpec:
    preset = PRESETS[args.preset]
    depth = args.depth or preset["depth"]
    shape: dict = {"C": args.C or preset["C"]}
    if depth is not None:
        shape[SPACES[args.space].depth_field] = depth
    return SearchSpec.model_validate(
        {
            "space": args.space,
            "method": args.method,
            "a2m": None if args.no_a2m else {"enabled": True},
            "epochs": 50,
            "batch_size": args.batch or preset["batch"],
            "supernet": shape,
            "dataset": {
                "name": "synthetic",
                "subset": args.images or preset["images"],
                "image_size": args.image_size or preset["image_size"],
            },
            "flatness": {
                "power_iterations": args.power_iterations,
                "val_batches": args.val_batches,
                "neighbour_samples": args.neighbour_samples,
            },
        }
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    spec = build_spec(args)
    data = load_search_data(spec.dataset, seed=spec.seed, device=device)
    state = build_state(spec, get_space(spec), data, device)
    steps = -(-len(data.train) // spec.batch_size)

    epoch_seconds = []
    for epoch in range(2):  # the second epoch is the figure; the first pays the warm-up
        sync(device)
        start = time.perf_counter()
        train_epoch(state, epoch, NullReporter(), StepClock(steps, 0))
        sync(device)
        epoch_seconds.append(time.perf_counter() - start)
    epoch = epoch_seconds[1]

    batches = data.eval_batches(spec.batch_size, spec.dataset.eval_subset)[: spec.flatness.val_batches]
    ctx = FlatnessContext(
        state.supernet,
        state.space,
        state.method,
        [a.detach().clone() for a in state.alphas],
        batches,
        state.criterion,
        spec,
        device,
    )
    genotype = state.space.derive(state.method.genotype_weights(ctx.alphas))
    rows: list[tuple[str, float]] = []
    for _ in range(2):  # second run reported
        records = epoch_metrics(ctx, 1) + final_metrics(ctx, genotype)
    for r in records:
        label = (
            r.kind
            if r.kind != "neighbourhood"
            else f"neighbourhood r={r.params['radius']} ({r.value['evaluated']} archs)"
        )
        rows.append((label, r.seconds))

    far = _at_distance(genotype, 3)
    other = [a + 0.5 * torch.randn_like(a) for a in ctx.alphas]
    for _ in range(2):
        evaluator = evaluator_for(ctx)  # fresh cache: the job's real cost
        barrier, line = barrier_records(
            ctx,
            genotype,
            far,
            max_paths=args.max_paths,
            alphas_a=ctx.alphas,
            alphas_b=other,
            evaluator=evaluator,
        )
    rows.append(
        (
            f"barrier landscape job (distance {barrier.value['distance']}, {barrier.value['paths']} paths)",
            barrier.seconds,
        )
    )
    rows.append((f"alpha-line barrier ({line.params['points']} points)", line.seconds))

    print(f"machine: {machine(device)}")
    print(
        f"config: {spec.space} C={spec.supernet.C} depth={spec.depth} "
        f"batch={spec.batch_size} image={spec.dataset.image_size} method={spec.method}"
        f"{'+a2m' if spec.a2m_enabled else ''} steps/epoch={steps} device={device}"
    )
    print(
        f"flatness: power_iterations={spec.flatness.power_iterations} val_batches={spec.flatness.val_batches} "
        f"(={sum(int(y.shape[0]) for _, y in batches)} images) neighbour_samples={spec.flatness.neighbour_samples}"
    )
    print(f"search epoch: {epoch:.3f} s (first epoch incl. warm-up {epoch_seconds[0]:.3f} s)")
    width = max(len(label) for label, _ in rows)
    print(f"{'metric'.ljust(width)}  {'seconds':>9}  {'x epoch':>8}")
    for label, seconds in rows:
        print(f"{label.ljust(width)}  {seconds:9.4f}  {seconds / epoch:8.4f}")
    per_epoch = sum(r.seconds for r in records if r.epoch is not None)
    print(
        f"per-epoch metrics together: {per_epoch:.3f} s = {per_epoch / epoch:.3f} epochs "
        f"(every {spec.flatness.interval} epochs: {per_epoch / epoch / spec.flatness.interval:.1%} overhead)"
    )


def _at_distance(genotype: Genotype, distance: int) -> Genotype:
    """A fixed architecture `distance` edits from `genotype` (the barrier landscape job's partner)."""
    rng = random.Random(0)
    candidate = genotype
    while edit_distance(genotype, candidate) < distance:
        candidate = neighbourhood(candidate, 1, 1, rng)[0]
    return candidate


if __name__ == "__main__":
    main()
