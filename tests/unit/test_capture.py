"""The capture-ready search step (runtime.cuda_graph) on the CPU: everything but the capture itself.

- Every method that claims capture runs its step with no host read and no data-dependent shape,
  and two consecutive steps issue the same op sequence: what one CUDA graph can stand for. Host
  reads all go through aten._local_scalar_dense, so a dispatch mode finds them without a GPU.
- The capture-ready loop ("direct" mode: the static buffers and the step function a graph would
  replay, called directly) equals the eager loop, and a checkpoint written under it resumes to
  the same search on either path.
- runtime.cuda_graph is refused off CUDA, for methods that cannot be captured, and with compile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch.utils._python_dispatch import TorchDispatchMode

from nas_core.checkpoint import latest_checkpoint
from nas_core.data import EpochBatches, load_search_data
from nas_core.loop import CapturedStep, build_state, evaluate
from nas_core.methods import METHODS, describe_methods
from nas_core.reporter import NullReporter, SearchCancelled
from nas_core.search import DeviceUnavailable, run_search
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_spec

HOST_READ = "aten._local_scalar_dense."  # ops are recorded with their overload, e.g. ".default"
#: Ops whose output shape depends on tensor values: each needs the host to know the size.
DATA_DEPENDENT = (
    "aten.nonzero",
    "aten.masked_select",
    "aten._unique",
    "aten.unique",
    "aten._unique2",
    "aten.unique_dim",
    "aten.unique_consecutive",
    "aten.repeat_interleave",
    "aten.argwhere",
    "aten.masked_scatter",
)


class OpRecorder(TorchDispatchMode):
    """Every aten op issued while active, plus boolean-mask indexing (a hidden nonzero)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.bool_indexing: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        self.ops.append(name)
        if name.startswith(("aten.index.", "aten.index_put", "aten._index_put")):
            indices = args[1] if len(args) > 1 else ()
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or ()):
                self.bool_indexing.append(name)
        return func(*args, **(kwargs or {}))


def _host_reads(recorder: OpRecorder) -> list[str]:
    return [op for op in recorder.ops if op.startswith(HOST_READ)]


def _capturable_cases() -> list[Any]:
    cases = []
    for name, info in METHODS.items():
        if not info.capturable:
            continue
        cases.append(pytest.param(name, None, id=name))
        if info.supports_a2m:
            cases.append(pytest.param(name, {}, id=f"{name}+a2m"))
    cases.append(pytest.param("darts", {"normalize": True}, id="darts+a2m-normalize"))
    return cases


def test_every_registered_gradient_method_says_whether_it_captures() -> None:
    for info in METHODS.values():
        assert info.capturable or info.capture_note, info.name
    assert any(info.capturable for info in METHODS.values())
    described = {m["name"]: m for m in describe_methods()}
    assert described["darts"]["capturable"] is True
    assert (
        described["random"]["capturable"] is False and "single paths" in described["random"]["capture_note"]
    )
    assert described["darts-minus"]["capturable"] is False


@pytest.mark.parametrize(("method", "a2m"), _capturable_cases())
def test_a_capturable_step_makes_no_host_read_and_repeats_its_ops(method: str, a2m: Any) -> None:
    spec = tiny_spec(method=method, a2m=a2m, batch_size=8)  # 4 steps per epoch
    device = torch.device("cpu")
    data = load_search_data(spec.dataset, seed=spec.seed, device=device)
    state = build_state(spec, get_space(spec), data, device, step_mode="direct")
    state.method.on_epoch_start(0, spec.epochs, state.supernet)
    batches = EpochBatches(
        data, spec.batch_size, state.data_generator, augment=True, arch_source=state.method.arch_batch_source
    )
    assert len(batches) >= 4
    step = CapturedStep(state, batches.batch(0), epoch=0)
    step(batches.batch(0))  # warm-up: optimizer state and momentum buffers are made here, as on CUDA
    recorded = []
    for i in (1, 2):
        with OpRecorder() as recorder:
            step(batches.batch(i))
        recorded.append(recorder)
    first, second = recorded
    for rec in recorded:
        assert not _host_reads(rec), f"{method}: host read in the step"
        assert not [op for op in rec.ops if op.startswith(DATA_DEPENDENT)], f"{method}: data-dependent op"
        assert not rec.bool_indexing, f"{method}: boolean-mask indexing {rec.bool_indexing}"
    assert first.ops == second.ops, f"{method}: two steps issued different op sequences"
    assert len(first.ops) > 100  # the recorder saw the whole step (forward, backward, optimizers)

    # The evaluation pass a graph would replay makes no host read either (the totals are read after).
    eval_batches = data.eval_batches(spec.batch_size, 32)
    evaluate(state, eval_batches)  # builds the pass and warms it up
    assert state.captured_eval is not None
    with OpRecorder() as recorder:
        state.captured_eval.run(eval_batches, state.mixing_weights())
    assert not _host_reads(recorder)
    assert not [op for op in recorder.ops if op.startswith(DATA_DEPENDENT)]


def test_the_dispatch_check_catches_a_host_read() -> None:
    # The test above can fail: the eager loop's Adam reads its step count on the host.
    spec = tiny_spec()
    device = torch.device("cpu")
    data = load_search_data(spec.dataset, seed=spec.seed, device=device)
    state = build_state(spec, get_space(spec), data, device)  # eager: the reference optimizers
    alpha = state.alphas[0]
    for _ in range(2):
        alpha.grad = torch.ones_like(alpha)
        with OpRecorder() as recorder:
            state.a_optimizer.step()
    assert _host_reads(recorder)


def _results(spec: SearchSpec, tmp_path: Path, mode: str, **kwargs: Any) -> Any:
    return run_search(spec, NullReporter(), workdir=tmp_path / mode, step_mode=mode, **kwargs)  # type: ignore[arg-type]


def _assert_close(eager: list[torch.Tensor], ready: list[torch.Tensor]) -> None:
    # Fused SGD/Adam and the eager kernels round differently in the last bits (measured: ~1e-10
    # on α after two epochs); anything algorithmic would be orders of magnitude larger.
    for a, b in zip(eager, ready, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("method", "a2m"),
    [("darts", None), ("darts", {}), ("sdarts-rs", None), ("na-darts", None), ("beta-darts", {})],
    ids=["darts", "darts+a2m", "sdarts-rs", "na-darts", "beta-darts+a2m"],
)
def test_capture_ready_loop_equals_the_eager_loop(tmp_path: Path, method: str, a2m: Any) -> None:
    spec = tiny_spec(method=method, a2m=a2m, batch_size=8)  # 4 steps per epoch
    eager, ready = _results(spec, tmp_path, "eager"), _results(spec, tmp_path, "direct")
    _assert_close(eager.alphas, ready.alphas)
    weights = lambda mode: [  # noqa: E731
        t.float()
        for t in torch.load(latest_checkpoint(tmp_path / mode), weights_only=False)["state"][
            "supernet"
        ].values()
    ]
    _assert_close(weights("eager"), weights("direct"))
    for e, r in zip(eager.epochs, ready.epochs, strict=True):
        assert r.val_loss == pytest.approx(e.val_loss, rel=1e-5)
        assert r.train_loss == pytest.approx(e.train_loss, rel=1e-5)
    assert eager.final_genotype["arch_str"] == ready.final_genotype["arch_str"]


class StopAfterFirstCheckpoint(NullReporter):
    stop = False

    def on_checkpoint(self, epoch: int, path: str) -> None:
        self.stop = True

    def should_stop(self) -> bool:
        return self.stop


@pytest.mark.parametrize("resume_mode", ["direct", "eager"])
def test_a_checkpoint_written_capture_ready_resumes_like_eager(tmp_path: Path, resume_mode: str) -> None:
    spec = tiny_spec(epochs=3)
    straight = _results(spec, tmp_path, "eager")
    workdir = tmp_path / "interrupted"
    with pytest.raises(SearchCancelled):
        run_search(spec, StopAfterFirstCheckpoint(), workdir=workdir, step_mode="direct")
    assert latest_checkpoint(workdir).name == "epoch_0000.pt"
    resumed = run_search(spec, NullReporter(), workdir=workdir, resume=True, step_mode=resume_mode)  # type: ignore[arg-type]
    _assert_close(straight.alphas, resumed.alphas)
    assert [round(r.val_loss, 4) for r in resumed.epochs] == [round(r.val_loss, 4) for r in straight.epochs]


def test_an_eager_checkpoint_resumes_capture_ready_with_its_optimizers_intact(tmp_path: Path) -> None:
    spec = tiny_spec(epochs=2)
    with pytest.raises(SearchCancelled):
        run_search(spec, StopAfterFirstCheckpoint(), workdir=tmp_path, step_mode="eager")
    device = torch.device("cpu")
    data = load_search_data(spec.dataset, seed=spec.seed, device=device)
    state = build_state(spec, get_space(spec), data, device, step_mode="direct")
    lr = state.w_optimizer.param_groups[0]["lr"]
    body = torch.load(latest_checkpoint(tmp_path), weights_only=False)
    state.load_state_dict(body["state"])
    group = state.w_optimizer.param_groups[0]
    # The schedule must keep filling the very tensor a captured step reads, and the kernels stay fused.
    assert group["lr"] is lr and group["fused"] is True
    assert state.a_optimizer.param_groups[0]["fused"] is True
    state.scheduler.step()
    assert float(lr) == pytest.approx(spec.optim.w_lr_min, rel=1e-5)  # 2 epochs: the cosine floor


# --- the spec ---------------------------------------------------------------------------------


def test_cuda_graph_is_refused_for_a_method_that_cannot_be_captured() -> None:
    with pytest.raises(ValidationError) as err:
        tiny_spec(method="darts-minus", runtime={"cuda_graph": True})
    (error,) = err.value.errors()
    assert error["loc"] == ("runtime", "cuda_graph")
    assert "darts-minus" in error["msg"] and "β_t" in error["msg"]
    with pytest.raises(ValidationError, match="single paths"):
        SearchSpec.model_validate({"method": "random", "runtime": {"cuda_graph": True}})
    with pytest.raises(ValidationError, match="compile"):
        tiny_spec(runtime={"cuda_graph": True, "compile": "cells"})
    assert tiny_spec(method="darts", runtime={"cuda_graph": True}).runtime.cuda_graph


def test_cuda_graph_off_cuda_is_refused_not_run_eagerly(tmp_path: Path) -> None:
    spec = tiny_spec(runtime={"cuda_graph": True})
    with pytest.raises(DeviceUnavailable, match=r"runtime\.cuda_graph"):
        run_search(spec, NullReporter(), workdir=tmp_path, device="cpu")
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(DeviceUnavailable, match="graph"):
        run_search(tiny_spec(), NullReporter(), workdir=tmp_path, device="cpu", step_mode="graph")


def test_the_api_refuses_cuda_graph_when_its_workers_run_on_the_cpu() -> None:
    from api.admission import check_device
    from api.errors import ValidationProblem
    from store.settings import Settings

    spec = tiny_spec(runtime={"cuda_graph": True})
    with pytest.raises(ValidationProblem) as err:
        check_device(spec, Settings(DEVICE="cpu"))
    assert err.value.status == 422
    assert [e.field for e in err.value.errors] == ["runtime.cuda_graph"]
    check_device(spec, Settings(DEVICE="cuda"))  # the worker's device decides; accepted here
    check_device(spec, Settings(DEVICE="auto"))
    check_device(tiny_spec(), Settings(DEVICE="cpu"))
