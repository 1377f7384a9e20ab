"""Response bodies. Request bodies are nas_core.spec.SearchSpec itself (one source of truth)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Self

from fastapi import Response
from pydantic import BaseModel, Field
from sqlalchemy import Row

from nas_core.reporter import CURVE_FIELDS
from store.models import Genotype, Search, utcnow

# A search as an ORM object or as a plain row of its columns (the hot reads load rows).
SearchLike = Search | Row[Any]


class ProgressOut(BaseModel):
    epoch: int | None = Field(None, description="0-based epoch being run")
    step: int | None = Field(None, description="steps done in this epoch")
    steps_per_epoch: int | None = None
    total_epochs: int | None = None
    phase: str | None = Field(None, description="train | eval | flatness | score")
    detail: str | None = Field(
        None, description="what the phase is doing, e.g. 'hessian eigenvalue 1/4' while computing flatness"
    )
    loss: float | None = None
    eta_seconds: float | None = None
    fraction: float | None = Field(None, description="share of the whole search done, 0..1")


class JobOut(BaseModel):
    """What the answer of every job kind shares (a search, an evaluation, a landscape job): the
    state and lease columns of its row (store.models.LeasedRunColumns), under the same names."""

    id: str
    status: str = Field(description="queued | running | retrying | succeeded | failed | cancelled")
    cancel_requested: bool = Field(description="a cancel was asked for while it ran; it stops within a step")
    priority: int = Field(description="queue priority, 0..9 (9 runs first); kept when it is re-queued")
    error: str | None
    worker: str | None = Field(description="the worker holding it (running) or that last held it")
    attempts: int = Field(description="how many times a worker claimed it")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner_key_id: str | None


def job_fields(row: Any) -> dict[str, Any]:
    """JobOut's fields, read from a job row (an ORM object or a plain row) of the same names."""
    return {name: getattr(row, name) for name in JobOut.model_fields}


def progress_of(row: Any) -> ProgressOut | None:
    """A search's or an evaluation's stored progress, with the share done (`fraction`) added."""
    if not row.progress:
        return None
    p = {k: v for k, v in row.progress.items() if k in ProgressOut.model_fields}
    epoch, step, spe, total = (p.get(k) for k in ("epoch", "step", "steps_per_epoch", "total_epochs"))
    if None not in (epoch, step, spe, total) and spe and total:
        p["fraction"] = min(1.0, (epoch + step / spe) / total)
    return ProgressOut(**p)


class SearchSummary(JobOut):
    name: str
    method: str
    a2m_enabled: bool = Field(description="Architecture-Aware Minimization is on for this search")
    space: str
    dataset: str
    tags: list[str]
    seed: int | None = Field(None, description="the spec's seed")
    epochs: int | None = Field(None, description="the spec's epochs")
    progress: ProgressOut | None
    eta_seconds: float | None
    best_val_acc: float | None = Field(None, description="highest per-epoch validation accuracy so far")
    stale: bool = Field(
        description="running, but its worker has sent no heartbeat within HEARTBEAT_TIMEOUT_S"
    )
    heartbeat_at: datetime | None


class SearchDetail(SearchSummary):
    spec: dict[str, Any] = Field(description="the full normalised spec, defaults filled in")
    links: dict[str, str]


class SearchPage(BaseModel):
    items: list[SearchSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


def a2m_enabled(spec: dict[str, Any] | None) -> bool:
    """As SearchSpec.a2m_enabled, read from the stored (normalised) spec without re-validating it."""
    a2m = (spec or {}).get("a2m")
    return isinstance(a2m, dict) and bool(a2m.get("enabled", True))


def search_summary(
    search: SearchLike, *, best_val_acc: float | None, heartbeat_timeout_s: float
) -> dict[str, Any]:
    progress = progress_of(search)
    stale = search.status == "running" and (
        search.heartbeat_at is None or utcnow() - search.heartbeat_at > timedelta(seconds=heartbeat_timeout_s)
    )
    return {
        **job_fields(search),
        "name": search.name,
        "method": search.method,
        "a2m_enabled": a2m_enabled(search.spec),
        "space": search.space,
        "dataset": search.dataset,
        "tags": list(search.tags or []),
        "seed": (search.spec or {}).get("seed"),
        "epochs": (search.spec or {}).get("epochs"),
        "progress": progress,
        "eta_seconds": progress.eta_seconds if progress and search.status == "running" else None,
        "best_val_acc": best_val_acc,
        "stale": stale,
        "heartbeat_at": search.heartbeat_at,
    }


def search_detail(
    search: SearchLike, *, best_val_acc: float | None, heartbeat_timeout_s: float
) -> SearchDetail:
    base = f"/searches/{search.id}"
    links = {
        name: f"{base}/{name}" for name in ("genotype", "curves", "alphas", "flatness", "samples", "events")
    }
    links.update(self=base, cancel=f"{base}/cancel", retry=f"{base}/retry")
    return SearchDetail(
        **search_summary(search, best_val_acc=best_val_acc, heartbeat_timeout_s=heartbeat_timeout_s),
        spec=search.spec,
        links=links,
    )


class RowOut(BaseModel):
    """A response item read from one stored row's attributes of the same names."""

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls.model_validate(row, from_attributes=True)


class CancelOut(BaseModel):
    id: str
    status: str
    cancel_requested: bool
    detail: str

    @classmethod
    def of(cls, job_id: str, outcome: str, response: Response) -> CancelOut:
        """The answer to a cancel whose repository outcome is "cancelled" (it was waiting: 200) or
        "cancel_requested" (it runs: 202, the worker stops at its next step)."""
        if outcome == "cancelled":
            return cls(
                id=job_id, status="cancelled", cancel_requested=False, detail="cancelled before it ran"
            )
        response.status_code = 202
        return cls(
            id=job_id, status="running", cancel_requested=True, detail="the worker stops at its next step"
        )


class EpochOut(RowOut):
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


CURVE_COLUMNS = CURVE_FIELDS  # EpochOut mirrors them (tests/unit/test_epoch_fields.py)


class CurvesOut(BaseModel):
    search_id: str
    items: list[EpochOut]


class AlphasEpoch(BaseModel):
    epoch: int
    alphas: dict[str, Any] = Field(description="softmax mixing weights per α group: [edge][op]")
    extra: dict[str, Any] = Field(description="method-specific values, e.g. PC-DARTS edge weights β")


class AlphasOut(BaseModel):
    search_id: str
    items: list[AlphasEpoch]


class FlatnessOut(RowOut):
    epoch: int | None = Field(description="null for end-of-search metrics")
    kind: str
    params: dict[str, Any]
    value: Any
    seconds: float
    residual: float | None = Field(
        None, description="hessian_eigenvalue: relative residual ‖Hv − λv‖/|λ| of the estimate (0: exact)"
    )
    converged: bool | None = Field(
        None,
        description="hessian_eigenvalue: residual ≤ 0.1; false means the value may be far from any "
        "eigenvalue (too few Hessian-vector products)",
    )

    @classmethod
    def of(cls, row: Any) -> Self:
        out = cls.model_validate(row, from_attributes=True)
        residual = (out.params or {}).get("residual") if out.kind == "hessian_eigenvalue" else None
        if isinstance(residual, int | float):
            from nas_core.flatness.alpha import CONVERGED_RESIDUAL

            out.residual = float(residual)
            out.converged = math.isfinite(residual) and residual <= CONVERGED_RESIDUAL
        return out


class FlatnessPage(BaseModel):
    search_id: str
    items: list[FlatnessOut]


class SampleOut(RowOut):
    rank: int
    score: float
    genotype: dict[str, Any]


class SamplesOut(BaseModel):
    search_id: str
    items: list[SampleOut]


def genotype_document(row: Genotype, search: Search) -> dict[str, Any]:
    """The downloadable genotype JSON (docs/architecture.md): the stored document plus where it came from."""
    doc = dict(row.genotype)
    doc.setdefault("space", search.space)
    doc["epoch"] = row.epoch
    doc["search_id"] = search.id
    doc["is_best"] = row.is_best
    doc["is_final"] = row.is_final
    return doc


class MethodsOut(BaseModel):
    items: list[dict[str, Any]]


class SpaceOut(BaseModel):
    name: str
    groups: list[str] = Field(description="α group names, e.g. ['cell'] or ['normal', 'reduce']")
    edges: int = Field(description="edges per α group")
    ops_variants: dict[str, list[str]] = Field(description="op sets supernet.ops may pick; 'default' first")
    depth_field: str = Field(description="the supernet field that sets the depth (N or layers)")
    default_depth: int
    a2m_default_rho: float = Field(description="A2M's ρ when a2m.rho is left null")


class SpacesOut(BaseModel):
    items: list[SpaceOut]


class DatasetOut(BaseModel):
    name: str
    available: bool = Field(description="whether a search on it can run on this service now")
    source: str = Field(description="'generated' (in memory) or 'files' (under FLATNAS_DATA_ROOT)")
    reason: str = Field(description="why it is (not) available")


class DatasetsOut(BaseModel):
    items: list[DatasetOut]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
