"""The search specification: one pydantic model shared by the CLI, the API and the worker.

Every field carries the paper default (docs/algorithms.md) and a description; unknown fields are
rejected, so a typo never silently falls back to a default. The API renders validation errors
as problem details; the CLI prints them; `flatnas search --help` lists every field from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nas_core.dataroots import MAX_PATH_BYTES, check_path_length
from nas_core.datasets import DATASET_NAMES, DATASETS
from nas_core.flatness.metrics import METRICS, Metric
from nas_core.methods import METHODS
from nas_core.spaces import SPACES
from nas_core.strict import StrictModel


def _registered(registry: Mapping[str, Any]) -> Callable[[str], str]:
    """A check that `value` names an entry of `registry` *when the spec is validated*, so a space
    or method registered after this module was imported (a plugin, a test) is accepted. Its error
    reads, and is typed, like a Literal's, so problem details list the allowed values."""

    def check(value: str) -> str:
        if value not in registry:
            names = [repr(n) for n in registry]
            expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    return check


def _enum_of(registry: Mapping[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The JSON schema's enum, read from the registry when the schema is generated."""

    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = list(registry)

    return extra


# Read from the registries (nas_core/spaces, nas_core/methods) at validation time.
SpaceName = Annotated[str, AfterValidator(_registered(SPACES)), Field(json_schema_extra=_enum_of(SPACES))]
MethodName = Annotated[str, AfterValidator(_registered(METHODS)), Field(json_schema_extra=_enum_of(METHODS))]
#: Every op-set name some space offers (supernet.ops); which apply to a space is checked per space.
_OPS_VARIANTS = tuple(dict.fromkeys(v for d in SPACES.values() for v in d.ops_variants))
OpsVariant = Literal[_OPS_VARIANTS]  # type: ignore[valid-type]
DatasetName = Literal[DATASET_NAMES]  # type: ignore[valid-type]

# Static upper bounds of counts (operators may set lower limits for submitted searches).
MAX_EPOCHS = 1000
MAX_IMAGES = 10_000_000  # more than any supported data set holds


#: A directory a request names: at most MAX_PATH_BYTES in all and MAX_COMPONENT_BYTES a component
#: (UTF-8 bytes; the character bound is the schema's, the byte bounds are checked after it).
DataPath = Annotated[str, Field(max_length=MAX_PATH_BYTES), AfterValidator(check_path_length)]


# --- sections ---------------------------------------------------------------------------------


class A2MConfig(StrictModel):
    enabled: bool = Field(True, description="bias the architecture gradient towards flat minima")
    rho: float | None = Field(
        None, gt=0, le=10, description="ascent radius ρ; default 1e-2 on nb201, 1e-1 on darts"
    )
    eps: float = Field(1e-2, gt=0, le=1, description="central finite-difference radius for H·g")
    normalize: bool = Field(False, description="ours: α~ = α + ρ·g/‖g‖ (SAM-style) instead of α + ρ·g")
    freeze_bn_stats: bool = Field(False, description="ours: keep BN running stats fixed in the extra passes")


class DatasetConfig(StrictModel):
    name: DatasetName = Field("cifar10", description="data set")
    root: DataPath | None = Field(
        None,
        description="sub-directory of the data root (FLATNAS_DATA_ROOT) holding the files (cifar*, "
        "imagenet16-120); default: the data root itself. Services refuse absolute paths and '..'; "
        "the local CLI also accepts an absolute directory. Never downloaded",
    )
    subset: int | None = Field(None, ge=2, le=MAX_IMAGES, description="use only the first N training images")
    train_portion: float = Field(
        0.5, gt=0, lt=1, description="share of the training set for weights; rest for α"
    )
    augment: bool = Field(True, description="random crop (pad 4) and horizontal flip on both halves")
    image_size: int | None = Field(
        None, ge=4, le=64, description="synthetic/digits only: side of the generated images (default 16)"
    )
    num_classes: int | None = Field(None, ge=2, le=1000, description="synthetic only: classes (default 10)")
    eval_subset: int | None = Field(
        None,
        ge=1,
        le=MAX_IMAGES,
        description="images of the α half used for per-epoch validation (default: all)",
    )


class SupernetConfig(StrictModel):
    C: int = Field(16, ge=1, le=256, description="initial channels")
    N: int | None = Field(None, ge=1, le=20, description="nb201: cells per stage (default 5)")
    layers: int | None = Field(None, ge=3, le=30, description="darts: cells in the network (default 8)")
    ops: OpsVariant = Field(
        "default", description="darts: 'default' is the A2M paper's 7 ops, 'darts8' adds 'none' first"
    )


class OptimConfig(StrictModel):
    w_lr: float = Field(0.025, gt=0, le=10, description="SGD learning rate of the weights")
    w_lr_min: float = Field(0.001, ge=0, le=10, description="cosine schedule floor")
    w_momentum: float = Field(0.9, ge=0, lt=1)
    w_weight_decay: float = Field(3e-4, ge=0, le=1)
    grad_clip: float = Field(5.0, gt=0, le=1e4, description="gradient-norm clip on the weights only")
    arch_lr: float = Field(3e-4, gt=0, le=10, description="Adam learning rate of α")
    arch_beta1: float = Field(0.5, ge=0, lt=1)
    arch_beta2: float = Field(0.999, ge=0, lt=1)
    arch_weight_decay: float = Field(1e-3, ge=0, le=1)


def _switch(metric: str) -> Any:
    """A spec.flatness flag, described by its metric's registry entry (nas_core/flatness/metrics.py)."""
    return Field(True, description=METRICS[metric].description)


class FlatnessConfig(StrictModel):
    interval: int = Field(
        5, ge=1, le=MAX_EPOCHS, description="compute per-epoch metrics every this many epochs and at the end"
    )
    hessian_eigenvalue: bool = _switch("hessian_eigenvalue")
    a2m_sharpness: bool = _switch("a2m_sharpness")
    skip_count: bool = _switch("skip_count")
    alpha_entropy: bool = _switch("alpha_entropy")
    neighbourhood: bool = _switch("neighbourhood")
    cell_shape: bool = _switch("cell_shape")
    power_iterations: int = Field(
        20, ge=1, le=500, description="Hessian-vector products at most, for either hessian_method"
    )
    hessian_method: Literal["lanczos", "power"] = Field(
        "lanczos",
        description="lanczos: largest (algebraic) eigenvalue, as RobustDARTS and the A2M paper plot; "
        "power: largest-magnitude eigenvalue by power iteration",
    )
    hessian_tol: float | None = Field(
        1e-3,
        gt=0,
        lt=1,
        description="stop once the relative residual ‖Hv−λv‖/|λ| is at most this; null: always "
        "power_iterations products. A residual above 0.1 is reported as not converged",
    )
    val_batches: int = Field(2, ge=1, le=100, description="validation batches used by every metric")
    neighbour_samples: int = Field(
        32, ge=1, le=1000, description="neighbours evaluated per radius when sampling"
    )
    ranking_stability: bool = _switch("ranking_stability")
    ranking_sample: int = Field(
        16, ge=2, le=1000, description="architectures in the ranking-stability sample (seeded)"
    )


def describe_flatness_switches() -> list[dict[str, Any]]:
    """The spec.flatness flags that switch records, one per flag in registry order, as a form offers
    them: label, hint and description from the metric the flag is named after (else its first),
    the default from FlatnessConfig, and every metric it turns on (a plugin's may share a flag)."""
    by_flag: dict[str, list[Metric]] = {}
    for entry in METRICS.values():
        if entry.switch is not None:
            by_flag.setdefault(entry.switch, []).append(entry)
    return [_describe_switch(flag, metrics) for flag, metrics in by_flag.items()]


def _describe_switch(flag: str, metrics: list[Metric]) -> dict[str, Any]:
    owner = next((m for m in metrics if m.name == flag), metrics[0])
    needs = max(m.min_metric_epochs for m in metrics)
    others = [m.label for m in metrics if m is not owner]
    hint = [
        "once, at the end of the search" if owner.phase == "end" else "",
        owner.note,
        f"needs {needs} metric epochs" if needs > 1 else "",
        f"also turns on {', '.join(others)}" if others else "",
    ]
    return {
        "name": flag,
        "label": owner.short_label or owner.label,
        "hint": "; ".join(h for h in hint if h),
        "description": owner.description,
        "default": FlatnessConfig.model_fields[flag].default,
        "phase": owner.phase,
        "metrics": [m.name for m in metrics],
    }


class RuntimeConfig(StrictModel):
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16: autocast of weight steps and evaluation on CUDA (the α gradient stays fp32); fp32 is the reference",
    )
    channels_last: bool = Field(False, description="NHWC memory format on CUDA")
    fused_cells: bool = Field(False, description="one kernel per source node instead of one per edge and op")
    compile: Literal["none", "cells"] = Field(
        "none", description="cells: torch.compile (inductor) each search cell; none: eager"
    )
    cuda_graph: bool = Field(
        False,
        description="experimental, CUDA only: capture the whole search step (α step + weight step) and "
        "the evaluation pass as CUDA graphs and replay them; only methods that claim capture "
        "(`flatnas methods`)",
    )
    checkpoint_every: int = Field(1, ge=1, le=MAX_EPOCHS, description="epochs between checkpoints")
    keep_checkpoints: int | None = Field(
        None,
        ge=1,
        le=MAX_EPOCHS,
        description="keep only the newest N epoch checkpoints plus the best epoch's; null keeps every one",
    )


class SearchSpec(StrictModel):
    name: str = Field("search", min_length=1, max_length=200, description="a label for people")
    space: SpaceName = Field("nb201", description="search space")
    method: MethodName = Field("darts", description="base search method")
    method_params: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="the method's hyperparameters; see `flatnas methods`",
    )
    a2m: A2MConfig | None = Field(
        default_factory=A2MConfig,
        description="Architecture-Aware Minimization; null or enabled=false turns it off",
    )
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    epochs: int = Field(50, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=2, le=4096)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    supernet: SupernetConfig = Field(default_factory=SupernetConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    flatness: FlatnessConfig = Field(default_factory=FlatnessConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    priority: int = Field(5, ge=0, le=9, description="queue priority, 9 first")

    @model_validator(mode="before")
    @classmethod
    def _a2m_defaults_off_where_unsupported(cls, data: Any) -> Any:
        # The registry says which methods A2M can wrap (sampling methods have no continuous α;
        # darts2's unrolled gradient is second-order): the default is off for the others, and
        # asking for both is still an error (below).
        if isinstance(data, dict) and "a2m" not in data:
            info = METHODS.get(data.get("method", "darts"))
            if info is not None and not info.supports_a2m:
                data = {**data, "a2m": None}
        return data

    @field_validator("method_params")
    @classmethod
    def _validate_method_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A field validator (not an after-model check) so these errors come with every other field's;
        # pydantic nests them under method_params. Stored in full so a stored spec shows the defaults.
        method = info.data.get("method")
        if method is None:  # the method itself is invalid and reported; nothing to check against
            return value
        return METHODS[method].params_model.model_validate(value).model_dump()

    @model_validator(mode="after")
    def _check_consistency(self) -> SearchSpec:
        space = SPACES[self.space]
        params = METHODS[self.method].params_model.model_validate(self.method_params)
        for loc, message in params.space_errors(space.edge_count, space.name):
            raise _field_error(("method_params", *loc), message)
        supernet = self.supernet.model_dump()
        for other in SPACES.values():
            # Another space's depth field (N for nb201, layers for darts) is a mistake here.
            if other.depth_field != space.depth_field and supernet.get(other.depth_field) is not None:
                raise _field_error(
                    ("supernet", other.depth_field),
                    f"applies to space '{other.name}'; {space.name} uses supernet.{space.depth_field}",
                )
        if self.supernet.ops not in space.ops_variants:
            owners = [d.name for d in SPACES.values() if self.supernet.ops in d.ops_variants]
            raise _field_error(
                ("supernet", "ops"), f"applies to space {' and '.join(map(repr, owners))} only"
            )
        method = METHODS[self.method]
        if self.a2m is not None and self.a2m.enabled and not method.supports_a2m:
            raise _field_error(("a2m",), method.a2m_refusal)
        if self.runtime.cuda_graph:
            _check_capturable(self)
        if DATASETS[self.dataset.name].file_backed and self.dataset.image_size is not None:
            raise _field_error(("dataset", "image_size"), "applies to 'synthetic' and 'digits' only")
        if self.dataset.name != "synthetic" and self.dataset.num_classes is not None:
            raise _field_error(("dataset", "num_classes"), "applies to 'synthetic' only")
        return self

    # --- derived values the engine uses --------------------------------------------------

    @property
    def a2m_enabled(self) -> bool:
        return self.a2m is not None and self.a2m.enabled

    @property
    def a2m_rho(self) -> float:
        if self.a2m is not None and self.a2m.rho is not None:
            return self.a2m.rho
        return SPACES[self.space].a2m_default_rho  # depends on the space (docs/algorithms.md §3)

    @property
    def depth(self) -> int:
        """The supernet's depth in its space's own unit (nb201: cells per stage, darts: layers)."""
        return SPACES[self.space].depth_of(self.supernet.model_dump())

    @property
    def layers(self) -> int:
        return self.supernet.layers if self.supernet.layers is not None else 8

    @property
    def is_sampling(self) -> bool:
        return METHODS[self.method].kind == "sampling"


def _check_capturable(spec: SearchSpec) -> None:
    """runtime.cuda_graph is refused, with the reason, for a step that cannot be captured: never run
    eager in its place. (The device is checked where it is known: the API's admission, the engine.)"""
    info = METHODS[spec.method]
    if not info.capturable:
        raise _field_error(
            ("runtime", "cuda_graph"), f"method '{spec.method}' cannot be captured: {info.capture_note}"
        )
    if spec.runtime.compile != "none":
        raise _field_error(
            ("runtime", "cuda_graph"),
            "cannot be combined with compile: cells; the captured step replays the eager or fused cells",
        )


def _field_error(loc: tuple[str, ...], message: str) -> ValidationError:
    """A cross-field error located at the field it is about."""
    return ValidationError.from_exception_data(
        "SearchSpec", [{"type": "value_error", "loc": loc, "input": None, "ctx": {"error": message}}]
    )


def load_spec_file(path: str) -> SearchSpec:
    """Read a spec from JSON or YAML. A file problem raises flatnas.documents.SpecFileError (one
    line naming file, line and column); invalid fields raise pydantic.ValidationError."""
    from flatnas.documents import read_spec_document

    return SearchSpec.model_validate(read_spec_document(path))
