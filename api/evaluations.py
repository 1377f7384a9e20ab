"""Evaluations on the API side: the request body, resolving the genotype, bounds, responses.

The genotype is resolved when the evaluation is submitted (a search's best/final/epoch genotype is
copied into the row), the protocol's spec is validated, its data set is checked against the data
roots as a search's is (api/admission.py), and it is held to the operator's bounds, so a bad request
is refused at once with 422 naming the field and the worker only trains. No torch here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from api.admission import check_dataset
from api.errors import FieldError, ValidationProblem, field_errors
from api.landscape import invalid, load_search_for, stored_genotype
from api.schemas import JobOut, ProgressOut, job_fields, progress_of
from nas_core.evaluation.protocol import PROTOCOL_SPACE, EvalDataset, EvalSpec, ProtocolName
from nas_core.genotype import GenotypeError, genotype_from_json, genotype_to_json
from store.models import INT4_MAX, Evaluation, EvaluationEpoch
from store.settings import Settings

#: Top-level request fields that are not spec overrides.
RESERVED = ("protocol", "dataset", "seed", "name")


class _Strict(BaseModel):
    # As the search spec: no coercion of strings, booleans or whole floats; finite numbers only.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False)


class GenotypeSource(_Strict):
    """A stored genotype of a search, or a genotype JSON document (`json`)."""

    search_id: str | None = Field(None, min_length=1, max_length=36, description="a search's genotype")
    which: Literal["best", "final"] = Field("final", description="that search's best or final genotype")
    epoch: int | None = Field(
        None, ge=0, le=INT4_MAX, description="the genotype derived at this epoch (overrides which)"
    )
    document: dict[str, Any] | None = Field(
        None, alias="json", description="a genotype JSON document (GET /searches/{id}/genotype's form)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> GenotypeSource:
        if (self.search_id is None) == (self.document is None):
            raise ValueError("give either search_id (with which/epoch) or json, not both or neither")
        if self.document is not None and ("which" in self.model_fields_set or self.epoch is not None):
            raise ValueError("which and epoch pick a search's genotype; they cannot go with json")
        return self


class EvaluationSettings(_Strict):
    """How to train a genotype: the protocol and everything that overrides its defaults (also a
    study's `evaluate`, applied to each of its searches' best genotype)."""

    protocol: ProtocolName | None = Field(None, description="darts | nb201; default: the genotype's space")
    dataset: EvalDataset = Field(default_factory=EvalDataset, description="data set (root is the worker's)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    name: str | None = Field(None, min_length=1, max_length=200)
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description='any other evaluation field, e.g. {"epochs": 100, "C": 16, "runtime": {...}}',
    )


class EvaluationCreate(EvaluationSettings):
    genotype: GenotypeSource
    priority: int = Field(5, ge=0, le=9, description="9 runs first")


class EvaluationOut(JobOut):
    name: str
    protocol: str
    dataset: str
    space: str
    seed: int
    source: dict[str, Any] = Field(description="{search_id, which, epoch} of the genotype; {} if inline")
    genotype: dict[str, Any]
    spec: dict[str, Any]
    progress: ProgressOut | None
    eta_seconds: float | None
    test_acc: float | None = Field(description="after the last epoch; null until the evaluation succeeded")
    params_m: float | None = Field(description="parameters in millions, auxiliary head excluded")
    flops_m: float | None = Field(description="multiply-accumulates per image, in millions")
    precision: str | None = Field(
        None, description="fp32 or bf16: what the training ran (spec's auto resolved on the worker's device)"
    )
    channels_last: bool | None = Field(None, description="whether the network ran in NHWC")
    latest_test_acc: float | None = Field(description="test accuracy of the newest finished epoch")
    result: dict[str, Any] | None
    links: dict[str, str]


class EvaluationPage(BaseModel):
    items: list[EvaluationOut]


class EvaluationEpochOut(BaseModel):
    epoch: int
    train_loss: float | None
    train_acc: float | None
    test_loss: float | None
    test_acc: float | None
    lr: float
    seconds: float

    @classmethod
    def of(cls, row: EvaluationEpoch) -> EvaluationEpochOut:
        return cls.model_validate(row, from_attributes=True)


class EvaluationCurvesOut(BaseModel):
    evaluation_id: str
    epochs: list[EvaluationEpochOut]


EVAL_CURVE_COLUMNS = tuple(EvaluationEpochOut.model_fields)


def evaluation_out(row: Evaluation, latest: EvaluationEpoch | None = None) -> EvaluationOut:
    progress = progress_of(row)
    info = {**(row.model_info or {}), **(row.result or {})}
    source = {"search_id": row.search_id, "which": row.which, "epoch": row.genotype_epoch}
    return EvaluationOut(
        **job_fields(row),
        name=row.name,
        protocol=row.protocol,
        dataset=row.dataset,
        space=row.space,
        seed=int(row.spec.get("seed", 0)),
        source=source if row.search_id or row.genotype_epoch is not None else {},
        genotype=row.genotype,
        spec=row.spec,
        progress=progress,
        eta_seconds=progress.eta_seconds if progress and row.status == "running" else None,
        test_acc=(row.result or {}).get("test_acc"),
        params_m=info.get("params_m"),
        flops_m=info.get("flops_m"),
        precision=info.get("precision"),
        channels_last=info.get("channels_last"),
        latest_test_acc=latest.test_acc if latest is not None else None,
        result=row.result,
        links={
            "self": f"/evaluations/{row.id}",
            "curves": f"/evaluations/{row.id}/curves",
            "events": f"/evaluations/{row.id}/events",
        },
    )


# --- resolution -----------------------------------------------------------------------------------


def resolve_genotype(session: Session, source: GenotypeSource) -> tuple[dict[str, Any], dict[str, Any]]:
    """(genotype JSON, origin {search_id, which, epoch} or {}) for the request's genotype."""
    if source.document is not None:
        try:
            return genotype_to_json(genotype_from_json(source.document)), {}
        except GenotypeError as err:
            raise invalid("genotype.json", str(err)) from None
    assert source.search_id is not None
    search = load_search_for(session, source.search_id, "genotype.search_id")
    row = stored_genotype(session, search, source.which, source.epoch, "genotype")
    try:
        doc = genotype_to_json(genotype_from_json(row.genotype), epoch=row.epoch, search_id=search.id)
    except GenotypeError as err:
        raise invalid("genotype.search_id", f"the stored genotype is unreadable: {err}") from None
    origin = {
        "search_id": search.id,
        "which": source.which if source.epoch is None else None,
        "epoch": row.epoch,
    }
    return doc, origin


def build_spec(body: EvaluationSettings, genotype: dict[str, Any], settings: Settings) -> EvalSpec:
    """The evaluation spec of the request (protocol defaults + overrides), within the bounds."""
    if body.dataset.root is not None:
        raise invalid(
            "dataset.root", "not allowed in a request: workers read data from their FLATNAS_DATA_ROOT"
        )
    protocol = body.protocol or genotype["space"]
    if PROTOCOL_SPACE[protocol] != genotype["space"]:
        raise invalid(
            "protocol",
            f"the {protocol} protocol trains {PROTOCOL_SPACE[protocol]} genotypes; this genotype is "
            f"{genotype['space']} (use protocol {genotype['space']})",
        )
    reserved = sorted(set(body.overrides) & set(RESERVED))
    if reserved:
        raise invalid(f"overrides.{reserved[0]}", "set it as a top-level field of the request")
    data = {
        **body.overrides,
        "protocol": protocol,
        "dataset": body.dataset.model_dump(exclude_unset=True),
        "seed": body.seed,
        "name": body.name or f"{protocol} evaluation",
    }
    try:
        spec = EvalSpec.model_validate(data)
    except ValidationError as err:
        errors = field_errors(err.errors())
        for e in errors:
            if e.field.split(".")[0] not in RESERVED:
                e.field = f"overrides.{e.field}"
        raise ValidationProblem(
            "the evaluation settings are invalid: " + "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
        ) from None
    check_dataset(spec.dataset, settings)  # as a search's: refused now, not on the worker
    bounds = (
        ("epochs", spec.epochs, settings.EVAL_MAX_EPOCHS),
        ("batch_size", spec.batch_size, settings.EVAL_MAX_BATCH_SIZE),
        ("C", spec.C, settings.EVAL_MAX_C),
        ("layers", spec.layers, settings.EVAL_MAX_LAYERS),
    )
    over = [
        FieldError(field=f"overrides.{name}", message=f"{value} is above this service's limit {limit}")
        for name, value, limit in bounds
        if value > limit
    ]
    if over:
        raise ValidationProblem("; ".join(f"{e.field}: {e.message}" for e in over), errors=over)
    return spec
