"""run_search: one search from a spec, reported through one Reporter (the engine's entry point).

Fresh or resumed, the order per epoch is: train (loop.train_epoch), evaluate on the architecture
half, derive the genotype, flatness metrics, report, checkpoint. The checkpoint is the last thing
an epoch does, so everything that consumed randomness in the epoch is captured by it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from nas_core.captured import StepMode
from nas_core.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_global_rng,
    save_checkpoint,
    spec_changes,
)
from nas_core.data import load_search_data, steps_per_epoch
from nas_core.dataroots import DataRoots
from nas_core.flatness.metrics import any_record_enabled
from nas_core.genotype import genotype_to_json
from nas_core.loop import SearchState, StepClock, build_state, evaluate, train_epoch
from nas_core.reporter import EpochRecord, FlatnessRecord, Progress, Reporter, SearchDiverged, SearchInfo
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    best_genotype: dict[str, Any]  # genotype JSON of the epoch with the lowest supernet val loss
    best_epoch: int
    final_genotype: dict[str, Any]  # genotype JSON after the last epoch
    epochs: list[EpochRecord]  # every epoch, including those run before a resume
    flatness: list[FlatnessRecord]
    alphas: list[torch.Tensor]  # raw α after the last epoch (CPU)
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)


class DeviceUnavailable(RuntimeError):
    """The requested device does not exist on this machine."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"device '{device}' requested but CUDA is not available here; use cpu or auto"
        )
    return resolved


def resolve_step_mode(spec: SearchSpec, device: torch.device, requested: StepMode | None) -> StepMode:
    """The loop's step mode; `runtime.cuda_graph` off CUDA is refused, never run eagerly instead."""
    if spec.runtime.cuda_graph and device.type != "cuda":
        raise DeviceUnavailable(
            f"runtime.cuda_graph: CUDA graphs need a CUDA device, and this search runs on {device.type}; "
            "set runtime.cuda_graph to false or run it on a GPU worker"
        )
    if requested is not None:
        if requested == "graph" and device.type != "cuda":
            raise DeviceUnavailable(f"step mode 'graph' needs a CUDA device, not {device.type}")
        return requested
    return "graph" if spec.runtime.cuda_graph else "eager"


def run_search(
    spec: SearchSpec,
    reporter: Reporter,
    *,
    device: str = "cpu",
    workdir: str | Path,
    resume: bool = False,
    search_id: str | None = None,
    data_roots: DataRoots | None = None,
    step_mode: StepMode | None = None,
) -> SearchResult:
    """Run (or resume) the search `spec` describes; see the module docstring for the order of work.

    `search_id` (the service's row id; None for a local run) is stamped into every genotype JSON.
    File-backed data sets are read from `data_roots` (nas_core.dataroots). `step_mode` defaults to
    "graph" under `runtime.cuda_graph` and "eager" otherwise; tests and benchmarks pass "direct"
    to run the capture-ready loop without a GPU (nas_core.captured)."""
    workdir = Path(workdir)
    if spec.is_sampling:
        from nas_core.sampling import run_sampling  # written by the methods engineer; only needed here

        return run_sampling(
            spec, reporter, device=device, workdir=workdir, resume=resume, data_roots=data_roots
        )

    dev = resolve_device(device)
    mode = resolve_step_mode(spec, dev, step_mode)
    space = get_space(spec)
    data = load_search_data(spec.dataset, seed=spec.seed, device=dev, roots=data_roots)
    state = build_state(spec, space, data, dev, mode)
    history: list[EpochRecord] = []
    flatness: list[FlatnessRecord] = []
    # What per-epoch metrics carry between metric epochs (ranking stability's previous scores).
    flatness_state: dict[str, Any] = {}
    if resume and (path := latest_checkpoint(workdir)) is not None:
        body = load_checkpoint(path)
        _check_same_search(spec, body, path)
        state.load_state_dict(body["state"])
        restore_global_rng(body["rng"])
        history = [EpochRecord(**r) for r in body["history"]]
        flatness = [FlatnessRecord(**r) for r in body["flatness"]]
        flatness_state = body.get("flatness_state", {})

    eval_batches = data.eval_batches(spec.batch_size, spec.dataset.eval_subset)
    steps = steps_per_epoch(len(data.train), spec.batch_size)
    reporter.on_start(
        SearchInfo(
            space=spec.space,
            method=state.method.name,
            ops=list(space.ops),
            total_epochs=spec.epochs,
            steps_per_epoch=steps,
            start_epoch=state.next_epoch,
            device=str(dev),
            num_params=sum(p.numel() for p in state.supernet.parameters()),
        )
    )
    clock = StepClock(spec.epochs * steps, state.next_epoch * steps)
    hooks = _flatness_hooks(spec)
    for epoch in range(state.next_epoch, spec.epochs):
        epoch_started, lr = time.perf_counter(), state.lr()
        totals = train_epoch(state, epoch, reporter, clock)
        reporter.on_progress(Progress(epoch, steps, steps, spec.epochs, "eval", eta_seconds=clock.eta()))
        val_loss, val_acc = evaluate(state, eval_batches)
        if not math.isfinite(val_loss):
            raise SearchDiverged(epoch, steps - 1, "validation")
        state.scheduler.step()
        genotype = _genotype(state, epoch, search_id)
        is_best = val_loss < state.best_val_loss
        if is_best:
            state.best_val_loss, state.best_epoch, state.best_genotype = val_loss, epoch, genotype
        record = EpochRecord(
            epoch=epoch,
            train_loss=totals.loss,
            train_acc=totals.acc,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=lr,
            seconds=0.0,
            alphas=_alpha_table(state),
            genotype=genotype,
            extra={"train_seconds": totals.seconds},
        )
        if hooks is not None and ((epoch + 1) % spec.flatness.interval == 0 or epoch + 1 == spec.epochs):
            announce = _announcer(reporter, Progress(epoch, steps, steps, spec.epochs, "flatness"))
            ctx = _flatness_context(hooks, state, eval_batches, flatness_state, announce)
            for fr in hooks.epoch_metrics(ctx, epoch):
                flatness.append(fr)
                reporter.on_flatness(fr)
        record.seconds = time.perf_counter() - epoch_started
        history.append(record)
        reporter.on_epoch(record)
        reporter.on_genotype(genotype, epoch=epoch, is_best=is_best, is_final=False)
        state.next_epoch = epoch + 1
        if (epoch + 1) % spec.runtime.checkpoint_every == 0 or epoch + 1 == spec.epochs:
            payload = {
                "state": state.state_dict(),
                "history": [r.to_dict() for r in history],
                "flatness": [asdict(r) for r in flatness],
                "flatness_state": flatness_state,
                "spec": spec.model_dump(mode="json"),
            }
            reporter.on_checkpoint(epoch, str(save_checkpoint(workdir, epoch, payload)))
            prune_checkpoints(workdir, spec.runtime.keep_checkpoints, protect=state.best_epoch)

    final_epoch = spec.epochs - 1
    final = _genotype(state, final_epoch, search_id)
    if hooks is not None:
        at_end = Progress(final_epoch, steps, steps, spec.epochs, "flatness", detail="end of search")
        ctx = _flatness_context(hooks, state, eval_batches, flatness_state, _announcer(reporter, at_end))
        for fr in hooks.final_metrics(ctx, state.space.derive(state.method.genotype_weights(state.alphas))):
            flatness.append(fr)
            reporter.on_flatness(fr)
    reporter.on_genotype(final, epoch=final_epoch, is_best=state.best_epoch == final_epoch, is_final=True)
    assert state.best_genotype is not None
    return SearchResult(
        best_genotype=state.best_genotype,
        best_epoch=state.best_epoch,
        final_genotype=final,
        epochs=history,
        flatness=flatness,
        alphas=[a.detach().cpu().clone() for a in state.alphas],
        workdir=workdir,
    )


def _genotype(state: SearchState, epoch: int, search_id: str | None) -> dict[str, Any]:
    genotype = state.space.derive(state.method.genotype_weights(state.alphas))
    return genotype_to_json(genotype, epoch=epoch, search_id=search_id)


def _alpha_table(state: SearchState) -> dict[str, list[list[float]]]:
    return {
        name: w.float().cpu().tolist()
        for name, w in zip(state.space.groups, state.mixing_weights(), strict=True)
    }


def _check_same_search(spec: SearchSpec, body: dict[str, Any], path: Path) -> None:
    changed = spec_changes(spec, body["spec"])
    if changed:
        raise CheckpointError(
            f"cannot resume from {path}: the spec differs in {', '.join(changed)}; "
            "resume with the spec the checkpoint was written with, or use a new output directory"
        )


def _flatness_hooks(spec: SearchSpec) -> Any:
    """nas_core.flatness.hooks if installed and any metric is switched on; else None."""
    if not any_record_enabled(spec.flatness):
        return None
    try:
        from nas_core.flatness import hooks
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.startswith("nas_core.flatness"):
            log.warning("nas_core.flatness.hooks is not available; flatness metrics are skipped")
            return None
        raise
    return hooks


def _announcer(reporter: Reporter, base: Progress) -> Callable[[str], None]:
    """Reports `base` now, then again with each metric the flatness hooks say they are starting."""
    reporter.on_progress(base)
    prefix = f"{base.detail}: " if base.detail else ""

    def announce(what: str) -> None:
        reporter.on_progress(replace(base, detail=prefix + what))

    return announce


def _flatness_context(
    hooks: Any,
    state: SearchState,
    eval_batches: list[Any],
    flatness_state: dict[str, Any],
    announce: Callable[[str], None],
) -> Any:
    return hooks.FlatnessContext(
        supernet=state.supernet,
        space=state.space,
        method=state.method,
        alphas=[a.detach().clone() for a in state.alphas],
        val_batches=eval_batches[: state.spec.flatness.val_batches],
        criterion=state.criterion,
        spec=state.spec,
        device=state.device,
        state=flatness_state,
        announce=announce,
    )
