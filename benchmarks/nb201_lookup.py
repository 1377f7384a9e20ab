"""What NAS-Bench-201 ground truth costs a search: the first open, and the lookups of one epoch.

    .venv/bin/python benchmarks/nb201_lookup.py                      # writes the test benchmark first
    .venv/bin/python benchmarks/nb201_lookup.py --benchmark /data/NATS-tss-v1_0-3ffb9-simple

Without --benchmark it writes the tests' benchmark (all 15,625 architectures in NATS-Bench's
fast-mode directory layout, through the nats_bench package's classes) to a temporary directory.
Then, in a fresh process state: the first open, and `--epochs` epochs of what the worker's reporter
does per epoch (GroundTruth.rows_for on that epoch's genotype, plus the best/final copies), with
a new architecture at every epoch (the expensive case: nothing cached) and with a repeated one
(what a converged search sees), and the background optimum scan. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_core.benchmarks.ground_truth import GroundTruth  # noqa: E402
from nas_core.benchmarks.nb201 import NUM_ARCHITECTURES, open_configured  # noqa: E402
from tests.fixtures import nb201_benchmark as written  # noqa: E402


def _summary(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(0.9 * (len(values) - 1))]
    return f"mean {statistics.fmean(values):.3f} ms, median {statistics.median(values):.3f} ms, p90 {p90:.3f} ms, max {values[-1]:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", help="an existing benchmark (default: write the tests' one)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    path = args.benchmark
    if path is None:
        target = Path(tempfile.mkdtemp(prefix="nb201-")) / "NATS-tss-v1_0-3ffb9-simple"
        started = time.perf_counter()
        written.write_nats_directory(target)
        print(
            f"wrote the test benchmark (15,625 architectures) in {time.perf_counter() - started:.1f} s: {target}"
        )
        path = str(target)

    truth = GroundTruth(path, compute_optimum=False)
    status = truth.start("nb201")
    print(f"first open ({status.layout}): {1e3 * (status.open_seconds or 0):.1f} ms")
    if status.state != "ready":
        print(f"no benchmark: {status.detail}")
        return

    rng = random.Random(args.seed)
    fresh = rng.sample(range(NUM_ARCHITECTURES), args.epochs)
    genotypes = {i: written.genotype_json(i) for i in [*fresh, fresh[0]]}

    def epoch_ms(index: int, epoch: int) -> float:
        started = time.perf_counter()
        truth.rows_for(genotypes[index], epoch=epoch, is_best=epoch % 3 == 0)
        return 1e3 * (time.perf_counter() - started)

    new = [epoch_ms(index, epoch) for epoch, index in enumerate(fresh)]
    repeated = [epoch_ms(fresh[0], epoch) for epoch in range(args.epochs)]
    print(f"per epoch, a new architecture each epoch ({args.epochs} epochs): {_summary(new)}")
    print(f"per epoch, the same architecture again ({args.epochs} epochs): {_summary(repeated)}")

    benchmark = open_configured(path)
    started = time.perf_counter()
    optimum = benchmark.optimum()
    best = optimum["cifar10"]
    print(
        f"optimum scan of all {NUM_ARCHITECTURES} architectures (in this process; a worker runs it in a nice-19 child process): "
        f"{time.perf_counter() - started:.1f} s; CIFAR-10 best index {best.index}, "
        f"test {best.results['cifar10'].test_acc:.2f} %"
    )


if __name__ == "__main__":
    main()
