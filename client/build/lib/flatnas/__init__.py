"""flatnas's Python client: `from flatnas import Client` (see flatnas.client).

The package installs on its own (the `flatnas-client` distribution: httpx, pydantic, PyYAML; no
torch). The `flatnas` command (flatnas.cli) lives here too; its server and local-compute commands
import the engine and the service only when they run.
"""

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
from flatnas.paging import Paginator
from flatnas.transport import Event

__all__ = [
    "ApiError",
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
