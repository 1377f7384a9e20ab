"""Every registered gradient method runs a tiny search on both spaces, with and without A2M.

Parametrised over the registry, so a method added there is tested here without a new test: its
architecture parameters move, the search reports each epoch and the genotypes serialise.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from nas_core.data import load_search_data
from nas_core.genotype import genotype_from_json, genotype_to_json
from nas_core.loop import StepClock, build_state, train_epoch
from nas_core.methods import METHODS, build_method, describe_methods
from nas_core.methods.gaea import Gaea
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec
from tests.unit.tiny import tiny_body

# Cheapest settings of each method's own knobs; the defaults are exercised in test_methods_updates.
TINY_PARAMS = {"na-darts": {"k": 1}, "pc-darts": {"k": 2}}

CASES = [
    pytest.param(name, space, a2m, id=f"{name}-{space}-{'a2m' if a2m else 'plain'}")
    for name, info in METHODS.items()
    if info.kind == "gradient"
    for space in ("nb201", "darts")
    for a2m in ((False, True) if info.supports_a2m else (False,))
]


def tiny_spec(method: str, space: str, a2m: bool) -> SearchSpec:
    return SearchSpec.model_validate(
        tiny_body(
            space=space,
            method=method,
            method_params=TINY_PARAMS.get(method, {}),
            a2m={"enabled": True} if a2m else None,
            dataset={"name": "synthetic", "subset": 16, "image_size": 8, "num_classes": 3},
            batch_size=8,
            supernet={"C": 4, "N": 1} if space == "nb201" else {"C": 4, "layers": 3},
            flatness={
                "hessian_eigenvalue": False,
                "a2m_sharpness": False,
                "skip_count": False,
                "alpha_entropy": False,
                "neighbourhood": False,
                "cell_shape": False,
            },
        )
    )


class EpochCounter(NullReporter):
    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.finals = 0

    def on_epoch(self, record) -> None:  # type: ignore[no-untyped-def]
        self.epochs.append(record.epoch)

    def on_genotype(self, genotype, *, epoch, is_best, is_final) -> None:  # type: ignore[no-untyped-def]
        json.dumps(genotype)
        self.finals += is_final


@pytest.mark.parametrize(("name", "space", "a2m"), CASES)
def test_tiny_search_moves_alpha_and_serialises(name: str, space: str, a2m: bool, tmp_path: Path) -> None:
    spec = tiny_spec(name, space, a2m)
    # The α the search starts from: the loop seeds init_alphas with the spec's seed.
    method = build_method(spec, get_space(spec))
    start = method.init_alphas(torch.Generator().manual_seed(spec.seed), torch.device("cpu"))
    start_extra = [p.detach().clone() for p in method.extra_parameters()]

    reporter = EpochCounter()
    result = run_search(spec, reporter, device="cpu", workdir=tmp_path)

    assert reporter.epochs == [0, 1] and reporter.finals == 1
    moved = max(float((a - s.detach()).abs().max()) for a, s in zip(result.alphas, start, strict=True))
    assert moved > 1e-5, f"{name}: α did not move"
    for a in result.alphas:
        assert torch.isfinite(a).all()
    if name == "pc-darts":
        # β's last values live in the checkpoint (the search result keeps α only)
        body = torch.load(tmp_path / "checkpoints" / "epoch_0001.pt", weights_only=False)
        betas = body["state"]["extra_parameters"]
        assert len(betas) == len(start_extra) > 0
        assert max(float((b - s).abs().max()) for b, s in zip(betas, start_extra, strict=True)) > 1e-5
    for genotype_json in (result.final_genotype, result.best_genotype):
        genotype = genotype_from_json(json.loads(json.dumps(genotype_json)))
        assert genotype.space == space
        assert genotype_to_json(genotype)["genotype"] == genotype_json["genotype"]


def test_registry_lists_every_spec_method_with_its_params_schema() -> None:
    described = {d["name"]: d for d in describe_methods()}
    assert set(described) == set(METHODS)
    assert described["gaea"]["params"]["properties"]["eta"]["default"] == 0.1
    assert described["beta-darts"]["params"]["properties"]["tau"]["default"] == 0.5
    assert described["pc-darts"]["params"]["properties"]["k"]["default"] == 4
    assert described["milenas"]["params"]["properties"]["lam"]["default"] == 1.0
    assert {d["kind"] for n, d in described.items() if n in ("random", "naswot", "na-rs")} == {"sampling"}


def test_invalid_method_params_name_the_field() -> None:
    with pytest.raises(ValueError, match="method_params.eta"):
        SearchSpec.model_validate({"method": "gaea", "method_params": {"eta": -1}})
    with pytest.raises(ValueError, match="method_params.k"):
        SearchSpec.model_validate({"method": "pc-darts", "method_params": {"k": 0}})


def test_gaea_single_level_gets_its_architecture_batch_from_the_training_half(tmp_path: Path) -> None:
    """The loop honours Gaea.arch_batch_source (see also the batch-level test below)."""
    spec = tiny_spec("gaea", "nb201", a2m=False)
    spec = spec.model_copy(update={"method_params": {**spec.method_params, "level": "single"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run_search(spec, NullReporter(), device="cpu", workdir=tmp_path)
    start = Gaea(get_space(spec), spec.method_params).init_alphas(torch.Generator(), torch.device("cpu"))
    assert float((result.alphas[0] - start[0].detach()).abs().max()) > 1e-5


def test_the_loop_draws_architecture_batches_from_the_half_the_method_declares() -> None:
    spec = tiny_spec("gaea", "nb201", a2m=False)
    spec = spec.model_copy(
        update={
            "method_params": {**spec.method_params, "level": "single"},
            "dataset": spec.dataset.model_copy(update={"augment": False}),
        }
    )
    data = load_search_data(spec.dataset, seed=spec.seed)
    state = build_state(spec, get_space(spec), data, torch.device("cpu"))
    seen: list[torch.Tensor] = []
    state.method.begin_step = lambda ctx: seen.append(ctx.x_val)  # type: ignore[method-assign]
    train_epoch(state, 0, NullReporter(), StepClock(1, 0))
    rows = {tuple(r.flatten().tolist()) for r in data.normalize(data.train.images)}
    val_rows = {tuple(r.flatten().tolist()) for r in data.normalize(data.val.images)}
    drawn = [tuple(r.flatten().tolist()) for batch in seen for r in batch]
    assert seen and all(r in rows for r in drawn) and not any(r in val_rows for r in drawn)


@pytest.mark.parametrize("name", [n for n, info in METHODS.items() if info.kind == "gradient"])
def test_each_gradient_method_is_handed_its_validated_params_model(name: str) -> None:
    info = METHODS[name]
    spec = tiny_spec(name, "nb201", a2m=False)
    method = build_method(spec, get_space(spec))
    assert info.cls is not None and info.cls.params_model is info.params_model
    assert isinstance(method.params, info.params_model)
    assert method.params.model_dump() == spec.method_params  # defaults filled once, by the model
