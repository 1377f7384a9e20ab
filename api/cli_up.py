"""`flatnas server up`: the embedded service in one command.

Migrates DATABASE_URL, makes sure there is a way in (on a database without keys it creates an
admin key and prints it once), then runs the API (uvicorn) and one worker (Celery, queue `gpu`,
one search at a time, with a CPU thread budget: worker/threads.py) as child processes. The children get their own process group, so Ctrl-C
reaches only this process, which forwards exactly one SIGINT (a second one would turn Celery's
warm shutdown into a cold one). If either child dies, the other is stopped and `up` exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import migrate
from store.db import Database
from store.repositories import keys
from worker.threads import THREADS_ENV, child_env

GRACE_S = 20.0


def api_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "api.app:app", "--host", host, "--port", str(port)]


def worker_command(queue: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.app:celery_app", "worker",
        "-Q", queue, "--concurrency", "1", "--pool", "solo", "-n", "flatnas-worker@%h", "--loglevel", "INFO",
    ]  # fmt: skip


#: The processes `up` runs on this host's cores: the worker, and the API beside it.
PROCESSES = 2


def worker_env(environ: dict[str, str]) -> dict[str, str]:
    """The worker's environment: this one plus its CPU thread budget (worker/threads.py), with
    the API counted as one more process on the same cores."""
    return {**environ, **child_env(environ, PROCESSES)}


def ensure_admin_key(url: str) -> tuple[str | None, int]:
    """On a database with no live key, create an admin key. Returns its token (None when keys
    existed) and how many live keys there are now."""
    database = Database(url)
    try:
        with database.session() as session:
            existing = len(keys.list_keys(session))
            if existing:
                return None, existing
            _, token = keys.create_key(session, "admin (created by flatnas server up)", "admin")
            return token, 1
    finally:
        database.dispose()


def access_lines(base: str, token: str | None, live_keys: int) -> list[str]:
    """What `up` says about getting in, every start: the export line stands alone so that pasting
    it into a shell works (with the new key on a first start, the URL alone after a restart)."""
    if token:
        return [
            "flatnas: no API keys yet, so an admin key was created. Shown only now; paste this line:",
            "",
            f"export FLATNAS_URL={base} FLATNAS_API_KEY={token}",
            "",
        ]
    return [
        f"flatnas: {live_keys} API key{'s exist' if live_keys != 1 else ' exists'}; use yours (FLATNAS_API_KEY), "
        "list them with `flatnas server keys list`, or make another with "
        "`flatnas server keys create NAME --scope submit`. Paste this line:",
        "",
        f"export FLATNAS_URL={base}",
        "",
    ]


def up(args: argparse.Namespace) -> int:
    from store import settings as settings_module

    settings = settings_module.settings
    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.DATABASE_URL)
    host = args.host or settings.API_HOST
    port = args.port or settings.API_PORT
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"

    token, live_keys = ensure_admin_key(settings.DATABASE_URL)
    print(f"flatnas: database {settings.DATABASE_URL} migrated; broker {settings.BROKER_URL}", flush=True)
    print("\n".join(access_lines(base, token, live_keys)), flush=True)

    children: dict[str, subprocess.Popen[bytes]] = {
        "api": subprocess.Popen(api_command(host, port), start_new_session=True)
    }
    if not args.no_worker:
        from worker.app import QUEUE

        env = worker_env(dict(os.environ))
        print(
            f"flatnas: the worker runs torch on {env[THREADS_ENV]} CPU thread(s) ({THREADS_ENV})", flush=True
        )
        children["worker"] = subprocess.Popen(worker_command(QUEUE), env=env, start_new_session=True)
    print(f"flatnas: API and dashboard at {base}/  (OpenAPI docs: {base}/docs); Ctrl-C stops", flush=True)
    return supervise(children)


def supervise(children: dict[str, subprocess.Popen[bytes]]) -> int:
    """Wait for Ctrl-C/SIGTERM (stop all, exit 0) or a child's death (stop the rest, exit non-zero)."""
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while not stopping:
            dead = {name: p.returncode for name, p in children.items() if p.poll() is not None}
            if dead:
                for name, code in dead.items():
                    print(f"flatnas: the {name} process exited with code {code}; stopping", file=sys.stderr)
                stop(children)
                return next((code for code in dead.values() if code), 1)
            time.sleep(0.3)
        print(
            "flatnas: stopping (waiting for the worker to hand back its search)", file=sys.stderr, flush=True
        )
        stop(children)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in children.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    for p in children.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
