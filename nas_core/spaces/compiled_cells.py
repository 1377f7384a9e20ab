"""Regional compilation (`runtime.compile: cells`): the search cell is compiled, not the supernet.

Compiling a whole supernet takes longer than many searches are worth; a cell is small, and every
cell of a stage has the same structure and shapes. The cell function (plain or fused) is compiled
once per process and mode; the cell's parameters and buffers enter the compiled graph as inputs,
not constants, so every cell of the same shape reuses one compiled graph (a reduction cell or a
new stage width compiles once more). Inductor on CPU; on CUDA `mode="reduce-overhead"` adds CUDA
graphs, which is where the launch-bound search step gains most.

Compiled graphs have no double backward, so whatever needs one (the Hessian metrics) runs its
passes inside `eager_cells()`. Single-path calls that skip zero-weight ops keep the eager plain
cell too: their op masks would be baked into the graph and recompile per architecture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch

CompileMode = Literal["none", "cells"]

_local = threading.local()
_compiled: dict[tuple[Callable[..., Any], str | None], Callable[..., Any]] = {}


@contextmanager
def eager_cells() -> Iterator[None]:
    """Cells run eagerly inside this block (double backward, e.g. Hessian-vector products)."""
    before = getattr(_local, "eager", False)
    _local.eager = True
    try:
        yield
    finally:
        _local.eager = before


def compile_mode_for(device: torch.device) -> str | None:
    """inductor's default mode on CPU; CUDA graphs on CUDA (the step is launch-bound there)."""
    return "reduce-overhead" if device.type == "cuda" else None


def cell_function(fn: Callable[..., Any], compiled: bool, device: torch.device) -> Callable[..., Any]:
    """`fn` itself, or its compiled form (one per function and mode, shared by every supernet)."""
    if not compiled or getattr(_local, "eager", False):
        return fn
    mode = compile_mode_for(device)
    key = (fn, mode)
    if key not in _compiled:
        # Every (cell structure, shape, train/eval/BN mode) is a graph: a DARTS search has ~20,
        # more than dynamo's default limit, past which it would silently fall back to eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        # dynamic=False: one graph per input shape; a search has a handful (stages, reductions).
        _compiled[key] = torch.compile(fn, mode=mode, dynamic=False)
    return _compiled[key]
