"""`flatnas search submit|list|status|events|curves|genotype|cancel|retry|wait` (the service's
/searches) and `flatnas search run SPEC --out DIR` (one search on this machine, by the engine)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from flatnas.cli.common import (
    add_id_actions,
    add_wait_options,
    cancel_command,
    engine_arguments,
    engine_command,
    exit_status,
    load_document,
    print_json,
    refusals_name,
    retry_command,
    watch,
    when,
    with_client,
)
from flatnas.client import Client
from flatnas.labels import activity_label, describe_search, epoch_label
from flatnas.models import CurveRow

ID_HELP = "the search id, or any unique prefix of it"
ACTIONS = ("submit", "list", "status", "wait", "events", "curves", "genotype", "cancel", "retry", "run")
FILTERS = ("status", "method", "space", "dataset", "tag", "q")


@with_client
def submit(args: argparse.Namespace, client: Client) -> int:
    # The service validates the spec: its answer names each wrong field and what is allowed.
    with refusals_name(args.spec):
        created = client.submit(load_document(args.spec), idempotency_key=args.idempotency_key)
    print(f"submitted {created.id} ({created.name}): {created.status}")
    return wait_for(client, created.id, timeout=None, interval=2.0) if args.wait else 0


@with_client
def status(args: argparse.Namespace, client: Client) -> int:
    s = client.get(args.search_id)
    print(describe_search(s))
    for label in ("created_at", "started_at", "finished_at", "worker", "attempts", "error"):
        value = getattr(s, label)
        if value not in (None, ""):
            print(f"  {label}: {value}")
    return 0


def wait_for(client: Client, search_id: str, *, timeout: float | None, interval: float) -> int:
    """Print a line whenever the search's state changes; exit 0 only if it succeeded."""
    return exit_status(watch(client.wait, search_id, describe_search, timeout=timeout, interval=interval))


@with_client
def wait(args: argparse.Namespace, client: Client) -> int:
    return wait_for(client, args.search_id, timeout=args.timeout, interval=args.interval)


@with_client
def genotype(args: argparse.Namespace, client: Client) -> int:
    if args.out:
        client.download_genotype(args.search_id, args.out, args.which or "best", epoch=args.epoch)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print_json(client.genotype(args.search_id, args.which or "best", epoch=args.epoch).document())
    return 0


def write_rows(rows: list[Any], columns: tuple[str, ...], as_json: bool) -> None:
    """Rows (models) as CSV with `columns`, or as the API's JSON objects."""
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([getattr(row, column, None) for column in columns])


@with_client
def curves(args: argparse.Namespace, client: Client) -> int:
    write_rows(client.curves(args.search_id), tuple(CurveRow.model_fields), args.json)
    return 0


def event_line(event: str, data: dict[str, Any]) -> str:
    """One event of a search or an evaluation as a line for people."""
    if event == "progress":
        where = epoch_label(data["epoch"], data["total_epochs"]) if data.get("total_epochs") else ""
        step = f" step {data['step']}/{data['steps_per_epoch']}" if data.get("steps_per_epoch") else ""
        loss = f" loss {data['loss']:.4f}" if data.get("loss") is not None else ""
        return f"progress  {where}{step}  {activity_label(data.get('phase'), data.get('detail'))}{loss}"
    if event == "epoch":
        kind = "val" if "val_loss" in data else "test"
        return (
            f"epoch     {data['epoch']}: train {_num(data.get('train_loss'))}/{_num(data.get('train_acc'))} "
            f"{kind} {_num(data.get(f'{kind}_loss'))}/{_num(data.get(f'{kind}_acc'))}"
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


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def follow(events: Any, as_json: bool) -> int:
    """Print events as they come; exit 0 unless the job ended other than succeeded."""
    last_status = None
    for event in events:
        if as_json:
            print(json.dumps({"event": event.event, "data": event.data, "id": event.id}), flush=True)
        else:
            print(event_line(event.event, event.data), flush=True)
        if event.event == "status":
            last_status = event.data.get("status")
    return 0 if last_status in (None, "succeeded") else 1


@with_client
def events(args: argparse.Namespace, client: Client) -> int:
    return follow(client.events(args.search_id, history=not args.no_history), args.json)


@with_client
def list_searches(args: argparse.Namespace, client: Client) -> int:
    filters = {k: getattr(args, k) for k in FILTERS}
    found = list(client.list(limit=args.limit, **filters))  # fetched first: an error prints nothing else
    print(f"{'ID':<36}  {'STATUS':<10} {'METHOD':<11} {'SPACE':<6} {'DATASET':<14} {'CREATED':<16}  NAME")
    for s in found:
        print(
            f"{s.id:<36}  {s.status:<10} {s.method or '-':<11} {s.space or '-':<6} {s.dataset or '-':<14} "
            f"{when(s.created_at):<16}  {s.name}"
        )
    return 0


def add_search_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search_id", help=ID_HELP)


def add_commands(commands: Any) -> None:
    """The `flatnas search ...` group."""
    group = commands.add_parser(
        "search", help="searches: submit to the service and follow them, or run one locally"
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = actions.add_parser("submit", help="submit a search spec (JSON or YAML file, '-' for stdin)")
    p.add_argument("spec")
    p.add_argument("--idempotency-key", help="resubmitting with the same key returns the same search")
    p.add_argument("--wait", action="store_true", help="then wait for it to finish")
    p.set_defaults(run=submit)

    p = actions.add_parser("list", help="list searches, newest first")
    for name in FILTERS:
        p.add_argument(f"--{name}", help="name substring" if name == "q" else None)
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(run=list_searches)

    p = actions.add_parser("status", help="show a search's state and progress")
    add_search_id(p)
    p.set_defaults(run=status)

    p = actions.add_parser("wait", help="wait until a search finishes; exit 0 only if it succeeded")
    add_search_id(p)
    add_wait_options(p, 2.0)
    p.set_defaults(run=wait)

    p = actions.add_parser(
        "events", help="follow a search live: progress, epochs, genotypes, flatness, status"
    )
    add_search_id(p)
    p.add_argument("--no-history", action="store_true", help="skip what happened before now")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(run=events)

    p = actions.add_parser("curves", help="print a search's per-epoch curves (CSV, or --json)")
    add_search_id(p)
    p.add_argument("--json", action="store_true", help="a JSON list instead of CSV")
    p.set_defaults(run=curves)

    p = actions.add_parser("genotype", help="download a search's genotype JSON")
    add_search_id(p)
    p.add_argument("--out", help="write to this file (default: stdout)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--which", choices=("best", "final"))
    which.add_argument("--epoch", type=int)
    p.set_defaults(run=genotype)

    add_id_actions(
        actions,
        "search_id",
        ID_HELP,
        (
            (
                "cancel",
                cancel_command("cancel", "search_id"),
                "cancel a search (a running one stops within one step)",
            ),
            (
                "retry",
                retry_command("retry", "search_id"),
                "run a failed or cancelled search again from its last checkpoint",
            ),
        ),
    )

    p = actions.add_parser(
        "run",
        help="run one search on this machine: flatnas search run SPEC --out DIR",
        populate=engine_arguments("nas_core.cli", "add_search_parser", "search run"),
    )
    p.set_defaults(run=engine_command("nas_core.cli", "cmd_search", "search run"))


def looks_like_spec(arg: str) -> bool:
    """`flatnas search SPEC.yaml --out DIR` (the old form of `search run`): a file, not an action."""
    return arg not in ACTIONS and (Path(arg).suffix in (".yaml", ".yml", ".json") or Path(arg).is_file())
