"""Landscape evaluations: shared-weight evaluation, neighbourhood profiles, barriers."""

from __future__ import annotations

import random
import statistics

import pytest
import torch
from torch import nn

from nas_core.flatness.evaluation import ArchitectureEvaluator, Evaluation
from nas_core.flatness.geometry import genotype_key
from nas_core.flatness.landscape import (
    alpha_line_barrier,
    barrier_matrix,
    neighbourhood_profile,
    path_barrier,
)
from nas_core.genotype import NB201_EDGES, NB201_OPS, Genotype
from nas_core.methods.base import ArchMethod
from nas_core.spaces import get_space
from nas_core.spaces.nb201_definition import nb201_neighbours


def nb201(*ops: str) -> Genotype:
    return Genotype(
        "nb201", NB201_OPS, edges=tuple((op, s) for op, (_, s) in zip(ops, NB201_EDGES, strict=True))
    )


A = nb201("nor_conv_3x3", "skip_connect", "nor_conv_3x3", "skip_connect", "none", "nor_conv_3x3")
B = nb201(
    "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3"
)  # distance 2
M1 = nb201(
    "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect", "none", "nor_conv_3x3"
)  # A, edge 0 changed
M2 = nb201(
    "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3"
)  # A, edge 2 changed


def table(entries: dict[Genotype, tuple[float, float]]):
    by_key = {genotype_key(g): Evaluation(loss=loss, acc=acc) for g, (loss, acc) in entries.items()}
    return lambda g: by_key[genotype_key(g)]


def test_barrier_formula_on_a_hand_made_table() -> None:
    evaluate = table({A: (1.0, 0.8), B: (1.4, 0.6), M1: (2.0, 0.5), M2: (1.2, 0.75)})
    result = path_barrier(evaluate, A, B, max_paths=10)
    assert result["distance"] == 2 and result["paths"] == 2
    # ½(0.8 + 0.6) = 0.7; path via M1: min 0.5 -> 0.2; via M2: min is b's 0.6 -> 0.1
    assert sorted(p["acc_barrier"] for p in result["per_path"]) == pytest.approx([0.1, 0.2])
    assert result["acc_barrier_mean"] == pytest.approx(0.15)
    assert result["acc_barrier_max"] == pytest.approx(0.2)
    # ½(1.0 + 1.4) = 1.2; via M1: max 2.0 -> 0.8; via M2: max is b's 1.4 -> 0.2
    assert result["loss_barrier_mean"] == pytest.approx(0.5)
    assert result["loss_barrier_max"] == pytest.approx(0.8)
    reverse = path_barrier(evaluate, B, A, max_paths=10)
    assert reverse["acc_barrier_mean"] == pytest.approx(result["acc_barrier_mean"])


def test_neighbourhood_profile_statistics_on_a_table() -> None:
    rng = random.Random(0)
    entries = {g: (rng.uniform(1, 3), rng.uniform(0, 1)) for g in nb201_neighbours(A, 1)}
    entries[A] = (1.5, 0.9)
    profile = neighbourhood_profile(table(entries), A, 1, max_samples=24, rng=random.Random(1))
    accs = [acc for g, (_, acc) in entries.items() if g != A]
    losses = [loss for g, (loss, _) in entries.items() if g != A]
    assert profile["evaluated"] == 24
    assert profile["acc"]["mean"] == pytest.approx(statistics.fmean(accs))
    assert profile["acc"]["std"] == pytest.approx(statistics.pstdev(accs))
    assert profile["acc_drop_max"] == pytest.approx(0.9 - min(accs))
    assert profile["loss_rise_mean"] == pytest.approx(statistics.fmean(losses) - 1.5)
    assert profile["loss"]["max"] == pytest.approx(max(losses))


@pytest.fixture(scope="module")
def tiny() -> tuple:
    torch.manual_seed(0)
    space = get_space("nb201")
    supernet = space.build_supernet(4, 1, 10)
    generator = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(8, 3, 8, 8, generator=generator), torch.randint(0, 10, (8,), generator=generator))
        for _ in range(2)
    ]
    return space, supernet, batches


def test_evaluator_matches_a_direct_forward_and_restores_bn(tiny: tuple) -> None:
    space, supernet, batches = tiny
    supernet.train()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    evaluator = ArchitectureEvaluator(supernet, space, batches, nn.CrossEntropyLoss(), "cpu")
    result = evaluator(A)
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())
    assert all(m.training for m in supernet.modules())
    # Independent: a copy in train mode (batch-statistics BN), per-image loss summed by hand.
    copy = get_space("nb201").build_supernet(4, 1, 10)
    copy.load_state_dict(before)
    copy.train()
    with torch.no_grad():
        logits = [copy(x, space.one_hot(A)) for x, _ in batches]
    labels = torch.cat([y for _, y in batches])
    logits = torch.cat(logits)
    assert result.loss == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)
    assert result.acc == pytest.approx((logits.argmax(-1) == labels).float().mean().item())
    evaluator(A)
    assert evaluator.evaluations == 1  # cached


def test_barrier_to_itself_is_zero_and_matrix_is_symmetric(tiny: tuple) -> None:
    space, supernet, batches = tiny
    evaluator = ArchitectureEvaluator(supernet, space, batches, nn.CrossEntropyLoss(), "cpu")
    same = path_barrier(evaluator, A, A, max_paths=5)
    assert same["paths"] == 1 and same["distance"] == 0
    assert same["acc_barrier_max"] == 0.0 and same["loss_barrier_max"] == 0.0
    matrix = barrier_matrix(evaluator, [A, B, M1], max_paths=4)
    for key in ("acc_barrier_mean", "loss_barrier_max", "distance"):
        m = matrix[key]
        assert all(m[i][i] == 0 for i in range(3))
        assert all(m[i][j] == m[j][i] for i in range(3) for j in range(3))
    direct = path_barrier(evaluator, A, B, max_paths=4, rng=random.Random("0:0:1"))
    assert matrix["loss_barrier_mean"][0][1] == pytest.approx(direct["loss_barrier_mean"])
    assert matrix["distance"][0][1] == 2 and matrix["distance"][1][2] == 1
    # endpoints on the path: each barrier is at least half the endpoints' gap
    a, b = evaluator(A), evaluator(B)
    assert direct["loss_barrier_mean"] >= abs(a.loss - b.loss) / 2 - 1e-12


def test_alpha_line_barrier(tiny: tuple) -> None:
    space, supernet, batches = tiny
    evaluator = ArchitectureEvaluator(supernet, space, batches, nn.CrossEntropyLoss(), "cpu")
    method = ArchMethod(space, {})
    alpha_a = [torch.randn(6, 5, generator=torch.Generator().manual_seed(2))]
    alpha_b = [torch.randn(6, 5, generator=torch.Generator().manual_seed(3))]
    line = alpha_line_barrier(evaluator, method, alpha_a, alpha_b, points=5)
    assert line["t"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert line["loss"][0] == pytest.approx(evaluator.mixing(method.mixing_weights(alpha_a)).loss)
    assert line["loss"][-1] == pytest.approx(evaluator.mixing(method.mixing_weights(alpha_b)).loss)
    mid = evaluator.mixing(method.mixing_weights([0.5 * alpha_a[0] + 0.5 * alpha_b[0]])).loss
    expected = max(
        lt - ((1 - t) * line["loss"][0] + t * line["loss"][-1])
        for t, lt in zip(line["t"], line["loss"], strict=True)
    )
    assert line["loss"][2] == pytest.approx(mid)
    assert line["loss_barrier"] == pytest.approx(expected) and line["loss_barrier"] >= 0
    flat = alpha_line_barrier(evaluator, method, alpha_a, alpha_a, points=3)
    assert flat["loss_barrier"] == pytest.approx(0.0, abs=1e-6)
