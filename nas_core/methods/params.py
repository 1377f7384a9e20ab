"""Each method's hyperparameters: one pydantic model per method, validated when a spec is read.

Kept free of torch so the API validates specs without importing it. A method's class is handed
its validated model (`ArchMethod.params`), never a dict; the defaults live only here, and
docs/algorithms.md gives their sources.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nas_core.strict import StrictModel


class MethodParams(StrictModel):
    """The base of every params model."""

    def space_errors(self, edge_count: int, space: str) -> list[tuple[tuple[str, ...], str]]:
        """(field path, message) for each value the space cannot take (checked with the spec)."""
        return []

    def partial_channels(self) -> int:
        """The supernet's partial-channel factor K these params ask for (PC-DARTS); 1 = all channels."""
        return 1

    def architectures_scored(self) -> int:
        """Architectures a sampling method scores (what MAX_ARCH_EVALUATIONS limits); 0 for
        gradient methods, which train one supernet instead."""
        return 0

    #: The formula of architectures_scored, in the words of an admission error.
    scored_formula: ClassVar[str] = "num_samples"

    def supernet_epochs_needed(self) -> int:
        """Epochs of supernet training a sampling method runs before scoring (0: none)."""
        return 0


class NoParams(MethodParams):
    pass


class Darts2Params(MethodParams):
    unrolled_eps: float = Field(
        0.01, gt=0, le=1, description="finite-difference radius ε·‖v‖ of the Hessian term"
    )


class BetaDartsParams(MethodParams):
    tau: float = Field(0.5, ge=0, le=100, description="β regulariser weight λ_t = τ·epoch")


class SdartsRsParams(MethodParams):
    eps_start: float = Field(0.03, ge=0, le=1, description="uniform noise radius at the first epoch")
    eps_end: float = Field(0.3, ge=0, le=1, description="uniform noise radius at the last epoch")


class DartsMinusParams(MethodParams):
    beta_start: float = Field(1.0, ge=0, le=10, description="auxiliary skip scale at the first epoch")
    beta_end: float = Field(0.0, ge=0, le=10, description="auxiliary skip scale at the last epoch")


class PcDartsParams(MethodParams):
    k: int = Field(4, ge=1, le=16, description="partial-channel factor K: each op sees C/K channels")
    edge_normalization: bool = Field(
        True, description="learn per-edge weights β (softmax over a node's inputs)"
    )

    def partial_channels(self) -> int:
        return self.k


class GaeaParams(MethodParams):
    eta: float = Field(0.1, gt=0, le=10, description="exponentiated-gradient step size")
    level: Literal["single", "bilevel"] = Field(
        "bilevel",
        description="single: θ and w on training data (different batches); bilevel: θ on the val half",
    )
    clamp_min: float = Field(1e-5, gt=0, lt=0.1, description="floor applied to θ before renormalising")


class MilenasParams(MethodParams):
    lam: float = Field(1.0, ge=0, le=100, description="weight λ of ∇_α L_train in the mixed-level gradient")


class NaDartsParams(MethodParams):
    k: int = Field(4, ge=1, le=64, description="sampled neighbours per step")
    r: int = Field(1, ge=1, le=14, description="edges edited per neighbour")
    include_self: bool = Field(True, description="include α itself in the neighbourhood mean")

    def space_errors(self, edge_count: int, space: str) -> list[tuple[tuple[str, ...], str]]:
        if self.r > edge_count:
            return [(("r",), f"must be at most {edge_count} on {space} (its edge count)")]
        return []


class SamplingParams(MethodParams):
    num_samples: int = Field(100, ge=1, le=100_000, description="architectures sampled and scored")
    top_k: int = Field(10, ge=1, le=1000, description="best architectures stored with their scores")
    naswot_batch: int = Field(128, ge=2, le=1024, description="batch size of the NASWOT kernel")

    def architectures_scored(self) -> int:
        return self.num_samples


class RandomParams(SamplingParams):
    score: Literal["naswot", "supernet"] = Field(
        "supernet", description="f: NASWOT score, or accuracy with weights inherited from a trained supernet"
    )
    supernet_epochs: int = Field(
        10, ge=1, le=500, description="epochs of uniform single-path supernet training when score=supernet"
    )

    def supernet_epochs_needed(self) -> int:
        return self.supernet_epochs if self.score == "supernet" else 0


class NaRsParams(RandomParams):
    score: Literal["naswot", "supernet"] = Field(
        "naswot", description="f: NASWOT score, or accuracy with weights inherited from a trained supernet"
    )
    radius: int = Field(1, ge=1, le=3, description="neighbourhood radius d")
    max_neighbours: int = Field(
        24, ge=1, le=1000, description="neighbours evaluated per architecture (sampled)"
    )
    scored_formula: ClassVar[str] = "num_samples × (1 + max_neighbours)"

    def architectures_scored(self) -> int:
        # Each sample is scored with its neighbourhood (docs/algorithms.md, NA-RS).
        return self.num_samples * (1 + self.max_neighbours)
