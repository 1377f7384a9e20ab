"""The CPU thread budget of a worker process: torch's intra-op threads from the cores it may use.

torch starts one intra-op thread per core by default, whatever else runs there. Its parallel
regions wait at a barrier for their slowest thread, so when the cores are shared (several
workers on one host, the API of `flatnas up`, other tenants) each step waits for a thread that
is not running: on a busy 2-core machine the README's example took 121 s instead of 9 s.

So every worker process sets its budget when it starts, before its first search:

1. `WORKER_THREADS` when set (the processes that start workers, `flatnas up` and
   `python -m worker.gpu_share`, set it for each child);
2. else `OMP_NUM_THREADS` when set (an operator's explicit choice is kept);
3. else the usable cores (CPU affinity, and a cgroup CPU quota when there is one) divided by the
   worker processes on the host (1 for a worker started on its own), at least 1.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: The setting (store.settings.WORKER_THREADS) each worker process reads.
THREADS_ENV = "WORKER_THREADS"
OMP_ENV = "OMP_NUM_THREADS"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity (taskset, a container's cpuset), lowered
    to a cgroup v2 CPU quota (`docker run --cpus 2`) when one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def default_threads(processes: int, cores: int | None = None) -> int:
    """Each of `processes` CPU-hungry processes on the host gets an equal share, at least 1."""
    if processes < 1:
        raise ValueError(f"processes: {processes}; at least 1")
    return max(1, (usable_cores() if cores is None else cores) // processes)


def _worker_threads(environ: Mapping[str, str]) -> int | None:
    text = environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{THREADS_ENV}={text!r}: allowed is a whole number >= 1")
    return int(text)


def _omp_threads(environ: Mapping[str, str]) -> int | None:
    """OMP_NUM_THREADS's outermost level ("4" or "4,2"); a value OpenMP itself would not accept
    is left to OpenMP and does not count as a choice."""
    first = environ.get(OMP_ENV, "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) >= 1 else None


def thread_budget(environ: Mapping[str, str], processes: int = 1) -> int:
    """The budget of one of `processes` workers on this host (the order in the module's doc)."""
    explicit = _worker_threads(environ) or _omp_threads(environ)
    return explicit if explicit is not None else default_threads(processes)


def child_env(environ: Mapping[str, str], processes: int) -> dict[str, str]:
    """What a process that starts `processes` workers on this host adds to each child's environment:
    the budget as WORKER_THREADS, and as OMP_NUM_THREADS so that the OpenMP runtime's default (read
    when torch loads, for every thread of the process) already agrees."""
    threads = str(thread_budget(environ, processes))
    return {THREADS_ENV: threads, OMP_ENV: threads}


def apply_thread_budget(threads: int | None = None) -> int:
    """Set torch's intra-op threads (and inter-op threads, when torch has not started that pool
    yet) to the budget; returns it. Called on the thread that runs the worker's tasks (a solo
    worker's main thread), because OpenMP keeps the thread count per calling thread."""
    if threads is None:
        from store.settings import settings

        threads = settings.WORKER_THREADS or thread_budget(os.environ)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only possible before any inter-op work; then the pool keeps its size
        log.debug("torch's inter-op pool already started; its size stays %d", torch.get_num_interop_threads())
    return threads
