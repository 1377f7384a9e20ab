"""What a search produced: genotype (downloadable), curves (JSON or CSV), α, flatness, samples."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Row
from sqlalchemy.orm import Session

from api.deps import ReadStore
from api.errors import BadRequest, FieldError, NotFound, problem_responses
from api.ids import SearchId
from api.routes.searches import load_search, load_view
from api.schemas import (
    CURVE_COLUMNS,
    AlphasEpoch,
    AlphasOut,
    CurvesOut,
    EpochOut,
    FlatnessOut,
    FlatnessPage,
    SampleOut,
    SamplesOut,
    genotype_document,
)
from store.models import INT4_MAX
from store.repositories import results
from store.repositories.keys import Caller

router = APIRouter(prefix="/searches/{search_id}", tags=["results"])

READ_ERRORS = problem_responses(401, 403, 404, 422)
JSON_OR_CSV = problem_responses(401, 403, 404, 422, extra={200: {"content": {"text/csv": {}}}})
# ?format= of the routes that answer JSON or CSV
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json or csv")]


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_download(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=_attachment(filename))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "search"


@router.get(
    "/genotype",
    summary="The derived genotype as a downloadable JSON document",
    responses=problem_responses(
        400,
        401,
        403,
        404,
        422,
        extra={
            200: {
                "description": "genotype JSON (its fields: docs/architecture.md in the repository)",
                "content": {"application/json": {}},
            }
        },
    ),
)
async def get_genotype(
    search_id: SearchId,
    store: ReadStore,
    which: Annotated[
        Literal["best", "final"] | None,
        Query(
            description="best: derived at the epoch with the lowest supernet validation loss (not the "
            "highest accuracy; for sampling methods the top-ranked architecture); final: after the last "
            "epoch; default: final, else best, else newest"
        ),
    ] = None,
    epoch: Annotated[
        int | None, Query(ge=0, le=INT4_MAX, description="the genotype derived at this epoch")
    ] = None,
) -> Response:
    return await store.read(_genotype, search_id, which, epoch)


def _genotype(
    session: Session, _key: Caller, search_id: str, which: Literal["best", "final"] | None, epoch: int | None
) -> Response:
    search = load_search(session, search_id)
    if which is not None and epoch is not None:
        raise BadRequest(
            "give ?which or ?epoch, not both",
            errors=[FieldError(field="epoch", message="cannot be combined with which", location="query")],
        )
    row = results.get_genotype(session, search_id, which=which, epoch=epoch)
    if row is None:
        wanted = f"at epoch {epoch}" if epoch is not None else (f"marked {which}" if which else "yet")
        raise NotFound(f"search {search_id} ({search.status}) has no genotype {wanted}")
    label = (
        f"epoch{row.epoch}"
        if epoch is not None
        else (which or ("final" if row.is_final else f"epoch{row.epoch}"))
    )
    filename = f"{_slug(search.name)}-{search.id[:8]}-{label}.genotype.json"
    return JSONResponse(genotype_document(row, search), headers=_attachment(filename))


@router.get(
    "/curves",
    summary="Per-epoch losses, accuracies, learning rate and time (JSON, or CSV with ?format=csv)",
    response_model=CurvesOut,
    responses=JSON_OR_CSV,
)
async def get_curves(
    search_id: SearchId,
    store: ReadStore,
    format: FormatQuery = "json",
) -> Response:
    search, epochs, (extra_columns, extra) = await store.read(_curves, search_id, csv=format == "csv")
    rows = [EpochOut.of(r) for r in epochs]
    if format == "csv":
        blank = [None] * len(extra_columns)
        return csv_download(
            [*CURVE_COLUMNS, *extra_columns],
            ([*(getattr(row, c) for c in CURVE_COLUMNS), *extra.get(row.epoch, blank)] for row in rows),
            f"{_slug(search.name)}-{search.id[:8]}-curves.csv",
        )
    return JSONResponse(CurvesOut(search_id=search_id, items=rows).model_dump(mode="json"))


def _curves(
    session: Session, key: Caller, search_id: str, *, csv: bool
) -> tuple[Row[Any], list[Row[Any]], tuple[list[str], dict[int, list[float | None]]]]:
    """The search, its epochs and, for the CSV, the extra ground-truth columns of an nb201 search."""
    from api.routes.benchmark import curve_columns

    search = load_view(session.connection(), key, search_id)
    extra = curve_columns(session, key, search) if csv else ([], {})
    return search, results.curve_rows(session, search_id, CURVE_COLUMNS), extra


@router.get("/alphas", summary="Architecture mixing weights α per epoch", responses=READ_ERRORS)
async def get_alphas(
    search_id: SearchId,
    store: ReadStore,
    epoch: Annotated[int | None, Query(ge=0, le=INT4_MAX, description="only this epoch")] = None,
) -> AlphasOut:
    return await store.read(_alphas, search_id, epoch)


def _alphas(session: Session, _key: Caller, search_id: str, epoch: int | None) -> AlphasOut:
    load_search(session, search_id)
    rows = results.list_epochs(session, search_id)
    if epoch is not None:
        rows = [r for r in rows if r.epoch == epoch]
    items = [AlphasEpoch(epoch=r.epoch, alphas=r.alphas, extra=r.extra) for r in rows]
    return AlphasOut(search_id=search_id, items=items)


@router.get("/flatness", summary="Flatness metrics (per epoch and end of search)", responses=READ_ERRORS)
async def get_flatness(
    search_id: SearchId,
    store: ReadStore,
    kind: Annotated[
        str | None, Query(max_length=64, description="only this metric, e.g. hessian_eigenvalue")
    ] = None,
) -> FlatnessPage:
    return await store.read(_flatness, search_id, kind)


def _flatness(session: Session, _key: Caller, search_id: str, kind: str | None) -> FlatnessPage:
    load_search(session, search_id)
    rows = results.list_flatness(session, search_id, kind=kind)
    return FlatnessPage(search_id=search_id, items=[FlatnessOut.of(r) for r in rows])


@router.get(
    "/samples", summary="Scored architectures of a sampling method, best first", responses=READ_ERRORS
)
async def get_samples(
    search_id: SearchId,
    store: ReadStore,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> SamplesOut:
    return await store.read(_samples, search_id, limit)


def _samples(session: Session, _key: Caller, search_id: str, limit: int | None) -> SamplesOut:
    load_search(session, search_id)
    rows = results.list_samples(session, search_id, limit=limit)
    return SamplesOut(search_id=search_id, items=[SampleOut.of(r) for r in rows])
