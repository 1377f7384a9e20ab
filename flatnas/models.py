"""What the client returns: typed views of the API's JSON.

Every model accepts fields it does not know (`extra="allow"`: a newer service may add some, and
they stay reachable as attributes and in `model_dump()`), and every field but the id and the status
has a default, so an older or newer service never breaks a read. Field names are the API's.

Lists come back as `Rows` (a `list` with `.to_pandas()`), pages as `Page`; the client's `Paginator`
walks every listing the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class ApiModel(BaseModel):
    """One JSON object of the API; unknown fields are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


Item = TypeVar("Item", bound=ApiModel)


class Rows(list[Item]):
    """A list of rows (per-epoch curves, flatness records, ...) as models, in the API's order.

    `to_pandas()` makes a DataFrame with one column per field, when pandas is installed."""

    def to_pandas(self) -> pandas.DataFrame:
        try:
            import pandas
        except ImportError:
            from flatnas.errors import FlatnasError

            raise FlatnasError("to_pandas() needs pandas (pip install pandas)") from None
        return pandas.DataFrame([row.model_dump() for row in self])

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as the API's JSON objects."""
        return [row.model_dump(mode="json") for row in self]


class Page(ApiModel, Generic[Item]):
    """One page of a listing; `next_cursor` is None on the last (and on listings without cursors)."""

    items: list[Item]
    next_cursor: str | None = None


class Progress(ApiModel):
    """Where a running job is: epochs and steps from 0, the phase, the share done."""

    epoch: int | None = None
    step: int | None = None
    steps_per_epoch: int | None = None
    total_epochs: int | None = None
    phase: str | None = Field(None, description="train | eval | flatness | score")
    detail: str | None = None
    loss: float | None = None
    eta_seconds: float | None = None
    fraction: float | None = Field(None, description="share of the whole job done, 0..1")


class Job(ApiModel):
    """What every job kind shares: id, state, timestamps, who runs it."""

    id: str
    status: str = Field(description="queued | running | retrying | succeeded | failed | cancelled")
    error: str | None = None
    worker: str | None = None
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner_key_id: str | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def done(self) -> bool:
        """The job has ended (succeeded, failed or cancelled)."""
        return self.status in TERMINAL


class Search(Job):
    """A search (GET /searches/{id}); listings leave out `spec` and `links`."""

    name: str = ""
    cancel_requested: bool = False
    method: str | None = None
    space: str | None = None
    dataset: str | None = None
    tags: list[str] = Field(default_factory=list)
    priority: int | None = None
    seed: int | None = None
    epochs: int | None = None
    progress: Progress | None = None
    eta_seconds: float | None = None
    best_val_acc: float | None = None
    stale: bool = False
    heartbeat_at: datetime | None = None
    spec: dict[str, Any] | None = None


class Evaluation(Job):
    """A genotype trained from scratch (GET /evaluations/{id})."""

    name: str = ""
    cancel_requested: bool = False
    protocol: str | None = None
    dataset: str | None = None
    space: str | None = None
    seed: int | None = None
    priority: int | None = None
    source: dict[str, Any] = Field(default_factory=dict)
    genotype: dict[str, Any] = Field(default_factory=dict)
    spec: dict[str, Any] = Field(default_factory=dict)
    progress: Progress | None = None
    eta_seconds: float | None = None
    test_acc: float | None = None
    params_m: float | None = None
    flops_m: float | None = None
    latest_test_acc: float | None = None
    result: dict[str, Any] | None = None


class LandscapeJob(Job):
    """A landscape job (GET /landscape-jobs/{id}) of kind barrier, barrier_matrix or neighbourhood;
    `result` is set once it succeeded."""

    kind: str = Field("", description="barrier | barrier_matrix | neighbourhood")
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    searches: list[dict[str, Any]] = Field(default_factory=list)
    a: dict[str, Any] | None = None
    b: dict[str, Any] | None = None
    search_ids: list[str] | None = None


class StudyChild(ApiModel):
    position: int = 0
    search_id: str
    cell: dict[str, Any] = Field(default_factory=dict)
    status: str
    fraction: float = 0.0
    evaluation_id: str | None = None
    evaluation_status: str | None = None


class Study(ApiModel):
    """A grid of searches (GET /studies/{id}); listings leave out `request`, `children`, `links`."""

    id: str
    name: str = ""
    status: str
    counts: dict[str, int] = Field(default_factory=dict)
    evaluate: bool = False
    evaluation_counts: dict[str, int] = Field(default_factory=dict)
    searches: int = 0
    fraction: float = 0.0
    eta_seconds: float | None = None
    axes: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    priority: int | None = None
    cancel_requested: bool = False
    created_at: datetime | None = None
    owner_key_id: str | None = None
    request: dict[str, Any] | None = None
    children: list[StudyChild] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class StudyResults(ApiModel):
    """GET /studies/{id}/results: per-cell statistics over seeds, paired A2M on/off comparisons and
    each search's metrics (the nested objects are the API's JSON, as dicts)."""

    study_id: str
    status: str
    axes: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict, description="metric name -> what it measures")
    cells: list[dict[str, Any]] = Field(default_factory=list)
    paired: list[dict[str, Any]] = Field(default_factory=list)
    children: list[dict[str, Any]] = Field(default_factory=list)


class Cancellation(ApiModel):
    """The answer to a cancel: the job's state now and what happens next."""

    id: str
    status: str
    cancel_requested: bool = True
    detail: str = ""


class Genotype(ApiModel):
    """One genotype document (GET /searches/{id}/genotype): the form every reader accepts."""

    space: str
    ops: list[str] = Field(default_factory=list)
    genotype: dict[str, Any] = Field(default_factory=dict)
    arch_str: str | None = None
    darts_repr: str | None = None
    epoch: int | None = None
    search_id: str | None = None

    def document(self) -> dict[str, Any]:
        """The document exactly as the service sent it (no fields added)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def __str__(self) -> str:
        return self.arch_str or self.darts_repr or str(self.genotype)


class CurveRow(ApiModel):
    """One search epoch (epoch from 0)."""

    epoch: int
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    lr: float | None = None
    seconds: float | None = None


class EvaluationCurveRow(ApiModel):
    """One evaluation epoch (epoch from 0): train and test loss and accuracy."""

    epoch: int
    train_loss: float | None = None
    train_acc: float | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    lr: float | None = None
    seconds: float | None = None


class FlatnessRow(ApiModel):
    """One flatness measurement; `epoch` is None for end-of-search metrics."""

    epoch: int | None = None
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    value: Any = None
    seconds: float | None = None


# What `wait(on_progress=...)` compares between polls: a state is news when one of these changed.
PROGRESS_FIELDS = frozenset(
    {
        "status",
        "cancel_requested",
        "progress",
        "eta_seconds",
        "best_val_acc",
        "latest_test_acc",
        "fraction",
        "counts",
        "evaluation_counts",
        "error",
    }
)


def progress_key(state: ApiModel) -> dict[str, Any]:
    """The part of a job's state that `on_progress` reports (heartbeats and the like left out)."""
    return state.model_dump(include=set(PROGRESS_FIELDS))
