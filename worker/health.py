"""Worker liveness for container healthchecks: `python -m worker.health` exits 0 while it is alive.

A solo-pool worker runs its search on the thread that would answer `celery inspect ping`, so the
reaper thread (worker/reaper.py, which keeps sweeping during a search) touches a file after every
sweep that reached the database and the broker; the worker is healthy while that file is fresh.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from store.settings import settings


def liveness_file(data_dir: str | Path | None = None) -> Path:
    base = Path(data_dir) if data_dir is not None else Path(settings.DATA_DIR)
    return base / "workers" / f"{socket.gethostname()}.alive"


def touch_liveness(data_dir: str | Path | None = None) -> None:
    path = liveness_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def main(argv: list[str] | None = None) -> int:
    from worker.reaper import sweep_interval

    max_age = 3 * sweep_interval(settings.HEARTBEAT_TIMEOUT_S)
    parser = argparse.ArgumentParser(
        prog="python -m worker.health",
        description="Exit 0 while this host's worker is alive: its reaper refreshed "
        f"DATA_DIR/workers/<host>.alive within the last {max_age:.0f} s (3 sweeps; a sweep is "
        "HEARTBEAT_TIMEOUT_S / 2, at most 60 s) after reaching the database and the broker; else 1.",
    )
    parser.parse_args(argv)
    path = liveness_file()
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"unhealthy: {path} does not exist (the worker has not swept yet)", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"unhealthy: {path} is {age:.0f} s old (allowed {max_age:.0f} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
