"""The contract every search space implements (docs/algorithms.md §1).

α is a list of 2-D tensors, one per α group: nb201 has one group "cell" (6×5); darts has
"normal" and "reduce" (14×|O| each). A supernet never owns α: it is called with *mixing
weights* (same shapes; softmax(α) for DARTS, θ for GAEA, softmax(α)·edge-norm for PC-DARTS, a
one-hot genotype for shared-weight evaluation), so every method drives the same module.
A genotype is plain data (`Genotype`), never a model object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nas_core.genotype import Genotype
from nas_core.spaces.definition import SpaceDefinition


class Supernet(nn.Module, ABC):
    """A weight-sharing network over every op of every edge."""

    #: DARTS−: scale β_t of the auxiliary skip added to every edge from its source node (0 = off).
    aux_skip_scale: float = 0.0
    #: runtime.compile "cells": search cells run compiled (nas_core.spaces.compiled_cells).
    compiled_cells: bool = False

    @abstractmethod
    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits for images `x` (B,3,H,W) with one mixing-weight tensor per α group."""


class SearchSpace(SpaceDefinition):
    """A space's networks and α (torch); its facts and genotype rules come from its definition."""

    @property
    @abstractmethod
    def ops(self) -> tuple[str, ...]:
        """Candidate op names in α's column order."""

    @property
    @abstractmethod
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(target, source) node pairs in α's row order."""

    def alpha_shapes(self) -> list[tuple[int, int]]:
        return [(len(self.edges), len(self.ops)) for _ in self.groups]

    @abstractmethod
    def build_supernet(self, C: int, depth: int, num_classes: int, *, partial_channels: int = 1) -> Supernet:
        """depth: cells per stage (nb201) or layers (darts). partial_channels>1: PC-DARTS ops see C/K."""

    @abstractmethod
    def derive(self, weights: Sequence[torch.Tensor]) -> Genotype:
        """The discrete architecture the mixing weights select (docs/algorithms.md §1 rules)."""

    @abstractmethod
    def one_hot(self, genotype: Genotype) -> list[torch.Tensor]:
        """Mixing weights that make the supernet compute exactly `genotype`."""

    @abstractmethod
    def build_network(self, genotype: Genotype, C: int, depth: int, num_classes: int) -> nn.Module:
        """The discrete (stand-alone) network of a genotype: forward(x) -> logits."""

    @abstractmethod
    def random_genotype(self, generator: torch.Generator) -> Genotype:
        """A uniformly sampled architecture (sampling methods)."""

    def describe(self) -> dict[str, Any]:
        return {
            "space": self.name,
            "ops": list(self.ops),
            "groups": list(self.groups),
            "edges": len(self.edges),
        }
