"""What every command of the `flatnas` CLI shares: errors as one line, the client from the
environment, lazily built engine commands, and reading documents from files or stdin."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from flatnas.client import Client
from flatnas.documents import SpecFileError, parse_spec_text, read_spec_document
from flatnas.errors import ApiError, FlatnasError

Run = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """Printed to stderr as it is; the command exits 1."""


class PartMissing(CommandError):
    """A command needs a part of flatnas that this installation lacks (the engine or the server)."""


def import_part(module: str, command: str) -> ModuleType:
    """Import the engine's or the service's module for `command` only now, so user commands (and
    the torch-free flatnas-client distribution) never load them."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise PartMissing(
            f"`flatnas {command}` needs the full flatnas distribution (engine and service), not only "
            f"flatnas-client: {err}"
        ) from None


def reported(run: Run) -> Run:
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


def with_client(run: Callable[[argparse.Namespace, Client], int]) -> Run:
    """A command talking to the service at FLATNAS_URL with FLATNAS_API_KEY."""

    @reported
    def wrapper(args: argparse.Namespace) -> int:
        with Client() as client:
            return run(args, client)

    return wrapper


def engine_command(module: str, function: str, command: str) -> Run:
    """A local command whose code is the engine's `module.function(args)`, imported when it runs."""

    @reported
    def run(args: argparse.Namespace) -> int:
        return int(getattr(import_part(module, command), function)(args) or 0)

    return run


class CommandParser(argparse.ArgumentParser):
    """The parser class of the whole tree. `populate` (optional) adds the arguments the first time
    the command is parsed or its help is shown: the engine's commands take their arguments from
    the engine (nas_core), which `flatnas --help` and the user commands must not import."""

    def __init__(
        self, *args: Any, populate: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _filled(self) -> None:
        populate, self._populate = self._populate, None
        if populate is not None:
            populate(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()


class Into:
    """Hands an engine's `add_parser(sub)` function the parser made here: its description, epilog
    and arguments land on this parser, its name and help text are this tree's own."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def add_parser(self, _name: str, **kwargs: Any) -> argparse.ArgumentParser:
        for key in ("description", "epilog", "formatter_class"):
            if key in kwargs:
                setattr(self.parser, key, kwargs[key])
        return self.parser


def engine_arguments(module: str, function: str, command: str) -> Callable[[argparse.ArgumentParser], None]:
    """A `populate` that fills a parser from the engine's `module.function(sub)`."""

    def populate(parser: argparse.ArgumentParser) -> None:
        getattr(import_part(module, command), function)(Into(parser))

    return populate


def load_document(path: str) -> dict[str, Any]:
    """A YAML or JSON mapping from `path` ('-': stdin); a bad file is one line naming it."""
    try:
        if path == "-":
            return parse_spec_text(sys.stdin.read(), "<stdin>", yaml_syntax=True)
        return read_spec_document(path)
    except SpecFileError as err:
        raise CommandError(str(err)) from None


@contextlib.contextmanager
def refusals_name(path: str) -> Iterator[None]:
    """The service's refusal of a submitted document starts with the file's name (the field lines
    that follow are the service's, naming each field and what it allows)."""
    try:
        yield
    except ApiError as err:
        if err.status in (400, 413, 415, 422):
            raise CommandError(f"{'<stdin>' if path == '-' else path}: {err}") from None
        raise


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """`--set a.b=VALUE` pairs as a nested mapping; VALUE is JSON when it parses, else a string."""
    data: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--set {pair!r}: expected FIELD=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *sections, last = name.strip().split(".")
        node = data
        for part in sections:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CommandError(f"--set {pair!r}: {part} is set to a value, not a section")
        node[last] = value
    return data


def watch(wait: Callable[..., Any], job_id: str, describe: Callable[[Any], str], **options: Any) -> Any:
    """`wait(job_id, on_progress=..., **options)`, printing a line whenever what `describe` says
    about the job changed; returns the final state."""
    last = ""

    def show(state: Any) -> None:
        nonlocal last
        line = describe(state)
        if line != last:
            print(line, flush=True)
            last = line

    return wait(job_id, on_progress=show, **options)


def exit_status(final: Any) -> int:
    """0 when the job succeeded, else 1 (its error, if any, on stderr)."""
    if getattr(final, "error", None):
        print(f"  error: {final.error}", file=sys.stderr)
    return 0 if final.status == "succeeded" else 1


def cancel_command(method: str, id_dest: str) -> Run:
    """`cancel ID` of a job kind: `client.<method>(id)`, its answer on one line."""

    @with_client
    def run(args: argparse.Namespace, client: Client) -> int:
        out = getattr(client, method)(getattr(args, id_dest))
        print(f"{out.id}: {out.status} ({out.detail})")
        return 0

    return run


def retry_command(method: str, id_dest: str, note: str = "resumes from its last checkpoint") -> Run:
    """`retry ID` of a job kind: `client.<method>(id)`, its new state and `note` (what the run
    starts from) on one line."""

    @with_client
    def run(args: argparse.Namespace, client: Client) -> int:
        job = getattr(client, method)(getattr(args, id_dest))
        print(f"{job.id}: {job.status} ({note})")
        return 0

    return run


def add_id_actions(actions: Any, dest: str, id_help: str, commands: tuple[tuple[str, Run, str], ...]) -> None:
    """Actions that take one id argument and nothing else (status, cancel, retry, ...)."""
    for name, run, text in commands:
        p = actions.add_parser(name, help=text)
        p.add_argument(dest, help=id_help)
        p.set_defaults(run=run)


def add_wait_options(parser: argparse.ArgumentParser, interval: float) -> None:
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up after this many seconds (exit 2)"
    )
    parser.add_argument(
        "--interval", type=float, default=interval, help=f"seconds between polls (default {interval:g})"
    )


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def when(value: Any) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM` (UTC, as the service stores it), '-' when unset."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
