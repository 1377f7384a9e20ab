"""Power iteration against Lanczos for the Hessian eigenvalue metric: Hessian-vector products (HVPs)
each needs to reach a relative residual ‖Hv − λv‖/|λ| ≤ tol, on the same α, the same validation
batches and the same start vector.

    .venv/bin/python benchmarks/hessian_methods.py                 # both spaces, 3 seeds, CPU
    .venv/bin/python benchmarks/hessian_methods.py --space nb201 --seeds 0 1 --tol 1e-2 1e-3

For each space and seed, a tiny supernet (the examples' sizes, on the learnable `synthetic` set) is
trained with A2M-DARTS; at the α after epoch 0 and after the last epoch both methods run from the
same N(0, I) start with a budget of --max-hvps products and stop at each tolerance. Reported per α:
the HVPs each needed (">max" when it never got there), both eigenvalues (Lanczos: largest
algebraic; power: largest magnitude, so they differ when a negative eigenvalue dominates) and the
seconds. One HVP is one double backward through the validation batches, so HVPs are the cost.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_core.data import load_search_data  # noqa: E402
from nas_core.flatness.alpha import hessian_eigenvalue  # noqa: E402
from nas_core.flatness.evaluation import batch_stat_mode  # noqa: E402
from nas_core.flatness.hooks import FlatnessContext, _val_loss_fn, metric_batches  # noqa: E402
from nas_core.loop import StepClock, build_state, train_epoch  # noqa: E402
from nas_core.reporter import NullReporter  # noqa: E402
from nas_core.spaces import get_space  # noqa: E402
from nas_core.spec import SearchSpec  # noqa: E402

SHAPES = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", choices=sorted(SHAPES), nargs="+", default=["nb201", "darts"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=3, help="search epochs before the last measurement")
    p.add_argument("--tol", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3])
    p.add_argument("--max-hvps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def spec_for(space: str, seed: int, epochs: int) -> SearchSpec:
    return SearchSpec.model_validate(
        {
            "space": space,
            "method": "darts",
            "epochs": epochs,
            "batch_size": 32,
            "seed": seed,
            "supernet": SHAPES[space],
            "dataset": {"name": "synthetic", "subset": 256, "image_size": 8, "augment": False},
            "flatness": {"val_batches": 2},
        }
    )


def measure(ctx: FlatnessContext, tol: float, max_hvps: int) -> dict[str, tuple[int | None, float, float]]:
    """method -> (HVPs to tol or None, eigenvalue, seconds)."""
    loss_fn = _val_loss_fn(ctx, metric_batches(ctx))
    out = {}
    for method in ("lanczos", "power"):
        generator = torch.Generator().manual_seed(ctx.spec.seed)
        start = time.perf_counter()
        with batch_stat_mode(ctx.supernet):
            r = hessian_eigenvalue(
                loss_fn, ctx.alphas, method=method, iterations=max_hvps, generator=generator, tol=tol
            )
        seconds = time.perf_counter() - start
        out[method] = (r.hvps if r.residual <= tol else None, r.eigenvalue, seconds)
    return out


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); budget {args.max_hvps} HVPs")
    print(
        f"{'space':6} {'seed':>4} {'α after':>8} {'tol':>6} {'lanczos':>8} {'power':>8} {'λ lanczos':>10} {'λ power':>10}"
    )
    ratios: dict[float, list[float]] = {t: [] for t in args.tol}
    for space in args.space:
        for seed in args.seeds:
            spec = spec_for(space, seed, args.epochs)
            data = load_search_data(spec.dataset, seed=spec.seed, device="cpu")
            state = build_state(spec, get_space(spec), data, torch.device("cpu"))
            steps = -(-len(data.train) // spec.batch_size)
            batches = data.eval_batches(spec.batch_size)[: spec.flatness.val_batches]
            for epoch in range(args.epochs):
                train_epoch(state, epoch, NullReporter(), StepClock(steps, 0))
                if epoch not in (0, args.epochs - 1):
                    continue
                alphas = [a.detach().clone() for a in state.alphas]
                ctx = FlatnessContext(
                    state.supernet, state.space, state.method, alphas, batches, state.criterion, spec, "cpu"
                )
                for tol in args.tol:
                    m = measure(ctx, tol, args.max_hvps)
                    (ln, ll, _), (pn, pl, _) = m["lanczos"], m["power"]
                    shown = [str(n) if n is not None else f">{args.max_hvps}" for n in (ln, pn)]
                    print(
                        f"{space:6} {seed:4d} {'epoch ' + str(epoch):>8} {tol:6.0e} {shown[0]:>8} {shown[1]:>8} "
                        f"{ll:10.4f} {pl:10.4f}",
                        flush=True,
                    )
                    ratios[tol].append((pn or args.max_hvps) / (ln or args.max_hvps))
    for tol, values in ratios.items():
        if values:
            print(
                f"tol {tol:.0e}: power needs {statistics.median(values):.1f}× the HVPs of Lanczos (median; "
                f"min {min(values):.1f}×, max {max(values):.1f}×, over {len(values)} α; "
                "a run that never converged counts as the budget)"
            )


if __name__ == "__main__":
    main()
