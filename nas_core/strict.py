"""The base of every spec model: unknown fields are refused, so a typo never falls back to a default;
values are taken as they are typed ("9", true or 1e3 are not integers, 1 is not a boolean), and
floats must be finite (Infinity, NaN and overflowing literals such as 1e309 are refused, not stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=False, validate_assignment=True, strict=True, allow_inf_nan=False
    )


def fields_at(model: type[BaseModel], path: Sequence[str]) -> list[str] | None:
    """The field names of the section of `model` at `path` (e.g. ["dataset"]): what is allowed next
    to an unknown field there. None where the section is not a model (method_params depends on the
    method; the error message names what is allowed)."""
    current: Any = model
    for part in path:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return None
    return sorted(current.model_fields)


def error_lines(err: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per error of `err`, for a terminal: the dotted field, the message, what was given,
    and for an unknown field the fields allowed there."""
    lines = []
    for e in err.errors():
        loc = [str(part) for part in e["loc"]]
        where = ".".join(loc) or "(spec)"
        if e["type"] == "extra_forbidden":
            allowed = fields_at(model, loc[:-1])
            lines.append(
                f"  {where}: unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
            )
        else:
            lines.append(f"  {where}: {e['msg']} (got {e.get('input')!r})")
    return lines
