"""Landscape jobs on the API side: request bodies, resolving architecture references, responses.

Every reference is resolved when the job is submitted (a search's best/final/epoch genotype is
copied into the job, the supernet's newest checkpoint is fixed), so a bad request is refused at
once with 422 naming the field, and the worker only computes. The API never imports torch: the
checks here use nas_core.genotype (plain data) and the stored rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from api.errors import FieldError, ValidationProblem
from api.schemas import JobOut, job_fields
from nas_core.genotype import GenotypeError, genotype_from_json, genotype_to_json, validate
from store.models import INT4_MAX, Genotype, LandscapeJob, Search
from store.repositories import results, searches

MAX_PATHS = 24
DEFAULT_PATHS = 6
MAX_MATRIX = 12


class _Strict(BaseModel):
    # As the search spec: no coercion ("3", true, 3.0 are not counts), finite numbers only.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ArchRef(_Strict):
    """One architecture: a stored genotype of a search, or a genotype JSON document."""

    search_id: str | None = Field(None, min_length=1, max_length=36, description="a search's genotype")
    which: Literal["best", "final"] = Field(
        "final",
        description="that search's best genotype (lowest supernet validation loss) or final one (last epoch)",
    )
    epoch: int | None = Field(
        None, ge=0, le=INT4_MAX, description="the genotype derived at this epoch (overrides which)"
    )
    genotype: dict[str, Any] | None = Field(
        None,
        description="a genotype JSON document: {space, ops, genotype, ...} as GET /searches/{id}/genotype returns it",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ArchRef:
        if (self.search_id is None) == (self.genotype is None):
            raise ValueError("give either search_id (with which/epoch) or genotype, not both or neither")
        if self.genotype is not None and ("which" in self.model_fields_set or self.epoch is not None):
            raise ValueError("which and epoch pick a search's genotype; they cannot go with genotype")
        return self


class BarrierCreate(_Strict):
    a: ArchRef
    b: ArchRef
    paths: int = Field(DEFAULT_PATHS, ge=1, le=MAX_PATHS, description="shortest edit paths evaluated at most")
    supernet: str | None = Field(
        None,
        min_length=1,
        max_length=36,
        description="search whose newest checkpoint supplies the shared weights; default: a's search",
    )


class BarrierMatrixCreate(_Strict):
    search_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(
        min_length=2, max_length=MAX_MATRIX, description="searches of one space"
    )
    which: Literal["best", "final"] = "final"
    paths: int = Field(DEFAULT_PATHS, ge=1, le=MAX_PATHS)
    supernet: str | None = Field(None, min_length=1, max_length=36, description="default: the first search")

    @field_validator("search_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"each search once; repeated: {repeated}")
        return ids


class NeighbourhoodCreate(_Strict):
    which: Literal["best", "final"] = "final"
    epoch: int | None = Field(
        None, ge=0, le=INT4_MAX, description="the genotype derived at this epoch (overrides which)"
    )
    radius: list[Literal[1, 2]] = Field([1, 2], min_length=1, max_length=2, description="radii 1 and/or 2")
    samples: int | None = Field(
        None, ge=1, le=1000, description="neighbours per radius; default spec.flatness.neighbour_samples"
    )

    @field_validator("radius", mode="before")
    @classmethod
    def _no_booleans(cls, radius: Any) -> Any:
        # true == 1 in Python, so a Literal[1, 2] would take it for radius 1.
        if isinstance(radius, list) and any(isinstance(r, bool) for r in radius):
            raise ValueError("radii are the integers 1 and 2, not booleans")
        return radius

    @field_validator("radius")
    @classmethod
    def _sorted_unique(cls, radius: list[int]) -> list[int]:
        return sorted(set(radius))


class NeighbourhoodJobCreate(NeighbourhoodCreate):
    search_id: str = Field(
        min_length=1, max_length=36, description="the search whose genotype, and whose supernet, it is"
    )


class JobSearch(BaseModel):
    search_id: str
    role: str = Field(description="a | b | member (of a matrix) | supernet | target (of a neighbourhood job)")


class LandscapeJobOut(JobOut):
    kind: str = Field(description="barrier | barrier_matrix | neighbourhood")
    progress: dict[str, Any] | None
    result: dict[str, Any] | None = Field(description="null until the job succeeded")
    params: dict[str, Any] = Field(description="the request with every reference resolved")
    searches: list[JobSearch]
    a: dict[str, Any] | None = Field(None, description="barrier: a's origin (search_id, which, epoch)")
    b: dict[str, Any] | None = None
    search_ids: list[str] | None = Field(None, description="barrier_matrix: the rows/columns, in order")
    links: dict[str, str]


class LandscapeJobPage(BaseModel):
    items: list[LandscapeJobOut]


def job_out(job: LandscapeJob, links: list[tuple[str, str]]) -> LandscapeJobOut:
    params = job.params or {}
    origin = {
        side: {k: v for k, v in params[side].items() if k != "genotype"}
        for side in ("a", "b")
        if isinstance(params.get(side), dict)
    }
    return LandscapeJobOut(
        **job_fields(job),
        kind=job.kind,
        progress=job.progress,
        result=job.result,
        params=params,
        searches=[JobSearch(search_id=s, role=r) for s, r in sorted(links, key=lambda x: (x[1], x[0]))],
        a=origin.get("a"),
        b=origin.get("b"),
        search_ids=params.get("search_ids"),
        links={"self": f"/landscape-jobs/{job.id}"},
    )


# --- resolution -----------------------------------------------------------------------------------


def invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(
        f"{field}: {message}", errors=[FieldError(field=field, message=message, location="body")]
    )


def load_search_for(session: Session, search_id: str, field: str) -> Search:
    search = searches.get_search(session, search_id)
    if search is None:
        raise invalid(field, f"no search with id {search_id!r}")
    return search


def vocabulary(session: Session, search: Search) -> tuple[str, ...]:
    """The op names of the search's space as its genotypes record them (ops variants included)."""
    row = results.newest_genotype(session, search.id)
    ops = (row.genotype or {}).get("ops") if row is not None else None
    if not ops:
        raise invalid("supernet", f"search {search.id} ({search.status}) has no genotype yet, so no supernet")
    return tuple(ops)


def stored_genotype(session: Session, search: Search, which: str, epoch: int | None, field: str) -> Genotype:
    row = results.get_genotype(session, search.id, which=None if epoch is not None else which, epoch=epoch)
    if row is None:
        wanted = f"at epoch {epoch}" if epoch is not None else f"marked {which}"
        prefix = f"{field}." if field else ""
        raise invalid(
            f"{prefix}epoch" if epoch is not None else f"{prefix}which",
            f"search {search.id} ({search.status}) has no genotype {wanted}",
        )
    return row


def in_space(doc: dict[str, Any], field: str, supernet: Search, vocab: tuple[str, ...]) -> dict[str, Any]:
    """`doc` as a genotype of the supernet's space and op vocabulary (422 naming `field` if not)."""
    try:
        g = genotype_from_json(doc)
    except GenotypeError as err:
        raise invalid(field, str(err)) from None
    if g.space != supernet.space:
        raise invalid(
            field,
            f"the architecture is in space {g.space!r}; the supernet search {supernet.id} is {supernet.space!r}",
        )
    try:
        g = validate(replace(g, ops=vocab), space=supernet.space, ops=vocab)
    except GenotypeError as err:
        raise invalid(field, f"not in the supernet search's space: {err}") from None
    return genotype_to_json(g)


def resolve_ref(
    session: Session, ref: ArchRef, field: str, supernet: Search, vocab: tuple[str, ...]
) -> dict[str, Any]:
    """{source, search_id?, which?, epoch?, genotype} with the genotype in the supernet's space."""
    if ref.genotype is not None:
        return {
            "source": "genotype",
            "genotype": in_space(ref.genotype, f"{field}.genotype", supernet, vocab),
        }
    assert ref.search_id is not None
    search = load_search_for(session, ref.search_id, f"{field}.search_id")
    return from_search(session, search, ref.which, ref.epoch, field, supernet, vocab)


def from_search(
    session: Session,
    search: Search,
    which: str,
    epoch: int | None,
    field: str,
    supernet: Search,
    vocab: tuple[str, ...],
) -> dict[str, Any]:
    if search.space != supernet.space:
        raise invalid(
            f"{field}.search_id" if not field.startswith("search_ids") else field,
            f"search {search.id} is in space {search.space!r}; the supernet search {supernet.id} "
            f"is {supernet.space!r}",
        )
    row = stored_genotype(session, search, which, epoch, field)
    doc = in_space(row.genotype, field, supernet, vocab)
    return {
        "source": "search",
        "search_id": search.id,
        "which": which if epoch is None else None,
        "epoch": row.epoch,
        "genotype": doc,
    }


def supernet_checkpoint(session: Session, supernet: Search, field: str) -> dict[str, Any]:
    """The newest checkpoint of the supernet search at submit time (its final one once it ended)."""
    checkpoint = results.latest_checkpoint(session, supernet.id)
    if checkpoint is None:
        raise invalid(
            field,
            f"search {supernet.id} ({supernet.status}) has no checkpoint, so no shared weights to judge with; "
            "use a gradient search that has finished at least one epoch",
        )
    return {"search_id": supernet.id, "checkpoint_epoch": checkpoint.epoch, "finished": supernet.is_terminal}
