"""The hooks the search loop calls, the on-demand jobs and flatness.json export, on tiny supernets."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from torch import nn

from nas_core.flatness.alpha import hessian_eigenvalue
from nas_core.flatness.evaluation import batch_stat_mode
from nas_core.flatness.export import flatness_records_to_json
from nas_core.flatness.geometry import cell_shape, edit_distance
from nas_core.flatness.hooks import FlatnessContext, epoch_metrics, final_metrics
from nas_core.flatness.jobs import barrier_matrix_record, barrier_records
from nas_core.methods import METHODS, build_method
from nas_core.reporter import FlatnessRecord
from nas_core.spaces import get_space
from nas_core.spec import SearchSpec

EPOCH_KINDS = {"hessian_eigenvalue", "a2m_sharpness", "skip_count", "alpha_entropy"}
GRADIENT_METHODS = [name for name, info in METHODS.items() if info.kind == "gradient"]


def make_ctx(
    method: str = "darts", space: str = "nb201", batches: int = 3, **flatness: Any
) -> FlatnessContext:
    shape = {"C": 4, "N": 1} if space == "nb201" else {"C": 4, "layers": 3}
    info = METHODS[method]
    spec = SearchSpec.model_validate(
        {
            "space": space,
            "method": method,
            "a2m": {"enabled": info.supports_a2m},
            "epochs": 4,
            "seed": 3,
            "supernet": shape,
            "dataset": {"name": "synthetic", "image_size": 8},
            "flatness": {"power_iterations": 3, "val_batches": 2, "neighbour_samples": 6, **flatness},
        }
    )
    space_obj = get_space(spec)
    torch.manual_seed(0)
    depth = spec.depth
    partial = spec.method_params["k"] if method == "pc-darts" else 1
    supernet = space_obj.build_supernet(spec.supernet.C, depth, 10, partial_channels=partial)
    arch = build_method(spec, space_obj)
    generator = torch.Generator().manual_seed(1)
    alphas = [
        (a + torch.randn(a.shape, generator=generator)).detach().requires_grad_(True)
        for a in arch.init_alphas(generator, torch.device("cpu"))
    ]
    data = [
        (torch.randn(8, 3, 8, 8, generator=generator), torch.randint(0, 10, (8,), generator=generator))
        for _ in range(batches)
    ]
    return FlatnessContext(supernet, space_obj, arch, alphas, data, nn.CrossEntropyLoss(), spec, "cpu")


def snapshot(ctx: FlatnessContext) -> tuple:
    return (
        {k: v.clone() for k, v in ctx.supernet.state_dict().items()},
        [m.training for m in ctx.supernet.modules()],
        [a.detach().clone() for a in ctx.alphas],
    )


def assert_unchanged(ctx: FlatnessContext, before: tuple) -> None:
    state, modes, alphas = before
    assert all(torch.equal(state[k], v) for k, v in ctx.supernet.state_dict().items())
    assert [m.training for m in ctx.supernet.modules()] == modes
    assert all(torch.equal(a, b) for a, b in zip(ctx.alphas, alphas, strict=True))


def check_record(record: FlatnessRecord) -> None:
    assert record.seconds >= 0
    json.dumps(flatness_records_to_json([record]), allow_nan=False)


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_epoch_metrics_for_every_gradient_method(method: str) -> None:
    ctx = make_ctx(method)
    ctx.supernet.train()
    before = snapshot(ctx)
    records = epoch_metrics(ctx, epoch=2)
    assert {r.kind for r in records} == EPOCH_KINDS
    assert all(r.epoch == 2 for r in records)
    by_kind = {r.kind: r for r in records}
    for r in records:
        check_record(r)
    hessian = by_kind["hessian_eigenvalue"]
    assert math.isfinite(hessian.value) and 1 <= len(hessian.params["history"]) <= 3
    assert hessian.params["hvps"] == len(hessian.params["history"]) and hessian.params["method"] == "lanczos"
    assert hessian.params["converged"] == (hessian.params["residual"] <= 0.1)
    assert hessian.params["val_batches"] == 2 and hessian.params["val_images"] == 16
    assert by_kind["a2m_sharpness"].params["rho"] == ctx.spec.a2m_rho
    assert 0 <= by_kind["alpha_entropy"].value <= by_kind["alpha_entropy"].params["max"] + 1e-6
    assert_unchanged(ctx, before)


@pytest.mark.parametrize("hessian_method", ["lanczos", "power"])
def test_hessian_record_equals_its_method_on_l_val(hessian_method: str) -> None:
    ctx = make_ctx("darts", hessian_method=hessian_method, hessian_tol=None)
    record = next(r for r in epoch_metrics(ctx, 0) if r.kind == "hessian_eigenvalue")

    def l_val(alphas: list[torch.Tensor]) -> torch.Tensor:
        weights = [torch.softmax(a, dim=-1) for a in alphas]
        # only the first spec.flatness.val_batches (2) batches, averaged per batch
        return (
            sum(nn.functional.cross_entropy(ctx.supernet(x, weights), y) for x, y in ctx.val_batches[:2]) / 2
        )

    with batch_stat_mode(ctx.supernet):
        expected = hessian_eigenvalue(
            l_val,
            ctx.alphas,
            method=hessian_method,
            iterations=3,
            generator=torch.Generator().manual_seed(ctx.spec.seed),
        )
    assert record.params["method"] == hessian_method and record.params["hvps"] == 3
    assert record.value == pytest.approx(expected.eigenvalue, rel=1e-5)
    assert record.params["history"] == pytest.approx(expected.history, rel=1e-5)


@pytest.mark.parametrize("switch", sorted(EPOCH_KINDS))
def test_epoch_switches(switch: str) -> None:
    ctx = make_ctx(**{switch: False})
    assert {r.kind for r in epoch_metrics(ctx, 0)} == EPOCH_KINDS - {switch}


def test_final_metrics_nb201() -> None:
    ctx = make_ctx(neighbour_samples=30)
    ctx.supernet.train()
    before = snapshot(ctx)
    genotype = ctx.space.derive(ctx.method.genotype_weights(ctx.alphas))
    records = final_metrics(ctx, genotype)
    assert [(r.kind, r.params.get("radius")) for r in records] == [
        ("neighbourhood", 1),
        ("neighbourhood", 2),
        ("cell_shape", None),
    ]
    r1, r2, shape = records
    assert r1.value["evaluated"] == 24 and r2.value["evaluated"] == 30  # all 24; 30 of the 240
    assert r1.epoch is None and r1.params["val_images"] == 16
    centre = r1.value["centre"]
    assert r1.value["acc_drop_mean"] == pytest.approx(centre["acc"] - r1.value["acc"]["mean"])
    expected_shape = cell_shape(genotype, 4)["cell"]
    assert {k: shape.value["cell"][k] for k in expected_shape} == expected_shape
    assert shape.value["cell"]["skip_count"] == sum(op == "skip_connect" for op, _ in genotype.edges)
    for r in records:
        check_record(r)
    assert_unchanged(ctx, before)
    ctx_off = make_ctx(neighbourhood=False, cell_shape=False)
    assert final_metrics(ctx_off, genotype) == []


def test_final_metrics_darts_samples_edits() -> None:
    ctx = make_ctx("darts", space="darts", batches=1, val_batches=1, neighbour_samples=2)
    genotype = ctx.space.derive(ctx.method.genotype_weights(ctx.alphas))
    records = final_metrics(ctx, genotype)
    assert [r.value["evaluated"] for r in records if r.kind == "neighbourhood"] == [2, 2]
    assert set(records[-1].value) == {"normal", "reduce"}


def test_barrier_jobs() -> None:
    ctx = make_ctx()
    a = ctx.space.derive(ctx.method.genotype_weights(ctx.alphas))
    other_alphas = [torch.randn(t.shape, generator=torch.Generator().manual_seed(9)) for t in ctx.alphas]
    b = ctx.space.derive(ctx.method.genotype_weights(other_alphas))
    records = barrier_records(
        ctx, a, b, max_paths=3, alphas_a=ctx.alphas, alphas_b=other_alphas, line_points=3
    )
    assert [r.kind for r in records] == ["barrier", "alpha_line_barrier"]
    assert records[0].value["distance"] == edit_distance(a, b)
    assert records[0].value["paths"] == min(3, math.factorial(edit_distance(a, b)))
    assert len(records[1].value["loss"]) == 3
    with pytest.raises(ValueError, match="alphas_a, alphas_b"):
        barrier_records(ctx, a, b, alphas_a=ctx.alphas)
    matrix = barrier_matrix_record(ctx, [a, b], max_paths=2)
    assert matrix.kind == "barrier_matrix" and matrix.value["distance"][0][1] == edit_distance(a, b)
    for r in [*records, matrix]:
        check_record(r)


def test_export_is_strict_json() -> None:
    records = [
        FlatnessRecord("hessian_eigenvalue", 0, {"history": [1.0, float("nan")]}, float("inf"), 0.5),
        FlatnessRecord("cell_shape", None, {"C": 4}, {"cell": {"width": 8.0, "depth": 3}}, 0.0),
    ]
    out = flatness_records_to_json(records)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == {
        "format": "flatnas.flatness/1",
        "kinds": ["cell_shape", "hessian_eigenvalue"],
        "records": [
            {
                "kind": "hessian_eigenvalue",
                "epoch": 0,
                "params": {"history": [1.0, None]},
                "value": None,
                "seconds": 0.5,
            },
            {
                "kind": "cell_shape",
                "epoch": None,
                "params": {"C": 4},
                "value": {"cell": {"width": 8.0, "depth": 3}},
                "seconds": 0.0,
            },
        ],
    }
