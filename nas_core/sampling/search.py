"""Sampling searches (docs/algorithms.md §5): `random`, `naswot` and `na-rs`.

All three sample `num_samples` architectures uniformly (seeded; repeats allowed, scored once) and
keep the best under a score f:
- `naswot`: f = the NASWOT score of the untrained discrete network (training-free).
- `random`: random search with weight sharing: f = accuracy with weights inherited from a supernet
  trained by uniform single-path sampling (our choice: ranking by NASWOT would make it `naswot`).
  Its `score` ("supernet") and `supernet_epochs` (10) are method parameters, as for `na-rs`.
- `na-rs`: f as `score` says, and an architecture ranks by the mean of f over itself and its
  radius-d neighbourhood (at most `max_neighbours`, sampled; see sampling.neighbours).

Phases, as the reporter sees them: `supernet_epochs` epochs of phase "train" (supernet scores
only), then one pass of phase "score" counting architectures scored / N; SearchInfo.total_epochs
is the training epochs + 1. Resume: the supernet is checkpointed after every epoch
(workdir/checkpoints), the scores so far in workdir/sampling_scores.json (after every few
architectures, and on cancel), so a resumed search redoes at most the work since the last write.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas_core.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    spec_changes,
)
from nas_core.data import EpochBatches, SearchData, load_search_data
from nas_core.dataroots import DataRoots
from nas_core.flatness.geometry import genotype_key
from nas_core.genotype import genotype_from_json, genotype_to_json
from nas_core.methods import method_params
from nas_core.methods.params import NaRsParams, RandomParams, SamplingParams
from nas_core.naswot import naswot_batch
from nas_core.reporter import (
    Progress,
    Reporter,
    SampledArchitecture,
    SearchCancelled,
    SearchDiverged,
    SearchInfo,
)
from nas_core.sampling.neighbours import neighbour_ball
from nas_core.sampling.scorers import CachedScorer, naswot_scorer, single_path_step, supernet_scorer
from nas_core.search import SearchResult, resolve_device
from nas_core.spaces import get_space
from nas_core.spaces.base import SearchSpace, Supernet
from nas_core.spec import SearchSpec

SCORES_FILE = "sampling_scores.json"
#: Images of the architecture half that inherited accuracy is measured on, when eval_subset is unset.
DEFAULT_EVAL_IMAGES = 1024
_SAVE_EVERY_SECONDS = 30.0


@dataclass
class Scored:
    index: int  # position in the sample sequence
    genotype: dict[str, Any]
    score: float  # what the ranking uses (NA-RS: the neighbourhood mean)
    point_score: float  # f of the architecture itself
    neighbours: int  # neighbours averaged (0 unless na-rs)


def run_sampling(
    spec: SearchSpec,
    reporter: Reporter,
    *,
    device: str = "cpu",
    workdir: str | Path,
    resume: bool = False,
    data_roots: DataRoots | None = None,
) -> SearchResult:
    """Run (or resume) a sampling search; see the module docstring."""
    if not spec.is_sampling:
        raise ValueError(f"method: '{spec.method}' is not a sampling method (random, naswot, na-rs)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    space = get_space(spec)
    data = load_search_data(spec.dataset, seed=spec.seed, device=dev, roots=data_roots)
    params = sampling_params(spec)
    # random and na-rs choose f; naswot's f is always the NASWOT score.
    score_kind = params.score if isinstance(params, RandomParams) else "naswot"
    epochs = params.supernet_epochs if isinstance(params, RandomParams) and score_kind == "supernet" else 0
    n = params.num_samples
    depth = spec.depth

    torch.manual_seed(spec.seed)  # supernet init draws from the global generator
    supernet = space.build_supernet(spec.supernet.C, depth, data.num_classes).to(dev) if epochs else None
    reporter.on_start(
        SearchInfo(
            space=spec.space,
            method=spec.method,
            ops=list(space.ops),
            total_epochs=epochs + 1,
            steps_per_epoch=n,
            start_epoch=0,
            device=str(dev),
            num_params=sum(p.numel() for p in supernet.parameters()) if supernet is not None else 0,
        )
    )
    if supernet is not None:
        _train_supernet(spec, space, supernet, data, reporter, workdir, epochs, resume)
        eval_images = spec.dataset.eval_subset or DEFAULT_EVAL_IMAGES
        f = supernet_scorer(supernet, space, data.eval_batches(spec.batch_size, eval_images))
    else:
        x = naswot_batch(data.train.images, data.normalize, params.naswot_batch, spec.seed)
        f = naswot_scorer(
            space, x, C=spec.supernet.C, depth=depth, num_classes=data.num_classes, seed=spec.seed
        )

    scored = _score_all(spec, space, f, reporter, workdir, epochs, resume)
    ranked = _rank(scored)
    top = ranked[: params.top_k]
    reporter.on_samples(
        [SampledArchitecture(s.genotype, s.score, rank) for rank, s in enumerate(top, start=1)]
    )
    best = {**top[0].genotype, "epoch": epochs}
    reporter.on_genotype(best, epoch=epochs, is_best=True, is_final=True)
    return SearchResult(
        best_genotype=best,
        best_epoch=epochs,
        final_genotype=best,
        epochs=[],
        flatness=[],
        alphas=[],
        workdir=workdir,
        extra={"score": score_kind, "samples": [asdict(s) for s in top], "scored": len(scored)},
    )


# --- the supernet (score = supernet) --------------------------------------------------------------


def _train_supernet(
    spec: SearchSpec,
    space: SearchSpace,
    supernet: Supernet,
    data: SearchData,
    reporter: Reporter,
    workdir: Path,
    epochs: int,
    resume: bool,
) -> None:
    """Uniform single-path training (one random architecture per step) with the spec's SGD settings."""
    opt = spec.optim
    optimizer = torch.optim.SGD(
        supernet.parameters(), lr=opt.w_lr, momentum=opt.w_momentum, weight_decay=opt.w_weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=opt.w_lr_min)
    data_generator = torch.Generator().manual_seed(spec.seed + 1)
    path_generator = torch.Generator().manual_seed(spec.seed + 2)
    start = 0
    if resume and (path := latest_checkpoint(workdir)) is not None:
        body = load_checkpoint(path)
        _check_same_search(spec, body["spec"], path)
        supernet.load_state_dict(body["supernet"])
        optimizer.load_state_dict(body["optimizer"])
        scheduler.load_state_dict(body["scheduler"])
        data_generator.set_state(body["data_generator"])
        path_generator.set_state(body["path_generator"])
        start = body["epoch"] + 1
    # A one-hot path only needs its own op per edge; skipping the rest is worth a host read on a GPU too.
    supernet.skip_zero_ops = True  # type: ignore[assignment]  # both spaces' supernets have this switch
    criterion = nn.CrossEntropyLoss()
    for epoch in range(start, epochs):
        supernet.train()
        batches = EpochBatches(data, spec.batch_size, data_generator, augment=spec.dataset.augment)
        loss_sum = torch.zeros((), device=data.train.images.device)
        for step in range(len(batches)):
            if reporter.should_stop():
                raise SearchCancelled(f"cancelled at supernet epoch {epoch}, step {step}")
            x, y, _, _ = batches.batch(step)
            loss_sum += single_path_step(
                supernet, space, optimizer, criterion, x, y, path_generator, opt.grad_clip
            )
        scheduler.step()
        mean_loss = float(loss_sum) / len(batches)
        if not math.isfinite(mean_loss):
            raise SearchDiverged(epoch, len(batches) - 1, "supernet training")
        reporter.on_progress(Progress(epoch, len(batches), len(batches), epochs + 1, "train", loss=mean_loss))
        payload = {
            "supernet": supernet.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "data_generator": data_generator.get_state(),
            "path_generator": path_generator.get_state(),
            "spec": spec.model_dump(mode="json"),
        }
        reporter.on_checkpoint(epoch, str(save_checkpoint(workdir, epoch, payload)))
        prune_checkpoints(workdir, spec.runtime.keep_checkpoints)  # no best epoch: supernet training


def sampling_params(spec: SearchSpec) -> SamplingParams:
    """The spec's validated params model (every sampling method's extends SamplingParams)."""
    params = method_params(spec)
    assert isinstance(params, SamplingParams)
    return params


# --- scoring -------------------------------------------------------------------------------------


def _score_all(
    spec: SearchSpec,
    space: SearchSpace,
    f: CachedScorer,
    reporter: Reporter,
    workdir: Path,
    epochs: int,
    resume: bool,
) -> list[Scored]:
    params = sampling_params(spec)
    n = params.num_samples
    generator = torch.Generator().manual_seed(spec.seed)
    samples = [space.random_genotype(generator) for _ in range(n)]
    scored = _load_scores(spec, workdir) if resume else []
    for s in scored:  # already-known points seed the cache, so a resume re-scores nothing
        f.cache.setdefault(genotype_key(genotype_from_json(s.genotype)), s.point_score)
    # na-rs scores the mean over each architecture's neighbourhood; random and naswot the point alone.
    neighbourhood = params if isinstance(params, NaRsParams) else None
    started = last_save = time.perf_counter()
    done_before = len(scored)
    for index in range(len(scored), n):
        if reporter.should_stop():
            _save_scores(spec, workdir, scored)
            raise SearchCancelled(f"cancelled after scoring {index} of {n} architectures")
        genotype = samples[index]
        point = f(genotype)
        members = [point]
        if neighbourhood is not None:
            # One RNG per architecture: its neighbours do not depend on what was scored before.
            rng = random.Random(spec.seed * 1_000_003 + index)
            radius, cap = neighbourhood.radius, neighbourhood.max_neighbours
            members += [f(g) for g in neighbour_ball(genotype, radius, cap, rng)]
        # -inf is a legitimate worst score (a singular NASWOT kernel); NaN means something broke.
        score = sum(members) / len(members)
        if math.isnan(score):
            raise SearchDiverged(epochs, index, "architecture scoring")
        scored.append(Scored(index, genotype_to_json(genotype), score, point, len(members) - 1))
        now = time.perf_counter()
        eta = (now - started) / (index + 1 - done_before) * (n - index - 1)
        reporter.on_progress(Progress(epochs, index + 1, n, epochs + 1, "score", loss=None, eta_seconds=eta))
        if now - last_save > _SAVE_EVERY_SECONDS:
            _save_scores(spec, workdir, scored)
            last_save = now
    _save_scores(spec, workdir, scored)
    return scored


def _rank(scored: list[Scored]) -> list[Scored]:
    """Best first (higher is better for every f); one entry per architecture; ties keep sample order."""
    seen: set[tuple] = set()
    out = []
    for s in sorted(scored, key=lambda s: (-s.score, s.index)):
        key = genotype_key(genotype_from_json(s.genotype))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _save_scores(spec: SearchSpec, workdir: Path, scored: list[Scored]) -> None:
    path = workdir / SCORES_FILE
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "scored": [asdict(s) for s in scored]}))
    os.replace(tmp, path)  # atomic: a reader sees the old list or the new one


def _load_scores(spec: SearchSpec, workdir: Path) -> list[Scored]:
    path = workdir / SCORES_FILE
    if not path.is_file():
        return []
    body = json.loads(path.read_text())
    _check_same_search(spec, body["spec"], path)
    return [Scored(**s) for s in body["scored"]]


def _check_same_search(spec: SearchSpec, saved_spec: dict[str, Any], path: Path) -> None:
    changed = spec_changes(spec, saved_spec)
    if changed:
        raise CheckpointError(
            f"cannot resume from {path}: the spec differs in {', '.join(changed)}; "
            "resume with the spec it was written with, or use a new output directory"
        )
