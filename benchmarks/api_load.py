"""API latency and throughput under concurrent load: GET /searches/{id} and POST /searches.

By default it starts its own service on loopback: a fresh PostgreSQL database (migrated, dropped at
the end), Redis as the broker on a private queue that no worker consumes (POST enqueues for real),
and uvicorn serving api.app:app. `--target URL --api-key KEY` measures a running service instead
(loopback only: this is a benchmark, not a load generator for other people's machines).

    .venv/bin/python benchmarks/api_load.py [--concurrency 32] [--requests 2000] [--duration 20]

Prints the machine, then per endpoint: requests, errors, p50/p90/p99 latency and throughput. The
client shares the machine with the server, so figures are for this machine as a whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("FLATNAS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FLATNAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

SPEC = {
    "name": "load",
    "space": "nb201",
    "method": "darts",
    "dataset": {"name": "synthetic", "subset": 64, "image_size": 8},
    "epochs": 1,
    "batch_size": 16,
    "supernet": {"C": 4, "N": 1},
    "tags": ["bench"],
}


@dataclass
class Result:
    name: str
    latencies: list[float]
    errors: int
    wall: float

    def line(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies)
        if not ms:
            return f"{self.name:<22} no successful requests ({self.errors} errors)"
        q = statistics.quantiles(ms, n=100, method="inclusive")
        return (
            f"{self.name:<22} n={len(ms):>5}  errors={self.errors:<3} p50={q[49]:7.1f} ms  "
            f"p90={q[89]:7.1f} ms  p99={q[98]:7.1f} ms  max={ms[-1]:7.1f} ms  "
            f"throughput={len(ms) / self.wall:7.1f} req/s"
        )


async def load(
    name: str,
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    client: httpx.AsyncClient,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    expected: int,
) -> Result:
    """`concurrency` closed-loop clients share a budget of `max_requests`, stopped at `max_seconds`."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def user() -> None:
        nonlocal issued, errors
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            try:
                response = await request(client)
                ok = response.status_code == expected
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return Result(name, latencies, errors, time.perf_counter() - started)


async def run_benchmark(base_url: str, api_key: str, args: argparse.Namespace) -> list[Result]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        created = await client.post("/searches", json=SPEC)
        created.raise_for_status()
        search_id = created.json()["id"]
        # Warm up connections, the pool and the server's caches before measuring.
        await load(
            "warm-up",
            lambda c: c.get(f"/searches/{search_id}"),
            client,
            concurrency=args.concurrency,
            max_requests=args.concurrency * 4,
            max_seconds=10,
            expected=200,
        )
        results = []
        for name, request, expected in (
            ("GET /searches/{id}", lambda c: c.get(f"/searches/{search_id}"), 200),
            ("POST /searches", lambda c: c.post("/searches", json=SPEC), 201),
        ):
            results.append(
                await load(
                    name,
                    request,
                    client,
                    concurrency=args.concurrency,
                    max_requests=args.requests,
                    max_seconds=args.duration,
                    expected=expected,
                )
            )
        return results


# --- a private service to measure -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_service(api_workers: int) -> Iterator[tuple[str, str, str]]:
    """(base_url, admin key, database description) of a service started for this run."""
    import redis
    from sqlalchemy import text

    from store.db import Database, make_engine
    from store.migrate import upgrade
    from store.repositories.keys import create_key

    name = f"flatnas_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        pg_version = conn.execute(text("SHOW server_version")).scalar_one()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    queue = f"{name}_q"
    process = None
    try:
        upgrade(url)
        database = Database(url)
        with database.session() as session:
            _, token = create_key(session, "bench", "admin")
        database.dispose()
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "BROKER_URL": REDIS_URL,
            "FLATNAS_QUEUE": queue,
            "ENV": "development",
        }
        argv = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(api_workers), "--no-access-log", "--log-level", "warning"]
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        yield (
            base_url,
            token,
            f"PostgreSQL {pg_version} (fresh database), Redis broker, {api_workers} uvicorn worker(s)",
        )
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{queue}*")) + list(
            client.scan_iter(match=f"_kombu.binding.{queue}")
        )
        if keys:
            client.delete(*keys)
        client.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load1, load5, _ = os.getloadavg()
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, load average {load1:.1f}/{load5:.1f} (1/5 min); "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint at most")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint at most")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--target", help="measure a running service at this loopback URL instead")
    parser.add_argument("--api-key", help="a submit or admin key for --target")
    args = parser.parse_args(argv)
    if not (1 <= args.concurrency <= 512 and 1 <= args.requests <= 100_000 and 0 < args.duration <= 300):
        parser.error("allowed: --concurrency 1..512, --requests 1..100000, --duration 0..300 s")

    print(f"machine: {machine()}")
    print(
        f"load: {args.concurrency} concurrent clients, <= {args.requests} requests or {args.duration:.0f} s each"
    )
    if args.target:
        if urlsplit(args.target).hostname not in LOOPBACK:
            parser.error(f"--target {args.target}: only loopback addresses are allowed")
        if not args.api_key:
            parser.error("--target needs --api-key")
        print(f"service: {args.target}")
        results = asyncio.run(run_benchmark(args.target.rstrip("/"), args.api_key, args))
    else:
        with private_service(args.api_workers) as (base_url, token, description):
            print(f"service: {description}")
            results = asyncio.run(run_benchmark(base_url, token, args))
    for result in results:
        print(result.line())
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
