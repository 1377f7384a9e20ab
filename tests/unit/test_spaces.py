"""Search spaces on tiny supernets (C=4, one cell per stage / 5 layers, 16×16 images)."""

import pytest
import torch
import torch.nn.functional as F

from nas_core.genotype import (
    DARTS8_OPS,
    DARTS_EDGES,
    DARTS_V2,
    NB201_EDGES,
    NB201_OPS,
    Genotype,
    GenotypeError,
    same_architecture,
)
from nas_core.spaces import get_space
from nas_core.spaces.base import SearchSpace
from nas_core.spec import SearchSpec

C, CLASSES = 4, 10
DEPTH = {"nb201": 1, "darts": 5}
CONFIGS = [("nb201", "default"), ("darts", "default"), ("darts", "darts8")]


def batch(n: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(CLASSES, (n,), generator=g)


def random_alphas(space: SearchSpace, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).requires_grad_(True) for shape in space.alpha_shapes()]


@pytest.mark.parametrize(("name", "variant"), CONFIGS)
@pytest.mark.parametrize("partial", [1, 2])
def test_forward_backward_shapes_and_gradients(name: str, variant: str, partial: int) -> None:
    torch.manual_seed(0)
    space = get_space(name, variant)
    net = space.build_supernet(C, DEPTH[name], CLASSES, partial_channels=partial)
    alphas = random_alphas(space)
    x, y = batch()
    logits = net(x, [torch.softmax(a, dim=-1) for a in alphas])
    assert logits.shape == (2, CLASSES)
    F.cross_entropy(logits, y).backward()
    for a in alphas:
        assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.stem.parameters())
    # PC-DARTS: the first edge's convolutions see C/K channels, the bypass carries the rest.
    op = net.cells[0].edges[0].ops[space.ops.index("skip_connect") + 1]
    conv = next(m for m in op.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.in_channels == C // partial  # both spaces' first cell works at C


def test_alpha_shapes_and_groups() -> None:
    assert get_space("nb201").alpha_shapes() == [(6, 5)]
    assert get_space("darts").alpha_shapes() == [(14, 7), (14, 7)]
    assert get_space("darts", "darts8").ops[0] == "none" and get_space("darts", "darts8").groups == (
        "normal",
        "reduce",
    )
    net = get_space("darts").build_supernet(C, 5, CLASSES)
    assert [cell.reduction for cell in net.cells] == [False, True, False, True, False]


def test_get_space_from_spec_and_errors() -> None:
    space = get_space(SearchSpec(space="darts", supernet={"ops": "darts8"}, runtime={"fused_cells": True}))
    assert space.ops == DARTS8_OPS and space.fused_cells
    with pytest.raises(
        ValueError, match=r"space: unknown search space 'nas101'; allowed: \['nb201', 'darts'\]"
    ):
        get_space("nas101")
    with pytest.raises(ValueError, match=r"ops: unknown darts op set 'darts9'"):
        get_space("darts", "darts9")
    with pytest.raises(ValueError, match=r"partial_channels: 3 must be ≥ 1 and divide"):
        get_space("nb201").build_supernet(C, 1, CLASSES, partial_channels=3)
    with pytest.raises(ValueError, match=r"weights\['cell'\]: shape \(6, 4\), expected \(6, 5\)"):
        get_space("nb201").build_supernet(C, 1, CLASSES)(batch()[0], [torch.ones(6, 4)])


def test_nb201_derive_argmax_over_all_ops_including_none() -> None:
    space = get_space("nb201")
    w = torch.full((6, 5), 0.1)
    expected = ["none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"]
    for e, op in enumerate(expected):
        w[e, NB201_OPS.index(op)] = 0.5
    w[5, :] = 0.2  # a tie: the first op wins
    g = space.derive([w])
    assert g.edges == tuple((op, s) for op, (_, s) in zip(expected, NB201_EDGES, strict=True))
    assert space.derive(space.one_hot(g)) == g


def darts_v2_weights(ops: tuple[str, ...]) -> list[torch.Tensor]:
    """Weights whose DARTS derivation is DARTS_V2, in its published order; 'none' dominates every
    edge (it must be ignored), decoy edges score below the kept ones."""
    gen = torch.Generator().manual_seed(1)
    out = []
    for cell in ("normal", "reduce"):
        w = 0.3 * torch.rand(len(DARTS_EDGES), len(ops), generator=gen)
        if "none" in ops:
            w[:, ops.index("none")] = 0.99
        pairs = getattr(DARTS_V2, cell)
        for i, (op, source) in enumerate(pairs):
            w[DARTS_EDGES.index((2 + i // 2, source)), ops.index(op)] = 0.9 if i % 2 == 0 else 0.8
        out.append(w)
    return out


@pytest.mark.parametrize("variant", ["default", "darts8"])
def test_darts_derive_reproduces_darts_v2(variant: str) -> None:
    space = get_space("darts", variant)
    g = space.derive(darts_v2_weights(space.ops))
    assert (g.normal, g.reduce, g.normal_concat, g.reduce_concat) == (
        DARTS_V2.normal,
        DARTS_V2.reduce,
        (2, 3, 4, 5),
        (2, 3, 4, 5),
    )
    if variant == "darts8":
        assert g == DARTS_V2
    assert same_architecture(space.derive(space.one_hot(DARTS_V2)), DARTS_V2)


@pytest.mark.parametrize(("name", "variant"), CONFIGS)
def test_random_genotypes_are_valid_seeded_and_survive_one_hot(name: str, variant: str) -> None:
    space = get_space(name, variant)
    draws = [space.random_genotype(torch.Generator().manual_seed(s)) for s in range(20)]
    assert draws[3] == space.random_genotype(torch.Generator().manual_seed(3))
    assert len(set(draws)) > 10
    for g in draws:
        assert same_architecture(space.derive(space.one_hot(g)), g)
        for w in space.one_hot(g):
            assert w.sum() == (6 if name == "nb201" else 8) and set(w.unique().tolist()) <= {0.0, 1.0}


def test_one_hot_rejects_ops_outside_the_space() -> None:
    g = Genotype("darts", DARTS8_OPS, (), *((("none", 0),) * 8, (2, 3, 4, 5)) * 2)
    with pytest.raises(GenotypeError, match="unknown op 'none'"):
        get_space("darts", "darts8").one_hot(g)


def inherit(network: torch.nn.Module, supernet: torch.nn.Module, space: SearchSpace, g: Genotype) -> None:
    """Copy the supernet's weights of the chosen ops into the discrete network (by hand, per edge)."""
    source = supernet.state_dict()
    if g.space == "nb201":
        chosen = [(e, NB201_OPS.index(op)) for e, (op, _) in enumerate(g.edges) if op != "none"]
    state = {}
    for key, value in network.state_dict().items():
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "ops":
            cell, m = parts[1], int(parts[3])
            if g.space == "nb201":
                e, k = chosen[m]
            else:
                red = supernet.cells[int(cell)].reduction
                op, s = (g.reduce if red else g.normal)[m]
                e, k = DARTS_EDGES.index((2 + m // 2, s)), space.ops.index(op)
            key_in_supernet = ".".join(["cells", cell, "edges", str(e), "ops", str(k), *parts[4:]])
        else:
            key_in_supernet = key
        if key_in_supernet in source:
            state[key] = source[key_in_supernet]
        else:  # affine BN scale/shift of the discrete net: identity, like the search BN
            assert parts[-1] in ("weight", "bias") and value.dim() == 1
            state[key] = value
    network.load_state_dict(state)


NO_POOL_DARTS = Genotype(
    "darts",
    DARTS8_OPS,
    normal=DARTS_V2.normal,
    normal_concat=(2, 3, 4, 5),
    reduce=tuple(("skip_connect" if "pool" in op else op, s) for op, s in DARTS_V2.reduce),
    reduce_concat=(2, 3, 4, 5),
)
NB201_G = Genotype(
    "nb201",
    NB201_OPS,
    edges=(
        ("nor_conv_3x3", 0),
        ("avg_pool_3x3", 0),
        ("nor_conv_1x1", 1),
        ("skip_connect", 0),
        ("none", 1),
        ("nor_conv_3x3", 2),
    ),
)


@pytest.mark.parametrize("g", [NB201_G, NO_POOL_DARTS], ids=["nb201", "darts"])
def test_one_hot_supernet_equals_the_discrete_network_with_shared_weights(g: Genotype) -> None:
    # DARTS search pools carry a BN the discrete pools lack, so the DARTS genotype here has no pools.
    torch.manual_seed(0)
    space = get_space(g.space, "darts8" if g.space == "darts" else "default")
    supernet = space.build_supernet(C, DEPTH[g.space], CLASSES)
    network = space.build_network(g, C, DEPTH[g.space], CLASSES)
    inherit(network, supernet, space, g)
    x, _ = batch(4)
    expected = network(x)
    assert torch.allclose(supernet(x, space.one_hot(g)), expected, rtol=1e-4, atol=1e-5)
    # The same with weights that require grad (no op is skipped then): the zeros still add nothing.
    weights = [w.requires_grad_(True) for w in space.one_hot(g)]
    assert torch.allclose(supernet(x, weights), expected, rtol=1e-4, atol=1e-5)


def test_zero_weight_ops_are_skipped_only_without_grad() -> None:
    space = get_space("nb201")
    net = space.build_supernet(C, 1, CLASSES)
    conv3 = NB201_OPS.index("nor_conv_3x3")
    calls = []
    for cell in net.cells:
        for edge in getattr(cell, "edges", []):
            edge.ops[conv3].register_forward_hook(lambda *_: calls.append(1))
    x, y = batch()
    weights = space.one_hot(NB201_G)
    net.eval()
    with torch.no_grad():
        net(x, weights)
    assert len(calls) == 2 * 3  # the two chosen conv3x3 edges in each of the 3 cells
    calls.clear()
    net.train()
    w = weights[0].requires_grad_(True)
    F.cross_entropy(net(x, [w]), y).backward()
    assert len(calls) == 6 * 3
    # d loss / d w[e, op] = <op(x), d loss / d edge>: non-zero for unchosen ops, zero for 'none'.
    assert (w.grad[:, 1:] != 0).all() and (w.grad[:, 0] == 0).all()


def test_nb201_aux_skip_uses_the_source_node() -> None:
    net = get_space("nb201").build_supernet(C, 1, CLASSES)
    cell = net.cells[0]
    x = torch.randn(2, C, 8, 8)
    beta = 0.3
    # With every op weight zero only the auxiliary skips remain: node1 = βx, node2 = βx + β·node1,
    # node3 = βx + β·node1 + β·node2 = (β + 2β² + β³)x. (From the cell input instead: 3βx.)
    out = cell(x, torch.zeros(6, 5), None, beta)
    assert torch.allclose(out, (beta + 2 * beta**2 + beta**3) * x, atol=1e-6)
    x_img, _ = batch()
    weights = [torch.softmax(torch.randn(6, 5), -1)]
    plain = net(x_img, weights)
    net.aux_skip_scale = beta
    assert not torch.allclose(net(x_img, weights), plain)


def test_darts_aux_skip_reduces_on_stride_two_edges() -> None:
    net = get_space("darts").build_supernet(C, 5, CLASSES)
    cell = net.cells[1]
    assert cell.reduction
    s0, s1 = torch.randn(2, 3 * C, 8, 8), torch.randn(2, 4 * C, 8, 8)
    beta = 0.5
    out = cell(s0, s1, torch.zeros(14, 7), None, beta)
    states = [cell.pre0(s0), cell.pre1(s1)]
    e = 0
    for node in range(2, 6):
        total = 0
        for s in range(node):
            edge = cell.edges[e]
            total = total + beta * edge.aux_skip(states[s])
            assert (type(edge.aux_skip).__name__ == "FactorizedReduce") == (s < 2)
            e += 1
        states.append(total)
    assert out.shape == (2, 4 * 2 * C, 4, 4)
    assert torch.allclose(out, torch.cat(states[2:], 1), atol=1e-6)


@pytest.mark.parametrize("aux", [0.0, 0.7])
def test_fused_nb201_cells_equal_the_plain_path(aux: float) -> None:
    torch.manual_seed(0)
    space = get_space("nb201")
    plain = space.build_supernet(C, 1, CLASSES)
    fused = get_space(SearchSpec(runtime={"fused_cells": True})).build_supernet(C, 1, CLASSES)
    assert fused.fused and set(fused.state_dict()) == set(plain.state_dict())
    fused.load_state_dict(plain.state_dict())  # a checkpoint of either path loads into the other
    x, y = batch(4)
    alpha = torch.randn(6, 5)
    results = []
    for net in (plain, fused):
        net.aux_skip_scale = aux
        w = torch.softmax(alpha, -1).requires_grad_(True)
        logits = net(x, [w])
        F.cross_entropy(logits, y).backward()
        grads = {k: p.grad for k, p in net.named_parameters()}
        results.append((logits, w.grad, grads, {k: b.clone() for k, b in net.named_buffers()}))
    (lp, wp, gp, bp), (lf, wf, gf, bf) = results
    torch.testing.assert_close(lf, lp, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(wf, wp, rtol=1e-4, atol=1e-7)
    for k in gp:
        assert (gp[k] is None) == (gf[k] is None), k
        if gp[k] is not None:
            torch.testing.assert_close(gf[k], gp[k], rtol=1e-4, atol=1e-6, msg=k)
    for k in bp:  # BN running statistics land in the same per-op buffers
        torch.testing.assert_close(bf[k], bp[k], rtol=1e-4, atol=1e-6, msg=k)
    # Eval mode (running statistics) and one-hot weights without grad agree too.
    plain.eval(), fused.eval()
    g = space.one_hot(NB201_G)
    torch.testing.assert_close(fused(x, g), plain(x, g), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "variant"), CONFIGS)
def test_weight_step_with_zero_mixing_weights_trains_every_op(name: str, variant: str) -> None:
    # SDARTS-RS clamps noisy weights at 0 in the *weight* step: the weights carry no grad but the
    # parameters do. Skipping a zero-weight op there is not neutral: its parameters would get no
    # gradient (SGD then skips their momentum and weight decay) and its BN no running statistics,
    # so a CPU search would differ from the same search on a GPU (which never skips) and from the
    # reference. Auto mode must skip only in inference (no autograd, eval mode).
    space = get_space(name, variant)
    torch.manual_seed(0)
    net = space.build_supernet(C, DEPTH[name], CLASSES)
    x, y = batch(4)
    op = space.ops.index("nor_conv_3x3" if name == "nb201" else "sep_conv_3x3")
    w = [torch.softmax(torch.randn(shape), -1) for shape in space.alpha_shapes()]
    for t in w:
        t[:, op] = 0.0  # a parametric op gets an exactly-zero weight on every edge
    F.cross_entropy(net(x, w), y).backward()
    for cell in net.cells:
        for edge in getattr(cell, "edges", []):
            for p in edge.ops[op].parameters():
                assert p.grad is not None
            for bn in edge.ops[op].modules():
                if isinstance(bn, torch.nn.BatchNorm2d):
                    assert int(bn.num_batches_tracked) == 1
    # Inference still skips them (no grad, eval mode): same logits as evaluating every op.
    net.eval()
    with torch.no_grad():
        skipped = net(x, w)
        net.skip_zero_ops = False
        torch.testing.assert_close(skipped, net(x, w))
