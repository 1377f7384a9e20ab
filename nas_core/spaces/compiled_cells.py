"""Regional compilation (`runtime.compile: cells`): the search cell is compiled, not the supernet.

Compiling a whole supernet takes longer than many searches are worth; a cell is small, and every
cell of a stage has the same structure and shapes. The cell function (plain or fused) is compiled
once per process and backend; the cell's parameters and buffers enter the compiled graph as inputs,
not constants, so every cell of the same shape reuses one compiled graph (a reduction cell or a
new stage width compiles once more). Inductor's default mode on CPU and on CUDA.

CUDA graphs (`mode="reduce-overhead"`) are not used: on an H200 (torch 2.11) their graph trees
failed in a real search, because every cell of a stage replays one graph whose output feeds the
next replay, and the evaluation pass after the training steps read an output that a later replay
had overwritten ("accessing tensor output of CUDAGraphs that has been overwritten"); in training,
each cell's graph also replays before the previous cell's backward has run, off their fast path. Capturing the whole step
in one graph is the way to get them back (docs/performance.md).

Compiled graphs have no double backward, so whatever needs one (the Hessian metrics) runs its
passes inside `eager_cells()`. Single-path calls that skip zero-weight ops keep the eager plain
cell too: their op masks would be baked into the graph and recompile per architecture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: torch.compile backend. The suite traces with "aot_eager" (the same dynamo graphs and AOT
#: autograd, without inductor's C++ compile, which takes many minutes cold on a 2-core CPU).
BACKEND = "inductor"

_local = threading.local()
_compiled: dict[tuple[Callable[..., Any], str], Callable[..., Any]] = {}


@contextmanager
def eager_cells() -> Iterator[None]:
    """Cells run eagerly inside this block (double backward, e.g. Hessian-vector products)."""
    before = getattr(_local, "eager", False)
    _local.eager = True
    try:
        yield
    finally:
        _local.eager = before


def cell_function(fn: Callable[..., Any], compiled: bool) -> Callable[..., Any]:
    """`fn` itself, or its compiled form (one per function, shared by every supernet)."""
    if not compiled or getattr(_local, "eager", False):
        return fn
    key = (fn, BACKEND)
    if key not in _compiled:
        # Every (cell structure, shape, train/eval/BN mode) is a graph: a DARTS search has ~20,
        # more than dynamo's default limit, past which it would silently fall back to eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        # dynamic=False: one graph per input shape; a search has a handful (stages, reductions).
        _compiled[key] = torch.compile(fn, backend=BACKEND, dynamic=False)
    return _compiled[key]
