"""Submitting searches, listing them, and changing their state (cancel, retry).

The row is committed before its id is enqueued, and a broker refusal marks it failed (api/jobs.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import idempotency, jobs
from api.deps import ReadKey, SessionDep, SettingsDep, SubmitKey, ensure_may_change
from api.errors import BadRequest, Conflict, FieldError, NotFound, problem_responses
from api.schemas import CancelOut, SearchDetail, SearchPage, search_detail, search_summary
from nas_core.spec import SearchSpec
from store.models import SEARCH_STATUSES, Search
from store.repositories import results, searches
from store.repositories.searches import InvalidCursor, SearchFilter
from store.settings import Settings

router = APIRouter(prefix="/searches", tags=["searches"])

StatusName = Literal[SEARCH_STATUSES]  # type: ignore[valid-type]


def load_search(session: Session, search_id: str) -> Search:
    search = searches.get_search(session, search_id)
    if search is None:
        raise NotFound(f"no search with id {search_id!r}")
    return search


def detail_of(session: Session, search: Search, settings: Settings) -> SearchDetail:
    best = results.best_val_acc(session, [search.id]).get(search.id)
    return search_detail(search, best_val_acc=best, heartbeat_timeout_s=settings.HEARTBEAT_TIMEOUT_S)


def _replay(session: Session, owner: str, idempotency_key: str, request_hash: str) -> Search | None:
    existing = searches.get_by_idempotency_key(session, owner, idempotency_key)
    return idempotency.replay(existing, idempotency_key, request_hash, "search")


@router.post(
    "",
    status_code=201,
    summary="Submit a search",
    responses=problem_responses(
        401,
        403,
        409,
        413,
        422,
        503,
        extra={200: {"model": SearchDetail, "description": "Idempotent replay: the search created earlier"}},
    ),
)
def create_search(
    spec: SearchSpec,
    response: Response,
    session: SessionDep,
    key: SubmitKey,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="repeat a request safely: the same key and body return the same search",
        ),
    ] = None,
) -> SearchDetail:
    spec_json = spec.model_dump(mode="json")
    request_hash = idempotency.request_hash(spec_json)
    if idempotency_key is not None:
        existing = _replay(session, key.id, idempotency_key, request_hash)
        if existing is not None:
            response.status_code = 200
            response.headers["Location"] = f"/searches/{existing.id}"
            return detail_of(session, existing, settings)
    search = searches.create_search(
        session,
        spec=spec_json,
        owner_key_id=key.id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    try:
        session.commit()
    except IntegrityError:
        # Two requests with one Idempotency-Key raced; the other one's row stands.
        session.rollback()
        existing = _replay(session, key.id, idempotency_key or "", request_hash) if idempotency_key else None
        if existing is None:
            raise
        response.status_code = 200
        response.headers["Location"] = f"/searches/{existing.id}"
        return detail_of(session, existing, settings)
    jobs.enqueue_after_commit(session, jobs.SEARCH, search.id, priority=search.priority, when="submit")
    response.headers["Location"] = f"/searches/{search.id}"
    return detail_of(session, search, settings)


@router.get("", summary="List searches, newest first", responses=problem_responses(400, 401, 403, 422))
def list_searches(
    session: SessionDep,
    key: ReadKey,
    settings: SettingsDep,
    status: Annotated[StatusName | None, Query(description="only searches in this state")] = None,
    method: Annotated[str | None, Query(max_length=32)] = None,
    space: Annotated[str | None, Query(max_length=16)] = None,
    dataset: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64, description="searches carrying this tag")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="case-insensitive substring of the name")
    ] = None,
    mine: Annotated[bool, Query(description="only searches submitted with this key")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> SearchPage:
    filters = SearchFilter(
        status=status,
        method=method,
        space=space,
        dataset=dataset,
        tag=tag,
        q=q,
        owner_key_id=key.id if mine else None,
    )
    try:
        page, next_cursor = searches.list_searches(session, filters, limit=limit, cursor=cursor)
    except InvalidCursor as err:
        raise BadRequest(
            str(err), errors=[FieldError(field="cursor", message=str(err), location="query")]
        ) from None
    best = results.best_val_acc(session, [s.id for s in page])
    timeout = settings.HEARTBEAT_TIMEOUT_S
    items = [search_summary(s, best_val_acc=best.get(s.id), heartbeat_timeout_s=timeout) for s in page]
    return SearchPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/{search_id}",
    summary="One search: state, progress, ETA, timestamps",
    responses=problem_responses(401, 403, 404),
)
def get_search(search_id: str, session: SessionDep, key: ReadKey, settings: SettingsDep) -> SearchDetail:
    return detail_of(session, load_search(session, search_id), settings)


@router.post(
    "/{search_id}/cancel",
    summary="Cancel: a waiting search stops at once, a running one within one step",
    responses=problem_responses(
        401,
        403,
        404,
        409,
        extra={202: {"model": CancelOut, "description": "Running: the worker has been asked to stop"}},
    ),
)
def cancel_search(search_id: str, response: Response, session: SessionDep, key: SubmitKey) -> CancelOut:
    search = load_search(session, search_id)
    ensure_may_change(key, search)
    outcome = searches.cancel(session, search_id)
    if outcome is None:
        current = load_search(session, search_id)
        raise Conflict(
            f"search {search_id} is already {current.status}; only queued, retrying or running searches cancel"
        )
    session.commit()
    if outcome == "cancelled":
        return CancelOut(
            id=search_id, status="cancelled", cancel_requested=False, detail="cancelled before it ran"
        )
    response.status_code = 202
    return CancelOut(
        id=search_id, status="running", cancel_requested=True, detail="the worker stops at its next step"
    )


@router.post(
    "/{search_id}/retry",
    summary="Run a failed or cancelled search again, resuming from its last checkpoint",
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 503),
)
def retry_search(search_id: str, session: SessionDep, key: SubmitKey, settings: SettingsDep) -> SearchDetail:
    search = load_search(session, search_id)
    ensure_may_change(key, search)
    if not searches.request_retry(session, search_id):
        current = load_search(session, search_id)
        raise Conflict(
            f"search {search_id} is {current.status}; only failed or cancelled searches can be retried"
        )
    session.commit()
    search = load_search(session, search_id)
    jobs.enqueue_after_commit(session, jobs.SEARCH, search.id, priority=search.priority, when="retry")
    return detail_of(session, search, settings)
