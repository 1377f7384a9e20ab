"""Searches per hour with N searches sharing one device, as worker.gpu_share runs them.

    python benchmarks/concurrent_searches.py --device cuda --n 1,2,4
    python benchmarks/concurrent_searches.py --device cpu --n 1,2 --quick

Each search is its own process, capped at its memory share (worker.gpu_share.memory_fraction), and
runs a tiny-paper search: the paper's supernet and batch (nb201, C=16, N=5, batch 64, 32×32) for
`--steps` weight steps of one epoch on synthetic data, flatness metrics off. For each N, all N
start together; searches/hour = N × 3600 / (wall time until the last one ends). The processes'
start-up (imports, data) is inside the wall time, as it is for a worker's first search.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FLATNESS_OFF = {
    k: False
    for k in (
        "hessian_eigenvalue",
        "a2m_sharpness",
        "skip_count",
        "alpha_entropy",
        "neighbourhood",
        "cell_shape",
        "ranking_stability",
    )
}


def tiny_paper_spec(steps: int, quick: bool, seed: int) -> dict[str, object]:
    batch, C, N, size = (16, 4, 1, 16) if quick else (64, 16, 5, 32)
    return {
        "space": "nb201",
        "method": "darts",
        "a2m": None,
        "seed": seed,
        "epochs": 1,
        "batch_size": batch,
        "supernet": {"C": C, "N": N},
        # One epoch of `steps` weight steps: the weight half and the architecture half of 2·steps batches.
        "dataset": {"name": "synthetic", "subset": 2 * batch * steps, "image_size": size, "num_classes": 10},
        "flatness": FLATNESS_OFF,
    }


def child(spec_path: str, out: str, device: str, fraction: float) -> None:
    """One search in this process, under its memory share."""
    from nas_core.reporter import NullReporter
    from nas_core.search import run_search
    from nas_core.spec import SearchSpec
    from worker.gpu_share import apply_memory_share

    apply_memory_share(fraction)
    spec = SearchSpec.model_validate(json.loads(Path(spec_path).read_text()))
    run_search(spec, NullReporter(), device=device, workdir=out)


def run_batch(n: int, args: argparse.Namespace, workdir: Path) -> float:
    from worker.gpu_share import memory_fraction

    procs = []
    started = time.perf_counter()
    for k in range(n):
        spec_path = workdir / f"n{n}_{k}.json"
        spec_path.write_text(json.dumps(tiny_paper_spec(args.steps, args.quick, seed=k)))
        argv = [sys.executable, __file__, "--child", str(spec_path), str(workdir / f"n{n}_{k}"), args.device]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        procs.append(subprocess.Popen([*argv, str(memory_fraction(n))], cwd=REPO_ROOT, env=env))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a search failed (exit codes {codes})")
    return time.perf_counter() - started


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    parser.add_argument("--n", default="1,2,4", help="comma list of concurrent search counts")
    parser.add_argument("--steps", type=int, default=40, help="weight steps per search (default 40)")
    parser.add_argument("--quick", action="store_true", help="tiny supernet (C=4, N=1, 16×16, batch 16)")
    args = parser.parse_args()
    counts = [int(n) for n in args.n.split(",")]
    if any(n < 1 or n > 16 for n in counts):
        parser.error("--n: allowed are 1..16")
    setting = "C=4 N=1 16x16 batch 16" if args.quick else "C=16 N=5 32x32 batch 64"
    print(f"tiny-paper searches on {args.device}: nb201 darts, {setting}, {args.steps} steps each")
    print(f"{'N':>3} {'wall s':>8} {'searches/hour':>14}")
    with tempfile.TemporaryDirectory(prefix="flatnas_concurrent_") as tmp:
        for n in counts:
            wall = run_batch(n, args, Path(tmp))
            print(f"{n:>3} {wall:>8.1f} {n * 3600 / wall:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
