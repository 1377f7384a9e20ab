"""`flatnas submit|status|wait|list|cancel|retry|genotype|curves|events`: the service from a shell.

A thin layer over the Python client (flatnas.Client): FLATNAS_URL says where the service is
(default: API_HOST and API_PORT, as `flatnas up` serves), FLATNAS_API_KEY is sent as a Bearer
token. Every id argument takes a unique prefix of the id, as git takes commit ids. Problems are
printed as one line each, never as a traceback; the command then exits 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from flatnas.client import TERMINAL as TERMINAL  # re-exported: api.cli_study waits on it too
from flatnas.client import Client, FlatnasError, describe_search, field_error_line, spec_as_dict

CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class CommandError(Exception):
    """Printed to stderr; the command exits 1."""


def _reported(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Problems become one message on stderr and an exit status, never a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (CommandError, FlatnasError) as err:
            print(err, file=sys.stderr)
            return 1
        except TimeoutError as err:
            print(err, file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C while waiting or following: stop quietly
            return 130

    return wrapper


def _with_client(run: Callable[[argparse.Namespace, Client], int]) -> Callable[[argparse.Namespace], int]:
    @_reported
    def wrapper(args: argparse.Namespace) -> int:
        with Client() as client:
            return run(args, client)

    return wrapper


def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the configured service (for commands without a Client method of their own)."""
    with Client() as client:
        return client.request(method, path, **kwargs)


def load_spec(path: str) -> dict[str, Any]:
    """The spec in `path` ('-': stdin, YAML or JSON), checked here so a typo is named before sending."""
    from pydantic import ValidationError

    from nas_core.spec import SearchSpec
    from nas_core.spec_files import SpecFileError, parse_spec_text

    try:
        data = parse_spec_text(sys.stdin.read(), "-", yaml_syntax=True) if path == "-" else spec_as_dict(path)
    except SpecFileError as err:
        raise CommandError(str(err)) from None
    try:
        SearchSpec.model_validate(data)
    except ValidationError as err:
        from api.errors import field_errors, spec_fields_at

        lines = [f"{path}: invalid spec"]
        for e in field_errors(list(err.errors()), known_fields=spec_fields_at):
            lines.append(field_error_line(e.field, e.message, e.allowed))
        raise CommandError("\n".join(lines)) from None
    return data


@_with_client
def submit(args: argparse.Namespace, client: Client) -> int:
    created = client.submit(load_spec(args.spec), idempotency_key=args.idempotency_key)
    print(f"submitted {created['id']} ({created['name']}): {created['status']}")
    if args.wait:
        return _wait(client, created["id"], timeout=None, interval=2.0)
    return 0


@_with_client
def status(args: argparse.Namespace, client: Client) -> int:
    s = client.get(args.search_id)
    print(describe_search(s))
    for label in ("created_at", "started_at", "finished_at", "worker", "attempts", "error"):
        if s.get(label) not in (None, ""):
            print(f"  {label}: {s[label]}")
    return 0


def _wait(client: Client, search_id: str, *, timeout: float | None, interval: float) -> int:
    last = ""

    def show(s: dict[str, Any]) -> None:
        nonlocal last
        line = describe_search(s)
        if line != last:
            print(line, flush=True)
            last = line

    final = client.wait(search_id, timeout=timeout, interval=interval, on_progress=show)
    if final.get("error"):
        print(f"  error: {final['error']}", file=sys.stderr)
    return 0 if final["status"] == "succeeded" else 1


@_with_client
def wait(args: argparse.Namespace, client: Client) -> int:
    return _wait(client, args.search_id, timeout=args.timeout, interval=args.interval)


@_with_client
def cancel(args: argparse.Namespace, client: Client) -> int:
    out = client.cancel(args.search_id)
    print(f"{out['id']}: {out['status']} ({out['detail']})")
    return 0


@_with_client
def retry(args: argparse.Namespace, client: Client) -> int:
    s = client.retry(args.search_id)
    print(f"{s['id']}: {s['status']} (resumes from its last checkpoint)")
    return 0


@_with_client
def genotype(args: argparse.Namespace, client: Client) -> int:
    doc = client.genotype(args.search_id, args.which or "best", epoch=args.epoch)
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


@_with_client
def curves(args: argparse.Namespace, client: Client) -> int:
    rows = client.curves(args.search_id, dataframe=False)
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for row in rows:
        writer.writerow([row.get(column) for column in CURVE_COLUMNS])
    return 0


def _event_line(event: str, data: dict[str, Any]) -> str:
    from nas_core.reporter import activity_label, epoch_label

    if event == "progress":
        where = epoch_label(data["epoch"], data["total_epochs"]) if data.get("total_epochs") else ""
        step = f" step {data['step']}/{data['steps_per_epoch']}" if data.get("steps_per_epoch") else ""
        loss = f" loss {data['loss']:.4f}" if data.get("loss") is not None else ""
        return f"progress  {where}{step}  {activity_label(data.get('phase'), data.get('detail'))}{loss}"
    if event == "epoch":
        return (
            f"epoch     {data['epoch']}: train {data['train_loss']:.4f}/{data['train_acc']:.4f} "
            f"val {data['val_loss']:.4f}/{data['val_acc']:.4f}"
        )
    if event == "genotype":
        g = data.get("genotype") or {}
        marks = "".join(f" ({m})" for m in ("best", "final") if data.get(f"is_{m}"))
        return f"genotype  epoch {data['epoch']}{marks}: {g.get('arch_str') or g.get('darts_repr')}"
    if event == "flatness":
        at = "end of search" if data.get("epoch") is None else f"epoch {data['epoch']}"
        value = data.get("value")
        shown = f"{value:.4g}" if isinstance(value, float) else json.dumps(value)[:80]
        return f"flatness  {at}: {data.get('kind')} = {shown}"
    if event == "status":
        error = f": {data['error']}" if data.get("error") else ""
        return f"status    {data.get('status')}{error}"
    return f"{event}  {json.dumps(data)}"


@_with_client
def events(args: argparse.Namespace, client: Client) -> int:
    last_status = None
    for event in client.events(args.search_id, history=not args.no_history):
        if args.json:
            print(json.dumps({"event": event.event, "data": event.data}), flush=True)
        else:
            print(_event_line(event.event, event.data), flush=True)
        if event.event == "status":
            last_status = event.data.get("status")
    return 0 if last_status in (None, "succeeded") else 1


@_with_client
def list_searches(args: argparse.Namespace, client: Client) -> int:
    filters = {k: getattr(args, k) for k in ("status", "method", "space", "dataset", "tag", "q")}
    print(f"{'ID':<36}  {'STATUS':<10} {'METHOD':<11} {'SPACE':<6} {'DATASET':<14} {'CREATED':<16}  NAME")
    for s in client.list(limit=args.limit, **filters):
        print(
            f"{s['id']:<36}  {s['status']:<10} {s['method']:<11} {s['space']:<6} {s['dataset']:<14} "
            f"{s['created_at'][:16].replace('T', ' '):<16}  {s['name']}"
        )
    return 0
