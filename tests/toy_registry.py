"""A toy third space, a toy method and a toy metric, registered only by tests through the
registries' public functions (nas_core.spaces.register_space, nas_core.methods.register_method,
nas_core.flatness.metrics.register_metric). tests/api/test_registries_extend.py runs a search, an
admission check and GET /catalog through them with no other change to the code base; the docs'
"how to add a space, a method, a metric" (docs/architecture.md) follow this file.

The toy space reuses NAS-Bench-201's cell code (writing a new supernet is not what is tested) but
is a separate space to the service: its own name, summary, depth default, A2M radius, no tabular
benchmark, and its own cost estimate, which admission must use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field

from nas_core.flatness.hooks import EpochInputs, FlatnessContext
from nas_core.flatness.metrics import Metric
from nas_core.methods import MethodInfo
from nas_core.methods.base import ArchMethod
from nas_core.methods.params import MethodParams
from nas_core.reporter import FlatnessRecord
from nas_core.spaces.definition import FLOAT_BYTES, SupernetShape
from nas_core.spaces.nb201 import NB201Space
from nas_core.spaces.nb201_definition import NB201Definition

TOY_SPACE = "toy-chain"
TOY_METHOD = "toy-tempered"
TOY_METRIC = "toy_alpha_norm"


class ToyDefinition(NB201Definition):
    name = TOY_SPACE
    summary = "toy: NAS-Bench-201's cell under another name, registered by a test"
    cell_kind = "edges"  # declared, not inherited by accident: the dashboard draws it from this
    default_depth = 1
    a2m_default_rho = 5e-2
    tabular_benchmark = None
    node_labels = ("in", "a", "b", "out")
    implementation = "tests.toy_registry:ToySpace"

    def supernet_cost(self, shape: SupernetShape) -> tuple[int, int]:
        # Deliberately simple and recognisable: the test checks that admission reports this.
        params = 1000 * shape.C * shape.depth
        return params, 7 * shape.C * shape.side**2 * shape.batch * FLOAT_BYTES


class ToySpace(ToyDefinition, NB201Space):
    pass


class ToyParams(MethodParams):
    temperature: float = Field(2.0, gt=0, le=100, description="softmax temperature of the mixing weights")


class ToyTempered(ArchMethod[ToyParams]):
    """First-order DARTS with the mixing weights softmax(α / T)."""

    name = TOY_METHOD
    params_model = ToyParams

    def mixing_weights(self, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.softmax(a / self.params.temperature, dim=-1) for a in alphas]


def toy_method() -> MethodInfo:
    return MethodInfo(
        TOY_METHOD,
        "toy: DARTS with tempered mixing weights, registered by a test",
        ToyParams,
        supports_a2m=True,
        implementation="tests.toy_registry:ToyTempered",
        family="toy",
    )


def toy_alpha_norm(ctx: FlatnessContext, epoch: int, inputs: EpochInputs) -> FlatnessRecord:
    norm = float(torch.sqrt(sum((a.detach() ** 2).sum() for a in ctx.alphas)))
    return FlatnessRecord(TOY_METRIC, epoch, {"groups": list(ctx.space.groups)}, norm, 0.0)


def toy_metric() -> Metric:
    return Metric(
        TOY_METRIC,
        "‖α‖",
        "toy: Euclidean norm of α, registered by a test",
        "",
        "lower",
        "shape",
        phase="epoch",
        # A plugin cannot add a field to the spec, so it shares a flag: α's norm, like its entropy,
        # reads α alone. The New-search form's α-entropy switch then says it turns this on too.
        switch="alpha_entropy",
        compute="tests.toy_registry:toy_alpha_norm",
    )
