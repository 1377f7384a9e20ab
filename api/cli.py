"""The `flatnas` command.

flatnas up                      migrate, then run the API and one worker (Ctrl-C stops both)
flatnas keys create NAME --scope read|submit|admin   (prints the key once)
flatnas keys list | keys revoke ID
flatnas submit SPEC | status ID | wait ID | list | cancel ID | retry ID | genotype ID [--out F]
        | curves ID | events ID          (talk to a service: FLATNAS_URL, FLATNAS_API_KEY; an ID may
                                          be any unique prefix of the id)
flatnas study submit FILE | status ID | wait ID | results ID [--csv [--paired]]   (studies)
flatnas search SPEC --out DIR | methods       run the library locally (nas_core.cli)
flatnas benchmark ARCH_STR|genotype.json [--benchmark PATH]   NAS-Bench-201 numbers of one architecture
flatnas evaluate GENOTYPE.json --out DIR [--protocol darts|nb201] [--set FIELD=VALUE]
                                train a genotype from scratch locally (nas_core.evaluation.cli)
"""

from __future__ import annotations

import argparse
import signal
import sys

from store.models import MAX_KEY_NAME, SCOPES

LOCAL_COMMANDS = ("search", "evaluate", "methods", "benchmark")
ID_HELP = "the search id, or any unique prefix of it"


def _key_name(value: str) -> str:
    if not 1 <= len(value) <= MAX_KEY_NAME:
        raise argparse.ArgumentTypeError(f"a key name has 1 to {MAX_KEY_NAME} characters")
    return value


def build_parser() -> argparse.ArgumentParser:
    from api import cli_client, cli_keys, cli_study, cli_up

    parser = argparse.ArgumentParser(
        prog="flatnas",
        description="Neural architecture search as a service.",
        epilog="`flatnas search SPEC --out DIR` and `flatnas methods` run the search library locally "
        "(see `flatnas search --help`).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="migrate the database, start the API and one worker")
    up.add_argument("--host", help="API host (default: API_HOST setting)")
    up.add_argument("--port", type=int, help="API port (default: API_PORT setting)")
    up.add_argument("--no-worker", action="store_true", help="start the API only")
    up.set_defaults(run=cli_up.up)

    keys = commands.add_parser("keys", help="manage API keys (works on DATABASE_URL directly)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create a key and print it once")
    create.add_argument("name", type=_key_name, help=f"who the key is for (1 to {MAX_KEY_NAME} characters)")
    create.add_argument(
        "--scope", choices=SCOPES, default="submit", help="read < submit < admin (default submit)"
    )
    create.set_defaults(run=cli_keys.create)
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(run=cli_keys.list_keys)
    revoke = key_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=cli_keys.revoke)

    submit = commands.add_parser("submit", help="submit a search spec (JSON or YAML file, '-' for stdin)")
    submit.add_argument("spec")
    submit.add_argument("--idempotency-key", help="resubmitting with the same key returns the same search")
    submit.add_argument("--wait", action="store_true", help="then wait for it to finish")
    submit.set_defaults(run=cli_client.submit)

    status = commands.add_parser("status", help="show a search's state and progress")
    status.add_argument("search_id", help=ID_HELP)
    status.set_defaults(run=cli_client.status)

    wait = commands.add_parser("wait", help="wait until a search finishes; exit 0 only if it succeeded")
    wait.add_argument("search_id", help=ID_HELP)
    wait.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit 2)")
    wait.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    wait.set_defaults(run=cli_client.wait)

    for name, run, text in (
        ("cancel", cli_client.cancel, "cancel a search (a running one stops within one step)"),
        ("retry", cli_client.retry, "run a failed or cancelled search again from its last checkpoint"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("search_id", help=ID_HELP)
        command.set_defaults(run=run)

    genotype = commands.add_parser("genotype", help="download a search's genotype JSON")
    genotype.add_argument("search_id", help=ID_HELP)
    genotype.add_argument("--out", help="write to this file (default: stdout)")
    which = genotype.add_mutually_exclusive_group()
    which.add_argument("--which", choices=("best", "final"))
    which.add_argument("--epoch", type=int)
    genotype.set_defaults(run=cli_client.genotype)

    curves = commands.add_parser("curves", help="print a search's per-epoch curves (CSV, or --json)")
    curves.add_argument("search_id", help=ID_HELP)
    curves.add_argument("--json", action="store_true", help="a JSON list instead of CSV")
    curves.set_defaults(run=cli_client.curves)

    events = commands.add_parser(
        "events", help="follow a search live: progress, epochs, genotypes, flatness, status"
    )
    events.add_argument("search_id", help=ID_HELP)
    events.add_argument("--no-history", action="store_true", help="skip what happened before now")
    events.add_argument("--json", action="store_true", help="one JSON object per event")
    events.set_defaults(run=cli_client.events)

    listing = commands.add_parser("list", help="list searches, newest first")
    for name in ("status", "method", "space", "dataset", "tag", "q"):
        listing.add_argument(f"--{name}")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=cli_client.list_searches)

    cli_study.add_commands(commands)
    # Run by nas_core.cli (dispatched in main before parsing); listed so the usage line names them.
    commands.add_parser(
        "search", help="run one search locally: flatnas search SPEC --out DIR", add_help=False
    )
    commands.add_parser("methods", help="list the search methods and their parameters", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Like other Unix tools: `flatnas methods | head` ends quietly instead of with a BrokenPipeError.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in LOCAL_COMMANDS:
        # The library's own CLI (engine): imported only here, it pulls in torch.
        from nas_core.cli import main as library_main

        return int(library_main(args, prog="flatnas") or 0)
    parsed = build_parser().parse_args(args)
    return int(parsed.run(parsed) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
