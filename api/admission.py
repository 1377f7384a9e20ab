"""What a submitted search or job must satisfy beyond its schema before it is stored: its data set
lies under the operator's data roots (nas_core.dataroots; check_dataset, which evaluations share),
and its estimated size stays within the operator's limits (settings MAX_*; nas_core.cost estimates
a supernet without building it).

Each failure is a 422 problem naming the field. The schema's own bounds are the hard ceiling; the
settings are soft limits, which admin keys may exceed only when LIMITS_ADMIN_OVERRIDE is set. The
worker repeats the data-root check before it opens a file, so a spec stored by any other path is
held to the same rule.
"""

from __future__ import annotations

from typing import Any

from api.errors import FieldError, ValidationProblem
from nas_core.cost import estimate_cost
from nas_core.dataroots import DataRootError, DataRoots
from nas_core.datasets import DATASETS
from nas_core.evaluation.protocol import EvalDataset
from nas_core.methods import method_params
from nas_core.spec import DatasetConfig, SearchSpec
from store.settings import Settings

GIB = 1 << 30


def check_dataset(dataset: DatasetConfig | EvalDataset, settings: Settings) -> None:
    """422 naming `dataset.root` when it is absolute, climbs out with '..', or resolves (through a
    symbolic link) outside every data root; a file-backed data set also needs a configured root
    (422 naming `dataset.name`). Searches, study children and evaluations share this check."""
    if dataset.root is None and not DATASETS[dataset.name].file_backed:
        return
    try:
        DataRoots.parse(settings.FLATNAS_DATA_ROOT).candidates(dataset.name, dataset.root)
    except DataRootError as err:
        field = "dataset.root" if dataset.root is not None else "dataset.name"
        raise ValidationProblem(
            f"{field}: {err}", errors=[FieldError(field=field, message=str(err), location="body")]
        ) from None


def check_device(spec: SearchSpec, settings: Settings) -> None:
    """422 naming `runtime.cuda_graph` when this service's workers run on the CPU (DEVICE=cpu).

    With DEVICE=auto or cuda the API cannot see the worker's device; a worker without CUDA then
    fails the search with the same field named, and never runs it eagerly instead."""
    if spec.runtime.cuda_graph and settings.DEVICE == "cpu":
        message = "CUDA graphs need a CUDA device, and this service's workers run on the CPU (DEVICE=cpu)"
        raise ValidationProblem(
            f"runtime.cuda_graph: {message}",
            errors=[FieldError(field="runtime.cuda_graph", message=message, location="body")],
        )


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _over(field: str, what: str, value: float, limit: float, setting: str, unit: str = "") -> FieldError:
    return FieldError(
        field=field,
        message=f"{what} {_number(value)}{unit} exceeds this service's limit {_number(limit)}{unit} ({setting})",
        location="body",
    )


def search_limit_errors(spec: SearchSpec, settings: Settings) -> tuple[list[FieldError], dict[str, Any]]:
    """The limits `spec` exceeds, and the estimate they were judged on."""
    cost = estimate_cost(spec)
    errors = []
    if cost.params > settings.MAX_SUPERNET_PARAMS:
        errors.append(
            _over(
                "supernet",
                f"estimated supernet parameters (C={spec.supernet.C})",
                cost.params,
                settings.MAX_SUPERNET_PARAMS,
                "MAX_SUPERNET_PARAMS",
            )
        )
    step_gib = cost.step_bytes / GIB
    if step_gib > settings.MAX_STEP_MEMORY_GIB:
        errors.append(
            _over(
                "batch_size",
                f"estimated memory of one training step (batch_size={spec.batch_size}, C={spec.supernet.C})",
                step_gib,
                settings.MAX_STEP_MEMORY_GIB,
                "MAX_STEP_MEMORY_GIB",
                " GiB",
            )
        )
    if spec.batch_size > settings.MAX_BATCH_SIZE:
        errors.append(
            _over("batch_size", "batch_size", spec.batch_size, settings.MAX_BATCH_SIZE, "MAX_BATCH_SIZE")
        )
    if spec.epochs > settings.MAX_EPOCHS:
        errors.append(_over("epochs", "epochs", spec.epochs, settings.MAX_EPOCHS, "MAX_EPOCHS"))
    # What a sampling method costs is the method's to say (its params model), not this module's.
    params = method_params(spec)
    supernet_epochs = params.supernet_epochs_needed()
    if supernet_epochs > settings.MAX_EPOCHS:
        errors.append(
            _over(
                "method_params.supernet_epochs",
                "supernet_epochs",
                supernet_epochs,
                settings.MAX_EPOCHS,
                "MAX_EPOCHS",
            )
        )
    evaluations = params.architectures_scored()
    if evaluations > settings.MAX_ARCH_EVALUATIONS:
        errors.append(
            _over(
                "method_params.num_samples",
                f"architectures scored ({params.scored_formula})",
                evaluations,
                settings.MAX_ARCH_EVALUATIONS,
                "MAX_ARCH_EVALUATIONS",
            )
        )
    estimate = {**cost.as_dict(), "step_gib": round(step_gib, 3)}
    return errors, estimate


def may_exceed_limits(scope: str, settings: Settings) -> bool:
    return scope == "admin" and settings.LIMITS_ADMIN_OVERRIDE


def _refuse(errors: list[FieldError], extensions: dict[str, Any]) -> None:
    if errors:
        fields = ", ".join(e.field for e in errors)
        raise ValidationProblem(
            f"over this service's limits: {fields}; " + "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
            extensions=extensions,
        )


def admit(spec: SearchSpec, settings: Settings, scope: str) -> None:
    """Every admission check of a submitted search (422 on the first kind that fails)."""
    check_dataset(spec.dataset, settings)
    check_device(spec, settings)
    if may_exceed_limits(scope, settings):
        return
    errors, estimate = search_limit_errors(spec, settings)
    _refuse(errors, {"estimate": estimate})


def admit_landscape_job(field: str, evaluations: int, what: str, settings: Settings, scope: str) -> None:
    """422 naming `field` when a landscape job would evaluate more than MAX_LANDSCAPE_EVALUATIONS."""
    if may_exceed_limits(scope, settings) or evaluations <= settings.MAX_LANDSCAPE_EVALUATIONS:
        return
    limit = settings.MAX_LANDSCAPE_EVALUATIONS
    _refuse(
        [_over(field, what, evaluations, limit, "MAX_LANDSCAPE_EVALUATIONS")],
        {"estimate": {"evaluations": evaluations}},
    )
