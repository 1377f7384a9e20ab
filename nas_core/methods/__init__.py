"""The methods registry: every search method by name, with what the CLI and the API show about it.

Gradient methods are ArchMethod subclasses driven by the loop; sampling methods have no class
here (the engine dispatches them to nas_core.sampling.run_sampling). To add a method: write its
module and add one `MethodInfo` to `METHODS` below; the registry-parametrised tests pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from nas_core.methods.a2m import A2M
from nas_core.methods.base import ArchMethod
from nas_core.methods.beta_darts import BetaDarts
from nas_core.methods.darts import Darts
from nas_core.methods.darts2 import Darts2
from nas_core.methods.darts_minus import DartsMinus
from nas_core.methods.gaea import Gaea
from nas_core.methods.milenas import Milenas
from nas_core.methods.na_darts import NaDarts
from nas_core.methods.pc_darts import PcDarts
from nas_core.methods.sdarts_rs import SdartsRs
from nas_core.spaces.base import SearchSpace
from nas_core.spec import METHOD_PARAMS, SearchSpec


@dataclass(frozen=True)
class MethodInfo:
    name: str
    cls: type[ArchMethod] | None  # None for sampling methods
    summary: str
    params_model: type[BaseModel]
    supports_a2m: bool
    kind: Literal["gradient", "sampling"] = "gradient"


def _info(
    name: str, cls: type[ArchMethod] | None, summary: str, *, supports_a2m: bool, kind: str = "gradient"
) -> MethodInfo:
    return MethodInfo(name, cls, summary, METHOD_PARAMS[name], supports_a2m, kind)  # type: ignore[arg-type]


METHODS: dict[str, MethodInfo] = {
    "darts": _info("darts", Darts, "first-order DARTS: α by Adam on ∇_α L_val at fixed w", supports_a2m=True),
    "darts2": _info(
        "darts2",
        Darts2,
        "second-order DARTS: α gradient through one unrolled SGD step of w (finite-difference Hessian term)",
        supports_a2m=False,
    ),
    "beta-darts": _info(
        "beta-darts",
        BetaDarts,
        "β-DARTS: L_val + λ_t·mean_edges logsumexp(α), λ_t = τ·epoch (keeps α's softmax from saturating)",
        supports_a2m=True,
    ),
    "sdarts-rs": _info(
        "sdarts-rs",
        SdartsRs,
        "SDARTS-RS: weights trained under softmax(α) + U(−ε_t, ε_t), ε_t linear 0.03 → 0.3",
        supports_a2m=True,
    ),
    "darts-minus": _info(
        "darts-minus",
        DartsMinus,
        "DARTS−: an auxiliary skip from each edge's source node, scaled by β_t decaying linearly 1 → 0",
        supports_a2m=True,
    ),
    "pc-darts": _info(
        "pc-darts",
        PcDarts,
        "PC-DARTS: ops see C/K channels (K=4) and edges are normalised per node by softmax(β)",
        supports_a2m=True,
    ),
    "gaea": _info(
        "gaea",
        Gaea,
        "GAEA: exponentiated gradient θ ← θ·exp(−η·g) on the simplex, single-level or bilevel "
        "(A2M perturbs log θ; nb201 drops 'none')",
        supports_a2m=True,
    ),
    "milenas": _info(
        "milenas",
        Milenas,
        "MiLeNAS: mixed-level gradient ∇_α L_val + λ·∇_α L_train",
        supports_a2m=True,
    ),
    "na-darts": _info(
        "na-darts",
        NaDarts,
        "NA-DARTS (our reconstruction): mean L_val over K sampled neighbours of α (top-op swaps on r edges) "
        "and α itself",
        supports_a2m=True,
    ),
    "random": _info(
        "random",
        None,
        "random search with weight sharing: N uniform architectures ranked by accuracy with weights "
        "inherited from a single-path supernet",
        supports_a2m=False,
        kind="sampling",
    ),
    "naswot": _info(
        "naswot",
        None,
        "training-free: N uniform architectures ranked by the NASWOT score log|det K| of their ReLU codes",
        supports_a2m=False,
        kind="sampling",
    ),
    "na-rs": _info(
        "na-rs",
        None,
        "neighbourhood-aware random search: rank by the mean of f (NASWOT or supernet accuracy) over "
        "the radius-d neighbourhood",
        supports_a2m=False,
        kind="sampling",
    ),
}


class MethodUnavailable(ValueError):
    """The spec names a method this build has not registered."""


def build_method(spec: SearchSpec, space: SearchSpace) -> ArchMethod:
    """The spec's gradient method for `space`, wrapped in A2M when spec.a2m is enabled."""
    info = METHODS.get(spec.method)
    if info is None:
        raise MethodUnavailable(
            f"method '{spec.method}' is not registered here; available: {', '.join(METHODS)}"
        )
    if info.cls is None:
        raise MethodUnavailable(f"method '{spec.method}' is a {info.kind} method; run it through run_search")
    method = info.cls(space, dict(spec.method_params))
    if not spec.a2m_enabled:
        return method
    if not info.supports_a2m:
        raise MethodUnavailable(f"a2m: method '{spec.method}' does not support A2M; set a2m to null")
    assert spec.a2m is not None
    return A2M(
        method,
        rho=spec.a2m_rho,
        eps=spec.a2m.eps,
        normalize=spec.a2m.normalize,
        freeze_bn_stats=spec.a2m.freeze_bn_stats,
    )


def describe_methods() -> list[dict[str, Any]]:
    """One entry per registered method: name, kind, summary, supports_a2m, params JSON schema."""
    return [
        {
            "name": info.name,
            "kind": info.kind,
            "summary": info.summary,
            "supports_a2m": info.supports_a2m,
            "params": info.params_model.model_json_schema(),
        }
        for info in METHODS.values()
    ]


__all__ = [
    "A2M",
    "METHODS",
    "ArchMethod",
    "MethodInfo",
    "MethodUnavailable",
    "build_method",
    "describe_methods",
]
