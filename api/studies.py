"""Studies as the API shows them: the request body, the derived state and progress, and the
results tables (per-cell summaries, and paired A2M on/off comparisons) computed from the children.

A study owns no worker time, so everything here is derived from its searches on read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from api.evaluations import EvaluationSettings
from api.schemas import progress_of
from nas_core.dataroots import MAX_PATH_BYTES
from nas_core.flatness.metrics import GROUND_TRUTH_PREFIX, metric, study_metrics
from nas_core.study import (
    A2M_AXIS,
    MAX_AXES,
    MAX_AXIS_VALUES,
    SEED_AXIS,
    ChildResult,
    cell_results,
    paired_results,
)
from store.models import TERMINAL_STATUSES, Evaluation, Study, utcnow
from store.repositories import studies
from store.repositories.studies import Member

STUDY_TAG_PREFIX = "study:"
ACTIVE = ("queued", "running", "retrying")

AxisPath = Annotated[str, Field(min_length=1, max_length=100)]
#: The longest string any spec field takes (dataset.root, in characters).
MAX_BASE_STRING = MAX_PATH_BYTES
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
    evaluate: EvaluationSettings | None = Field(
        None,
        description="train each succeeded search's best genotype from scratch with this protocol "
        "(as POST /evaluations without genotype); the study ends when the evaluations do",
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=31
    )
    priority: int = Field(5, ge=0, le=9, strict=True, description="queue priority of every child, 9 first")

    @field_validator("base")
    @classmethod
    def _bounded_strings(cls, base: dict[str, Any]) -> dict[str, Any]:
        # Each child validates the base with its grid values set, so a base value that an axis
        # replaces is never seen by the spec's own bounds; it is stored with the request all the
        # same. Hence this floor: no string in the base is longer than any spec field takes.
        for where, text in _strings(base, "base"):
            if len(text) > MAX_BASE_STRING:
                raise ValueError(
                    f"{where} has {len(text)} characters; a spec takes at most {MAX_BASE_STRING}"
                )
        return base


def _strings(value: Any, where: str) -> Iterable[tuple[str, str]]:
    """(path, string) for every key and string value in a JSON value."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(key, where)
            yield from _strings(child, f"{where}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, f"{where}[{index}]")


class StudyChild(BaseModel):
    position: int
    search_id: str
    cell: dict[str, Any]
    status: str
    fraction: float = Field(description="share of this search done, 0..1")
    evaluation_id: str | None = Field(None, description="the evaluation of its best genotype, once started")
    evaluation_status: str | None = None


class StudySummary(BaseModel):
    id: str
    name: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled, from its searches")
    counts: dict[str, int] = Field(description="searches per state")
    evaluate: bool = Field(description="each succeeded search's best genotype is trained from scratch")
    evaluation_counts: dict[str, int] = Field(description="the study's evaluations per state")
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
    positive: int = Field(description="seeds where A2M on is higher (the raw sign of d)")
    better: int | None = Field(
        description="seeds where A2M on is better by the metric's direction (GET /catalog metrics): "
        "higher for accuracies, lower for the Hessian eigenvalue, sharpness and wall time; "
        "null for a metric with no better direction"
    )
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


def evaluates(study: Study) -> bool:
    return bool(study.request.get("evaluation_specs"))


def tally(statuses: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def awaiting_evaluation(session: Session, studies_: list[Study]) -> dict[str, int]:
    """Per study, succeeded searches with a best genotype whose evaluation a worker is about to
    start (studies with `evaluate` that are not being cancelled)."""
    due = [s.id for s in studies_ if evaluates(s) and not s.cancel_requested]
    counts = studies.awaiting_evaluation(session, due) if due else {}
    return {s.id: counts.get(s.id, 0) for s in studies_}


def derived_status(counts: dict[str, int], evaluation_counts: dict[str, int], awaiting: int = 0) -> str:
    """From the searches (and the evaluations of a study with `evaluate`): active while any of them
    waits or runs, succeeded when all succeeded, else failed (any failed) or cancelled."""
    total = sum(counts.values())
    active = awaiting + sum(counts.get(s, 0) + evaluation_counts.get(s, 0) for s in ACTIVE)
    if active:
        return "queued" if counts.get("queued", 0) == total else "running"
    if total and counts.get("succeeded", 0) == total and set(evaluation_counts) <= {"succeeded"}:
        return "succeeded"
    return "failed" if counts.get("failed") or evaluation_counts.get("failed") else "cancelled"


def _fraction(member: Member) -> float:
    if member.search.status in TERMINAL_STATUSES:
        return 1.0
    progress = progress_of(member.search)
    return progress.fraction or 0.0 if progress else 0.0


def _evaluation_fraction(evaluation: Evaluation | None) -> float:
    if evaluation is None:
        return 0.0
    if evaluation.status in TERMINAL_STATUSES:
        return 1.0
    p = evaluation.progress or {}
    epoch, step, spe, total = (p.get(k) for k in ("epoch", "step", "steps_per_epoch", "total_epochs"))
    if epoch is None or step is None or not spe or not total:
        return 0.0
    return float(min(1.0, (epoch + step / spe) / total))


@dataclass(frozen=True)
class _Run:
    """What the ETA needs of a search or an evaluation row."""

    status: str
    started_at: datetime | None
    finished_at: datetime | None
    fraction: float  # of its own work done


def _pace(runs: list[_Run]) -> float | None:
    """Seconds one run takes: the mean of the finished ones or, before any finished, extrapolated
    from the running ones past 5 %."""
    durations = [
        (r.finished_at - r.started_at).total_seconds()
        for r in runs
        if r.status == "succeeded" and r.started_at and r.finished_at
    ]
    if not durations:
        now = utcnow()
        durations = [
            (now - r.started_at).total_seconds() / r.fraction
            for r in runs
            if r.status == "running" and r.started_at and r.fraction > 0.05
        ]
    return sum(durations) / len(durations) if durations else None


def _eta(searches_: list[_Run], evaluations_: list[_Run], pending_evaluations: int = 0) -> float | None:
    """Remaining work over the pace seen so far, spread over what runs at once: the unfinished share
    of the searches times a search's pace, plus (with `evaluate`) the unfinished share of the
    evaluations, and `pending_evaluations` not created yet, times an evaluation's pace. Until an
    evaluation shows its pace, a search's stands in for it. None while no pace is known at all."""
    search_pace = _pace(searches_)
    evaluation_pace = _pace(evaluations_) or search_pace
    left = 0.0
    for runs, pending, pace in (
        (searches_, 0, search_pace),
        (evaluations_, pending_evaluations, evaluation_pace),
    ):
        remaining = pending + sum(1.0 - r.fraction for r in runs if r.status not in TERMINAL_STATUSES)
        if not remaining:
            continue
        if pace is None:
            return None
        left += remaining * pace
    if not left:
        return 0.0 if searches_ else None
    running = sum(r.status == "running" for r in (*searches_, *evaluations_))
    return left / max(1, running)


def summary_of(
    study: Study, counts: dict[str, int], evaluation_counts: dict[str, int], awaiting: int
) -> dict[str, Any]:
    return {
        "id": study.id,
        "name": study.name,
        "status": derived_status(counts, evaluation_counts, awaiting),
        "counts": counts,
        "evaluate": evaluates(study),
        "evaluation_counts": evaluation_counts,
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
    evaluations = studies.evaluations_of(session, study.id)
    axes = axes_of(study)
    children = []
    for m in members:
        evaluation = evaluations.get(m.search.id)
        children.append(
            StudyChild(
                position=m.position,
                search_id=m.search.id,
                cell=ordered(m.cell, axes),
                status=m.search.status,
                fraction=_fraction(m),
                evaluation_id=evaluation.id if evaluation else None,
                evaluation_status=evaluation.status if evaluation else None,
            )
        )
    # With `evaluate`, each search's work is the search and then its evaluation, weighted alike; a
    # search that ended with nothing to evaluate (failed, cancelled, no best genotype) is done.
    work = [c.fraction for c in children]
    due: set[str] = set()
    if evaluates(study):
        due = set() if study.cancel_requested else studies.awaiting_searches(session, study.id)
        for c in children:
            if c.evaluation_id is not None:
                work.append(_evaluation_fraction(evaluations.get(c.search_id)))
            else:
                work.append(1.0 if c.status in TERMINAL_STATUSES and c.search_id not in due else 0.0)
    counts = tally(m.search.status for m in members)
    base = f"/studies/{study.id}"
    return StudyDetail(
        **summary_of(
            study,
            counts,
            tally(e.status for e in evaluations.values()),
            awaiting_evaluation(session, [study])[study.id],
        ),
        fraction=sum(work) / len(work) if work else 0.0,
        eta_seconds=_eta(
            [_Run(m.search.status, m.search.started_at, m.search.finished_at, _fraction(m)) for m in members],
            [
                _Run(e.status, e.started_at, e.finished_at, _evaluation_fraction(e))
                for e in evaluations.values()
            ],
            # each search still to finish will get an evaluation too (unless it fails)
            len(due) + sum(m.search.status not in TERMINAL_STATUSES for m in members)
            if evaluates(study) and not study.cancel_requested
            else 0,
        ),
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
    ids = [s.id for s in page]
    counts = studies.status_counts(session, ids)
    evaluation_counts = studies.evaluation_status_counts(session, ids)
    awaiting = awaiting_evaluation(session, page)
    items = []
    for study in page:
        c, e = counts.get(study.id, {}), evaluation_counts.get(study.id, {})
        total = sum(c.values()) * (2 if evaluates(study) else 1)
        done = sum(n for status, n in [*c.items(), *e.items()] if status in TERMINAL_STATUSES)
        if evaluates(study):  # an ended search with no evaluation, none due either, is done
            ended = sum(n for status, n in c.items() if status in TERMINAL_STATUSES)
            done += ended - sum(e.values()) - awaiting[study.id]
        summary = summary_of(study, c, e, awaiting[study.id])
        items.append(StudySummary(**summary, fraction=done / total if total else 0.0, eta_seconds=None))
    return StudyPage(items=items, next_cursor=next_cursor)


def child_results(
    session: Session, members: list[Member], axes: list[str], evaluations: dict[str, Evaluation]
) -> list[ChildResult]:
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
        evaluation = evaluations.get(search.id)
        if evaluation is not None:
            test_acc = (evaluation.result or {}).get("test_acc") if evaluation.status == "succeeded" else None
            metrics["eval_test_acc"] = float(test_acc) if test_acc is not None else None
        seed = search.spec.get("seed", 0)
        out.append(
            ChildResult(search.id, ordered(m.cell, axes), int(seed), search.status == "succeeded", metrics)
        )
    return out


def metrics_of(children: list[ChildResult]) -> dict[str, str]:
    """The study's metric columns, from the metric registry's study metrics in its order: the
    accuracies (the evaluated test accuracy where evaluations ran, a ground-truth column per
    benchmark data set that any search has: NB201 searches on a node with
    FLATNAS_NB201_BENCHMARK), then flatness, then cost."""
    present = {m for c in children for m in c.metrics}
    entries = [m for m in study_metrics() if m.name != "eval_test_acc" or m.name in present]
    ground_truth = sorted(m for m in present if m.startswith(GROUND_TRUTH_PREFIX))
    names = [m.name for m in entries if m.group == "accuracy"] + ground_truth
    names += [m.name for m in entries if m.group != "accuracy"]
    return {name: entry.description for name in names if (entry := metric(name)) is not None}


def study_results(session: Session, study: Study) -> StudyResults:
    members = studies.members(session, study.id)
    evaluations = studies.evaluations_of(session, study.id)
    children = child_results(session, members, axes_of(study), evaluations)
    metrics = metrics_of(children)
    counts = tally(m.search.status for m in members)
    evaluation_counts = tally(e.status for e in evaluations.values())
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
        status=derived_status(counts, evaluation_counts, awaiting_evaluation(session, [study])[study.id]),
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
    d = (A2M on) − (A2M off): `positive` counts seeds where on is higher, `better` those where on
    is better by the metric's direction."""
    axes = [a for a in results.axes if a not in (SEED_AXIS, A2M_AXIS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*axes, "metric", "n", "mean_delta", "std_delta", "positive", "better", "sign_p", "t_p"])
    for pair in results.paired:
        for name, p in pair.metrics.items():
            writer.writerow(
                [_csv_value(pair.values.get(a)) for a in axes]
                + [name, p.n, *(_csv_value(v) for v in (p.mean, p.std)), p.positive, _csv_value(p.better)]
                + [_csv_value(p.sign_p), _csv_value(p.t_p)]
            )
    return out.getvalue()
