"""`flatnas study submit|list|status|wait|results|cancel|retry`: studies on the service."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flatnas.cli.common import (
    add_id_actions,
    add_wait_options,
    exit_status,
    load_document,
    refusals_name,
    table,
    watch,
    when,
    with_client,
)
from flatnas.client import Client
from flatnas.labels import describe_study
from flatnas.models import StudyResults

ID_HELP = "the study id, or any unique prefix of it"


@with_client
def submit(args: argparse.Namespace, client: Client) -> int:
    with refusals_name(args.file):
        study = client.submit_study(load_document(args.file), idempotency_key=args.idempotency_key)
    print(f"submitted study {study.id} ({study.name}): {study.searches} searches")
    return wait_for(client, study.id, timeout=None, interval=5.0) if args.wait else 0


@with_client
def status(args: argparse.Namespace, client: Client) -> int:
    study = client.get_study(args.study_id)
    print(describe_study(study))
    for child in study.children:
        cell = " ".join(f"{k}={json.dumps(v)}" for k, v in child.cell.items())
        evaluation = f"  evaluation {child.evaluation_status}" if child.evaluation_status else ""
        print(f"  {child.search_id}  {child.status:<10} {100 * child.fraction:3.0f}%  {cell}{evaluation}")
    return 0


def wait_for(client: Client, study_id: str, *, timeout: float | None, interval: float) -> int:
    return exit_status(watch(client.wait_study, study_id, describe_study, timeout=timeout, interval=interval))


@with_client
def wait(args: argparse.Namespace, client: Client) -> int:
    return wait_for(client, args.study_id, timeout=args.timeout, interval=args.interval)


@with_client
def list_studies(args: argparse.Namespace, client: Client) -> int:
    found = list(client.list_studies(mine=args.mine, limit=args.limit))
    rows = [["ID", "STATUS", "DONE", "SEARCHES", "CREATED", "NAME"]]
    rows += [
        [s.id, s.status, f"{100 * s.fraction:.0f}%", str(s.searches), when(s.created_at), s.name]
        for s in found
    ]
    print(table(rows))
    return 0


@with_client
def cancel(args: argparse.Namespace, client: Client) -> int:
    print(describe_study(client.cancel_study(args.study_id)))
    return 0


@with_client
def retry(args: argparse.Namespace, client: Client) -> int:
    print(describe_study(client.retry_study(args.study_id)))
    return 0


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def format_results(results: StudyResults) -> str:
    """The per-cell table (mean ± std over seeds) and the paired A2M on/off table, as text."""
    axes = [a for a in results.axes if a != "seed"]
    metrics = list(results.metrics)
    cells = [[*axes, "n", *metrics]]
    for cell in results.cells:
        stats = [cell["metrics"][m] for m in metrics]
        cells.append(
            [_value(cell["values"].get(a)) for a in axes]
            + [str(cell["n"])]
            + [f"{_num(s['mean'])} ± {_num(s['std'], 2)}" if s["n"] else "-" for s in stats]
        )
    out = [f"study {results.study_id}: {results.status}", "", table(cells)]
    if results.paired:
        shared = [a for a in axes if a != "a2m.enabled"]
        pairs = [[*shared, "metric", "n", "Δ (on − off)", "on better", "sign p", "t p"]]
        for pair in results.paired:
            for metric, p in pair["metrics"].items():
                better = p.get("better", p["positive"])  # `better` follows the metric's direction
                pairs.append(
                    [_value(pair["values"].get(a)) for a in shared]
                    + [
                        metric,
                        str(p["n"]),
                        f"{_num(p['mean'])} ± {_num(p['std'], 2)}" if p["n"] else "-",
                        f"{better}/{p['n']}",
                    ]
                    + [_num(p["sign_p"], 3), _num(p["t_p"], 3)]
                )
        out += ["", "A2M on vs off, paired by seed:", table(pairs)]
    return "\n".join(out)


@with_client
def results(args: argparse.Namespace, client: Client) -> int:
    if args.csv:
        sys.stdout.write(client.study_table(args.study_id, "paired" if args.paired else "cells"))
        return 0
    print(format_results(client.study_results(args.study_id)))
    return 0


def add_commands(commands: Any) -> None:
    """The `flatnas study ...` group."""
    study = commands.add_parser("study", help="studies: a grid of searches compared over seeds")
    actions = study.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("submit", help="submit a study file (YAML or JSON: name, base, grid, ...)")
    p.add_argument("file")
    p.add_argument("--idempotency-key", help="resubmitting with the same key returns the same study")
    p.add_argument("--wait", action="store_true", help="then wait for every search to finish")
    p.set_defaults(run=submit)
    p = actions.add_parser("list", help="list studies, newest first")
    p.add_argument("--mine", action="store_true", help="only studies submitted with this key")
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(run=list_studies)
    add_id_actions(
        actions,
        "study_id",
        ID_HELP,
        (
            ("status", status, "state counts, progress and each search of a study"),
            ("cancel", cancel, "cancel every search (and evaluation) of a study that has not ended"),
            ("retry", retry, "run a study's failed and cancelled searches again"),
        ),
    )
    p = actions.add_parser("wait", help="wait until every search ends; exit 0 only if all succeeded")
    p.add_argument("study_id", help=ID_HELP)
    add_wait_options(p, 5.0)
    p.set_defaults(run=wait)
    p = actions.add_parser("results", help="per-cell statistics and paired A2M on/off comparisons")
    p.add_argument("study_id", help=ID_HELP)
    p.add_argument("--csv", action="store_true", help="print the CSV table instead")
    p.add_argument("--paired", action="store_true", help="with --csv: the paired comparisons")
    p.set_defaults(run=results)
