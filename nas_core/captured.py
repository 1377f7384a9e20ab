"""Capture-ready steps: a function over static tensors, replayed as one CUDA graph or called directly.

`runtime.cuda_graph` (experimental) runs the search step and the supernet's evaluation pass this
way. The function reads and writes only tensors that live as long as the search (the supernet,
α, optimizer state, learning rates as device tensors, static input buffers and device
accumulators), makes no host read and has static shapes, so one capture stands for every later
step. Three modes share this contract:

- "graph" (CUDA): `warmup` calls run eagerly on a side stream (the optimizers create their state
  there), the next call captures the function once with `torch.cuda.graph` and replays it, and
  every later call only replays. Device generators the function draws from are registered with
  the graph, so each replay draws fresh numbers and the generator's state still advances.
- "direct" (any device): every call runs the function on the same static buffers. This is what
  the CPU tests drive: everything but the capture itself, equal to the eager loop.
- "eager" is the reference loop in nas_core.loop, which builds fresh tensors every step and needs
  none of this.

The optimizers of a capture-ready search never read the host: SGD and Adam are fused on the CPU,
and on CUDA SGD is fused and Adam capturable; the weights' learning rate is a device tensor that
the cosine schedule fills between epochs. `load_optimizer_state` keeps those choices across a
checkpoint written by either path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch

StepMode = Literal["eager", "direct", "graph"]
#: Eager steps before the capture: optimizer state, momentum buffers and cuDNN plans are created
#: outside the graph, as PyTorch's CUDA Graphs notes ask.
WARMUP_STEPS = 3


def optimizer_options(mode: StepMode, device: torch.device) -> tuple[dict[str, Any], dict[str, Any]]:
    """Extra keyword arguments of the weights' SGD and the architecture's Adam for `mode`.

    Measured with a dispatch-mode count on CPU: SGD with a tensor lr makes 3 host reads per step
    (1 with foreach) unless fused; Adam makes 3 unless fused. Fused SGD with a tensor lr and fused
    (CPU) or capturable (CUDA) Adam make none."""
    if mode == "eager":
        return {}, {}
    if device.type == "cuda":
        return {"fused": True}, {"capturable": True, "foreach": True}
    return {"fused": True}, {"fused": True}


def learning_rate(mode: StepMode, value: float, device: torch.device) -> float | torch.Tensor:
    """The weights' initial learning rate: a device tensor (filled by the schedule) unless eager."""
    return value if mode == "eager" else torch.tensor(float(value), device=device)


_KEPT_OPTIONS = ("fused", "foreach", "capturable", "differentiable")


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """`optimizer.load_state_dict(saved)` that keeps the live optimizer's implementation options
    and learning-rate tensors, whichever path wrote `saved`.

    torch's load replaces each group's options with the saved ones; a checkpoint written by the
    eager loop would switch a capture-ready optimizer back to host-reading kernels (and replace
    the lr tensor a graph reads by a float), and the reverse would make an eager resume fused."""
    live = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, before in zip(optimizer.param_groups, live, strict=True):
        for key in _KEPT_OPTIONS:
            if key in before:
                group[key] = before[key]
        lr = before["lr"]
        if isinstance(lr, torch.Tensor):
            with torch.no_grad():
                lr.fill_(float(group["lr"]))
            group["lr"] = lr
        else:
            group["lr"] = float(group["lr"])
        on_device = bool(before.get("capturable") or before.get("fused"))
        for p in group["params"]:
            step = optimizer.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor):
                where = p.device if on_device else torch.device("cpu")
                optimizer.state[p]["step"] = step.to(device=where, dtype=torch.float32)


def portable_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """`optimizer.state_dict()` with learning rates as plain floats, so any path can load it."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:  # fresh dicts per call: editing them leaves the optimizer be
        for key in ("lr", "initial_lr"):
            if isinstance(group.get(key), torch.Tensor):
                group[key] = float(group[key])
    return state


class Replay:
    """`fn` (no arguments, no result: it works on static tensors) run as one CUDA graph or directly.

    Python side effects of `fn` happen once per call in "direct" mode but only once, at capture, in
    "graph" mode: `fn` must leave its Python state as it found it (a method's per-step scratch is
    set and cleared within the step)."""

    def __init__(
        self,
        fn: Callable[[], None],
        mode: Literal["direct", "graph"],
        *,
        warmup: int = WARMUP_STEPS,
        generators: Iterable[torch.Generator] = (),
    ) -> None:
        if mode == "graph" and not torch.cuda.is_available():
            raise RuntimeError("runtime.cuda_graph: CUDA graphs need a CUDA device")
        self.fn, self.mode, self.warmup = fn, mode, warmup
        self.generators = [g for g in generators if g.device.type == "cuda"]
        self.graph: Any = None  # torch.cuda.CUDAGraph once captured
        self.calls = 0

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self) -> None:
        self.calls += 1
        if self.mode == "direct":
            self.fn()
        elif self.graph is not None:
            self.graph.replay()
        elif self.calls <= self.warmup:
            self._side_stream_call()
        else:
            self._capture().replay()  # capture records the work without running it

    def _side_stream_call(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fn()
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self) -> Any:
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            self.fn()
        self.graph = graph
        return graph
