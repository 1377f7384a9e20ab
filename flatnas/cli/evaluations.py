"""`flatnas eval run GENOTYPE --out DIR` (train a genotype on this machine, by the engine) and
`flatnas eval submit|list|status|wait|events|curves|cancel|retry` (the service's /evaluations)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from flatnas.cli.common import (
    CommandError,
    add_id_actions,
    add_wait_options,
    cancel_command,
    engine_arguments,
    engine_command,
    exit_status,
    parse_assignments,
    retry_command,
    table,
    watch,
    when,
    with_client,
)
from flatnas.cli.searches import follow, write_rows
from flatnas.client import Client
from flatnas.labels import describe_evaluation
from flatnas.models import EvaluationCurveRow

ID_HELP = "the evaluation id, or any unique prefix of it"


def _source(args: argparse.Namespace) -> dict[str, Any]:
    """A genotype JSON file, or a search (id or prefix) whose best/final/epoch genotype to train."""
    path = Path(args.genotype)
    if path.suffix == ".json" or path.is_file():
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise CommandError(f"{path}: cannot read a genotype JSON document: {err}") from None
        if args.which or args.epoch is not None:
            raise CommandError("--which and --epoch pick a search's genotype; they cannot go with a file")
        return {"json": document}
    source: dict[str, Any] = {"search_id": args.genotype, "which": args.which or "best"}
    if args.epoch is not None:
        source["epoch"] = args.epoch
    return source


@with_client
def submit(args: argparse.Namespace, client: Client) -> int:
    # As with `eval run`: --set dataset.FIELD=VALUE sets the data set, any other FIELD the protocol.
    overrides = parse_assignments(args.set)
    dataset = overrides.pop("dataset", {})
    if not isinstance(dataset, dict):
        raise CommandError("--set dataset=...: give the data set's fields, e.g. --set dataset.name=digits")
    dataset.update({k: v for k, v in (("name", args.dataset), ("subset", args.subset)) if v is not None})
    options: dict[str, Any] = {"overrides": overrides}
    for name in ("protocol", "seed", "name", "priority"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if dataset:
        options["dataset"] = dataset
    created = client.submit_evaluation(_source(args), idempotency_key=args.idempotency_key, **options)
    print(f"submitted evaluation {created.id} ({created.name}): {created.status}")
    return wait_for(client, created.id, timeout=None, interval=2.0) if args.wait else 0


def wait_for(client: Client, evaluation_id: str, *, timeout: float | None, interval: float) -> int:
    final = watch(
        client.wait_evaluation, evaluation_id, describe_evaluation, timeout=timeout, interval=interval
    )
    return exit_status(final)


@with_client
def wait(args: argparse.Namespace, client: Client) -> int:
    return wait_for(client, args.evaluation_id, timeout=args.timeout, interval=args.interval)


@with_client
def status(args: argparse.Namespace, client: Client) -> int:
    e = client.get_evaluation(args.evaluation_id)
    print(describe_evaluation(e))
    for label in (
        "protocol",
        "dataset",
        "space",
        "source",
        "params_m",
        "flops_m",
        "worker",
        "attempts",
        "error",
    ):
        value = getattr(e, label)
        if value not in (None, "", {}):
            print(f"  {label}: {json.dumps(value) if isinstance(value, dict) else value}")
    return 0


@with_client
def list_evaluations(args: argparse.Namespace, client: Client) -> int:
    filters = {k: getattr(args, k) for k in ("status", "protocol", "dataset", "search_id")}
    found = list(client.list_evaluations(limit=args.limit, mine=args.mine or None, **filters))
    rows = [["ID", "STATUS", "PROTOCOL", "DATASET", "TEST ACC", "CREATED", "NAME"]]
    rows += [
        [
            e.id,
            e.status,
            e.protocol or "-",
            e.dataset or "-",
            "-" if e.test_acc is None else f"{e.test_acc:.4f}",
            when(e.created_at),
            e.name,
        ]
        for e in found
    ]
    print(table(rows))
    return 0


@with_client
def curves(args: argparse.Namespace, client: Client) -> int:
    write_rows(
        client.evaluation_curves(args.evaluation_id), tuple(EvaluationCurveRow.model_fields), args.json
    )
    return 0


@with_client
def events(args: argparse.Namespace, client: Client) -> int:
    return follow(client.evaluation_events(args.evaluation_id), args.json)


def add_commands(commands: Any) -> None:
    """The `flatnas eval ...` group."""
    group = commands.add_parser(
        "eval", help="evaluations: train a genotype from scratch, locally or on the service"
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser(
        "run",
        help="train a genotype on this machine: flatnas eval run GENOTYPE.json --out DIR",
        populate=engine_arguments("nas_core.evaluation.cli", "add_parser", "eval run"),
    )
    p.set_defaults(run=engine_command("nas_core.evaluation.cli", "cmd_evaluate", "eval run"))

    p = actions.add_parser("submit", help="train a search's genotype (or a genotype file) on the service")
    p.add_argument("genotype", help="a search id (or unique prefix) or a genotype JSON file")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--which", choices=("best", "final"), help="the search's best or final genotype (best)"
    )
    which.add_argument("--epoch", type=int, help="the search's genotype of this epoch (from 0)")
    # Not checked here (the client does not know the engine's registry): the service answers 422
    # naming the protocols it has, as GET /catalog lists them.
    p.add_argument("--protocol", help="darts, nb201, ... (GET /catalog); default: the genotype's space")
    p.add_argument("--dataset", help="data set name (default cifar10)")
    p.add_argument("--subset", type=int, help="train on only the first N training images")
    p.add_argument("--seed", type=int)
    p.add_argument("--name")
    p.add_argument("--priority", type=int, help="0..9, 9 runs first (default 5)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a protocol field (e.g. epochs=2) or a data set field (dataset.image_size=8)",
    )
    p.add_argument("--idempotency-key", help="resubmitting with the same key returns the same evaluation")
    p.add_argument("--wait", action="store_true", help="then wait for it to finish")
    p.set_defaults(run=submit)

    p = actions.add_parser("list", help="list evaluations, newest first")
    for name in ("status", "protocol", "dataset"):
        p.add_argument(f"--{name}")
    p.add_argument("--search-id", help="only evaluations of this search's genotypes (id or unique prefix)")
    p.add_argument("--mine", action="store_true", help="only evaluations submitted with this key")
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(run=list_evaluations)

    add_id_actions(
        actions,
        "evaluation_id",
        ID_HELP,
        (
            ("status", status, "an evaluation's state, progress and results"),
            (
                "cancel",
                cancel_command("cancel_evaluation", "evaluation_id"),
                "cancel an evaluation (a running one stops within one step)",
            ),
            (
                "retry",
                retry_command("retry_evaluation", "evaluation_id"),
                "run a failed or cancelled evaluation again from its last checkpoint",
            ),
        ),
    )
    p = actions.add_parser("wait", help="wait until an evaluation ends; exit 0 only if it succeeded")
    p.add_argument("evaluation_id", help=ID_HELP)
    add_wait_options(p, 2.0)
    p.set_defaults(run=wait)
    p = actions.add_parser("curves", help="per-epoch train/test curves (CSV, or --json)")
    p.add_argument("evaluation_id", help=ID_HELP)
    p.add_argument("--json", action="store_true", help="a JSON list instead of CSV")
    p.set_defaults(run=curves)
    p = actions.add_parser("events", help="follow an evaluation live: progress, epochs, status")
    p.add_argument("evaluation_id", help=ID_HELP)
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(run=events)
