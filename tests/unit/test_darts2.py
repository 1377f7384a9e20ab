"""Second-order DARTS against the exact gradient through the unrolled step (double backward)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from nas_core.methods.base import StepContext
from nas_core.methods.darts2 import Darts2
from nas_core.spaces import get_space


def test_darts2_matches_the_exact_unrolled_gradient() -> None:
    torch.manual_seed(0)
    space = get_space("nb201")
    net = space.build_supernet(4, 1, 10).double()
    gen = torch.Generator().manual_seed(1)
    x_tr, x_val = (torch.randn(8, 3, 8, 8, generator=gen, dtype=torch.float64) for _ in range(2))
    y_tr, y_val = (torch.randint(0, 10, (8,), generator=gen) for _ in range(2))
    alpha = 0.5 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    lr, momentum, wd = 0.05, 0.9, 3e-4
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    ce = nn.CrossEntropyLoss()
    # One real step first, so the unrolled step must include the momentum buffer.
    ce(net(x_tr, [torch.softmax(alpha, -1)]), y_tr).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    net.eval()  # BN from running statistics: the loss is then a fixed function of (w, α)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}

    ctx = StepContext(net, space, ce, x_tr, y_tr, x_val, y_val, 0, 1, 0, weight_optimizer=opt)
    results = {}
    for eps in (1e-2, 1e-4):
        method = Darts2(space, {"unrolled_eps": eps})
        method.begin_step(ctx)
        results[eps] = method.arch_grad(lambda a, m=method: m.arch_loss(ctx, a), [alpha])[0]
        assert all(torch.equal(p, before[n]) for n, p in net.named_parameters())  # w restored exactly

    a = alpha.clone().requires_grad_(True)
    params = dict(net.named_parameters())
    train_loss = ce(functional_call(net, params, (x_tr, [torch.softmax(a, -1)])), y_tr)
    grads = torch.autograd.grad(train_loss, list(params.values()), create_graph=True)
    unrolled = {
        n: p - lr * (momentum * opt.state[p]["momentum_buffer"] + g + wd * p)
        for (n, p), g in zip(params.items(), grads, strict=True)
    }
    val_loss = ce(functional_call(net, unrolled, (x_val, [torch.softmax(a, -1)])), y_val)
    want = torch.autograd.grad(val_loss, a, retain_graph=True)[0]
    # The paper's radius (0.01/‖v‖) is a coarse finite difference on an untrained net; a small one
    # must agree with the exact value to rounding, and the error must shrink as O(ε²).
    torch.testing.assert_close(results[1e-4], want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    coarse_error = (results[1e-2] - want).abs().max()
    assert coarse_error < 0.2 * want.abs().max()
    assert (results[1e-4] - want).abs().max() < 1e-3 * coarse_error

    # The implicit (Hessian) term is not negligible here, so the check above can fail.
    detached = {n: w.detach() for n, w in unrolled.items()}
    first_term = torch.autograd.grad(
        ce(functional_call(net, detached, (x_val, [torch.softmax(a, -1)])), y_val), a
    )[0]
    assert (want - first_term).abs().max() > 1e-3 * want.abs().max()
