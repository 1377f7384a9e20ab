"""What a search will cost, estimated from its spec without building anything: the supernet's
parameter count and the activation memory one training step keeps for its backward pass.

The service refuses specs over the operator's limits with these numbers (api/admission.py), so
they must be cheap (no torch: the API process never imports it) and close: the parameter counts
follow the supernet constructors in nas_core/spaces exactly; the activation counts are per-cell
constants measured on the real supernets (tests/unit/test_cost.py compares both with a built
network). One estimator per space, registered in ESTIMATORS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from nas_core.methods import method_params
from nas_core.spec import SearchSpec

FLOAT_BYTES = 4
#: Side of the images each data set yields (synthetic and digits: spec.dataset.image_size).
IMAGE_SIDE = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}
DEFAULT_IMAGE_SIDE = 16
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "digits": 10}
DEFAULT_NUM_CLASSES = 10
#: Training images each data set holds (the whole set lives on the search device as uint8).
IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "imagenet16-120": 151_700, "digits": 1_797}
SYNTHETIC_DEFAULT_SIZE = 4096


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


@dataclass(frozen=True)
class Shape:
    """What every estimator needs from a spec."""

    C: int
    depth: int  # nb201: cells per stage; darts: layers
    side: int
    num_classes: int
    batch: int
    partial: int  # PC-DARTS: ops see C/K channels


# --- NAS-Bench-201 (nas_core/spaces/nb201.py) ------------------------------------------------------

NB201_EDGES = 6
#: Saved activations per search cell, in units of (cell channels × pixels) per image: per edge
#: ReLU, conv and BN outputs of both convs plus the pool's output, and the three node sums.
NB201_CELL_ACTIVATIONS = 45
NB201_BLOCK_ACTIVATIONS = 8  # a ResNet stage transition, in units of its input (channels × pixels)


def _nb201(shape: Shape) -> tuple[int, int]:
    C, N, k = shape.C, shape.depth, shape.num_classes
    params = 27 * C + 2 * C  # stem conv 3x3 + affine BN
    activations = 3 * C * shape.side**2  # stem conv, BN and the image
    c, side = C, shape.side
    for stage in range(3):
        if stage:
            # ResNet block c -> 2c: two 3x3 convs, two affine BNs, a 1x1 shortcut.
            params += 9 * c * 2 * c + 4 * c + 9 * (2 * c) ** 2 + 4 * c + c * 2 * c
            activations += NB201_BLOCK_ACTIVATIONS * c * side**2
            c, side = 2 * c, side // 2 if side > 1 else 1
        c_op = c // shape.partial
        params += N * NB201_EDGES * 10 * c_op**2  # per edge: conv 1x1 and conv 3x3 (BN not affine)
        activations += N * NB201_CELL_ACTIVATIONS * c * side**2 // shape.partial
    params += 2 * c + c * k + k  # last BN (affine) and the classifier
    return params, activations * shape.batch * FLOAT_BYTES


# --- DARTS (nas_core/spaces/darts.py) --------------------------------------------------------------

DARTS_STEPS = 4
DARTS_EDGES = 14
DARTS_INPUT_EDGES = 8  # edges from the two cell inputs: strided in a reduction cell
#: Saved activations per cell, in units of (cell channels × output pixels) per image.
DARTS_CELL_ACTIVATIONS = 420
DARTS_REDUCTION_ACTIVATIONS = 620


def _darts_edge_params(c_op: int, c: int, stride: int) -> int:
    # sep 3x3 and 5x5 (two depthwise + pointwise blocks each), dil 3x3 and 5x5; pools have no
    # weights (their BN is not affine); skip is a FactorizedReduce on strided edges, as is the
    # DARTS− auxiliary skip (full channels) every MixedOp carries.
    params = 2 * (9 * c_op + c_op**2) + 2 * (25 * c_op + c_op**2) + 9 * c_op + c_op**2 + 25 * c_op + c_op**2
    if stride == 2:
        params += c_op**2 + c**2
    return params


def _darts(shape: Shape) -> tuple[int, int]:
    C, layers, k = shape.C, shape.depth, shape.num_classes
    params = 27 * 3 * C + 2 * 3 * C  # stem conv 3x3 to 3C + affine BN
    activations = 3 * 3 * C * shape.side**2
    c_pp, c_p, c, side = 3 * C, 3 * C, C, shape.side
    reductions = (layers // 3, 2 * layers // 3)
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            c, side = 2 * c, max(1, side // 2)
        params += c_pp * c + c_p * c  # the two 1x1 preprocessing convs (or FactorizedReduce)
        c_op = c // shape.partial
        strided = DARTS_INPUT_EDGES if reduction else 0
        params += strided * _darts_edge_params(c_op, c, 2)
        params += (DARTS_EDGES - strided) * _darts_edge_params(c_op, c, 1)
        per_cell = DARTS_REDUCTION_ACTIVATIONS if reduction else DARTS_CELL_ACTIVATIONS
        activations += per_cell * c * side**2 // shape.partial
        c_pp, c_p = c_p, DARTS_STEPS * c
    params += c_p * k + k
    return params, activations * shape.batch * FLOAT_BYTES


#: (parameters, activation bytes) of a space's supernet; a new space adds one line here.
ESTIMATORS: dict[str, Callable[[Shape], tuple[int, int]]] = {"nb201": _nb201, "darts": _darts}


def shape_of(spec: SearchSpec) -> Shape:
    dataset = spec.dataset
    side = IMAGE_SIDE.get(dataset.name) or dataset.image_size or DEFAULT_IMAGE_SIDE
    classes = NUM_CLASSES.get(dataset.name) or dataset.num_classes or DEFAULT_NUM_CLASSES
    partial = method_params(spec).partial_channels()
    depth = spec.depth
    return Shape(spec.supernet.C, depth, side, classes, spec.batch_size, partial)


def estimate_cost(spec: SearchSpec) -> CostEstimate:
    """Parameters and per-step memory of the supernet `spec` trains (see the module docstring)."""
    shape = shape_of(spec)
    params, activation_bytes = ESTIMATORS[spec.space](shape)
    dataset = spec.dataset
    images = IMAGES.get(dataset.name, dataset.subset or SYNTHETIC_DEFAULT_SIZE)
    if dataset.subset is not None:
        images = min(images, dataset.subset)
    return CostEstimate(
        params=params,
        activation_bytes=activation_bytes,
        weight_bytes=3 * FLOAT_BYTES * params,  # weights, their gradients and SGD's momentum buffer
        data_bytes=images * 3 * shape.side**2,
    )
