"""flatnas's Python client: `from flatnas import Client`, or `AsyncClient` for asyncio (see
flatnas.client and flatnas.async_client).

The package installs on its own (the `flatnas-client` distribution: httpx, pydantic, PyYAML; no
torch). The `flatnas` command (flatnas.cli) lives here too; its server and local-compute commands
import the engine and the service only when they run.

The names below are imported on first use, so the engine and the API, which use only the leaf
modules `flatnas.documents` and `flatnas.labels`, do not load the client with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flatnas.async_client import AsyncClient
    from flatnas.client import Client
    from flatnas.errors import ApiError, FlatnasError
    from flatnas.models import (
        Cancellation,
        CurveRow,
        Evaluation,
        EvaluationCurveRow,
        FlatnessRow,
        Genotype,
        LandscapeJob,
        Page,
        Progress,
        Rows,
        Search,
        Study,
        StudyResults,
    )
    from flatnas.paging import AsyncPaginator, Paginator
    from flatnas.transport import Event

_HOMES = {
    "Client": "flatnas.client",
    "AsyncClient": "flatnas.async_client",
    "ApiError": "flatnas.errors",
    "FlatnasError": "flatnas.errors",
    "Paginator": "flatnas.paging",
    "AsyncPaginator": "flatnas.paging",
    "Event": "flatnas.transport",
    **dict.fromkeys(
        (
            "Cancellation",
            "CurveRow",
            "Evaluation",
            "EvaluationCurveRow",
            "FlatnessRow",
            "Genotype",
            "LandscapeJob",
            "Page",
            "Progress",
            "Rows",
            "Search",
            "Study",
            "StudyResults",
        ),
        "flatnas.models",
    ),
}
__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncPaginator",
    "Cancellation",
    "Client",
    "CurveRow",
    "Evaluation",
    "EvaluationCurveRow",
    "Event",
    "FlatnasError",
    "FlatnessRow",
    "Genotype",
    "LandscapeJob",
    "Page",
    "Paginator",
    "Progress",
    "Rows",
    "Search",
    "Study",
    "StudyResults",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'flatnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
