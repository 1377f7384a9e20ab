"""The methods registry: every search method by name, with its params model and what the CLI and
the API show about it. This module imports no torch, so the spec (and the API) derive their method
lists from it; a gradient method's class is imported only when a search builds it.

Gradient methods are ArchMethod subclasses driven by the loop; sampling methods have no class (the
engine hands them to nas_core.sampling.run_sampling). To add a method: write its module (the
ArchMethod subclass), its params model in nas_core/methods/params.py, and one `MethodInfo` in
`METHODS` below (or `register_method` from a plugin); the spec's `method` values and A2M rule,
admission's cost, `GET /methods`, `GET /catalog`, the dashboard and the registry-parametrised
tests pick it up (docs/architecture.md has the steps; tests/unit/test_registries_extend.py
registers a toy method).
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nas_core.methods import params as p
from nas_core.registry import add_entry, registered_while

if TYPE_CHECKING:
    from nas_core.methods.base import ArchMethod
    from nas_core.spaces.base import SearchSpace
    from nas_core.spec import SearchSpec


@dataclass(frozen=True)
class MethodInfo:
    name: str
    summary: str
    params_model: type[p.MethodParams]
    supports_a2m: bool
    kind: Literal["gradient", "sampling"] = "gradient"
    #: "module:Class" of the ArchMethod subclass; None for sampling methods.
    implementation: str | None = None
    #: The family the dashboard groups methods by ("DARTS", "sampling", ...).
    family: str = "DARTS"
    #: Why A2M cannot wrap this method, said to a user who asks for both (supports_a2m False).
    a2m_refusal: str = "A2M cannot wrap this method; set a2m to null"
    #: Whether its step can run as one captured CUDA graph (runtime.cuda_graph): no host read,
    #: static shapes, schedules in device tensors. When False, `capture_note` says why.
    capturable: bool = True
    capture_note: str = ""

    @property
    def cls(self) -> type[ArchMethod] | None:
        """The method's class (imported on first use: it needs torch)."""
        if self.implementation is None:
            return None
        module, name = self.implementation.split(":")
        cls: type[ArchMethod] = getattr(importlib.import_module(module), name)
        return cls


def _gradient(
    name: str,
    module_class: str,
    params: type[p.MethodParams],
    summary: str,
    *,
    a2m: bool,
    family: str = "DARTS",
    a2m_refusal: str = "",
    not_capturable: str = "",
) -> MethodInfo:
    return MethodInfo(
        name,
        summary,
        params,
        a2m,
        "gradient",
        f"nas_core.methods.{module_class}",
        family,
        a2m_refusal or "A2M cannot wrap this method; set a2m to null",
        capturable=not not_capturable,
        capture_note=not_capturable,
    )


_SAMPLING_NOT_CAPTURABLE = (
    "a sampling method trains and scores single paths under op masks (skip_zero_ops): the kernels "
    "change with every sampled path, so there is no one step to capture"
)


def _sampling(name: str, params: type[p.MethodParams], summary: str) -> MethodInfo:
    # A2M perturbs a continuous α; sampling methods have none.
    refusal = f"cannot be enabled with sampling method '{name}'; set a2m to null"
    return MethodInfo(
        name,
        summary,
        params,
        False,
        "sampling",
        None,
        "sampling",
        refusal,
        capturable=False,
        capture_note=_SAMPLING_NOT_CAPTURABLE,
    )


METHODS: dict[str, MethodInfo] = {
    info.name: info
    for info in (
        _gradient(
            "darts",
            "darts:Darts",
            p.NoParams,
            "first-order DARTS: α by Adam on ∇_α L_val at fixed w",
            a2m=True,
        ),
        _gradient(
            "darts2",
            "darts2:Darts2",
            p.Darts2Params,
            "second-order DARTS: α gradient through one unrolled SGD step of w (finite-difference Hessian term)",
            # Its α gradient is the unrolled second-order one, which A2M's first-order correction
            # does not apply to.
            a2m=False,
            a2m_refusal="A2M is built on first-order gradients; use method 'darts' with a2m, or disable a2m",
        ),
        _gradient(
            "beta-darts",
            "beta_darts:BetaDarts",
            p.BetaDartsParams,
            "β-DARTS: L_val + λ_t·mean_edges logsumexp(α), λ_t = τ·epoch (keeps α's softmax from saturating)",
            a2m=True,
        ),
        _gradient(
            "sdarts-rs",
            "sdarts_rs:SdartsRs",
            p.SdartsRsParams,
            "SDARTS-RS: weights trained under softmax(α) + U(−ε_t, ε_t), ε_t linear 0.03 → 0.3",
            a2m=True,
        ),
        _gradient(
            "darts-minus",
            "darts_minus:DartsMinus",
            p.DartsMinusParams,
            "DARTS−: an auxiliary skip from each edge's source node, scaled by β_t decaying linearly 1 → 0",
            a2m=True,
            not_capturable="β_t reaches the supernet's forward as a host number that changes every epoch "
            "(and gates the skip with a host branch), so a captured step would keep the capture epoch's β_t",
        ),
        _gradient(
            "pc-darts",
            "pc_darts:PcDarts",
            p.PcDartsParams,
            "PC-DARTS: ops see C/K channels (K=4) and edges are normalised per node by softmax(β)",
            a2m=True,
        ),
        _gradient(
            "gaea",
            "gaea:Gaea",
            p.GaeaParams,
            "GAEA: exponentiated gradient θ ← θ·exp(−η·g) on the simplex, single-level or bilevel "
            "(A2M perturbs log θ; nb201 drops 'none')",
            a2m=True,
            family="GAEA",
        ),
        _gradient(
            "milenas",
            "milenas:Milenas",
            p.MilenasParams,
            "MiLeNAS: mixed-level gradient ∇_α L_val + λ·∇_α L_train",
            a2m=True,
            family="MiLeNAS",
        ),
        _gradient(
            "na-darts",
            "na_darts:NaDarts",
            p.NaDartsParams,
            "NA-DARTS (our reconstruction): mean L_val over K sampled neighbours of α (top-op swaps on r "
            "edges) and α itself",
            a2m=True,
        ),
        _sampling(
            "random",
            p.RandomParams,
            "random search with weight sharing: N uniform architectures ranked by accuracy with weights "
            "inherited from a single-path supernet",
        ),
        _sampling(
            "naswot",
            p.SamplingParams,
            "training-free: N uniform architectures ranked by the NASWOT score log|det K| of their ReLU codes",
        ),
        _sampling(
            "na-rs",
            p.NaRsParams,
            "neighbourhood-aware random search: rank by the mean of f (NASWOT or supernet accuracy) over "
            "the radius-d neighbourhood",
        ),
    )
}


def register_method(info: MethodInfo) -> None:
    """Add a method (a plugin's, a test's); its name must be new."""
    add_entry(METHODS, "method", info.name, info)


def unregister_method(name: str) -> None:
    METHODS.pop(name, None)


def registered_method(info: MethodInfo) -> AbstractContextManager[MethodInfo]:
    """The method registered for the duration of a `with` block (tests)."""
    return registered_while(register_method, unregister_method, info, info.name)


def method_info(name: str) -> MethodInfo | None:
    return METHODS.get(name)


def sampling_methods() -> tuple[str, ...]:
    return tuple(n for n, i in METHODS.items() if i.kind == "sampling")


class MethodUnavailable(ValueError):
    """The spec names a method this build has not registered."""


def method_params(spec: SearchSpec) -> p.MethodParams:
    """The spec's method_params as the method's validated params model."""
    return METHODS[spec.method].params_model.model_validate(spec.method_params)


def build_method(spec: SearchSpec, space: SearchSpace) -> ArchMethod:
    """The spec's gradient method for `space`, wrapped in A2M when spec.a2m is enabled."""
    info = METHODS.get(spec.method)
    if info is None:
        raise MethodUnavailable(
            f"method '{spec.method}' is not registered here; available: {', '.join(METHODS)}"
        )
    cls = info.cls
    if cls is None:
        raise MethodUnavailable(f"method '{spec.method}' is a {info.kind} method; run it through run_search")
    method = cls(space, method_params(spec))
    if not spec.a2m_enabled:
        return method
    if not info.supports_a2m:
        raise MethodUnavailable(f"a2m: method '{spec.method}' does not support A2M; set a2m to null")
    assert spec.a2m is not None
    from nas_core.methods.a2m import A2M

    return A2M(
        method,
        rho=spec.a2m_rho,
        eps=spec.a2m.eps,
        normalize=spec.a2m.normalize,
        freeze_bn_stats=spec.a2m.freeze_bn_stats,
    )


def describe_methods() -> list[dict[str, Any]]:
    """One entry per registered method: name, kind, summary, supports_a2m, capturable (with the
    reason when not), params JSON schema."""
    return [
        {
            "name": info.name,
            "kind": info.kind,
            "summary": info.summary,
            "family": info.family,
            "supports_a2m": info.supports_a2m,
            "capturable": info.capturable,
            "capture_note": info.capture_note,
            "params": info.params_model.model_json_schema(),
        }
        for info in METHODS.values()
    ]


__all__ = [
    "METHODS",
    "MethodInfo",
    "MethodUnavailable",
    "build_method",
    "describe_methods",
    "method_info",
    "method_params",
    "register_method",
    "registered_method",
    "sampling_methods",
    "unregister_method",
]
