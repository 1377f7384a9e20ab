"""Wall time of one search through the embedded service, the way a user meets it after `make run`.

Each measurement starts `flatnas up` from a checkout (this one, and `--before DIR`, e.g. a
`git archive` of an older commit) on a private SQLite database, embedded broker and free port,
waits until the API answers and the worker is ready, submits the spec (default: the README's
examples/tiny-nb201-digits.yaml) and reports the seconds from the submit to `succeeded`, with the
load average at both ends. Builds alternate within each round, so both see the same load.

    .venv/bin/python benchmarks/service_example.py --before /tmp/before --rounds 2

The service gets this shell's environment without OMP_NUM_THREADS, MKL_NUM_THREADS and
WORKER_THREADS, as a user's shell running `make run` would have it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC = REPO_ROOT / "examples" / "tiny-nb201-digits.yaml"
#: What a user's shell would not have set: the thread counts the measurement is about.
UNSET = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "WORKER_THREADS")
TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Measurement:
    build: str
    round: int
    seconds: float
    status: str
    load_start: float
    load_end: float
    threads: str  # what the worker reported (the after build) or "-"

    def line(self) -> str:
        return (
            f"{self.build:<8} round {self.round}  {self.seconds:7.1f} s  {self.status:<9}  "
            f"load1 {self.load_start:4.1f} -> {self.load_end:4.1f}  torch threads {self.threads}"
        )


def up_command(checkout: Path) -> list[str]:
    """`flatnas server up` as a checkout has it: builds before the CLI moved into flatnas/cli
    (99ac377 and older) start it as `python -m api.cli up`."""
    if (checkout / "flatnas" / "cli").is_dir():
        return [sys.executable, "-m", "flatnas.cli", "server", "up"]
    return [sys.executable, "-m", "api.cli", "up"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate, timeout_s: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def measure(build: str, root: Path, spec: Path, round_: int, timeout_s: float) -> Measurement:
    with tempfile.TemporaryDirectory(prefix=f"flatnas-example-{build}-") as tmp:
        directory = Path(tmp)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        env |= {
            "PYTHONPATH": str(root),
            "DATA_DIR": str(directory / "var"),
            "DATABASE_URL": f"sqlite:///{directory / 'var' / 'flatnas.db'}",
            "BROKER_URL": f"sqla+sqlite:///{directory / 'var' / 'broker.sqlite'}",
            "API_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        log = directory / "up.log"
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            up = subprocess.Popen(
                up_command(root),
                cwd=directory,  # no .env of the checkout is read
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait(lambda: _ready(url), 180, "the API did not answer", log)
            _wait(lambda: " ready." in log.read_text(errors="replace"), 180, "the worker was not ready", log)
            token = re.search(r"fnas_\S+", log.read_text()).group(0)  # type: ignore[union-attr]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"}
            load_start = os.getloadavg()[0]
            started = time.monotonic()
            response = httpx.post(f"{url}/searches", content=spec.read_bytes(), headers=headers, timeout=60)
            response.raise_for_status()
            search_id = response.json()["id"]
            status = "queued"
            while status not in TERMINAL and time.monotonic() - started < timeout_s:
                time.sleep(0.5)
                status = httpx.get(f"{url}/searches/{search_id}", headers=headers, timeout=60).json()[
                    "status"
                ]
            seconds = time.monotonic() - started
            found = re.search(r"runs on (\d+) torch thread", log.read_text(errors="replace"))
            return Measurement(
                build,
                round_,
                seconds,
                status,
                load_start,
                os.getloadavg()[0],
                found.group(1) if found else "-",
            )
        finally:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC, help="the spec to submit (default: the README's)")
    parser.add_argument("--before", type=Path, help="also measure `flatnas up` from this checkout")
    parser.add_argument("--rounds", type=int, default=1, help="alternated rounds (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="give up on one search after this long")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds: allowed is 1..10")
    builds = [("after", REPO_ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    print(f"cpu: {len(os.sched_getaffinity(0))} usable cores; load average {os.getloadavg()}", flush=True)
    print(f"spec: {args.spec}", flush=True)
    results: list[Measurement] = []
    for round_ in range(1, args.rounds + 1):
        for build, root in builds if round_ % 2 else builds[::-1]:
            result = measure(build, root, args.spec, round_, args.timeout)
            results.append(result)
            print(result.line(), flush=True)
    for build, _ in builds:
        mine = [r.seconds for r in results if r.build == build]
        print(f"{build:<8} median {statistics.median(mine):7.1f} s over {len(mine)} run(s)")
    return 0 if all(r.status == "succeeded" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
