"""Studies as the API shows them: the request body, the derived state and progress, and the
results tables (per-cell summaries, and paired A2M on/off comparisons) computed from the children.

A study owns no worker time, so everything here is derived from its searches on read.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.schemas import progress_of
from nas_core.study import (
    A2M_AXIS,
    MAX_AXES,
    MAX_AXIS_VALUES,
    SEED_AXIS,
    ChildResult,
    cell_results,
    paired_results,
)
from store.models import TERMINAL_STATUSES, Study, utcnow
from store.repositories import studies
from store.repositories.studies import Member

# Study metrics, in table order; each is read per child search (store.repositories.studies).
METRICS = (
    "best_val_acc",
    "final_val_acc",
    "hessian_eigenvalue",
    "a2m_sharpness",
    "neighbourhood_acc_mean",
    "wall_seconds",
)
METRIC_DESCRIPTIONS = {
    "best_val_acc": "highest per-epoch supernet validation accuracy",
    "final_val_acc": "supernet validation accuracy at the last epoch",
    "hessian_eigenvalue": "dominant eigenvalue of the α-Hessian at its last measurement",
    "a2m_sharpness": "A2M sharpness L(α+ρ·g/‖g‖) − L(α) at its last measurement",
    "neighbourhood_acc_mean": "mean shared-weight accuracy of the best genotype's radius-1 neighbours",
    "wall_seconds": "search wall time, start to finish",
}
STUDY_TAG_PREFIX = "study:"

AxisPath = Annotated[str, Field(min_length=1, max_length=100)]
AxisValues = Annotated[list[Any], Field(min_length=1, max_length=MAX_AXIS_VALUES)]


class StudyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=160, description="a label for people; children add their cell")
    base: dict[str, Any] = Field(
        default_factory=dict,
        description="a search spec (POST /searches body without name, tags, priority); every cell starts from it",
    )
    grid: dict[AxisPath, AxisValues] = Field(
        max_length=MAX_AXES,
        description='spec field path -> values, e.g. {"method": ["darts", "pc-darts"], '
        '"a2m.enabled": [true, false], "seed": [0, 1, 2]}; the searches are the cartesian product',
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=31
    )
    priority: int = Field(5, ge=0, le=9, strict=True, description="queue priority of every child, 9 first")


class StudyChild(BaseModel):
    position: int
    search_id: str
    cell: dict[str, Any]
    status: str
    fraction: float = Field(description="share of this search done, 0..1")


class StudySummary(BaseModel):
    id: str
    name: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled, from its searches")
    counts: dict[str, int] = Field(description="searches per state")
    searches: int
    fraction: float = Field(description="share of the whole study done, 0..1")
    eta_seconds: float | None
    axes: list[str]
    tags: list[str]
    priority: int
    cancel_requested: bool
    created_at: datetime
    owner_key_id: str | None


class StudyDetail(StudySummary):
    request: dict[str, Any] = Field(description="the accepted request: base spec, grid, tags, priority")
    children: list[StudyChild]
    links: dict[str, str]


class StudyPage(BaseModel):
    items: list[StudySummary]
    next_cursor: str | None


class SummaryOut(BaseModel):
    n: int
    mean: float | None
    std: float | None = Field(description="sample standard deviation over seeds (n − 1)")
    min: float | None
    max: float | None


class CellOut(BaseModel):
    values: dict[str, Any] = Field(description="the cell's value on every axis but the seed")
    n: int = Field(description="searches of this cell that succeeded (the statistics use these)")
    search_ids: list[str]
    metrics: dict[str, SummaryOut]


class PairedOut(BaseModel):
    n: int = Field(description="seeds where both searches succeeded and the metric exists")
    mean: float | None = Field(description="mean of d = (A2M on) − (A2M off)")
    std: float | None
    positive: int = Field(description="seeds where A2M on is higher")
    sign_p: float | None = Field(description="two-sided sign test over the non-zero differences")
    t_p: float | None = Field(description="two-sided paired t-test, n − 1 degrees of freedom")


class PairOut(BaseModel):
    values: dict[str, Any] = Field(description="the axes both cells share (neither seed nor a2m.enabled)")
    metrics: dict[str, PairedOut]


class ChildOut(BaseModel):
    search_id: str
    values: dict[str, Any] = Field(description="the search's value on every axis, the seed included")
    status: str
    metrics: dict[str, float | None]


class StudyResults(BaseModel):
    study_id: str
    status: str
    axes: list[str]
    metrics: dict[str, str] = Field(description="metric name -> what it measures")
    cells: list[CellOut]
    paired: list[PairOut]
    children: list[ChildOut] = Field(description="every search's own metrics (what the cells summarise)")


def axes_of(study: Study) -> list[str]:
    # Stored beside the grid: JSONB does not keep an object's key order, and the grid's order is
    # the order of the product, the columns and the labels.
    return list(study.request["axes"])


def ordered(cell: dict[str, Any], axes: list[str]) -> dict[str, Any]:
    return {axis: cell[axis] for axis in axes if axis in cell}


def derived_status(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    active = sum(counts.get(s, 0) for s in ("queued", "running", "retrying"))
    if active:
        return "queued" if counts.get("queued", 0) == total else "running"
    if total and counts.get("succeeded", 0) == total:
        return "succeeded"
    return "failed" if counts.get("failed") else "cancelled"


def _fraction(member: Member) -> float:
    if member.search.status in TERMINAL_STATUSES:
        return 1.0
    progress = progress_of(member.search)
    return progress.fraction or 0.0 if progress else 0.0


def _eta(members: list[Member]) -> float | None:
    """Remaining work over the pace seen so far: the mean duration of a finished (or, before any
    finished, an extrapolated running) search, times the unfinished share, spread over the searches
    running at once."""
    durations = [
        (m.search.finished_at - m.search.started_at).total_seconds()
        for m in members
        if m.search.status == "succeeded" and m.search.started_at and m.search.finished_at
    ]
    running = [m for m in members if m.search.status == "running" and m.search.started_at]
    if not durations:
        durations = [
            (utcnow() - m.search.started_at).total_seconds() / f
            for m in running
            if m.search.started_at and (f := _fraction(m)) > 0.05
        ]
    remaining = sum(1.0 - _fraction(m) for m in members if m.search.status not in TERMINAL_STATUSES)
    if not remaining:
        return 0.0 if members else None
    if not durations:
        return None
    return remaining * (sum(durations) / len(durations)) / max(1, len(running))


def summary_of(study: Study, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": study.id,
        "name": study.name,
        "status": derived_status(counts),
        "counts": counts,
        "searches": sum(counts.values()),
        "axes": axes_of(study),
        "tags": list(study.tags or []),
        "priority": study.priority,
        "cancel_requested": study.cancel_requested,
        "created_at": study.created_at,
        "owner_key_id": study.owner_key_id,
    }


def study_detail(session: Session, study: Study) -> StudyDetail:
    members = studies.members(session, study.id)
    counts: dict[str, int] = {}
    for m in members:
        counts[m.search.status] = counts.get(m.search.status, 0) + 1
    children = [
        StudyChild(
            position=m.position,
            search_id=m.search.id,
            cell=m.cell,
            status=m.search.status,
            fraction=_fraction(m),
        )
        for m in members
    ]
    base = f"/studies/{study.id}"
    return StudyDetail(
        **summary_of(study, counts),
        fraction=sum(c.fraction for c in children) / len(children) if children else 0.0,
        eta_seconds=_eta(members),
        request=study.request,
        children=children,
        links={
            "self": base,
            "results": f"{base}/results",
            "results_csv": f"{base}/results?format=csv",
            "paired_csv": f"{base}/results?format=csv&table=paired",
            "searches": f"/searches?tag={STUDY_TAG_PREFIX}{study.id}",
            "cancel": f"{base}/cancel",
            "retry": f"{base}/retry",
        },
    )


def study_page(session: Session, page: list[Study], next_cursor: str | None) -> StudyPage:
    counts = studies.status_counts(session, [s.id for s in page])
    items = []
    for study in page:
        c = counts.get(study.id, {})
        total = sum(c.values())
        done = sum(n for status, n in c.items() if status in TERMINAL_STATUSES)
        items.append(
            StudySummary(**summary_of(study, c), fraction=done / total if total else 0.0, eta_seconds=None)
        )
    return StudyPage(items=items, next_cursor=next_cursor)


def child_results(session: Session, members: list[Member], axes: list[str]) -> list[ChildResult]:
    ids = [m.search.id for m in members]
    epochs = studies.epoch_metrics(session, ids)
    flatness = studies.latest_flatness(session, ids)
    ground_truth = studies.best_ground_truth(session, ids)
    out = []
    for m in members:
        search = m.search
        wall = (
            (search.finished_at - search.started_at).total_seconds()
            if search.started_at and search.finished_at
            else None
        )
        metrics: dict[str, float | None] = {
            **epochs[search.id],
            **ground_truth[search.id],
            **flatness[search.id],
            "wall_seconds": wall,
        }
        seed = search.spec.get("seed", 0)
        out.append(
            ChildResult(search.id, ordered(m.cell, axes), int(seed), search.status == "succeeded", metrics)
        )
    return out


def metrics_of(children: list[ChildResult]) -> dict[str, str]:
    """The study's metric columns: the fixed ones, plus a ground-truth column per benchmark data set
    that any search has (NB201 searches on a node with FLATNAS_NB201_BENCHMARK)."""
    found = sorted({m for c in children for m in c.metrics if m.startswith("gt_")})
    names = [*METRICS[:2], *found, *METRICS[2:]]
    return {m: METRIC_DESCRIPTIONS.get(m) or ground_truth_description(m) for m in names}


def ground_truth_description(metric: str) -> str:
    return f"NAS-Bench-201 200-epoch test accuracy of the best genotype ({metric[3:-9]}), mean over its seeds"


def study_results(session: Session, study: Study) -> StudyResults:
    members = studies.members(session, study.id)
    children = child_results(session, members, axes_of(study))
    metrics = metrics_of(children)
    counts: dict[str, int] = {}
    for m in members:
        counts[m.search.status] = counts.get(m.search.status, 0) + 1
    cells = [
        CellOut(
            values=c.values,
            n=c.n,
            search_ids=c.search_ids,
            metrics={k: SummaryOut(**vars(s)) for k, s in c.metrics.items()},
        )
        for c in cell_results(children, list(metrics))
    ]
    pairs = [
        PairOut(values=p.values, metrics={k: PairedOut(**vars(s)) for k, s in p.metrics.items()})
        for p in paired_results(children, list(metrics))
    ]
    return StudyResults(
        study_id=study.id,
        status=derived_status(counts),
        axes=axes_of(study),
        metrics=metrics,
        cells=cells,
        paired=pairs,
        children=[
            ChildOut(search_id=c.search_id, values=c.values, status=m.search.status, metrics=c.metrics)
            for c, m in zip(children, members, strict=True)
        ],
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    return value


def cells_csv(results: StudyResults) -> str:
    """One row per cell: a column per grid axis but the seed (named by its path), n, then
    <metric>_mean, _std, _min and _max."""
    axes = [a for a in results.axes if a != SEED_AXIS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    stats = ("mean", "std", "min", "max")
    writer.writerow([*axes, "n", *(f"{m}_{s}" for m in results.metrics for s in stats)])
    for cell in results.cells:
        row = [_csv_value(cell.values.get(a)) for a in axes] + [cell.n]
        for m in results.metrics:
            summary = cell.metrics[m]
            row += [_csv_value(getattr(summary, s)) for s in stats]
        writer.writerow(row)
    return out.getvalue()


def paired_csv(results: StudyResults) -> str:
    """One row per (cell pair, metric): the shared axes, the metric, and the paired statistics of
    d = (A2M on) − (A2M off)."""
    axes = [a for a in results.axes if a not in (SEED_AXIS, A2M_AXIS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*axes, "metric", "n", "mean_delta", "std_delta", "positive", "sign_p", "t_p"])
    for pair in results.paired:
        for metric, p in pair.metrics.items():
            writer.writerow(
                [_csv_value(pair.values.get(a)) for a in axes]
                + [metric, p.n, *(_csv_value(v) for v in (p.mean, p.std)), p.positive]
                + [_csv_value(p.sign_p), _csv_value(p.t_p)]
            )
    return out.getvalue()
