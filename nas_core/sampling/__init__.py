"""Sampling-based and training-free searches: random, naswot, na-rs (docs/algorithms.md §5)."""

from nas_core.sampling.search import run_sampling

__all__ = ["run_sampling"]
