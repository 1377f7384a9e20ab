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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
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
    #: What each failure was (an unexpected status with the start of its body, or the exception):
    #: one in thousands is otherwise impossible to diagnose after the run.
    failures: Counter[str] = field(default_factory=Counter)

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


def describe_failure(response: httpx.Response | None, error: BaseException | None = None) -> str:
    """One line naming a failed request: its status and the start of its body, or the exception
    (its type, text and cause: httpx wraps the transport's error)."""
    if error is not None:
        cause = error.__cause__ or error.__context__
        text = f"{type(error).__name__}: {error}"
        if cause is not None:
            text += f" (from {type(cause).__name__}: {cause})"
        return text
    assert response is not None
    body = " ".join(response.text.split())[:200]
    return f"HTTP {response.status_code}: {body}"


def failure_lines(results: list[Result]) -> list[str]:
    """The failures of every measurement, most frequent first, for the summary."""
    lines = []
    for result in results:
        for text, count in result.failures.most_common():
            lines.append(f"  failed {count}x  {result.name.strip()}: {text}")
    return lines


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
    failures: Counter[str] = Counter()
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
            except httpx.HTTPError as err:
                errors += 1
                failures[describe_failure(None, err)] += 1
                continue
            if response.status_code == expected:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                failures[describe_failure(response)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return Result(name, latencies, errors, time.perf_counter() - started, failures)


async def run_benchmark(base_url: str, api_key: str, args: argparse.Namespace) -> list[Result]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        created = await client.post("/searches", json=SPEC)
        created.raise_for_status()
        search_id = created.json()["id"]
        # Warm up connections, the pool and the server's caches before measuring.
        warm = await load(
            "warm-up",
            lambda c: c.get(f"/searches/{search_id}"),
            client,
            concurrency=args.concurrency,
            max_requests=args.concurrency * 4,
            max_seconds=10,
            expected=200,
        )
        results = [warm] if warm.errors else []
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
def private_database() -> Iterator[tuple[str, str, str, str]]:
    """(SQLAlchemy URL, admin token, private queue name, PostgreSQL version) of a fresh database,
    migrated to head and dropped afterwards with whatever the run left on its queue."""
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
    try:
        upgrade(url)
        database = Database(url)
        with database.session() as session:
            _, token = create_key(session, "bench", "admin")
        database.dispose()
        yield url, token, queue, pg_version
    finally:
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


@contextmanager
def serve(
    app: str, env: dict[str, str], workers: int = 1, root: Path = REPO_ROOT
) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of `uvicorn app` from checkout `root` on a free loopback port, stopped afterwards."""
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(argv, cwd=root, env={**os.environ, "PYTHONPATH": str(root), **env})
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.2)
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def flatnas_env(url: str, queue: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "BROKER_URL": REDIS_URL, "FLATNAS_QUEUE": queue, "ENV": "development"}


@contextmanager
def private_service(api_workers: int) -> Iterator[tuple[str, str, str]]:
    """(base_url, admin key, description) of a flatnas service started for this run."""
    with private_database() as (url, token, queue, pg_version):
        with serve("api.app:app", flatnas_env(url, queue), api_workers) as (base_url, _):
            yield (
                base_url,
                token,
                f"PostgreSQL {pg_version} (fresh database), Redis broker, {api_workers} uvicorn worker(s)",
            )


# --- side by side with the bare ceiling (--baseline) -------------------------------------------


@dataclass
class Cell:
    """One measurement: an app, an endpoint, a client count, in one round."""

    app: str
    endpoint: str
    clients: int
    result: Result
    cpu_ms: float  # server process CPU per successful request
    load1: float

    @property
    def rate(self) -> float:
        return len(self.result.latencies) / self.result.wall


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (utime and stime in /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_cell(
    app: str, base_url: str, pid: int, token: str, endpoint: str, clients: int, search_id: str, seconds: float
) -> Cell:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:

        def get(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return c.get(f"/searches/{search_id}")

        def post(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return c.post("/searches", json=SPEC)

        request, expected = (get, 200) if endpoint == "GET" else (post, 201)
        # Open the connections first, so the CPU counted below is serving requests only.
        warm = await load(
            "warm-up", get, client, concurrency=clients, max_requests=2 * clients, max_seconds=5, expected=200
        )
        for line in failure_lines([warm]):
            print(f"  {app} {endpoint} {clients} clients{line}")
        before = cpu_seconds(pid)
        result = await load(
            f"{endpoint} {app} {clients:>2} clients",
            request,
            client,
            concurrency=clients,
            max_requests=100_000,
            max_seconds=seconds,
            expected=expected,
        )
        cpu = cpu_seconds(pid) - before
    return Cell(
        app, endpoint, clients, result, 1000 * cpu / max(1, len(result.latencies)), os.getloadavg()[0]
    )


def _percentiles(result: Result) -> tuple[float, float, float]:
    ms = sorted(x * 1000 for x in result.latencies)
    if len(ms) < 2:
        return (float("nan"),) * 3  # type: ignore[return-value]
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[89], q[98]


def summarise(cells: list[Cell], rounds: int) -> list[str]:
    """The side-by-side table (medians over rounds) and one ratio line per endpoint."""
    lines = [
        f"medians over {rounds} round(s); in each round the apps run back to back, order alternating",
        f"{'endpoint':<9}{'clients':>7}  {'app':<8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
        f"{'req/s':>9}{'CPU ms/req':>12}{'load1':>7}{'errors':>8}",
    ]
    ratios: dict[str, list[str]] = {"GET": [], "POST": []}
    changes: dict[str, list[str]] = {"GET": [], "POST": []}
    for endpoint in ("GET", "POST"):
        for clients in sorted({c.clients for c in cells}):
            medians = {}
            for app in dict.fromkeys(c.app for c in cells):
                mine = [c for c in cells if (c.app, c.endpoint, c.clients) == (app, endpoint, clients)]
                p50, p90, p99 = (
                    statistics.median(p) for p in zip(*(_percentiles(c.result) for c in mine), strict=True)
                )
                rate = statistics.median(c.rate for c in mine)
                cpu = statistics.median(c.cpu_ms for c in mine)
                load1 = statistics.median(c.load1 for c in mine)
                errors = sum(c.result.errors for c in mine)
                medians[app] = (rate, cpu)
                lines.append(
                    f"{endpoint:<9}{clients:>7}  {app:<8}{p50:8.1f}{p90:8.1f}{p99:8.1f}"
                    f"{rate:9.1f}{cpu:12.2f}{load1:7.1f}{errors:8d}"
                )
            (rate_f, cpu_f), (rate_b, cpu_b) = medians["flatnas"], medians["bare"]
            ratios[endpoint].append(
                f"{rate_f / rate_b:.2f} at {clients} clients (CPU per request {cpu_f / cpu_b:.2f}x bare)"
            )
            if "before" in medians:
                rate_0, cpu_0 = medians["before"]
                changes[endpoint].append(
                    f"{rate_f / rate_0:.2f}x req/s and {cpu_f / cpu_0:.2f}x CPU per request at {clients} clients"
                )
    lines += [
        f"flatnas vs --before, {endpoint}: " + ", ".join(parts)
        for endpoint, parts in changes.items()
        if parts
    ]
    lines += [f"ratio {endpoint} " + ", ".join(parts) for endpoint, parts in ratios.items()]
    return lines


async def open_streams(base_url: str, pid: int, token: str, search_id: str, n: int, seconds: float) -> str:
    """CPU of the API process (% of one core) while `n` event streams on one waiting search are open."""
    limits = httpx.Limits(max_connections=n + 1, max_keepalive_connections=n + 1)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60) as client:
        async with AsyncExitStack() as stack:
            for _ in range(n):
                response = await stack.enter_async_context(
                    client.stream("GET", f"/searches/{search_id}/events?history=false")
                )
                response.raise_for_status()
            await asyncio.sleep(3)  # let the opening requests settle
            before, started = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(seconds)
            share = (cpu_seconds(pid) - before) / (time.monotonic() - started)
    return f"streams {n} open on one search, at rest: {100 * share:.1f} % of one core ({seconds:.0f} s)"


def run_baseline(args: argparse.Namespace) -> int:
    with private_database() as (url, token, queue, pg_version):
        bare_env = {
            "BARE_DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
            "BARE_REDIS_URL": REDIS_URL,
            "BARE_QUEUE": queue,
        }
        with ExitStack() as stack:
            flatnas_url, flatnas_pid = stack.enter_context(serve("api.app:app", flatnas_env(url, queue)))
            bare_url, bare_pid = stack.enter_context(serve("benchmarks.bare_app:app", bare_env))
            apps = [("flatnas", flatnas_url, flatnas_pid), ("bare", bare_url, bare_pid)]
            if args.before:
                # Another checkout of flatnas (e.g. a worktree of an older commit) on the same database.
                before = stack.enter_context(serve("api.app:app", flatnas_env(url, queue), root=args.before))
                apps.insert(1, ("before", *before))
            print(
                f"service: PostgreSQL {pg_version} (one fresh database for all), Redis, one uvicorn process each"
            )
            created = httpx.post(
                f"{flatnas_url}/searches", json=SPEC, headers={"Authorization": f"Bearer {token}"}
            )
            created.raise_for_status()
            search_id = created.json()["id"]
            cells: list[Cell] = []
            for round_ in range(args.rounds):
                for clients in (4, 32):
                    for endpoint in ("GET", "POST"):
                        for app, base_url, pid in apps if round_ % 2 == 0 else apps[::-1]:
                            cell = asyncio.run(
                                measure_cell(
                                    app, base_url, pid, token, endpoint, clients, search_id, args.duration
                                )
                            )
                            cells.append(cell)
                            print(f"  round {round_ + 1}: {cell.result.line()}  cpu={cell.cpu_ms:.2f} ms/req")
            for line in summarise(cells, args.rounds):
                print(line)
            print_failures([c.result for c in cells])
            if args.streams:
                print(
                    asyncio.run(open_streams(flatnas_url, flatnas_pid, token, search_id, args.streams, 10.0))
                )
    return 0 if all(c.result.errors == 0 for c in cells) else 1


def print_failures(results: list[Result]) -> None:
    lines = failure_lines(results)
    print(f"failures: {sum(r.errors for r in results)}" + (", by cause:" if lines else ""))
    for line in lines:
        print(line)


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
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="side by side with a bare FastAPI + psycopg app (benchmarks/bare_app.py)",
    )
    parser.add_argument(
        "--before", type=Path, help="--baseline: also measure flatnas from this checkout (an older commit)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="--baseline: alternated rounds (default 3)")
    parser.add_argument(
        "--streams", type=int, default=0, help="--baseline: then hold this many event streams open"
    )
    args = parser.parse_args(argv)
    if not (1 <= args.concurrency <= 512 and 1 <= args.requests <= 100_000 and 0 < args.duration <= 300):
        parser.error("allowed: --concurrency 1..512, --requests 1..100000, --duration 0..300 s")

    print(f"machine: {machine()}")
    if args.baseline:
        if not (1 <= args.rounds <= 20 and 0 <= args.streams <= 2000):
            parser.error("allowed: --rounds 1..20, --streams 0..2000")
        print(f"load: 4 and 32 closed-loop clients, {args.duration:.0f} s per measurement")
        return run_baseline(args)
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
    print_failures(results)
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
