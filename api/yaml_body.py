"""YAML request bodies, read once by a loader made for untrusted input.

libyaml's C parser produces the events when PyYAML was built with it (pure Python otherwise, about
seven times slower); nodes are composed in Python so that, while the document is being read:

- nesting deeper than MAX_JSON_DEPTH is refused at the line where it goes too deep, before a
  node of it exists (the C composer recurses without a limit, and PyYAML's own ends in a
  RecursionError);
- an alias is refused where it appears: loaded, aliases are shared references, but written out as
  JSON a small body could expand into a huge one;
- an integer literal longer than MAX_INT_DIGITS becomes a TooLongInteger, which `check_body` then
  refuses under its field's name;
- mapping keys become strings as JSON would write them (`1:` is the key "1"), and a key named
  twice in one mapping is refused at its second line (flatnas.documents.UniqueKeys).

Scalars resolve as flatnas.documents.SpecLoader resolves them, so a body means what the same
spec file means to the CLI.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from api.errors import FieldError, ValidationProblem
from api.request_input import MAX_INT_DIGITS, MAX_JSON_DEPTH, TooLongInteger, check_body
from flatnas.documents import SpecFileError, SpecLoader, UniqueKeys, parse_spec_text

try:  # libyaml's event parser, when PyYAML was built with it
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


ALIASES_REFUSED = "YAML anchors and aliases are not accepted in a spec"


class BodyRefused(ValueError):
    """A YAML body refused while it was read; the message says why and, when known, where."""


class _LimitedComposer(Composer):
    """PyYAML's composer with a nesting limit and no aliases."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self._events.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise BodyRefused(ALIASES_REFUSED)
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_JSON_DEPTH:
            raise BodyRefused(f"nests more than {MAX_JSON_DEPTH} levels deep{_at(event.start_mark)}")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    @property
    def _events(self) -> Any:
        return self  # the parser this composer is mixed with: its events are untyped


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _BodyConstructor(UniqueKeys):
    def construct_bounded_int(self, node: ScalarNode) -> int | TooLongInteger:
        text = str(node.value).replace("_", "")
        digits = len(text) - text.startswith(("-", "+"))
        if digits > MAX_INT_DIGITS:
            return TooLongInteger(digits, node.start_mark.line + 1)
        return self.construct_yaml_int(node)  # type: ignore[no-untyped-call,no-any-return]

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)  # type: ignore[no-untyped-call]
        if all(isinstance(key, str) for key in mapping):
            return mapping  # type: ignore[no-any-return]
        return {_json_key(key, node): value for key, value in mapping.items()}


def _json_key(key: Any, node: MappingNode) -> str:
    """The key as json.dumps writes it (1 -> "1", true -> "true"); other keys have no JSON form."""
    if key is None or isinstance(key, str | int | float):  # bool is an int
        return str(next(iter(json.loads(json.dumps({key: None})))))
    raise BodyRefused(
        f"a mapping key at line {node.start_mark.line + 1} is a YAML {type(key).__name__}; "
        "keys are strings, numbers, booleans or null"
    )


class BodyLoader(_Parser, _LimitedComposer, _BodyConstructor, Resolver):  # type: ignore[misc]
    """The API's YAML loader (see the module's docstring)."""

    # SpecLoader's scalar resolution (YAML 1.2 floats), copied: resolvers are class data.
    yaml_implicit_resolvers = dict(SpecLoader.yaml_implicit_resolvers)

    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _LimitedComposer.__init__(self)
        _BodyConstructor.__init__(self)
        Resolver.__init__(self)

    # The C parser brings its own composer; these are the Python composer's, which counts depth.
    get_single_node = Composer.get_single_node
    check_node = Composer.check_node
    get_node = Composer.get_node


BodyLoader.add_constructor("tag:yaml.org,2002:int", _BodyConstructor.construct_bounded_int)  # type: ignore[type-var]


def parse_yaml_body(body: bytes) -> dict[str, Any]:
    """The mapping a YAML spec body holds, checked as JSON bodies are (`check_body`); else 422
    naming the line and column where reading stopped."""
    try:
        data = parse_spec_text(body, "body", yaml_syntax=True, loader=BodyLoader)
    except SpecFileError as err:
        raise yaml_problem(_located(err)) from None
    except BodyRefused as err:
        raise yaml_problem(str(err)) from None
    check_body(data, body)
    return data


def _located(err: SpecFileError) -> str:
    if err.line is None:
        return str(err.problem)
    kind, _, problem = err.problem.partition(": ")
    return f"{kind} at line {err.line}, column {err.column}: {problem}"


def yaml_problem(message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[FieldError(field="body", message=message, location="body")])
