"""flatness.json: the records of one search as one JSON document (the CLI writes it)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from nas_core.reporter import FlatnessRecord

FORMAT = "flatnas.flatness/1"


def flatness_records_to_json(records: Iterable[FlatnessRecord]) -> dict[str, Any]:
    """{format, kinds, records: [{kind, epoch, params, value, seconds}, ...]} in the given order.

    Values are made strictly JSON-safe: tuples become lists and NaN/±inf become null (a diverging
    Hessian estimate must not make the file unreadable by strict parsers).
    """
    rows = [_json_safe(asdict(r)) for r in records]
    return {"format": FORMAT, "kinds": sorted({r["kind"] for r in rows}), "records": rows}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
