"""Studies: one request makes a grid of ordinary searches (tagged `study:<id>`), and its results
compare the grid's cells over seeds, with paired A2M on/off statistics.

The whole grid is validated before anything is stored; the study and all its searches are
committed in one transaction, then each search is queued through the one enqueue edge (api/jobs.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api import admission, idempotency, jobs
from api.deps import ReadStore, SubmitStore, ensure_may_change
from api.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    ServiceUnavailable,
    ValidationProblem,
    problem_responses,
)
from api.evaluations import build_spec
from api.ids import StudyId
from api.spec_body import BodyRoute
from api.studies import (
    STUDY_TAG_PREFIX,
    StudyCreate,
    StudyDetail,
    StudyPage,
    StudyResults,
    cells_csv,
    paired_csv,
    study_detail,
    study_page,
    study_results,
)
from nas_core.study import GridCell, InvalidGrid, expand_grid
from store.models import Study, new_uuid
from store.repositories import evaluations, searches, studies
from store.repositories.keys import Caller
from store.repositories.searches import InvalidCursor
from store.settings import Settings

router = APIRouter(prefix="/studies", tags=["studies"], route_class=BodyRoute)

READ_ERRORS = problem_responses(401, 403, 404, 422)


def load_study(session: Session, study_id: str) -> Study:
    study = studies.get_study(session, study_id)
    if study is None:
        raise NotFound(f"no study with id {study_id!r}")
    return study


def _replay(session: Session, owner: str, idempotency_key: str, request_hash: str) -> Study | None:
    existing = studies.get_by_idempotency_key(session, owner, idempotency_key)
    return idempotency.replay(existing, idempotency_key, request_hash, "study")


def _evaluation_specs(body: StudyCreate, cells: list[GridCell], settings: Settings) -> dict[str, Any] | None:
    """With `evaluate`: the validated evaluation spec for each search space of the grid (a protocol
    trains one space's genotypes), so a worker only fills in each search's best genotype."""
    if body.evaluate is None:
        return None
    specs: dict[str, Any] = {}
    for space in sorted({cell.spec.space for cell in cells}):
        try:
            spec = build_spec(body.evaluate, {"space": space}, settings)
        except ValidationProblem as problem:
            for error in problem.errors or []:
                error.field = f"evaluate.{error.field}"
            problem.detail = f"evaluate ({space} searches): {problem.detail}"
            raise
        specs[space] = spec.model_dump(mode="json")
    return specs


def _enqueue_all(
    session: Session, queue: list[tuple[jobs.JobKind, str]], priority: int, when: str, study_id: str
) -> None:
    """Queue every job; a broker refusal marks that job failed (api/jobs.py), every other job is
    still tried, and the study answers one 503 naming how many could not be queued."""
    refused = 0
    for kind, job_id in queue:
        try:
            jobs.enqueue_after_commit(session, kind, job_id, priority=priority, when=when)
        except ServiceUnavailable:
            refused += 1
    if refused:
        raise ServiceUnavailable(
            f"study {study_id} was stored but {refused} of its {len(queue)} jobs could not be "
            f"queued and are marked failed; retry it with POST /studies/{study_id}/retry once the broker is back",
            extensions={"study_id": study_id},
        )


@router.post(
    "",
    status_code=201,
    summary="Submit a study: the grid's cartesian product as searches, validated as a whole",
    responses=problem_responses(
        401,
        403,
        409,
        413,
        422,
        503,
        extra={200: {"model": StudyDetail, "description": "Idempotent replay: the study created earlier"}},
    ),
)
async def create_study(
    body: StudyCreate,
    response: Response,
    store: SubmitStore,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> StudyDetail:
    detail, created = await store.write(_create, body, store.settings, idempotency_key)
    idempotency.answer_created(response, f"/studies/{detail.id}", created=created)
    return detail


def _create(
    session: Session, key: Caller, body: StudyCreate, settings: Settings, idempotency_key: str | None
) -> tuple[StudyDetail, bool]:
    """The whole grid validated, then the study and its searches committed and enqueued (True);
    or the study an Idempotency-Key names (False)."""
    request = {**body.model_dump(mode="json"), "axes": list(body.grid)}
    request_hash = idempotency.request_hash(request)
    study_id = new_uuid()
    try:
        cells = expand_grid(
            body.base,
            body.grid,
            name=body.name,
            tags=[*body.tags, f"{STUDY_TAG_PREFIX}{study_id}"],
            priority=body.priority,
            max_searches=settings.MAX_STUDY_SEARCHES,
        )
    except InvalidGrid as err:
        raise ValidationProblem(
            f"the study is invalid in {len(err.problems)} place(s); nothing was stored",
            errors=[
                FieldError(field=p.field, message=p.message, allowed=p.allowed, location="body")
                for p in err.problems
            ],
        ) from None

    for cell in cells:  # each search of the grid meets the rules of a search submitted alone
        admission.admit(cell.spec, settings, key.scope)
    request["evaluation_specs"] = _evaluation_specs(body, cells, settings)

    def create() -> list[str]:
        studies.create_study(
            session,
            study_id=study_id,
            name=body.name,
            request=request,
            tags=list(body.tags),
            priority=body.priority,
            owner_key_id=key.id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        search_ids = []
        for cell in cells:
            search = searches.create_search(
                session, spec=cell.spec.model_dump(mode="json"), owner_key_id=key.id
            )
            studies.add_member(session, study_id, search.id, position=cell.index, cell=cell.values)
            search_ids.append(search.id)
        return search_ids

    search_ids, earlier = idempotency.create_once(
        session,
        idempotency_key,
        find=lambda: _replay(session, key.id, idempotency_key or "", request_hash),
        create=create,
    )
    if earlier is not None:
        return study_detail(session, earlier), False
    assert search_ids is not None
    _enqueue_all(session, [(jobs.SEARCH, i) for i in search_ids], body.priority, "submit", study_id)
    return study_detail(session, load_study(session, study_id)), True


@router.get("", summary="List studies, newest first", responses=problem_responses(400, 401, 403, 422))
async def list_studies(
    store: ReadStore,
    mine: Annotated[bool, Query(description="only studies submitted with this key")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> StudyPage:
    try:
        return await store.read(_page, mine=mine, limit=limit, cursor=cursor)
    except InvalidCursor as err:
        raise BadRequest(
            str(err), errors=[FieldError(field="cursor", message=str(err), location="query")]
        ) from None


def _page(session: Session, key: Caller, *, mine: bool, limit: int, cursor: str | None) -> StudyPage:
    page, next_cursor = studies.list_studies(
        session, limit=limit, cursor=cursor, owner_key_id=key.id if mine else None
    )
    return study_page(session, page, next_cursor)


@router.get(
    "/{study_id}", summary="One study: state counts, progress, ETA, its searches", responses=READ_ERRORS
)
async def get_study(study_id: StudyId, store: ReadStore) -> StudyDetail:
    return await store.read(_detail, study_id)


def _detail(session: Session, _key: Caller, study_id: str) -> StudyDetail:
    return study_detail(session, load_study(session, study_id))


@router.get(
    "/{study_id}/results",
    summary="Per-cell statistics over seeds and paired A2M on/off comparisons (JSON, or CSV)",
    responses=problem_responses(401, 403, 404, 422, extra={200: {"content": {"text/csv": {}}}}),
    response_model=StudyResults,
)
async def get_results(
    study_id: StudyId,
    store: ReadStore,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
    table: Annotated[
        Literal["cells", "paired"],
        Query(description="with format=csv: per-cell summaries or paired comparisons"),
    ] = "cells",
) -> StudyResults | Response:
    results = await store.read(_results, study_id)
    if format == "json":
        return results
    body = cells_csv(results) if table == "cells" else paired_csv(results)
    filename = f"study-{results.study_id[:8]}-{table}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _results(session: Session, _key: Caller, study_id: str) -> StudyResults:
    return study_results(session, load_study(session, study_id))


@router.post(
    "/{study_id}/cancel",
    status_code=202,
    summary="Cancel every unfinished search of the study",
    responses=problem_responses(401, 403, 404),
)
async def cancel_study(study_id: StudyId, store: SubmitStore) -> StudyDetail:
    return await store.write(_cancel, study_id)


def _cancel(session: Session, key: Caller, study_id: str) -> StudyDetail:
    study = load_study(session, study_id)
    ensure_may_change(key, study)
    for member in studies.members(session, study_id):
        searches.lease.cancel(session, member.search.id)
    for evaluation in studies.evaluations_of(session, study_id).values():
        evaluations.lease.cancel(session, evaluation.id)
    studies.set_cancel_requested(session, study_id, True)
    session.commit()
    return study_detail(session, load_study(session, study_id))


@router.post(
    "/{study_id}/retry",
    status_code=202,
    summary="Retry every failed or cancelled search of the study from its last checkpoint",
    responses=problem_responses(401, 403, 404, 409, 503),
)
async def retry_study(study_id: StudyId, store: SubmitStore) -> StudyDetail:
    return await store.write(_retry, study_id)


def _retry(session: Session, key: Caller, study_id: str) -> StudyDetail:
    study = load_study(session, study_id)
    ensure_may_change(key, study)
    retried = [
        m.search.id
        for m in studies.members(session, study_id)
        if searches.lease.request_retry(session, m.search.id)
    ]
    evaluations_retried = [
        e.id
        for e in studies.evaluations_of(session, study_id).values()
        if evaluations.lease.request_retry(session, e.id)
    ]
    if not retried and not evaluations_retried and not study.cancel_requested:
        raise Conflict(f"study {study_id} has no failed or cancelled search or evaluation to retry")
    studies.set_cancel_requested(session, study_id, False)
    session.commit()
    queue = [(jobs.SEARCH, i) for i in retried] + [(jobs.EVALUATION, i) for i in evaluations_retried]
    _enqueue_all(session, queue, study.priority, "retry", study_id)
    return study_detail(session, load_study(session, study_id))
