"""`flatnas submit|status|wait|genotype|list`: a small HTTP client of a running service.

FLATNAS_URL (default http://127.0.0.1:8000) says where; FLATNAS_API_KEY is sent as a Bearer token.
Problem details from the service are printed with the fields they name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")


class CommandError(Exception):
    """Printed to stderr; the command exits 1."""


def client() -> httpx.Client:
    url = os.environ.get("FLATNAS_URL", "http://127.0.0.1:8000")
    key = os.environ.get("FLATNAS_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30.0)


def describe_problem(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:500]}"
    lines = [f"HTTP {resp.status_code} {body.get('title', '')}: {body.get('detail', '')}".rstrip()]
    for error in body.get("errors") or []:
        allowed = f" (allowed: {', '.join(map(str, error['allowed']))})" if error.get("allowed") else ""
        lines.append(f"  {error['field']}: {error['message']}{allowed}")
    if resp.status_code == 401 and not os.environ.get("FLATNAS_API_KEY"):
        lines.append("  set FLATNAS_API_KEY (create a key with: flatnas keys create NAME --scope submit)")
    return "\n".join(lines)


def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        with client() as http:
            resp = http.request(method, path, **kwargs)
    except httpx.TransportError as err:
        raise CommandError(
            f"cannot reach {os.environ.get('FLATNAS_URL', 'http://127.0.0.1:8000')}: {err}"
        ) from None
    if resp.status_code >= 400:
        raise CommandError(describe_problem(resp))
    return resp


def _reported(run: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CommandError as err:
            print(err, file=sys.stderr)
            return 1

    return wrapper


def _progress_line(s: dict[str, Any]) -> str:
    p = s.get("progress") or {}
    parts = [f"{s['id']}  {s['status']}{' (cancel requested)' if s.get('cancel_requested') else ''}"]
    if p.get("total_epochs") is not None and p.get("epoch") is not None:
        step = f" step {p['step']}/{p['steps_per_epoch']}" if p.get("steps_per_epoch") else ""
        parts.append(f"epoch {p['epoch'] + 1}/{p['total_epochs']}{step}")
    if p.get("fraction") is not None:
        parts.append(f"{100 * p['fraction']:.0f}%")
    if s.get("eta_seconds") is not None:
        parts.append(f"ETA {s['eta_seconds']:.0f}s")
    if s.get("best_val_acc") is not None:
        parts.append(f"best val acc {s['best_val_acc']:.4f}")
    return "  ".join(parts)


def _load_spec(path: str) -> dict[str, Any]:
    import yaml
    from pydantic import ValidationError

    from nas_core.spec import SearchSpec

    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) or path == "-" else json.loads(text)
    if not isinstance(data, dict):
        raise CommandError(f"{path}: a spec is a mapping of fields, got {type(data).__name__}")
    try:  # validated here too, so a typo is reported before anything is sent
        SearchSpec.model_validate(data)
    except ValidationError as err:
        from api.errors import field_errors, spec_fields_at

        lines = [f"{path}: invalid spec"]
        for e in field_errors(list(err.errors()), known_fields=spec_fields_at):
            allowed = f" (allowed: {', '.join(map(str, e.allowed))})" if e.allowed else ""
            lines.append(f"  {e.field}: {e.message}{allowed}")
        raise CommandError("\n".join(lines)) from None
    return data


@_reported
def submit(args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    created = request("POST", "/searches", json=spec, headers=headers).json()
    print(f"submitted {created['id']} ({created['name']}): {created['status']}")
    if args.wait:
        return _wait(created["id"], timeout=None, interval=2.0)
    return 0


@_reported
def status(args: argparse.Namespace) -> int:
    s = request("GET", f"/searches/{args.search_id}").json()
    print(_progress_line(s))
    for label in ("created_at", "started_at", "finished_at", "worker", "attempts", "error"):
        if s.get(label) not in (None, ""):
            print(f"  {label}: {s[label]}")
    return 0


def _wait(search_id: str, *, timeout: float | None, interval: float) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    last = ""
    while True:
        s = request("GET", f"/searches/{search_id}").json()
        line = _progress_line(s)
        if line != last:
            print(line, flush=True)
            last = line
        if s["status"] in TERMINAL:
            if s.get("error"):
                print(f"  error: {s['error']}", file=sys.stderr)
            return 0 if s["status"] == "succeeded" else 1
        if deadline is not None and time.monotonic() > deadline:
            print(f"still {s['status']} after {timeout:.0f}s", file=sys.stderr)
            return 2
        time.sleep(interval)


@_reported
def wait(args: argparse.Namespace) -> int:
    return _wait(args.search_id, timeout=args.timeout, interval=args.interval)


@_reported
def genotype(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("which", args.which), ("epoch", args.epoch)) if v is not None}
    resp = request("GET", f"/searches/{args.search_id}/genotype", params=params)
    text = json.dumps(resp.json(), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


@_reported
def list_searches(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    params.update(
        {
            k: getattr(args, k)
            for k in ("status", "method", "space", "dataset", "tag", "q")
            if getattr(args, k)
        }
    )
    items = request("GET", "/searches", params=params).json()["items"]
    print(f"{'ID':<36}  {'STATUS':<10} {'METHOD':<11} {'SPACE':<6} {'DATASET':<14} {'CREATED':<16}  NAME")
    for s in items:
        print(
            f"{s['id']:<36}  {s['status']:<10} {s['method']:<11} {s['space']:<6} {s['dataset']:<14} "
            f"{s['created_at'][:16].replace('T', ' '):<16}  {s['name']}"
        )
    return 0
