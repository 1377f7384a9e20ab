"""Sampling searches (random, naswot, na-rs) and the neighbourhoods NA-RS averages over."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from nas_core.data import load_search_data
from nas_core.flatness.geometry import edit_distance, genotype_key
from nas_core.genotype import DARTS_V2, genotype_from_json, genotype_to_json
from nas_core.naswot import naswot_batch, score_genotype, score_genotype_json, score_genotype_on_dataset
from nas_core.reporter import NullReporter, SearchCancelled
from nas_core.sampling import run_sampling
from nas_core.sampling.neighbours import neighbour_ball
from nas_core.search import run_search
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec

NB201 = get_space("nb201")
DARTS = get_space("darts")


class Recorder(NullReporter):
    def __init__(self, stop_after: int | None = None) -> None:
        self.progress: list = []
        self.samples: list = []
        self.genotypes: list = []
        self.checkpoints: list = []
        self.stop_after = stop_after

    def on_progress(self, progress) -> None:  # type: ignore[no-untyped-def]
        self.progress.append(progress)

    def on_samples(self, samples) -> None:  # type: ignore[no-untyped-def]
        self.samples = samples

    def on_genotype(self, genotype, *, epoch, is_best, is_final) -> None:  # type: ignore[no-untyped-def]
        self.genotypes.append((genotype, is_best, is_final))

    def on_checkpoint(self, epoch, path) -> None:  # type: ignore[no-untyped-def]
        self.checkpoints.append(path)

    def should_stop(self) -> bool:
        scored = sum(p.phase == "score" for p in self.progress)
        return self.stop_after is not None and scored >= self.stop_after


def tiny_spec(method: str, space: str = "nb201", **params: object) -> SearchSpec:
    return SearchSpec.model_validate(
        {
            "space": space,
            "method": method,
            "method_params": {"num_samples": 5, "top_k": 3, "naswot_batch": 8, **params},
            "dataset": {
                "name": "synthetic",
                "subset": 32,
                "image_size": 8,
                "num_classes": 3,
                "eval_subset": 8,
            },
            "batch_size": 8,
            "supernet": {"C": 4, "N": 1} if space == "nb201" else {"C": 4, "layers": 3},
        }
    )


def scoring_inputs(spec: SearchSpec) -> tuple[torch.Tensor, int]:
    data = load_search_data(spec.dataset, seed=spec.seed)
    x = naswot_batch(data.train.images, data.normalize, spec.method_params["naswot_batch"], spec.seed)
    return x, data.num_classes


def sampled(spec: SearchSpec, space=NB201) -> list:
    generator = torch.Generator().manual_seed(spec.seed)
    return [space.random_genotype(generator) for _ in range(spec.method_params["num_samples"])]


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_naswot_search_keeps_the_best_of_independently_scored_samples(space: str, tmp_path: Path) -> None:
    spec = tiny_spec("naswot", space, num_samples=4)
    reporter = Recorder()
    result = run_search(spec, reporter, workdir=tmp_path)  # the engine dispatches sampling methods here

    x, k = scoring_inputs(spec)
    depth = 1 if space == "nb201" else 3
    s = get_space(space)
    expected = sorted(
        (
            (score_genotype(g, s, x, C=4, depth=depth, num_classes=k, seed=0), i)
            for i, g in enumerate(sampled(spec, s))
        ),
        key=lambda t: (-t[0], t[1]),
    )
    assert [p.step for p in reporter.progress if p.phase == "score"] == [1, 2, 3, 4]
    assert {p.steps_per_epoch for p in reporter.progress} == {4}
    scores = [a.score for a in reporter.samples]
    assert [a.rank for a in reporter.samples] == list(range(1, len(scores) + 1))
    assert scores == pytest.approx([e[0] for e in expected][: len(scores)], rel=1e-9)
    best, is_best, is_final = reporter.genotypes[-1]
    assert is_best and is_final
    assert genotype_key(genotype_from_json(best)) == genotype_key(sampled(spec, s)[expected[0][1]])
    assert result.best_genotype == best
    json.dumps(result.extra)


def test_na_rs_ranks_by_the_neighbourhood_mean_of_naswot(tmp_path: Path) -> None:
    spec = tiny_spec("na-rs", num_samples=2, top_k=2, max_neighbours=5)
    reporter = Recorder()
    result = run_sampling(spec, reporter, workdir=tmp_path)
    x, k = scoring_inputs(spec)

    def f(g) -> float:
        return score_genotype(g, NB201, x, C=4, depth=1, num_classes=k, seed=0)

    means = []
    for i, g in enumerate(sampled(spec)):
        ball = neighbour_ball(g, 1, 5, random.Random(spec.seed * 1_000_003 + i))
        assert len(ball) == 5
        means.append(sum(f(n) for n in [g, *ball]) / 6)
    assert [a.score for a in reporter.samples] == pytest.approx(sorted(means, reverse=True), rel=1e-9)
    assert all(s["neighbours"] == 5 for s in result.extra["samples"])


def test_random_search_trains_a_single_path_supernet_and_resumes_to_the_same_result(tmp_path: Path) -> None:
    spec = tiny_spec("random", num_samples=4, top_k=4)
    full = Recorder()
    result = run_sampling(spec, full, workdir=tmp_path / "full")
    assert result.extra["score"] == "supernet"
    assert len(full.checkpoints) == 10  # na-rs's supernet_epochs default, one checkpoint per epoch
    assert all(0.0 <= a.score <= 1.0 for a in full.samples)

    interrupted = Recorder(stop_after=2)
    with pytest.raises(SearchCancelled):
        run_sampling(spec, interrupted, workdir=tmp_path / "resumed")
    resumed = Recorder()
    again = run_sampling(spec, resumed, workdir=tmp_path / "resumed", resume=True)
    assert [p.phase for p in resumed.progress] == ["score", "score"]  # training and the first 2 not redone
    assert [(a.genotype, a.score) for a in resumed.samples] == [(a.genotype, a.score) for a in full.samples]
    assert again.best_genotype == result.best_genotype


def test_na_rs_with_supernet_scores(tmp_path: Path) -> None:
    spec = tiny_spec("na-rs", num_samples=2, top_k=1, score="supernet", supernet_epochs=1, max_neighbours=3)
    reporter = Recorder()
    result = run_sampling(spec, reporter, workdir=tmp_path)
    assert [p.phase for p in reporter.progress] == ["train", "score", "score"]
    assert len(reporter.samples) == 1 and 0.0 <= reporter.samples[0].score <= 1.0
    assert result.extra["samples"][0]["neighbours"] == 3


def test_cancel_before_scoring_raises(tmp_path: Path) -> None:
    with pytest.raises(SearchCancelled):
        run_sampling(tiny_spec("naswot"), Recorder(stop_after=0), workdir=tmp_path)


# --- neighbourhoods ------------------------------------------------------------------------------


def test_nb201_ball_of_radius_one_is_the_24_hamming_neighbours() -> None:
    g = NB201.random_genotype(torch.Generator().manual_seed(1))
    ball = neighbour_ball(g, 1, 100, random.Random(0))
    assert len(ball) == 24 == len({genotype_key(n) for n in ball})
    assert all(edit_distance(g, n) == 1 for n in ball)


def test_nb201_ball_of_radius_two_is_sampled_from_all_264() -> None:
    g = NB201.random_genotype(torch.Generator().manual_seed(1))
    assert len(neighbour_ball(g, 2, 1000, random.Random(0))) == 24 + 240
    ball = neighbour_ball(g, 2, 30, random.Random(0))
    assert len(ball) == 30 == len({genotype_key(n) for n in ball})
    assert {edit_distance(g, n) for n in ball} <= {1, 2}


def test_darts_ball_splits_the_budget_over_radii() -> None:
    ball = neighbour_ball(DARTS_V2, 2, 9, random.Random(0))
    distances = [edit_distance(DARTS_V2, n) for n in ball]
    assert distances.count(1) == 5 and distances.count(2) == 4
    assert len({genotype_key(n) for n in ball}) == 9


# --- NASWOT of any genotype ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "genotype", [DARTS_V2, NB201.random_genotype(torch.Generator().manual_seed(2))], ids=["darts_v2", "nb201"]
)
def test_naswot_of_a_genotype_json(genotype) -> None:
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    depth = 3 if genotype.space == "darts" else 1
    space = get_space(genotype.space)
    direct = score_genotype(genotype, space, x, C=4, depth=depth, num_classes=3, seed=7)
    from_json = score_genotype_json(
        json.loads(json.dumps(genotype_to_json(genotype))), x, C=4, depth=depth, num_classes=3, seed=7
    )
    assert from_json == direct
    assert direct == pytest.approx(
        score_genotype(genotype, space, x.flip(0), C=4, depth=depth, num_classes=3, seed=7), rel=1e-9
    )
    assert torch.isfinite(torch.tensor(direct))


def test_naswot_of_a_genotype_on_a_dataset_uses_a_seeded_unaugmented_batch() -> None:
    dataset = SearchSpec.model_validate(
        {"dataset": {"name": "synthetic", "subset": 32, "image_size": 8, "num_classes": 3}}
    ).dataset
    genotype = NB201.random_genotype(torch.Generator().manual_seed(3))
    data = load_search_data(dataset, seed=1)
    x = naswot_batch(data.train.images, data.normalize, 16, 1)
    expected = score_genotype(genotype, NB201, x, C=4, depth=1, num_classes=3, seed=1)
    got = score_genotype_on_dataset(genotype_to_json(genotype), dataset, C=4, depth=1, batch_size=16, seed=1)
    assert got == expected


def test_naswot_batch_rejects_more_images_than_available() -> None:
    with pytest.raises(ValueError, match="naswot_batch"):
        naswot_batch(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), lambda x: x.float(), 8, 0)
