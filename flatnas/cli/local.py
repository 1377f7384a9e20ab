"""`flatnas methods` and `flatnas benchmark`: the engine on this machine. Their arguments and code
come from nas_core, imported only when one of them runs (see CommandParser's `populate`)."""

from __future__ import annotations

from typing import Any

from flatnas.cli.common import engine_arguments, engine_command


def add_commands(commands: Any) -> None:
    p = commands.add_parser(
        "benchmark",
        help="NAS-Bench-201 numbers of one architecture (arch string or genotype.json)",
        populate=engine_arguments("nas_core.benchmarks.cli", "add_parser", "benchmark"),
    )
    p.set_defaults(run=engine_command("nas_core.benchmarks.cli", "cmd_benchmark", "benchmark"))
    p = commands.add_parser(
        "methods",
        help="list the search methods and their parameters",
        populate=engine_arguments("nas_core.cli", "add_methods_parser", "methods"),
    )
    p.set_defaults(run=engine_command("nas_core.cli", "cmd_methods", "methods"))
