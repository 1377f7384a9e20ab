"""Barrier jobs, barrier matrices and on-demand neighbourhoods: submitted here, run by workers.

Like searches, the job row is committed before its id is enqueued (`flatnas.run_landscape_job` on
the search queue); if the broker refuses, the job is marked failed and 503 returned (api/jobs.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api import admission, jobs
from api.deps import ReadKey, ReadStore, SessionDep, SettingsDep, SubmitKey
from api.errors import BadRequest, FieldError, NotFound, problem_responses
from api.ids import JobId, SearchId
from api.landscape import (
    BarrierCreate,
    BarrierMatrixCreate,
    LandscapeJobOut,
    LandscapeJobPage,
    NeighbourhoodCreate,
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
from api.spec_body import BodyRoute
from store.models import LandscapeJob
from store.repositories import landscape
from store.repositories.keys import Caller

router = APIRouter(tags=["landscape"], route_class=BodyRoute)

BARRIER_KINDS = ("barrier", "barrier_matrix")
CREATE_ERRORS = problem_responses(401, 403, 404, 413, 422, 503)
READ_ERRORS = problem_responses(400, 401, 403, 404, 422)


def _submit(
    session: Session,
    response: Response,
    key_id: str,
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
        owner_key_id=key_id,
    )
    jobs.commit_and_enqueue(session, jobs.LANDSCAPE_JOB, job.id, when="submit")
    out = _out(session, job)
    response.headers["Location"] = out.links["self"]
    return out


def _out(session: Session, job: LandscapeJob) -> LandscapeJobOut:
    return job_out(job, landscape.links_of(session, [job.id])[job.id])


def _page(session: Session, jobs: list[LandscapeJob]) -> LandscapeJobPage:
    links = landscape.links_of(session, [j.id for j in jobs])
    return LandscapeJobPage(items=[job_out(j, links[j.id]) for j in jobs])


@router.post(
    "/barriers",
    status_code=201,
    summary="Barrier between two architectures (edit paths; α line when both come from one search)",
    responses=CREATE_ERRORS,
)
def create_barrier(
    body: BarrierCreate, response: Response, session: SessionDep, key: SubmitKey, settings: SettingsDep
) -> LandscapeJobOut:
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
    return _submit(
        session,
        response,
        key.id,
        kind="barrier",
        supernet_search_id=supernet.id,
        params=params,
        links=links,
    )


@router.post(
    "/barriers/matrix",
    status_code=201,
    summary="Pairwise barrier matrix of a set of searches of one space, as one job",
    responses=CREATE_ERRORS,
)
def create_barrier_matrix(
    body: BarrierMatrixCreate, response: Response, session: SessionDep, key: SubmitKey, settings: SettingsDep
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
        session,
        response,
        key.id,
        kind="barrier_matrix",
        supernet_search_id=supernet.id,
        params=params,
        links=links,
    )


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


@router.get("/barriers", summary="Barrier jobs, newest first", responses=READ_ERRORS)
def list_barriers(
    session: SessionDep,
    key: ReadKey,
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
    kind: Annotated[Literal["barrier", "barrier_matrix"] | None, Query()] = None,
    id_prefix: Annotated[str | None, ID_PREFIX] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LandscapeJobPage:
    jobs = landscape.list_jobs(
        session,
        kinds=(kind,) if kind else BARRIER_KINDS,
        search_id=search_id,
        search_ids=_id_list(search_ids),
        id_prefix=id_prefix,
        limit=limit,
    )
    return _page(session, jobs)


@router.get("/barriers/{job_id}", summary="One barrier job: status, progress, result", responses=READ_ERRORS)
async def get_barrier(job_id: JobId, store: ReadStore) -> LandscapeJobOut:
    return await store.read(_barrier_job, job_id)


def _barrier_job(session: Session, _key: Caller, job_id: str) -> LandscapeJobOut:
    job = landscape.get_job(session, job_id)
    if job is None or job.kind not in BARRIER_KINDS:
        raise NotFound(f"no barrier job with id {job_id!r}")
    return _out(session, job)


@router.post(
    "/searches/{search_id}/flatness/neighbourhood",
    status_code=201,
    summary="Neighbourhood profile and cell shape of one of the search's genotypes, as a job",
    responses=CREATE_ERRORS,
)
def create_neighbourhood(
    search_id: SearchId,
    body: NeighbourhoodCreate,
    response: Response,
    session: SessionDep,
    key: SubmitKey,
    settings: SettingsDep,
) -> LandscapeJobOut:
    search = load_search(session, search_id)
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
        response,
        key.id,
        kind="neighbourhood",
        supernet_search_id=search.id,
        params=params,
        links=[(search.id, "target")],
    )


@router.get(
    "/searches/{search_id}/flatness/jobs",
    summary="The search's on-demand neighbourhood jobs, newest first",
    responses=READ_ERRORS,
)
def list_neighbourhood_jobs(
    search_id: SearchId, session: SessionDep, key: ReadKey, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> LandscapeJobPage:
    load_search(session, search_id)
    jobs = landscape.list_jobs(session, kinds=("neighbourhood",), search_id=search_id, limit=limit)
    return _page(session, jobs)


@router.get(
    "/searches/{search_id}/flatness/jobs/{job_id}",
    summary="One on-demand neighbourhood job",
    responses=READ_ERRORS,
)
async def get_neighbourhood_job(search_id: SearchId, job_id: JobId, store: ReadStore) -> LandscapeJobOut:
    return await store.read(_neighbourhood_job, search_id, job_id)


def _neighbourhood_job(session: Session, _key: Caller, search_id: str, job_id: str) -> LandscapeJobOut:
    job = landscape.get_job(session, job_id)
    if job is None or job.kind != "neighbourhood" or job.supernet_search_id != search_id:
        raise NotFound(f"search {search_id} has no neighbourhood job {job_id!r}")
    return _out(session, job)
