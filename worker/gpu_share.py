"""Several searches per GPU: N solo worker processes per device, each with its share of the memory.

A small supernet leaves a large GPU mostly idle (the search step is bound by kernel launches), so
a node serves more searches per hour by running several worker processes on each GPU. Each is an
ordinary `celery worker --pool solo` (one search at a time, its own lease and heartbeat, the
health check unchanged), pinned to one GPU by CUDA_VISIBLE_DEVICES and capped at 1/N of its memory
by `torch.cuda.set_per_process_memory_fraction`, so one search that grows cannot starve the others
(it fails with an out-of-memory error of its own instead). The host's CPU cores are split the same
way: each worker gets WORKER_THREADS = usable cores ÷ workers (worker/threads.py), unless the
environment already sets WORKER_THREADS or OMP_NUM_THREADS.

    python -m worker.gpu_share --per-gpu 4 --gpus 0,1 -- -Q gpu --loglevel INFO

starts 8 workers (gpu0-0@host ... gpu1-3@host) and stops them all on SIGTERM/SIGINT. Processes
rather than threads or a prefork pool: CUDA contexts do not survive fork, and a crash or an
out-of-memory error stays inside one search.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from worker.threads import child_env

#: The setting (store.settings) each child worker reads: its fraction of the GPU's memory.
FRACTION_ENV = "GPU_MEMORY_FRACTION"
#: Headroom kept out of the shares: the CUDA context and allocator slack of every process.
RESERVE = 0.05


def memory_fraction(per_gpu: int) -> float:
    """Each worker's cap when `per_gpu` workers share one device."""
    if per_gpu < 1:
        raise ValueError(f"per_gpu: {per_gpu}; at least 1 worker per GPU")
    return round((1.0 - RESERVE) / per_gpu, 4)


def apply_memory_share(fraction: float | None = None) -> float | None:
    """Cap this process's CUDA allocations (called when the worker starts; no-op without CUDA)."""
    if fraction is None:
        from store.settings import settings

        fraction = settings.GPU_MEMORY_FRACTION
    if fraction is None:
        return None
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{FRACTION_ENV}={fraction}: allowed is 0 < fraction <= 1")
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(fraction, 0)
    return fraction


def worker_commands(
    per_gpu: int, gpus: Sequence[str], celery_args: Sequence[str], base_env: dict[str, str]
) -> list[tuple[list[str], dict[str, str]]]:
    """(argv, env) of every worker: `per_gpu` solo workers per GPU, unique node names."""
    fraction = memory_fraction(per_gpu)
    # The host's cores are shared by every worker it starts (worker/threads.py).
    threads = child_env(base_env, per_gpu * len(gpus))
    commands = []
    for gpu in gpus:
        for k in range(per_gpu):
            argv = [sys.executable, "-m", "celery", "-A", "worker.app:celery_app", "worker"]
            argv += ["--pool", "solo", "--concurrency", "1", "-n", f"gpu{gpu}-{k}@%h", *celery_args]
            env = {**base_env, FRACTION_ENV: str(fraction), **threads}
            if gpu != "cpu":
                env["CUDA_VISIBLE_DEVICES"] = gpu
            commands.append((argv, env))
    return commands


def run_workers(per_gpu: int, gpus: Sequence[str], celery_args: Sequence[str]) -> int:
    """Start the workers, forward SIGTERM/SIGINT to all of them, return when every one has exited."""
    children = [
        subprocess.Popen(argv, env=env)
        for argv, env in worker_commands(per_gpu, gpus, celery_args, dict(os.environ))
    ]

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes: list[int] = []
    while len(codes) < len(children):
        codes = [c for c in (child.poll() for child in children) if c is not None]
        if codes and len(codes) < len(children) and any(code != 0 for code in codes):
            forward(signal.SIGTERM, None)  # one worker died: stop the node so supervision restarts it
        time.sleep(0.5)
    return max(codes, default=0)


def _gpus(text: str) -> list[str]:
    if text == "auto":
        import torch

        count = torch.cuda.device_count()
        return [str(i) for i in range(count)] if count else ["cpu"]
    return [g.strip() for g in text.split(",") if g.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.gpu_share",
        description="Run N solo search workers per GPU, each capped at 1/N of its memory.",
        epilog="Arguments after `--` go to every `celery worker` (e.g. -Q gpu --loglevel INFO).",
    )
    parser.add_argument("--per-gpu", type=int, default=1, help="workers (concurrent searches) per GPU")
    parser.add_argument(
        "--gpus",
        default="auto",
        help="comma list of CUDA device indices, 'cpu', or auto (every GPU, else cpu)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.per_gpu < 1 or args.per_gpu > 64:
        parser.error("--per-gpu: allowed is 1..64")
    celery_args = rest[1:] if rest[:1] == ["--"] else rest
    return run_workers(args.per_gpu, _gpus(args.gpus), celery_args)


if __name__ == "__main__":
    raise SystemExit(main())
