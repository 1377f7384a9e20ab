"""NAS-Bench-201 ground truth: a search's stored lookups, and one-off lookups on the API's node."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import ReadStore
from api.errors import FieldError, ServiceUnavailable, ValidationProblem, problem_responses
from api.ids import SearchId
from api.routes.results import JSON_OR_CSV, FormatQuery, csv_download
from api.routes.searches import load_search
from api.schemas import RowOut
from nas_core.benchmarks.ground_truth import NOT_APPLICABLE
from nas_core.benchmarks.nb201 import (
    DATASETS,
    BenchmarkUnavailable,
    UnknownArchitecture,
    covers,
    open_configured,
)
from nas_core.genotype import GenotypeError
from nas_core.spaces.nb201_definition import nb201_arch_str, parse_nb201_arch_str
from store.models import Search
from store.repositories import benchmark
from store.repositories.keys import Caller

router = APIRouter(tags=["benchmark"])

# The longest NB201 arch string (six avg_pool_3x3 edges) is 96 characters.
MAX_ARCH_LENGTH = 200
PENDING = "pending"


class LookupOut(RowOut):
    kind: str = Field(description="epoch (each epoch's genotype), best or final")
    epoch: int
    dataset: str = Field(description="cifar10, cifar100 or ImageNet16-120")
    arch_str: str
    arch_index: int = Field(description="the architecture's index in the benchmark")
    test_acc: float = Field(description="test accuracy (%) after 200 epochs, mean over the benchmark's seeds")
    test_acc_std: float
    valid_acc: float | None = Field(description="validation accuracy (%) after 200 epochs, mean over seeds")
    valid_acc_std: float | None
    params_m: float = Field(description="parameters, millions")
    flops_m: float = Field(description="FLOPs, millions")
    seeds: int


LOOKUP_COLUMNS = tuple(LookupOut.model_fields)


class BenchmarkStatusOut(BaseModel):
    state: str = Field(
        description="ready | not_configured | unreadable | not_applicable | pending (no worker has run it yet)"
    )
    detail: str = Field(description="why there is (no) ground truth: the setting to set or the file's error")
    source: str | None = None
    layout: str | None = None
    open_seconds: float | None = Field(None, description="the worker process's first open of the benchmark")
    lookup_ms_mean: float | None = Field(None, description="mean time of one epoch's lookups, milliseconds")
    lookup_ms_max: float | None = None
    lookups: int = 0


class SearchBenchmarkOut(BaseModel):
    search_id: str
    space: str
    status: BenchmarkStatusOut
    optimum: dict[str, Any] | None = Field(
        None, description="data set -> the benchmark's best architecture there (once the worker found it)"
    )
    items: list[LookupOut]


def _status_of(session: Session, search: Search) -> tuple[BenchmarkStatusOut, dict[str, Any] | None]:
    row = benchmark.get_status(session, search.id)
    if row is not None:
        return BenchmarkStatusOut.model_validate(row, from_attributes=True), row.optimum
    if not covers(search.space):
        detail = f"ground truth covers nb201 searches; this one searches the {search.space} space"
        return BenchmarkStatusOut(state=NOT_APPLICABLE, detail=detail), None
    return BenchmarkStatusOut(
        state=PENDING, detail=f"no worker has started this search yet ({search.status})"
    ), None


@router.get(
    "/searches/{search_id}/benchmark",
    summary="NAS-Bench-201 ground truth of every epoch's genotype (JSON, or CSV with ?format=csv)",
    response_model=SearchBenchmarkOut,
    responses=JSON_OR_CSV,
)
async def get_search_benchmark(
    search_id: SearchId,
    store: ReadStore,
    format: FormatQuery = "json",
) -> Response:
    return await store.read(_search_benchmark, search_id, format)


def _search_benchmark(session: Session, _key: Caller, search_id: str, format: str) -> Response:
    search = load_search(session, search_id)
    items = [LookupOut.of(r) for r in benchmark.list_lookups(session, search_id)]
    if format == "csv":
        rows = ([getattr(item, c) for c in LOOKUP_COLUMNS] for item in items)
        return csv_download(LOOKUP_COLUMNS, rows, f"{search.id[:8]}-benchmark.csv")
    status, optimum = _status_of(session, search)
    body = SearchBenchmarkOut(
        search_id=search.id, space=search.space, status=status, optimum=optimum, items=items
    )
    return JSONResponse(body.model_dump(mode="json"))


def curve_columns(
    session: Session, _key: Caller, search: Any
) -> tuple[list[str], dict[int, list[float | None]]]:
    """Extra curves-CSV columns for an nb201 search (a search row or view): ground-truth test
    accuracy per data set, by epoch. None at all (no benchmark configured, or no lookup yet): no
    columns, rather than three empty ones."""
    if not covers(search.space):
        return [], {}
    by_epoch = benchmark.epoch_test_accuracy(session, search.id)
    cells = {epoch: [values.get(name) for name in DATASETS] for epoch, values in by_epoch.items()}
    if all(value is None for row in cells.values() for value in row):
        return [], {}
    return [f"benchmark_test_acc_{name}" for name in DATASETS], cells


class ArchBenchmarkOut(BaseModel):
    arch_str: str
    index: int
    source: str
    results: dict[str, dict[str, Any]] = Field(
        description="data set -> test/validation accuracy, params, FLOPs"
    )


@router.get(
    "/benchmark/nb201",
    summary="Look one NB201 architecture up in the benchmark this API node is configured with",
    responses=problem_responses(401, 403, 422, 503),
)
async def lookup_architecture(
    store: ReadStore,
    arch: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_ARCH_LENGTH,
            description="an NB201 arch string, e.g. |nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|...|",
        ),
    ],
) -> ArchBenchmarkOut:
    return await store.authorized(_lookup, arch, store.settings.FLATNAS_NB201_BENCHMARK)


def _lookup(_key: Caller, arch: str, configured: str | None) -> ArchBenchmarkOut:
    """Blocking: the benchmark file is opened (once per process) and read."""
    try:
        canonical = nb201_arch_str(parse_nb201_arch_str(arch))
    except GenotypeError as err:
        raise ValidationProblem(
            f"arch is not an NB201 architecture: {err}",
            errors=[FieldError(field="arch", message=str(err), location="query")],
        ) from err
    try:
        opened = open_configured(configured)
        found = opened.lookup(canonical)
    except BenchmarkUnavailable as err:
        raise ServiceUnavailable(f"no NAS-Bench-201 ground truth on this node: {err}") from err
    except UnknownArchitecture as err:  # a well-formed arch the file lacks: the file is incomplete
        raise ServiceUnavailable(f"the configured benchmark does not hold {canonical}") from err
    data = found.to_dict()
    return ArchBenchmarkOut(
        arch_str=data["arch_str"],
        index=data["index"],
        source=os.path.basename(opened.source),
        results=data["results"],
    )
