"""Evaluation protocols: how a found architecture is trained from scratch and tested.

Two protocols carry the published settings as defaults: `darts` (the DARTS paper's CIFAR-10
training of a 20-cell network with an auxiliary head, drop-path and cutout) and `nb201` (the
NAS-Bench-201 training setup of its fixed macro skeleton). Every field can be overridden; a field
left out takes the chosen protocol's value, so `{"protocol": "nb201", "epochs": 2}` is the
NAS-Bench-201 setup cut to two epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from nas_core.spec import DataPath, DatasetConfig, DatasetName, StrictModel

ProtocolName = Literal["darts", "nb201"]


@dataclass(frozen=True)
class ProtocolInfo:
    """One evaluation protocol: what GET /catalog lists and the dashboard's form offers."""

    name: str
    summary: str
    #: The search space it trains (its genotype must come from that space).
    space: str
    #: The published settings: the fields this protocol changes; the rest share EvalSpec's defaults.
    defaults: Mapping[str, Any]


#: The evaluation protocols, by name. `ProtocolName` lists the same names for the spec's validation.
PROTOCOLS: dict[str, ProtocolInfo] = {
    p.name: p
    for p in (
        ProtocolInfo(
            "nb201",
            "NAS-Bench-201 training: its fixed 3-stage skeleton, SGD with Nesterov, cosine, 200 epochs",
            "nb201",
            {
                "epochs": 200,
                "batch_size": 256,
                "C": 16,
                "layers": 5,
                "lr": 0.1,
                "lr_min": 0.0,
                "momentum": 0.9,
                "nesterov": True,
                "weight_decay": 5e-4,
                "grad_clip": None,
                "auxiliary_weight": 0.0,
                "drop_path": 0.0,
                "cutout": 0,
            },
        ),
        ProtocolInfo(
            "darts",
            "DARTS CIFAR-10 training: 20 cells, auxiliary head, drop-path and cutout, 600 epochs",
            "darts",
            {
                "epochs": 600,
                "batch_size": 96,
                "C": 36,
                "layers": 20,
                "lr": 0.025,
                "lr_min": 0.0,
                "momentum": 0.9,
                "nesterov": False,
                "weight_decay": 3e-4,
                "grad_clip": 5.0,
                "auxiliary_weight": 0.4,
                "drop_path": 0.2,
                "cutout": 16,
            },
        ),
    )
}
#: Which search space each protocol trains.
PROTOCOL_SPACE: dict[str, str] = {name: p.space for name, p in PROTOCOLS.items()}
#: The published settings per protocol.
PROTOCOL_DEFAULTS: dict[str, dict[str, Any]] = {name: dict(p.defaults) for name, p in PROTOCOLS.items()}

#: The fields a form (the dashboard's Evaluate form) offers, with labels for people; every other
#: field keeps the protocol's published value.
FORM_FIELDS: tuple[tuple[str, str], ...] = (
    ("epochs", "Epochs"),
    ("batch_size", "Batch"),
    ("C", "C"),
    ("layers", "Layers / N"),
    ("seed", "Seed"),
)


class EvalDataset(StrictModel):
    name: DatasetName = Field("cifar10", description="data set")
    root: DataPath | None = Field(
        None,
        description="directory holding the files (cifar*, imagenet16-120) on the machine that trains; "
        "default: $FLATNAS_DATA_ROOT there. Never downloaded",
    )
    subset: int | None = Field(
        None, ge=2, le=10_000_000, description="train on only the first N training images"
    )
    test_subset: int | None = Field(
        None, ge=1, le=10_000_000, description="test on only the first N test images"
    )
    test_portion: float = Field(
        0.2, gt=0, lt=1, description="digits/synthetic: the share held out (fixed) as the test set"
    )
    augment: bool = Field(True, description="random crop (pad 4) and horizontal flip")
    image_size: int | None = Field(
        None, ge=4, le=64, description="synthetic/digits only: side of the generated images (default 16)"
    )
    num_classes: int | None = Field(None, ge=2, le=1000, description="synthetic only: classes (default 10)")

    def loader_config(self) -> DatasetConfig:
        """The search loader's view of this data set (the whole training split, no α half)."""
        return DatasetConfig(
            name=self.name, root=self.root, image_size=self.image_size, num_classes=self.num_classes
        )


class EvalRuntime(StrictModel):
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast on CUDA and fp32 elsewhere; bf16: autocast on any device; "
        "fp32 is the reference and stays selectable. Results record what ran",
    )
    channels_last: bool | None = Field(
        None, description="NHWC memory format; null: on whenever the run is bf16"
    )
    compile: bool = Field(
        False,
        description="torch.compile (inductor) the fixed network: one compile per input shape, in "
        "seconds to minutes; meant for CUDA",
    )
    keep_checkpoints: int | None = Field(
        None, ge=1, le=10_000, description="keep only the newest N epoch checkpoints; null keeps every one"
    )


class EvalSpec(StrictModel):
    """One from-scratch training of a genotype. Defaults: the protocol's published settings."""

    name: str = Field("evaluation", min_length=1, max_length=200, description="a label for people")
    protocol: ProtocolName = Field("darts", description="darts (DARTS CIFAR protocol) | nb201")
    dataset: EvalDataset = Field(default_factory=EvalDataset)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    epochs: int = Field(600, ge=1, le=2000)
    batch_size: int = Field(96, ge=2, le=4096)
    C: int = Field(36, ge=2, le=512, description="initial channels")
    layers: int = Field(
        20, ge=1, le=100, description="darts: cells in the network; nb201: cells per stage (N)"
    )
    lr: float = Field(0.025, gt=0, le=10, description="SGD learning rate, cosine-annealed per epoch")
    lr_min: float = Field(0.0, ge=0, le=10, description="cosine schedule floor")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = Field(False, description="Nesterov momentum")
    weight_decay: float = Field(3e-4, ge=0, le=1)
    grad_clip: float | None = Field(5.0, gt=0, le=1e4, description="gradient-norm clip; null: none")
    auxiliary_weight: float = Field(
        0.4, ge=0, le=10, description="darts: loss weight of the auxiliary head (0: no head)"
    )
    drop_path: float = Field(
        0.2, ge=0, lt=1, description="darts: final drop-path probability (scaled linearly by epoch)"
    )
    cutout: int = Field(16, ge=0, le=64, description="side of the cutout square (0: off)")
    runtime: EvalRuntime = Field(default_factory=EvalRuntime)

    @model_validator(mode="before")
    @classmethod
    def _protocol_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        protocol = data.get("protocol", "darts")
        defaults = PROTOCOL_DEFAULTS.get(protocol) if isinstance(protocol, str) else None
        return {**defaults, **data} if defaults else data

    @model_validator(mode="after")
    def _fits_protocol(self) -> EvalSpec:
        if self.protocol == "nb201" and (self.auxiliary_weight or self.drop_path):
            raise ValueError("auxiliary_weight and drop_path apply to the darts protocol only; set them to 0")
        if self.protocol == "darts" and self.layers < 3:
            raise ValueError("layers: the darts network needs at least 3 cells (two reduction cells)")
        return self

    @property
    def space(self) -> str:
        return PROTOCOL_SPACE[self.protocol]


def describe_protocols() -> list[dict[str, Any]]:
    """One entry per protocol for GET /catalog: its space, defaults and the form's fields, each with
    this protocol's default, the lowest allowed value and the spec's description of it."""
    out = []
    for p in PROTOCOLS.values():
        fields = []
        for name, label in FORM_FIELDS:
            info = EvalSpec.model_fields[name]
            minimum = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
            fields.append(
                {
                    "name": name,
                    "label": label,
                    "default": p.defaults.get(name, info.default),
                    "minimum": minimum,
                    "description": info.description or "",
                }
            )
        out.append(
            {
                "name": p.name,
                "summary": p.summary,
                "space": p.space,
                "defaults": dict(p.defaults),
                "fields": fields,
            }
        )
    return out


def set_field(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`data[a][b] = value` for "a.b" (the CLI's --set FIELD=VALUE), creating sections as needed."""
    *sections, last = dotted.split(".")
    node = data
    for part in sections:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"{dotted}: {part} is not a section")
        node = child
    node[last] = value
