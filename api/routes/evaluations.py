"""Evaluations: train a found genotype from scratch under a protocol, as a job run by workers.

Like searches, the row is committed before its id is enqueued (`flatnas.run_evaluation` on the
same queue) through the one edge helper (api/jobs.py); a broker refusal marks it failed: 503. States, cancel, retry, priority,
Idempotency-Key and the event stream work as they do for searches.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from api import idempotency, jobs
from api.deps import ReadStore, SubmitStore
from api.errors import problem_responses
from api.evaluations import (
    EVAL_CURVE_COLUMNS,
    EvaluationCreate,
    EvaluationCurvesOut,
    EvaluationEpochOut,
    EvaluationOut,
    EvaluationPage,
    build_spec,
    evaluation_out,
    resolve_genotype,
)
from api.event_hub import poll_evaluations
from api.ids import EvaluationId, SearchId
from api.routes.events import Position, app_hub, stream_job
from api.routes.searches import StatusName, load_search
from api.schemas import CancelOut
from api.spec_body import BodyRoute
from nas_core.evaluation.protocol import ProtocolName
from store.db import Database
from store.models import Evaluation
from store.repositories import evaluations as repo
from store.repositories.evaluations import EvaluationFilter
from store.repositories.keys import Caller
from store.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["evaluations"], route_class=BodyRoute)

READ_ERRORS = problem_responses(401, 403, 404, 422)


def load_evaluation(session: Session, evaluation_id: str) -> Evaluation:
    row: Evaluation = jobs.load(session, jobs.EVALUATION, evaluation_id)
    return row


def _out(session: Session, row: Evaluation) -> EvaluationOut:
    epochs = repo.list_epochs(session, row.id)
    return evaluation_out(row, epochs[-1] if epochs else None)


def _replay(session: Session, owner: str, key: str, body_hash: str) -> Evaluation | None:
    return idempotency.replay(repo.get_by_idempotency_key(session, owner, key), key, body_hash, "evaluation")


@router.post(
    "/evaluations",
    status_code=201,
    summary="Train a genotype from scratch under a protocol (darts | nb201) and report its test accuracy",
    responses=problem_responses(
        401,
        403,
        409,
        413,
        422,
        503,
        extra={
            200: {"model": EvaluationOut, "description": "Idempotent replay: the evaluation created earlier"}
        },
    ),
)
async def create_evaluation(
    body: EvaluationCreate,
    response: Response,
    store: SubmitStore,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> EvaluationOut:
    out, created = await store.write(_create, body, store.settings, idempotency_key)
    idempotency.answer_created(response, f"/evaluations/{out.id}", created=created)
    return out


def _create(
    session: Session, key: Caller, body: EvaluationCreate, settings: Settings, idempotency_key: str | None
) -> tuple[EvaluationOut, bool]:
    """The new evaluation, committed and enqueued (True), or the one an Idempotency-Key names (False)."""
    genotype, origin = resolve_genotype(session, body.genotype)
    spec = build_spec(body, genotype, settings).model_dump(mode="json")
    request_hash = idempotency.request_hash(
        {"spec": spec, "genotype": genotype, "origin": origin, "priority": body.priority}
    )
    row, earlier = idempotency.create_once(
        session,
        idempotency_key,
        find=lambda: _replay(session, key.id, idempotency_key or "", request_hash),
        create=lambda: repo.create_evaluation(
            session,
            spec=spec,
            genotype=genotype,
            origin=origin,
            priority=body.priority,
            owner_key_id=key.id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        ),
    )
    if earlier is not None:
        return _out(session, earlier), False
    assert row is not None
    jobs.enqueue_after_commit(session, jobs.EVALUATION, row.id, priority=row.priority, when="submit")
    return _out(session, row), True


@router.get("/evaluations", summary="Evaluations, newest first", responses=problem_responses(401, 403, 422))
async def list_evaluations(
    store: ReadStore,
    status: Annotated[StatusName | None, Query(description="only evaluations in this state")] = None,
    protocol: Annotated[
        ProtocolName | None, Query(description="only evaluations under this protocol")
    ] = None,
    dataset: Annotated[str | None, Query(max_length=32)] = None,
    search_id: Annotated[str | None, Query(max_length=36, description="genotypes of this search")] = None,
    mine: Annotated[bool, Query(description="only evaluations submitted with this key")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EvaluationPage:
    filters = EvaluationFilter(status=status, protocol=protocol, dataset=dataset, search_id=search_id)
    return await store.read(_evaluations, filters, mine=mine, limit=limit)


def _evaluations(
    session: Session, key: Caller, filters: EvaluationFilter, *, mine: bool, limit: int
) -> EvaluationPage:
    if mine:
        filters = replace(filters, owner_key_id=key.id)
    return EvaluationPage(
        items=[_out(session, r) for r in repo.list_evaluations(session, filters, limit=limit)]
    )


@router.get(
    "/searches/{search_id}/evaluations",
    summary="Evaluations of a search's genotypes, newest first",
    responses=READ_ERRORS,
)
async def list_search_evaluations(
    search_id: SearchId, store: ReadStore, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> EvaluationPage:
    return await store.read(_search_evaluations, search_id, limit)


def _search_evaluations(session: Session, _key: Caller, search_id: str, limit: int) -> EvaluationPage:
    load_search(session, search_id)
    rows = repo.list_evaluations(session, EvaluationFilter(search_id=search_id), limit=limit)
    return EvaluationPage(items=[_out(session, r) for r in rows])


@router.get(
    "/evaluations/{evaluation_id}",
    summary="One evaluation: state, progress, ETA, test accuracy, params, FLOPs",
    responses=READ_ERRORS,
)
async def get_evaluation(evaluation_id: EvaluationId, store: ReadStore) -> EvaluationOut:
    return await store.read(_evaluation, evaluation_id)


def _evaluation(session: Session, _key: Caller, evaluation_id: str) -> EvaluationOut:
    return _out(session, load_evaluation(session, evaluation_id))


@router.get(
    "/evaluations/{evaluation_id}/curves",
    summary="Per epoch: train loss/acc, test loss/acc, learning rate, seconds (JSON, or CSV with ?format=csv)",
    response_model=EvaluationCurvesOut,
    responses=problem_responses(401, 403, 404, 422, extra={200: {"content": {"text/csv": {}}}}),
)
async def get_evaluation_curves(
    evaluation_id: EvaluationId,
    store: ReadStore,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Response:
    rows = await store.read(_curve_rows, evaluation_id)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EVAL_CURVE_COLUMNS)
        for row in rows:
            writer.writerow([getattr(row, c) for c in EVAL_CURVE_COLUMNS])
        disposition = f'attachment; filename="evaluation-{evaluation_id[:8]}-curves.csv"'
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
    return JSONResponse(EvaluationCurvesOut(evaluation_id=evaluation_id, epochs=rows).model_dump(mode="json"))


def _curve_rows(session: Session, _key: Caller, evaluation_id: str) -> list[EvaluationEpochOut]:
    load_evaluation(session, evaluation_id)
    return [EvaluationEpochOut.of(r) for r in repo.list_epochs(session, evaluation_id)]


@router.post(
    "/evaluations/{evaluation_id}/cancel",
    summary="Cancel: a waiting evaluation stops at once, a running one within one step",
    responses=jobs.CANCEL_RESPONSES,
)
async def cancel_evaluation(evaluation_id: EvaluationId, response: Response, store: SubmitStore) -> CancelOut:
    return CancelOut.of(
        evaluation_id, await store.write(jobs.cancel, jobs.EVALUATION, evaluation_id), response
    )


@router.post(
    "/evaluations/{evaluation_id}/retry",
    status_code=202,
    summary="Run a failed or cancelled evaluation again, resuming from its last checkpoint",
    responses=jobs.RETRY_RESPONSES,
)
async def retry_evaluation(evaluation_id: EvaluationId, store: SubmitStore) -> EvaluationOut:
    return await store.write(_retry, evaluation_id)


def _retry(session: Session, key: Caller, evaluation_id: str) -> EvaluationOut:
    """Committed and enqueued (api/jobs.py); the evaluation as it is now."""
    return _out(session, jobs.retry(session, key, jobs.EVALUATION, evaluation_id))


def _epochs_since(database: Database, evaluation_id: str, position: Position) -> list[tuple[str, Any, str]]:
    """The epochs written since `position`, as events (the position moves past them)."""
    with database.reader() as session:
        events: list[tuple[str, Any, str]] = []
        for epoch in repo.list_epochs(session, evaluation_id, after_epoch=position.epoch):
            position.epoch = epoch.epoch
            events.append(("epoch", EvaluationEpochOut.of(epoch).model_dump(), str(position)))
        return events


def _stream_start(
    session: Session, key: Caller, evaluation_id: str, last_event_id: str | None
) -> tuple[Position, str]:
    """404 for an unknown evaluation; else where its stream starts, and the key it is opened with."""
    load_evaluation(session, evaluation_id)
    return Position.parse(last_event_id) or Position(), key.id


@router.get(
    "/evaluations/{evaluation_id}/events",
    summary="Server-sent events: progress, epoch and status as they happen",
    response_class=StreamingResponse,
    responses=problem_responses(
        401, 403, 404, extra={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}}
    ),
)
async def evaluation_events(
    evaluation_id: EvaluationId,
    request: Request,
    store: ReadStore,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=100, description="resume after this event")
    ] = None,
) -> StreamingResponse:
    """The search streams' frames (`progress`, `epoch`, `status`) for one evaluation, from the
    process's evaluation hub: one store poll per interval for all of its streams."""
    position, key_id = await store.read(_stream_start, evaluation_id, last_event_id)
    hub = app_hub(request, poll_evaluations)
    return StreamingResponse(
        stream_job(request, hub, evaluation_id, key_id, position, _epochs_since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
