"""Submitting searches, listing them, and changing their state (cancel, retry).

The row is committed before its id is enqueued, and a broker refusal marks it failed (api/jobs.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Query, Response
from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from api import admission, idempotency, jobs
from api.deps import ReadStore, SubmitStore
from api.errors import BadRequest, FieldError, NotFound, problem_responses
from api.ids import SearchId
from api.schemas import CancelOut, SearchDetail, SearchLike, SearchPage, search_detail, search_summary
from api.spec_body import BodyRoute, SpecBodyRoute
from nas_core.spec import SearchSpec
from store.models import SEARCH_STATUSES, Search
from store.repositories import searches
from store.repositories.keys import Caller
from store.repositories.searches import InvalidCursor, SearchFilter
from store.settings import Settings

router = APIRouter(prefix="/searches", tags=["searches"], route_class=BodyRoute)

StatusName = Literal[SEARCH_STATUSES]  # type: ignore[valid-type]
# Short ids, as git takes them: clients resolve a unique prefix to the full id with this filter.
ID_PREFIX = Query(
    min_length=1, max_length=36, pattern="^[0-9a-f-]+$", description="ids starting with this (lowercase hex)"
)


def load_search(session: Session, search_id: str) -> Search:
    search: Search = jobs.load(session, jobs.SEARCH, search_id)
    return search


def load_view(connection: Connection, _key: Caller, search_id: str) -> Row[Any]:
    """The search as a row with its best_val_acc (one statement), or 404."""
    view = searches.get_view(connection, search_id)
    if view is None:
        raise NotFound(f"no search with id {search_id!r}")
    return view


def detail_of(search: SearchLike, settings: Settings, *, best_val_acc: float | None) -> SearchDetail:
    return search_detail(search, best_val_acc=best_val_acc, heartbeat_timeout_s=settings.HEARTBEAT_TIMEOUT_S)


def _replay(
    connection: Connection, owner: str, idempotency_key: str, request_hash: str
) -> Row[Any, Any] | None:
    existing = searches.get_by_idempotency_key(connection, owner, idempotency_key)
    return idempotency.replay(existing, idempotency_key, request_hash, "search")


async def create_search(
    spec: SearchSpec,
    response: Response,
    store: SubmitStore,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> SearchDetail:
    settings = store.settings
    spec_json = spec.model_dump(mode="json")
    submitted = await store.autocommit(
        _admit_and_submit, spec, settings, spec_json, idempotency.request_hash(spec_json), idempotency_key
    )
    idempotency.answer_created(response, f"/searches/{submitted.search.id}", created=submitted.created)
    return detail_of(submitted.search, settings, best_val_acc=submitted.best_val_acc)


class Submitted(NamedTuple):
    search: SearchLike
    created: bool  # False: an Idempotency-Key replay of an earlier submit
    # None for a new search (no epochs yet, so the aggregate is not even read)
    best_val_acc: float | None = None


def _admit_and_submit(
    connection: Connection,
    key: Caller,
    spec: SearchSpec,
    settings: Settings,
    spec_json: dict[str, Any],
    request_hash: str,
    idempotency_key: str | None,
) -> Submitted:
    """Admission (data root, limits: api/admission.py) once the key is known, then `_submit`."""
    admission.admit(spec, settings, key.scope)
    return _submit(connection, key, spec_json, request_hash, idempotency_key)


def _submit(
    connection: Connection,
    key: Caller,
    spec_json: dict[str, Any],
    request_hash: str,
    idempotency_key: str | None,
) -> Submitted:
    """Store the search (the INSERT commits as it runs), then enqueue it; or find the one an
    Idempotency-Key names."""
    search, earlier = idempotency.create_once(
        connection,
        idempotency_key,
        find=lambda: _replay(connection, key.id, idempotency_key or "", request_hash),
        create=lambda: searches.insert_search(
            connection,
            spec=spec_json,
            owner_key_id=key.id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        ),
    )
    if earlier is not None:
        return _replayed(load_view(connection, key, earlier.id))
    assert search is not None
    jobs.enqueue_after_autocommit(connection, jobs.SEARCH, search.id, priority=search.priority, when="submit")
    return Submitted(search, created=True)


def _replayed(view: Row[Any]) -> Submitted:
    return Submitted(view, created=False, best_val_acc=view.best_val_acc)


router.add_api_route(
    "",
    create_search,
    methods=["POST"],
    route_class_override=SpecBodyRoute,  # JSON or YAML bodies, 415 for anything else
    status_code=201,
    summary="Submit a search",
    description="The body is a spec as `application/json` or `application/yaml`.",
    responses=problem_responses(
        401,
        403,
        409,
        413,
        415,
        422,
        503,
        extra={200: {"model": SearchDetail, "description": "Idempotent replay: the search created earlier"}},
    ),
)


@router.get("", summary="List searches, newest first", responses=problem_responses(400, 401, 403, 422))
async def list_searches(
    store: ReadStore,
    status: Annotated[StatusName | None, Query(description="only searches in this state")] = None,
    method: Annotated[str | None, Query(max_length=32)] = None,
    space: Annotated[str | None, Query(max_length=16)] = None,
    dataset: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64, description="searches carrying this tag")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="case-insensitive substring of the name")
    ] = None,
    mine: Annotated[bool, Query(description="only searches submitted with this key")] = False,
    id_prefix: Annotated[str | None, ID_PREFIX] = None,
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
        id_prefix=id_prefix,
    )
    try:
        page, next_cursor = await store.read(_page, filters, mine=mine, limit=limit, cursor=cursor)
    except InvalidCursor as err:
        raise BadRequest(
            str(err), errors=[FieldError(field="cursor", message=str(err), location="query")]
        ) from None
    timeout = store.settings.HEARTBEAT_TIMEOUT_S
    items = [search_summary(s, best_val_acc=s.best_val_acc, heartbeat_timeout_s=timeout) for s in page]
    return SearchPage.model_validate({"items": items, "next_cursor": next_cursor})


def _page(
    session: Session, key: Caller, filters: SearchFilter, *, mine: bool, limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    if mine:
        filters = replace(filters, owner_key_id=key.id)
    return searches.list_searches(session, filters, limit=limit, cursor=cursor)


@router.get(
    "/{search_id}",
    summary="One search: state, progress, ETA, timestamps",
    responses=problem_responses(401, 403, 404),
)
async def get_search(search_id: SearchId, store: ReadStore) -> SearchDetail:
    search = await store.autocommit(load_view, search_id)
    return detail_of(search, store.settings, best_val_acc=search.best_val_acc)


@router.post(
    "/{search_id}/cancel",
    summary="Cancel: a waiting search stops at once, a running one within one step",
    responses=jobs.CANCEL_RESPONSES,
)
async def cancel_search(search_id: SearchId, response: Response, store: SubmitStore) -> CancelOut:
    return CancelOut.of(search_id, await store.write(jobs.cancel, jobs.SEARCH, search_id), response)


@router.post(
    "/{search_id}/retry",
    summary="Run a failed or cancelled search again, resuming from its last checkpoint",
    status_code=202,
    responses=jobs.RETRY_RESPONSES,
)
async def retry_search(search_id: SearchId, store: SubmitStore) -> SearchDetail:
    view = await store.write(_retry, search_id)
    return detail_of(view, store.settings, best_val_acc=view.best_val_acc)


def _retry(session: Session, key: Caller, search_id: str) -> Row[Any]:
    """Committed and enqueued (api/jobs.py); the search as it is now, with its best accuracy."""
    jobs.retry(session, key, jobs.SEARCH, search_id)
    return load_view(session.connection(), key, search_id)
