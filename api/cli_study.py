"""`flatnas study submit|status|wait|results`: studies on a running service (FLATNAS_URL,
FLATNAS_API_KEY), through the Python client like the search commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from api.cli_client import CommandError, _with_client
from flatnas.client import Client


def _status_line(study: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(study["counts"].items()))
    if study.get("evaluate"):
        counts += "; evaluations: " + (
            ", ".join(f"{n} {status}" for status, n in sorted(study["evaluation_counts"].items()))
            or "none yet"
        )
    eta = f"  ETA {study['eta_seconds']:.0f}s" if study.get("eta_seconds") else ""
    return f"{study['id']}  {study['status']}  {100 * study['fraction']:.0f}%  ({counts}){eta}"


def _load_study(path: str) -> dict[str, Any]:
    """The study in `path` ('-': stdin), YAML or JSON; a bad file is one line naming it."""
    from nas_core.spec_files import SpecFileError, parse_spec_text, read_spec_document

    try:
        if path == "-":
            return parse_spec_text(sys.stdin.read(), "<stdin>", yaml_syntax=True)
        return read_spec_document(path)
    except SpecFileError as err:
        raise CommandError(str(err)) from None


@_with_client
def submit(args: argparse.Namespace, client: Client) -> int:
    study = client.submit_study(_load_study(args.file), idempotency_key=args.idempotency_key)
    print(f"submitted study {study['id']} ({study['name']}): {study['searches']} searches")
    return _wait(client, study["id"], timeout=None, interval=5.0) if args.wait else 0


@_with_client
def status(args: argparse.Namespace, client: Client) -> int:
    study = client.get_study(args.study_id)
    print(_status_line(study))
    for child in study["children"]:
        cell = " ".join(f"{k}={json.dumps(v)}" for k, v in child["cell"].items())
        evaluation = f"  evaluation {child['evaluation_status']}" if child.get("evaluation_status") else ""
        print(
            f"  {child['search_id']}  {child['status']:<10} {100 * child['fraction']:3.0f}%  {cell}{evaluation}"
        )
    return 0


def _wait(client: Client, study_id: str, *, timeout: float | None, interval: float) -> int:
    last = ""

    def show(study: dict[str, Any]) -> None:
        nonlocal last
        line = _status_line(study)
        if line != last:
            print(line, flush=True)
            last = line

    study = client.wait_study(study_id, timeout=timeout, interval=interval, on_progress=show)
    return 0 if study["status"] == "succeeded" else 1


@_with_client
def wait(args: argparse.Namespace, client: Client) -> int:
    return _wait(client, args.study_id, timeout=args.timeout, interval=args.interval)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def format_results(results: dict[str, Any]) -> str:
    """The per-cell table (mean ± std over seeds) and the paired A2M on/off table, as text."""
    axes = [a for a in results["axes"] if a != "seed"]
    metrics = list(results["metrics"])
    cells = [[*axes, "n", *metrics]]
    for cell in results["cells"]:
        stats = [cell["metrics"][m] for m in metrics]
        cells.append(
            [_value(cell["values"].get(a)) for a in axes]
            + [str(cell["n"])]
            + [f"{_num(s['mean'])} ± {_num(s['std'], 2)}" if s["n"] else "-" for s in stats]
        )
    out = [f"study {results['study_id']}: {results['status']}", "", _table(cells)]
    if results["paired"]:
        shared = [a for a in axes if a != "a2m.enabled"]
        pairs = [[*shared, "metric", "n", "Δ (on − off)", "on better", "sign p", "t p"]]
        for pair in results["paired"]:
            for metric, p in pair["metrics"].items():
                pairs.append(
                    [_value(pair["values"].get(a)) for a in shared]
                    + [
                        metric,
                        str(p["n"]),
                        f"{_num(p['mean'])} ± {_num(p['std'], 2)}" if p["n"] else "-",
                        f"{p['positive']}/{p['n']}",
                    ]
                    + [_num(p["sign_p"], 3), _num(p["t_p"], 3)]
                )
        out += ["", "A2M on vs off, paired by seed:", _table(pairs)]
    return "\n".join(out)


@_with_client
def results(args: argparse.Namespace, client: Client) -> int:
    if args.csv:
        sys.stdout.write(client.study_table(args.study_id, "paired" if args.paired else "cells"))
        return 0
    print(format_results(client.study_results(args.study_id)))
    return 0


def add_commands(commands: Any) -> None:
    """The `flatnas study ...` sub-commands."""
    study = commands.add_parser("study", help="studies: a grid of searches compared over seeds")
    actions = study.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    submit_cmd = actions.add_parser(
        "submit", help="submit a study file (YAML or JSON: name, base, grid, ...)"
    )
    submit_cmd.add_argument("file")
    submit_cmd.add_argument("--idempotency-key", help="resubmitting with the same key returns the same study")
    submit_cmd.add_argument("--wait", action="store_true", help="then wait for every search to finish")
    submit_cmd.set_defaults(run=submit)
    status_cmd = actions.add_parser("status", help="state counts, progress and each search of a study")
    status_cmd.add_argument("study_id")
    status_cmd.set_defaults(run=status)
    wait_cmd = actions.add_parser("wait", help="wait until every search ends; exit 0 only if all succeeded")
    wait_cmd.add_argument("study_id")
    wait_cmd.add_argument(
        "--timeout", type=float, default=None, help="give up after this many seconds (exit 2)"
    )
    wait_cmd.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    wait_cmd.set_defaults(run=wait)
    results_cmd = actions.add_parser("results", help="per-cell statistics and paired A2M on/off comparisons")
    results_cmd.add_argument("study_id")
    results_cmd.add_argument("--csv", action="store_true", help="print the CSV table instead")
    results_cmd.add_argument("--paired", action="store_true", help="with --csv: the paired comparisons")
    results_cmd.set_defaults(run=results)
