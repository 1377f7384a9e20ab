"""What a search will cost, estimated from its spec without building anything: the supernet's
parameter count and the activation memory one training step keeps for its backward pass.

The service refuses specs over the operator's limits with these numbers (api/admission.py), so
they must be cheap (no torch: the API process never imports it) and close: the parameter counts
follow the supernet constructors in nas_core/spaces exactly; the activation counts are per-cell
constants measured on the real supernets (tests/unit/test_cost.py compares both with a built
network). Each space estimates its own supernet (`SpaceDefinition.supernet_cost`, next to its
definition), so a registered space is costed without an entry here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas_core.datasets import DATASETS, DEFAULT_IMAGE_SIDE, DEFAULT_NUM_CLASSES, SYNTHETIC_DEFAULT_SIZE
from nas_core.methods import method_params
from nas_core.spaces import space_definition
from nas_core.spaces.definition import FLOAT_BYTES
from nas_core.spaces.definition import SupernetShape as Shape
from nas_core.spec import SearchSpec

__all__ = ["FLOAT_BYTES", "CostEstimate", "Shape", "estimate_cost", "shape_of"]


@dataclass(frozen=True)
class CostEstimate:
    params: int  # supernet weights (α excluded)
    activation_bytes: int  # saved for the backward pass of one training step, fp32
    weight_bytes: int  # weights, their gradients and the optimizer's momentum, fp32
    data_bytes: int  # the training set, resident on the device as uint8

    @property
    def step_bytes(self) -> int:
        """Device memory a training step needs, roughly: what the three parts above add up to."""
        return self.activation_bytes + self.weight_bytes + self.data_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "step_bytes": self.step_bytes}


def shape_of(spec: SearchSpec) -> Shape:
    dataset, info = spec.dataset, DATASETS[spec.dataset.name]
    side = info.image_side or dataset.image_size or DEFAULT_IMAGE_SIDE
    classes = info.num_classes or dataset.num_classes or DEFAULT_NUM_CLASSES
    partial = method_params(spec).partial_channels()
    return Shape(spec.supernet.C, spec.depth, side, classes, spec.batch_size, partial)


def estimate_cost(spec: SearchSpec) -> CostEstimate:
    """Parameters and per-step memory of the supernet `spec` trains (see the module docstring)."""
    shape = shape_of(spec)
    params, activation_bytes = space_definition(spec.space).supernet_cost(shape)
    dataset = spec.dataset
    images = DATASETS[dataset.name].images or dataset.subset or SYNTHETIC_DEFAULT_SIZE
    if dataset.subset is not None:
        images = min(images, dataset.subset)
    return CostEstimate(
        params=params,
        activation_bytes=activation_bytes,
        weight_bytes=3 * FLOAT_BYTES * params,  # weights, their gradients and SGD's momentum buffer
        data_bytes=images * 3 * shape.side**2,
    )
