"""Each method's defining update, checked on hand-made inputs against an independent computation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas_core.methods import METHODS
from nas_core.methods.a2m import A2M
from nas_core.methods.base import ArchMethod, StepContext
from nas_core.methods.beta_darts import BetaDarts, beta_regulariser
from nas_core.methods.darts_minus import DartsMinus, aux_skip_scale
from nas_core.methods.gaea import Gaea
from nas_core.methods.milenas import Milenas
from nas_core.methods.na_darts import NaDarts, apply_neighbour, sample_neighbour_indices
from nas_core.methods.pc_darts import PcDarts
from nas_core.methods.sdarts_rs import SdartsRs, noise_radius, smoothed_weights
from nas_core.spaces import get_space
from nas_core.spaces.mixed import MixedOp

NB201 = get_space("nb201")
DARTS = get_space("darts")


def params(name: str, **overrides: object) -> dict:
    return METHODS[name].params_model(**overrides).model_dump()


def make_ctx(
    space, *, epoch: int = 0, total_epochs: int = 4, partial_channels: int = 1, seed: int = 0
) -> StepContext:
    torch.manual_seed(seed)
    depth = 1 if space.name == "nb201" else 3
    supernet = space.build_supernet(4, depth, 3, partial_channels=partial_channels)
    g = torch.Generator().manual_seed(seed)
    return StepContext(
        supernet=supernet,
        space=space,
        criterion=nn.CrossEntropyLoss(),
        x_train=torch.randn(6, 3, 8, 8, generator=g),
        y_train=torch.randint(3, (6,), generator=g),
        x_val=torch.randn(6, 3, 8, 8, generator=g),
        y_val=torch.randint(3, (6,), generator=g),
        epoch=epoch,
        total_epochs=total_epochs,
        step=0,
        generator=torch.Generator().manual_seed(seed + 1),
    )


def random_alphas(space, seed: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for shape in space.alpha_shapes()]


def grad_of(method: ArchMethod, ctx: StepContext, alphas: list[torch.Tensor]) -> list[torch.Tensor]:
    method.begin_step(ctx)
    return method.arch_grad(lambda a: method.arch_loss(ctx, a), alphas)


# --- β-DARTS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
def test_beta_darts_regulariser_gradient_is_lambda_softmax_over_edges(space) -> None:
    ctx = make_ctx(space, epoch=3)
    alphas = random_alphas(space)
    beta = grad_of(BetaDarts(space, params("beta-darts", tau=0.5)), ctx, alphas)
    plain = grad_of(ArchMethod(space, {}), ctx, alphas)
    lam = 0.5 * 3  # λ_t = τ·epoch, the epoch (not the step)
    for gb, gp, a in zip(beta, plain, alphas, strict=True):
        expected = lam * torch.softmax(a, dim=-1) / a.shape[0]
        torch.testing.assert_close(gb - gp, expected, atol=1e-6, rtol=1e-4)


def test_beta_regulariser_value() -> None:
    a = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    expected = (math.log(4.0) + 1.0 + math.log(2.0)) / 2
    assert float(beta_regulariser([a])) == pytest.approx(expected)
    assert float(beta_regulariser([a, a])) == pytest.approx(2 * expected)


def test_beta_darts_lambda_is_zero_at_first_epoch() -> None:
    ctx = make_ctx(NB201, epoch=0)
    alphas = random_alphas(NB201)
    for gb, gp in zip(
        grad_of(BetaDarts(NB201, params("beta-darts")), ctx, alphas),
        grad_of(ArchMethod(NB201, {}), ctx, alphas),
        strict=True,
    ):
        torch.testing.assert_close(gb, gp)


# --- MiLeNAS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
def test_milenas_adds_lambda_times_train_gradient(space) -> None:
    ctx = make_ctx(space)
    alphas = random_alphas(space)
    mixed = grad_of(Milenas(space, params("milenas", lam=2.0)), ctx, alphas)
    val = grad_of(ArchMethod(space, {}), ctx, alphas)
    leaves = [a.clone().requires_grad_(True) for a in alphas]
    logits = ctx.supernet(ctx.x_train, [torch.softmax(a, -1) for a in leaves])
    train = torch.autograd.grad(ctx.criterion(logits, ctx.y_train), leaves)
    for gm, gv, gt in zip(mixed, val, train, strict=True):
        assert gt.abs().max() > 0
        torch.testing.assert_close(gm, gv + 2.0 * gt, atol=1e-6, rtol=1e-4)


# --- SDARTS-RS ----------------------------------------------------------------------------------


def test_sdarts_noise_radius_schedule() -> None:
    assert noise_radius(0, 10, 0.03, 0.3) == pytest.approx(0.03)
    assert noise_radius(9, 10, 0.03, 0.3) == pytest.approx(0.3)
    assert noise_radius(3, 7, 0.0, 0.6) == pytest.approx(0.3)
    assert noise_radius(0, 1, 0.03, 0.3) == pytest.approx(0.03)


def test_sdarts_smoothed_weights_are_bounded_noise_clamped_and_renormalised() -> None:
    probs = torch.softmax(torch.randn(14, 7, generator=torch.Generator().manual_seed(0)) * 3, dim=-1)
    eps = 0.2
    gen = torch.Generator().manual_seed(5)
    replay = torch.Generator().manual_seed(5)
    out = smoothed_weights(probs, eps, gen)
    noise = (2 * torch.rand(probs.shape, generator=replay) - 1) * eps
    assert noise.abs().max() <= eps
    raw = (probs + noise).clamp(0, 1)
    torch.testing.assert_close(out, raw / raw.sum(-1, keepdim=True))
    assert (out >= 0).all() and (out <= 1).all()
    torch.testing.assert_close(out.sum(-1), torch.ones(14))
    assert (raw == 0).any()  # the clamp was exercised
    assert not torch.allclose(out, probs)


def test_sdarts_train_weights_use_the_epoch_radius_and_leave_the_arch_step_alone() -> None:
    method = SdartsRs(NB201, params("sdarts-rs", eps_start=0.0, eps_end=0.5))
    alphas = random_alphas(NB201)
    first = make_ctx(NB201, epoch=0, total_epochs=3)
    torch.testing.assert_close(method.train_weights(first, alphas)[0], torch.softmax(alphas[0], -1))
    last = make_ctx(NB201, epoch=2, total_epochs=3)
    deviation = (method.train_weights(last, alphas)[0] - torch.softmax(alphas[0], -1)).abs().max()
    assert 0 < deviation < 1
    plain = grad_of(ArchMethod(NB201, {}), last, alphas)
    for gs, gp in zip(grad_of(method, last, alphas), plain, strict=True):
        torch.testing.assert_close(gs, gp)


# --- DARTS− -------------------------------------------------------------------------------------


def test_darts_minus_beta_decays_linearly_and_is_set_on_the_supernet() -> None:
    method = DartsMinus(NB201, params("darts-minus"))
    supernet = NB201.build_supernet(4, 1, 3)
    seen = []
    for epoch in range(5):
        method.on_epoch_start(epoch, 5, supernet)
        seen.append(supernet.aux_skip_scale)
    assert seen == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    assert aux_skip_scale(0, 1, 1.0, 0.0) == 1.0


def test_darts_minus_aux_skip_reads_each_edge_source_node() -> None:
    """With every op weight 0 and β=1, node i = Σ_{j<i} node j: node 3 = 4·x (the cell-input bug gives 3·x)."""
    torch.manual_seed(0)
    supernet = NB201.build_supernet(4, 1, 3)
    supernet.aux_skip_scale = 1.0
    cell = next(m for m in supernet.cells if type(m).__name__ == "SearchCell")
    seen = {}
    cell.register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0], out=out))
    with torch.no_grad():
        supernet(torch.randn(2, 3, 8, 8), [torch.zeros(6, 5)])
    torch.testing.assert_close(seen["out"], 4 * seen["x"])


# --- PC-DARTS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
def test_pc_darts_ops_see_c_over_k_channels(space) -> None:
    k = 4
    method = PcDarts(space, params("pc-darts", k=k))
    assert method.partial_channels() == k
    torch.manual_seed(0)
    supernet = space.build_supernet(
        8, 1 if space.name == "nb201" else 5, 3, partial_channels=method.partial_channels()
    )
    pairs = []
    for mixed in (m for m in supernet.modules() if isinstance(m, MixedOp)):
        record: dict = {}
        mixed.register_forward_pre_hook(
            lambda m, inputs, record=record: record.update(edge=inputs[0].shape[1])
        )
        for op in mixed.ops:
            op.register_forward_pre_hook(
                lambda m, inputs, record=record: pairs.append((record["edge"], inputs[0].shape[1]))
            )
    alphas = method.init_alphas(torch.Generator().manual_seed(0), torch.device("cpu"))
    supernet(torch.randn(2, 3, 8, 8), [w.detach() for w in method.mixing_weights(alphas)])
    assert pairs and all(op_channels * k == edge_channels for edge_channels, op_channels in pairs)


def test_pc_darts_edge_normalisation_multiplies_node_softmax_into_op_weights() -> None:
    method = PcDarts(NB201, params("pc-darts"))
    alphas = method.init_alphas(torch.Generator().manual_seed(0), torch.device("cpu"))
    with torch.no_grad():
        method.betas[0].copy_(torch.tensor([0.3, -1.0, 2.0, 0.5, 0.0, -0.7]))
    (w,) = method.mixing_weights(alphas)
    b = method.betas[0].detach()
    edge = torch.cat([torch.ones(1), torch.softmax(b[1:3], 0), torch.softmax(b[3:6], 0)])
    torch.testing.assert_close(w, edge[:, None] * torch.softmax(alphas[0].detach(), -1))
    # per target node, the weights of all its incoming edges' ops sum to one
    totals = w.sum(-1)
    torch.testing.assert_close(torch.stack([totals[0], totals[1:3].sum(), totals[3:].sum()]), torch.ones(3))
    torch.testing.assert_close(method.genotype_weights(alphas)[0], w.detach())


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "a2m"])
def test_pc_darts_beta_is_trained_from_the_live_alpha_gradient(wrap: bool) -> None:
    ctx = make_ctx(NB201, partial_channels=2)
    base = PcDarts(NB201, params("pc-darts", k=2))
    method = A2M(base, rho=0.01) if wrap else base
    alphas = method.init_alphas(torch.Generator().manual_seed(0), torch.device("cpu"))
    optimizer = torch.optim.Adam([*alphas, *method.extra_parameters()], lr=0.1)
    before = [b.detach().clone() for b in method.extra_parameters()]
    # The β gradient the method should apply: ∂L_val/∂β at the live α.
    loss = base.arch_loss(ctx, alphas)
    expected = torch.autograd.grad(loss, base.betas)[0]
    grads = grad_of(method, ctx, alphas)
    method.arch_update(alphas, grads, optimizer)
    (beta,) = method.extra_parameters()
    assert expected.abs().max() > 0
    # Adam's first step moves each coordinate by lr·sign(g)
    moved = before[0] - beta.detach()
    torch.testing.assert_close(moved, 0.1 * torch.sign(expected), atol=1e-4, rtol=1e-3)


# --- GAEA ---------------------------------------------------------------------------------------


def test_gaea_init_is_uniform_on_the_simplex_without_none_on_nb201() -> None:
    method = Gaea(NB201, params("gaea"))
    (phi,) = method.init_alphas(torch.Generator(), torch.device("cpu"))
    (theta,) = method.mixing_weights([phi])
    none = NB201.ops.index("none")
    assert (theta[:, none] == 0).all()
    torch.testing.assert_close(theta.sum(-1), torch.ones(6))
    torch.testing.assert_close(theta[:, 1:], torch.full((6, 4), 0.25))
    theta_d = Gaea(DARTS, params("gaea")).mixing_weights(
        Gaea(DARTS, params("gaea")).init_alphas(torch.Generator(), torch.device("cpu"))
    )
    for t in theta_d:
        torch.testing.assert_close(t, torch.full((14, 7), 1 / 7))


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
def test_gaea_update_is_theta_times_exp_minus_eta_g_renormalised(space) -> None:
    eta = 0.7
    method = Gaea(space, params("gaea", eta=eta))
    alphas = method.init_alphas(torch.Generator(), torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    theta0 = [t.detach().clone() for t in method.mixing_weights(alphas)]
    # A point inside the simplex first, so θ is not uniform when the checked step happens.
    g_theta_first = [torch.randn(t.shape, generator=gen) for t in theta0]
    method.arch_update(
        alphas, [t * g for t, g in zip(theta0, g_theta_first, strict=True)], _null_optimizer(alphas)
    )
    theta1 = [t.detach().clone() for t in method.mixing_weights(alphas)]
    g_theta = [torch.randn(t.shape, generator=gen) for t in theta1]
    # arch_grad returns ∇_φ L = θ ⊙ ∇_θ L in the log parameterisation
    method.arch_update(alphas, [t * g for t, g in zip(theta1, g_theta, strict=True)], _null_optimizer(alphas))
    theta2 = method.mixing_weights(alphas)
    for t1, g, t2 in zip(theta1, g_theta, theta2, strict=True):
        expected = t1 * torch.exp(-eta * g)
        expected = expected / expected.sum(-1, keepdim=True)
        torch.testing.assert_close(t2, expected, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(t2.sum(-1), torch.ones(t2.shape[0]))
        assert (t2 >= 0).all()


def test_gaea_clamps_at_the_floor_before_renormalising() -> None:
    method = Gaea(DARTS, params("gaea", eta=1.0, clamp_min=1e-3))
    alphas = method.init_alphas(torch.Generator(), torch.device("cpu"))
    g = torch.zeros(14, 7)
    g[:, 0] = 50.0  # e^{-50}/7 would underflow the floor
    theta = method.mixing_weights(alphas)[0].detach()
    method.arch_update(alphas, [theta * g, torch.zeros(14, 7)], _null_optimizer(alphas))
    new = method.mixing_weights(alphas)[0]
    expected_row = torch.tensor([1e-3] + [1 / 7] * 6)
    torch.testing.assert_close(new, (expected_row / expected_row.sum()).expand(14, 7), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "a2m"])
def test_gaea_search_steps_stay_on_the_simplex(wrap: bool) -> None:
    ctx = make_ctx(NB201)
    base = Gaea(NB201, params("gaea", eta=0.5))
    method = A2M(base, rho=0.01) if wrap else base
    alphas = method.init_alphas(torch.Generator(), torch.device("cpu"))
    start = method.mixing_weights(alphas)[0].detach().clone()
    for _ in range(3):
        method.arch_update(alphas, grad_of(method, ctx, alphas), _null_optimizer(alphas))
    theta = method.mixing_weights(alphas)[0]
    torch.testing.assert_close(theta.sum(-1), torch.ones(6))
    assert (theta[:, NB201.ops.index("none")] == 0).all()
    assert (theta - start).abs().max() > 1e-4


def test_gaea_level_selects_the_arch_batch_source() -> None:
    assert Gaea(NB201, params("gaea")).arch_batch_source == "val"
    method = Gaea(NB201, params("gaea", level="single"))
    assert method.arch_batch_source == "train"
    # The loop asks the declared hook, also through the A2M wrapper.
    assert A2M(method, rho=0.01).arch_batch_source == "train"
    assert ArchMethod(NB201).arch_batch_source == "val"


def _null_optimizer(alphas: list[torch.Tensor]) -> torch.optim.Optimizer:
    return torch.optim.SGD(alphas, lr=0.0)


# --- NA-DARTS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
def test_na_darts_neighbour_swaps_the_top_op_on_one_edge(space) -> None:
    alphas = random_alphas(space)
    probs = [torch.softmax(a, -1) for a in alphas]
    indices = sample_neighbour_indices(probs, 6, 1, torch.Generator().manual_seed(0))
    assert indices.shape[0] == 6
    for index in indices:
        neighbour = apply_neighbour(probs, index)
        changed = [
            (g, e)
            for g, (p, n) in enumerate(zip(probs, neighbour, strict=True))
            for e in range(p.shape[0])
            if not torch.equal(p[e], n[e])
        ]
        assert len(changed) == 1
        g, e = changed[0]
        before, after = probs[g][e], neighbour[g][e]
        torch.testing.assert_close(after.sort().values, before.sort().values)  # a permutation
        top = int(before.argmax())
        moved = [i for i in range(before.shape[0]) if after[i] != before[i]]
        assert len(moved) == 2 and top in moved
        other = moved[0] if moved[1] == top else moved[1]
        assert after[top] == before[other] and after[other] == before[top]


def test_na_darts_gradient_flows_through_the_swap() -> None:
    a = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.1]], requires_grad=True)
    index = torch.tensor([[3, 1, 2, 0, 4]])  # swap top op 0 with op 3
    (n,) = apply_neighbour([torch.softmax(a, -1)], index)
    weights = torch.arange(1.0, 6.0)
    (grad,) = torch.autograd.grad((n * weights).sum(), a)
    # ≡ softmax(a)·(permuted weights): the swap moves op 3's coefficient onto op 0 and back
    b = a.detach().clone().requires_grad_(True)
    (expected,) = torch.autograd.grad((torch.softmax(b, -1) * weights[[3, 1, 2, 0, 4]]).sum(), b)
    assert grad.abs().max() > 0
    torch.testing.assert_close(grad, expected)


def test_na_darts_loss_is_the_mean_over_neighbours_and_self_fixed_within_a_step() -> None:
    ctx = make_ctx(NB201)
    method = NaDarts(NB201, params("na-darts", k=3, r=2))
    alphas = random_alphas(NB201)
    method.begin_step(ctx)
    loss = method.arch_loss(ctx, alphas)
    indices = method._neighbours
    assert indices is not None and indices.shape == (3, 6, 5)
    probs = [torch.softmax(alphas[0], -1)]
    members = [apply_neighbour(probs, i) for i in indices] + [probs]
    expected = torch.stack([ctx.criterion(ctx.supernet(ctx.x_val, m), ctx.y_val) for m in members]).mean()
    torch.testing.assert_close(loss, expected)
    # a second evaluation in the same step (A2M's perturbed passes) reuses the same neighbours
    method.arch_loss(ctx, [alphas[0] + 0.5])
    assert torch.equal(method._neighbours, indices)


def test_na_darts_rejects_more_edits_than_edges() -> None:
    with pytest.raises(ValueError, match="method_params.r"):
        NaDarts(NB201, params("na-darts", r=7))
