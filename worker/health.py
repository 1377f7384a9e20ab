"""Worker liveness for container healthchecks: `python -m worker.health` exits 0 while it is alive.

A solo-pool worker runs its search on the thread that would answer `celery inspect ping`, so the
reaper thread (which keeps sweeping during a search) touches a file after every sweep that reached
the database; the worker is healthy while that file is fresh.
"""

from __future__ import annotations

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


def main() -> int:
    from worker.reaper import sweep_interval

    path = liveness_file()
    max_age = 3 * sweep_interval(settings.HEARTBEAT_TIMEOUT_S)
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
