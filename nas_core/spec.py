"""The search specification: one pydantic model shared by the CLI, the API and the worker.

Every field carries the paper default (docs/algorithms.md) and a description; unknown fields are
rejected, so a typo never silently falls back to a default. The API renders validation errors
as problem details; the CLI prints them; `flatnas search --help` lists every field from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nas_core.methods import GRADIENT_METHODS, METHOD_NAMES, METHODS, SAMPLING_METHODS
from nas_core.methods.params import MethodParams
from nas_core.spaces import SPACE_NAMES, SPACES
from nas_core.strict import StrictModel

# Derived from the spaces registry (nas_core/spaces/__init__.py): adding a space there adds it here.
SpaceName = Literal[SPACE_NAMES]  # type: ignore[valid-type]
#: Every op-set name some space offers (supernet.ops); which apply to a space is checked per space.
_OPS_VARIANTS = tuple(dict.fromkeys(v for d in SPACES.values() for v in d.ops_variants))
OpsVariant = Literal[_OPS_VARIANTS]  # type: ignore[valid-type]
DatasetName = Literal["cifar10", "cifar100", "imagenet16-120", "synthetic", "digits"]

# Derived from the methods registry (nas_core/methods/__init__.py): adding a method there adds it here.
MethodName = Literal[METHOD_NAMES]  # type: ignore[valid-type]
GradientMethodName = Literal[GRADIENT_METHODS]  # type: ignore[valid-type]
SamplingMethodName = Literal[SAMPLING_METHODS]  # type: ignore[valid-type]
#: Each method's params model, by name (from the registry).
METHOD_PARAMS: dict[str, type[MethodParams]] = {name: info.params_model for name, info in METHODS.items()}

#: A2M's perturbation radius depends on the space (docs/algorithms.md §3).
A2M_DEFAULT_RHO = {name: d.a2m_default_rho for name, d in SPACES.items()}

# Static upper bounds of counts (operators may set lower limits for submitted searches).
MAX_EPOCHS = 1000
MAX_IMAGES = 10_000_000  # more than any supported data set holds


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
    root: str | None = Field(
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


class FlatnessConfig(StrictModel):
    interval: int = Field(
        5, ge=1, le=MAX_EPOCHS, description="compute per-epoch metrics every this many epochs and at the end"
    )
    hessian_eigenvalue: bool = Field(
        True, description="top eigenvalue of ∇²_α L_val (hessian_method), with its residual"
    )
    a2m_sharpness: bool = Field(True, description="L(α+ρ·g/‖g‖) − L(α)")
    skip_count: bool = Field(True, description="skip_connect count of the derived genotype")
    alpha_entropy: bool = Field(True, description="softmax entropy of α per edge")
    neighbourhood: bool = Field(True, description="end of search: profile at radius 1 and 2")
    cell_shape: bool = Field(True, description="end of search: cell width and depth")
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
    ranking_stability: bool = Field(
        True,
        description="Kendall τ between the supernet's rankings of a fixed architecture sample "
        "at consecutive metric epochs",
    )
    ranking_sample: int = Field(
        16, ge=2, le=1000, description="architectures in the ranking-stability sample (seeded)"
    )


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
    def _sampling_methods_default_to_no_a2m(cls, data: Any) -> Any:
        # A2M perturbs a continuous α; sampling methods have none, so its default is off there.
        # darts2's α gradient is the unrolled second-order one, which A2M's first-order correction
        # does not apply to: off by default there too (asking for both is still an error).
        without_a2m = (*SAMPLING_METHODS, "darts2")
        if isinstance(data, dict) and data.get("method") in without_a2m and "a2m" not in data:
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
        return METHOD_PARAMS[method].model_validate(value).model_dump()

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
        if self.a2m is not None and self.a2m.enabled and self.method in SAMPLING_METHODS:
            raise _field_error(
                ("a2m",), f"cannot be enabled with sampling method '{self.method}'; set a2m to null"
            )
        if self.a2m is not None and self.a2m.enabled and self.method == "darts2":
            raise _field_error(
                ("a2m",), "A2M is built on first-order gradients; use method 'darts' with a2m, or disable a2m"
            )
        if self.dataset.name not in ("synthetic", "digits") and self.dataset.image_size is not None:
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
        return A2M_DEFAULT_RHO[self.space]

    @property
    def depth(self) -> int:
        """The supernet's depth in its space's own unit (nb201: cells per stage, darts: layers)."""
        return SPACES[self.space].depth_of(self.supernet.model_dump())

    @property
    def cells_per_stage(self) -> int:
        return self.supernet.N if self.supernet.N is not None else 5

    @property
    def layers(self) -> int:
        return self.supernet.layers if self.supernet.layers is not None else 8

    @property
    def is_sampling(self) -> bool:
        return self.method in SAMPLING_METHODS


def _field_error(loc: tuple[str, ...], message: str) -> ValidationError:
    """A cross-field error located at the field it is about."""
    return ValidationError.from_exception_data(
        "SearchSpec", [{"type": "value_error", "loc": loc, "input": None, "ctx": {"error": message}}]
    )


def load_spec_file(path: str) -> SearchSpec:
    """Read a spec from JSON or YAML. A file problem raises nas_core.spec_files.SpecFileError (one
    line naming file, line and column); invalid fields raise pydantic.ValidationError."""
    from nas_core.spec_files import read_spec_document

    return SearchSpec.model_validate(read_spec_document(path))
