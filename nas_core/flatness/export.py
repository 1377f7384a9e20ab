"""flatness.json: the records of one search as one JSON document (the CLI writes it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from nas_core.reporter import FlatnessRecord, json_ready

FORMAT = "flatnas.flatness/1"


def flatness_records_to_json(records: Iterable[FlatnessRecord]) -> dict[str, Any]:
    """{format, kinds, records: [{kind, epoch, params, value, seconds}, ...]} in the given order.

    Values are made strictly JSON-safe: tuples become lists and NaN/±inf become null (a diverging
    Hessian estimate must not make the file unreadable by strict parsers).
    """
    rows = [json_ready(asdict(r)) for r in records]
    return {"format": FORMAT, "kinds": sorted({r["kind"] for r in rows}), "records": rows}
