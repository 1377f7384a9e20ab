"""What the client raises: `FlatnasError` for anything, `ApiError` when the service said no."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class FlatnasError(Exception):
    """Anything the client reports: the service unreachable, an id that resolves to nothing, ..."""


class ApiError(FlatnasError):
    """The service answered with an error; `problem` holds its RFC 9457 problem details."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status, self.problem = status, problem
        super().__init__(describe_problem(status, problem))

    @property
    def errors(self) -> list[dict[str, Any]]:
        """One entry per field the service named: field, message, allowed values."""
        return list(self.problem.get("errors") or [])


def describe_problem(status: int, problem: Mapping[str, Any]) -> str:
    """The problem as lines for people: title, detail, then one line per named field."""
    lines = [f"HTTP {status} {problem.get('title', '')}: {problem.get('detail', '')}".rstrip(" :")]
    for error in problem.get("errors") or []:
        lines.append(field_error_line(error.get("field"), error.get("message"), error.get("allowed")))
    return "\n".join(lines)


def field_error_line(field: Any, message: Any, allowed: Sequence[Any] | None) -> str:
    """`  field: message (allowed: ...)`; the list only when the message does not already name
    every allowed value (pydantic's "Input should be 'a', 'b' or 'c'" does)."""
    text = str(message)
    listed = allowed and not all(f"'{value}'" in text for value in allowed)
    return f"  {field}: {text}" + (f" (allowed: {', '.join(map(str, allowed or ()))})" if listed else "")
