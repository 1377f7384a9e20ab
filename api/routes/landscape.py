"""Landscape jobs, one URL tree for every kind: `/landscape-jobs`. A job computes a barrier (between
two architectures), a barrier matrix (of several searches) or a neighbourhood (of a search's
genotype); workers run it.

Like searches, the job row is committed before its id is enqueued (`flatnas.run_landscape_job` on
the search queue); if the broker refuses, the job is marked failed and 503 returned (api/jobs.py).
Cancel and retry work as they do for searches and evaluations (the same lease repository); a
retried job is computed again from the start (it keeps no checkpoint).

The URLs of the previous release (`/barriers`, `/barriers/matrix`, `/barriers/{id}`,
`/searches/{id}/flatness/neighbourhood`, `/searches/{id}/flatness/jobs[/{job_id}]`) still answer,
marked deprecated in the OpenAPI document, through the same handlers; they go in the next release.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api import admission, jobs
from api.deps import ReadStore, SubmitStore
from api.errors import BadRequest, FieldError, NotFound, problem_responses
from api.ids import JobId, SearchId
from api.landscape import (
    BarrierCreate,
    BarrierMatrixCreate,
    LandscapeJobOut,
    LandscapeJobPage,
    NeighbourhoodCreate,
    NeighbourhoodJobCreate,
    from_search,
    invalid,
    job_out,
    load_search_for,
    resolve_ref,
    stored_genotype,
    supernet_checkpoint,
    vocabulary,
)
from api.routes.searches import ID_PREFIX, load_search
from api.schemas import CancelOut
from api.spec_body import BodyRoute
from store.models import LANDSCAPE_KINDS, LandscapeJob
from store.repositories import landscape
from store.repositories.keys import Caller
from store.settings import Settings

router = APIRouter(tags=["landscape jobs"], route_class=BodyRoute)

KindName = Literal[LANDSCAPE_KINDS]  # type: ignore[valid-type]
CREATE_ERRORS = problem_responses(401, 403, 413, 422, 503)
READ_ERRORS = problem_responses(400, 401, 403, 404, 422)
# The deprecated neighbourhood URLs name their search in the path: an unknown one is 404.
SEARCH_PATH_ERRORS = problem_responses(401, 403, 404, 413, 422, 503)


def load_job(session: Session, job_id: str) -> LandscapeJob:
    job: LandscapeJob = jobs.load(session, jobs.LANDSCAPE_JOB, job_id)
    return job


def _out(session: Session, job: LandscapeJob) -> LandscapeJobOut:
    return job_out(job, landscape.links_of(session, [job.id])[job.id])


def _page(session: Session, found: list[LandscapeJob]) -> LandscapeJobPage:
    links = landscape.links_of(session, [j.id for j in found])
    return LandscapeJobPage(items=[job_out(j, links[j.id]) for j in found])


def _created(response: Response, out: LandscapeJobOut) -> LandscapeJobOut:
    response.headers["Location"] = out.links["self"]
    return out


def _submit(
    session: Session,
    key: Caller,
    *,
    kind: str,
    supernet_search_id: str,
    params: dict[str, Any],
    links: list[tuple[str, str]],
) -> LandscapeJobOut:
    """Store the job, commit, then enqueue it (a broker refusal marks it failed: 503)."""
    job = landscape.create_job(
        session,
        kind=kind,
        supernet_search_id=supernet_search_id,
        params=params,
        links=links,
        owner_key_id=key.id,
    )
    jobs.commit_and_enqueue(session, jobs.LANDSCAPE_JOB, job.id, when="submit")
    return _out(session, job)


# --- creating -------------------------------------------------------------------------------------


@router.post(
    "/landscape-jobs/barrier",
    status_code=201,
    summary="Barrier between two architectures (edit paths; α line when both come from one search)",
    responses=CREATE_ERRORS,
)
@router.post(
    "/barriers",
    status_code=201,
    summary="Deprecated: POST /landscape-jobs/barrier",
    responses=CREATE_ERRORS,
    deprecated=True,
)
async def create_barrier(body: BarrierCreate, response: Response, store: SubmitStore) -> LandscapeJobOut:
    return _created(response, await store.write(_barrier, body, store.settings))


def _barrier(session: Session, key: Caller, body: BarrierCreate, settings: Settings) -> LandscapeJobOut:
    admission.admit_landscape_job("paths", body.paths, "edit paths", settings, key.scope)
    supernet_id = body.supernet or body.a.search_id
    if supernet_id is None:
        raise invalid(
            "supernet", "required when a and b are both genotypes: the search whose weights judge them"
        )
    supernet = load_search_for(session, supernet_id, "supernet" if body.supernet else "a.search_id")
    checkpoint = supernet_checkpoint(session, supernet, "supernet" if body.supernet else "a.search_id")
    vocab = vocabulary(session, supernet)
    a = resolve_ref(session, body.a, "a", supernet, vocab)
    b = resolve_ref(session, body.b, "b", supernet, vocab)
    # α(t) = (1−t)α_a + tα_b is meaningful only for two α's of the supernet that judges them.
    same_search = a["source"] == b["source"] == "search" and a["search_id"] == b["search_id"] == supernet.id
    params: dict[str, Any] = {
        "a": a,
        "b": b,
        "paths": body.paths,
        "supernet": checkpoint,
        "alpha_line": {"epoch_a": a["epoch"], "epoch_b": b["epoch"]} if same_search else None,
    }
    links = [(supernet.id, "supernet")] + [
        (ref["search_id"], side) for side, ref in (("a", a), ("b", b)) if "search_id" in ref
    ]
    return _submit(session, key, kind="barrier", supernet_search_id=supernet.id, params=params, links=links)


@router.post(
    "/landscape-jobs/barrier-matrix",
    status_code=201,
    summary="Pairwise barrier matrix of a set of searches of one space, as one job",
    responses=CREATE_ERRORS,
)
@router.post(
    "/barriers/matrix",
    status_code=201,
    summary="Deprecated: POST /landscape-jobs/barrier-matrix",
    responses=CREATE_ERRORS,
    deprecated=True,
)
async def create_barrier_matrix(
    body: BarrierMatrixCreate, response: Response, store: SubmitStore
) -> LandscapeJobOut:
    return _created(response, await store.write(_barrier_matrix, body, store.settings))


def _barrier_matrix(
    session: Session, key: Caller, body: BarrierMatrixCreate, settings: Settings
) -> LandscapeJobOut:
    n = len(body.search_ids)
    pairs = n * (n - 1) // 2
    admission.admit_landscape_job(
        "paths", pairs * body.paths, f"edit paths ({pairs} pairs × paths={body.paths})", settings, key.scope
    )
    field = "supernet" if body.supernet else "search_ids.0"
    supernet = load_search_for(session, body.supernet or body.search_ids[0], field)
    checkpoint = supernet_checkpoint(session, supernet, field)
    vocab = vocabulary(session, supernet)
    members = []
    for i, search_id in enumerate(body.search_ids):
        search = load_search_for(session, search_id, f"search_ids.{i}")
        members.append(from_search(session, search, body.which, None, f"search_ids.{i}", supernet, vocab))
    params = {
        "search_ids": list(body.search_ids),
        "which": body.which,
        "members": members,
        "paths": body.paths,
        "supernet": checkpoint,
    }
    links = [(supernet.id, "supernet")] + [(s, "member") for s in body.search_ids]
    return _submit(
        session, key, kind="barrier_matrix", supernet_search_id=supernet.id, params=params, links=links
    )


@router.post(
    "/landscape-jobs/neighbourhood",
    status_code=201,
    summary="Neighbourhood profile and cell shape of one of a search's genotypes, as a job",
    responses=CREATE_ERRORS,
)
async def create_neighbourhood(
    body: NeighbourhoodJobCreate, response: Response, store: SubmitStore
) -> LandscapeJobOut:
    return _created(
        response, await store.write(_neighbourhood, body.search_id, body, store.settings, in_path=False)
    )


@router.post(
    "/searches/{search_id}/flatness/neighbourhood",
    status_code=201,
    summary="Deprecated: POST /landscape-jobs/neighbourhood with search_id in the body",
    responses=SEARCH_PATH_ERRORS,
    deprecated=True,
)
async def create_search_neighbourhood(
    search_id: SearchId, body: NeighbourhoodCreate, response: Response, store: SubmitStore
) -> LandscapeJobOut:
    return _created(
        response, await store.write(_neighbourhood, search_id, body, store.settings, in_path=True)
    )


def _neighbourhood(
    session: Session,
    key: Caller,
    search_id: str,
    body: NeighbourhoodCreate,
    settings: Settings,
    *,
    in_path: bool,
) -> LandscapeJobOut:
    """The job of either URL; `in_path`: the search was named in the path (unknown: 404), else in
    the body (unknown: 422 naming search_id)."""
    search = load_search(session, search_id) if in_path else load_search_for(session, search_id, "search_id")
    samples = body.samples or int(search.spec.get("flatness", {}).get("neighbour_samples", 32))
    admission.admit_landscape_job(
        "samples",
        samples * len(body.radius),
        f"neighbours evaluated ({len(body.radius)} radii × samples={samples})",
        settings,
        key.scope,
    )
    checkpoint = supernet_checkpoint(session, search, "search_id")
    row = stored_genotype(session, search, body.which, body.epoch, "")
    params = {
        "which": body.which if body.epoch is None else None,
        "epoch": row.epoch,
        "genotype": row.genotype,
        "radius": body.radius,
        "samples": body.samples,
        "supernet": checkpoint,
    }
    return _submit(
        session,
        key,
        kind="neighbourhood",
        supernet_search_id=search.id,
        params=params,
        links=[(search.id, "target")],
    )


# --- reading --------------------------------------------------------------------------------------


def _id_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids or len(ids) > 50 or any(len(i) > 36 for i in ids):
        raise BadRequest(
            f"search_ids: {raw[:80]!r} is not a comma-separated list of 1..50 search ids",
            errors=[FieldError(field="search_ids", message="1..50 comma-separated ids", location="query")],
        )
    return ids


@router.get("/landscape-jobs", summary="Landscape jobs of every kind, newest first", responses=READ_ERRORS)
@router.get("/barriers", summary="Deprecated: GET /landscape-jobs", responses=READ_ERRORS, deprecated=True)
async def list_landscape_jobs(
    store: ReadStore,
    kind: Annotated[KindName | None, Query(description="only jobs of this kind")] = None,
    search_id: Annotated[
        str | None, Query(max_length=36, description="jobs involving this search in any role")
    ] = None,
    search_ids: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="comma-separated: jobs between these searches (all compared ones in it)",
        ),
    ] = None,
    id_prefix: Annotated[str | None, ID_PREFIX] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LandscapeJobPage:
    return await store.read(
        _listing,
        kinds=(kind,) if kind else LANDSCAPE_KINDS,
        search_id=search_id,
        search_ids=_id_list(search_ids),
        id_prefix=id_prefix,
        limit=limit,
    )


def _listing(
    session: Session,
    _key: Caller,
    *,
    kinds: tuple[str, ...],
    search_id: str | None,
    search_ids: list[str] | None,
    id_prefix: str | None,
    limit: int,
) -> LandscapeJobPage:
    found = landscape.list_jobs(
        session, kinds=kinds, search_id=search_id, search_ids=search_ids, id_prefix=id_prefix, limit=limit
    )
    return _page(session, found)


@router.get(
    "/landscape-jobs/{job_id}", summary="One landscape job: status, progress, result", responses=READ_ERRORS
)
@router.get(
    "/barriers/{job_id}",
    summary="Deprecated: GET /landscape-jobs/{job_id}",
    responses=READ_ERRORS,
    deprecated=True,
)
async def get_landscape_job(job_id: JobId, store: ReadStore) -> LandscapeJobOut:
    return await store.read(_job, job_id)


def _job(session: Session, _key: Caller, job_id: str) -> LandscapeJobOut:
    return _out(session, load_job(session, job_id))


@router.get(
    "/searches/{search_id}/flatness/jobs",
    summary="Deprecated: GET /landscape-jobs?search_id=...&kind=neighbourhood",
    responses=READ_ERRORS,
    deprecated=True,
)
async def list_search_neighbourhood_jobs(
    search_id: SearchId, store: ReadStore, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> LandscapeJobPage:
    return await store.read(_search_neighbourhood_jobs, search_id, limit)


def _search_neighbourhood_jobs(session: Session, key: Caller, search_id: str, limit: int) -> LandscapeJobPage:
    load_search(session, search_id)
    return _listing(
        session,
        key,
        kinds=("neighbourhood",),
        search_id=search_id,
        search_ids=None,
        id_prefix=None,
        limit=limit,
    )


@router.get(
    "/searches/{search_id}/flatness/jobs/{job_id}",
    summary="Deprecated: GET /landscape-jobs/{job_id}",
    responses=READ_ERRORS,
    deprecated=True,
)
async def get_search_neighbourhood_job(
    search_id: SearchId, job_id: JobId, store: ReadStore
) -> LandscapeJobOut:
    return await store.read(_search_neighbourhood_job, search_id, job_id)


def _search_neighbourhood_job(session: Session, _key: Caller, search_id: str, job_id: str) -> LandscapeJobOut:
    job = landscape.get_job(session, job_id)
    if job is None or job.kind != "neighbourhood" or job.supernet_search_id != search_id:
        raise NotFound(f"search {search_id} has no neighbourhood job {job_id!r}")
    return _out(session, job)


# --- changing -------------------------------------------------------------------------------------


@router.post(
    "/landscape-jobs/{job_id}/cancel",
    summary="Cancel: a waiting landscape job stops at once, a running one before its next evaluation",
    responses=jobs.CANCEL_RESPONSES,
)
async def cancel_landscape_job(job_id: JobId, response: Response, store: SubmitStore) -> CancelOut:
    return CancelOut.of(job_id, await store.write(jobs.cancel, jobs.LANDSCAPE_JOB, job_id), response)


@router.post(
    "/landscape-jobs/{job_id}/retry",
    status_code=202,
    summary="Run a failed or cancelled landscape job again (computed from the start)",
    responses=jobs.RETRY_RESPONSES,
)
async def retry_landscape_job(job_id: JobId, store: SubmitStore) -> LandscapeJobOut:
    return await store.write(_retry, job_id)


def _retry(session: Session, key: Caller, job_id: str) -> LandscapeJobOut:
    return _out(session, jobs.retry(session, key, jobs.LANDSCAPE_JOB, job_id))
