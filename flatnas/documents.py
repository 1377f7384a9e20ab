"""Spec files (JSON or YAML) read into plain dicts, with one-line errors people can act on.

Shared by the client (which sends the documents) and the engine (which validates them): it lives
in the client package because the client installs without the engine, and needs only PyYAML.

Every problem with the file itself (missing, unreadable, a syntax error, not a mapping) raises
`SpecFileError`, whose message names the file and, for syntax errors, the line and column
(1-based): `spec.yaml:4:3: mapping values are not allowed here`. Field validation is the spec
model's job (the engine's SearchSpec, or the service's answer).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode

YAML_SUFFIXES = (".yaml", ".yml")


class RepeatedKey(ValueError):
    """A JSON object names one key twice; `args[0]` is the key."""


def object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A `json` object_pairs_hook that refuses a repeated key: json.loads keeps the last one
    silently, so `"epochs": 5, ..., "epochs": 500` would run whichever came later."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            raise RepeatedKey(key)
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means one repeats")


class UniqueKeys(SafeConstructor):
    """A constructor mix-in that refuses a YAML mapping naming one key twice, at the second one
    (PyYAML keeps the last, as json.loads does; YAML says keys are unique, so it is an error in the
    document). Each mapping is checked as written, before merge keys (`<<: *base`) are flattened
    into it: a key that overrides a merged one is not a repeat."""

    def flatten_mapping(self, node: MappingNode) -> None:
        checked: set[int] = self.__dict__.setdefault("_unique_keys_checked", set())
        if id(node) not in checked:  # a merged mapping is flattened again when it is built itself
            checked.add(id(node))
            _refuse_repeated_keys(node)
        super().flatten_mapping(node)  # type: ignore[no-untyped-call]


def _refuse_repeated_keys(node: MappingNode) -> None:
    seen: set[str] = set()
    for key_node, _value in node.value:
        if isinstance(key_node, ScalarNode):  # a collection as a key has no JSON form at all
            if key_node.value in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"the key {key_node.value!r} appears twice in one mapping",
                    key_node.start_mark,
                )
            seen.add(key_node.value)


class SpecLoader(UniqueKeys, yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as YAML 1.2 does (YAML 1.1 takes `1e-2` and `1.0e5`
    for strings, and the spec's floats are strict: a string is never coerced into a number), and
    refusing a key named twice in one mapping (UniqueKeys)."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class SpecFileError(ValueError):
    """The spec document cannot be read as a mapping. The message is one line naming the file;
    `problem`, `line` and `column` (1-based, None when unknown) say the same for other renderings."""

    def __init__(self, name: str, problem: str, line: int | None = None, column: int | None = None) -> None:
        where = f":{line}:{column}" if line is not None and column is not None else ""
        super().__init__(f"{name}{where}: {problem}")
        self.problem, self.line, self.column = problem, line, column


def parse_spec_text(
    text: str | bytes, name: str, *, yaml_syntax: bool, loader: type[Any] = SpecLoader
) -> dict[str, Any]:
    """The mapping a spec document holds; `name` labels errors (a path, or '-' for stdin). `loader`
    is a YAML loader that resolves scalars as SpecLoader does (the API passes a stricter one)."""
    try:
        data = (
            yaml.load(text, Loader=loader)
            if yaml_syntax
            else json.loads(text, object_pairs_hook=object_without_repeats)
        )
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        kind = "YAML error" if isinstance(err, ConstructorError) else "YAML syntax error"
        problem = f"{kind}: {err.problem or err.context}"
        if mark is None:
            raise SpecFileError(name, problem) from None
        raise SpecFileError(name, problem, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as err:
        raise SpecFileError(name, f"YAML error: {err}") from None
    except json.JSONDecodeError as err:
        raise SpecFileError(name, f"JSON syntax error: {err.msg}", err.lineno, err.colno) from None
    except RepeatedKey as err:
        raise SpecFileError(
            name, f"JSON error: the key {err.args[0]!r} appears twice in one object"
        ) from None
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecFileError(name, f"a spec is a mapping of fields (name: value), got {got}")
    return data


def read_spec_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a spec file: YAML for .yaml/.yml, JSON otherwise (JSON is also YAML, so either parses)."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecFileError(name, "no such file") from None
    except IsADirectoryError:
        raise SpecFileError(name, "is a directory, not a spec file") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise SpecFileError(name, f"cannot read: {reason}") from None
    return parse_spec_text(text, name, yaml_syntax=name.endswith(YAML_SUFFIXES))
