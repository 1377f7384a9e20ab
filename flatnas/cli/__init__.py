"""The `flatnas` command: one tree of groups that mirror the API.

    flatnas search submit|list|status|wait|events|curves|genotype|cancel|retry   (the service)
    flatnas search run SPEC --out DIR                                           (this machine)
    flatnas study submit|list|status|wait|results|cancel|retry
    flatnas eval run GENOTYPE.json --out DIR | submit|list|status|wait|events|curves|cancel|retry
    flatnas landscape barrier|barrier-matrix|neighbourhood|list|status|wait|cancel|retry
    flatnas benchmark ARCH | flatnas methods                                    (this machine)
    flatnas server up|keys|migrate                                              (the service's side)

Commands that talk to a service read FLATNAS_URL and FLATNAS_API_KEY; every id argument takes a
unique prefix of the id, as git takes commit ids. Problems are one line on stderr and exit 1 (a
timeout 2, Ctrl-C 130), never a traceback. The user commands import neither the engine nor the
service: `search run`, `eval run`, `benchmark` and `methods` import nas_core, and `server` imports
api and store, only when they run.

The flat verbs of the previous release (submit, list, status, wait, events, curves, genotype,
cancel, retry, up, keys, evaluate, and `search SPEC --out DIR`) still work for one release: they are
rewritten to their group's command with a note on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from flatnas.cli import evaluations, landscape, local, searches, server, studies
from flatnas.cli.common import CommandParser, PartMissing

# Deprecated flat verb -> its command now (kept for one release).
ALIASES: dict[str, tuple[str, ...]] = {
    **{verb: ("search", verb) for verb in ("submit", "list", "status", "wait", "events", "curves")},
    **{verb: ("search", verb) for verb in ("genotype", "cancel", "retry")},
    "up": ("server", "up"),
    "keys": ("server", "keys"),
    "evaluate": ("eval", "run"),
}
# As the help lists them.
DEPRECATED_FORMS = [*ALIASES.items(), ("search SPEC --out DIR", ("search", "run", "SPEC", "--out", "DIR"))]


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="flatnas",
        description="Neural architecture search as a service: searches, studies, evaluations and "
        "loss-landscape jobs on a flatnas service, or a search on this machine.",
        epilog="service commands read FLATNAS_URL and FLATNAS_API_KEY; an id may be any unique prefix of it.\n\n"
        "deprecated forms (they still work in this release):\n"
        + "\n".join(f"  flatnas {old:<22} -> flatnas {' '.join(new)}" for old, new in DEPRECATED_FORMS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="GROUP")
    searches.add_commands(commands)
    studies.add_commands(commands)
    evaluations.add_commands(commands)
    landscape.add_commands(commands)
    local.add_commands(commands)
    server.add_commands(commands)
    return parser


def modernise(args: list[str]) -> tuple[list[str], str | None]:
    """The argv of the current command for a deprecated form, and a note saying so (else None)."""
    if args and args[0] in ALIASES:
        new = [*ALIASES[args[0]], *args[1:]]
        return new, f"`flatnas {args[0]}` is deprecated; use `flatnas {' '.join(ALIASES[args[0]])}`"
    if len(args) > 1 and args[0] == "search" and searches.looks_like_spec(args[1]):
        return [
            "search",
            "run",
            *args[1:],
        ], "`flatnas search SPEC` is deprecated; use `flatnas search run SPEC`"
    return args, None


def main(argv: Sequence[str] | None = None) -> int:
    # Like other Unix tools: `flatnas methods | head` ends quietly instead of with a BrokenPipeError.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args, note = modernise(list(sys.argv[1:] if argv is None else argv))
    if note:
        print(f"flatnas: {note} (the old form goes in the next release)", file=sys.stderr)
    try:
        parsed = build_parser().parse_args(args)
    except PartMissing as err:  # an engine command's arguments come from the engine
        print(err, file=sys.stderr)
        return 1
    return int(parsed.run(parsed) or 0)


__all__ = ["ALIASES", "build_parser", "main"]
