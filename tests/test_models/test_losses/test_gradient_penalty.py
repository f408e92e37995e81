"""Tests for MPTGradientPenalty and the W estimate (with Key2Mesh's domain
critic)."""
import math

import pytest
import torch
from torch import nn

from mpt_plugin.models.heads.domain_critic import MPTDomainCritic
from mpt_plugin.models.losses.gradient_penalty import (
    MPTGradientPenalty, wasserstein_estimate)
from mpt_plugin.registry import MODELS


def _linear_critic(dim: int, norm: float) -> nn.Linear:
    """Linear critic whose weight has L2 norm ``norm``."""
    lin = nn.Linear(dim, 1)
    with torch.no_grad():
        w = torch.randn(1, dim, generator=torch.Generator().manual_seed(3))
        lin.weight.copy_(w / w.norm() * norm)
        lin.bias.fill_(0.7)
    return lin


def test_wasserstein_estimate():
    src = torch.tensor([[1.0], [3.0]])
    tgt = torch.tensor([0.5, -0.5, 0.0])
    assert torch.isclose(wasserstein_estimate(src, tgt), torch.tensor(2.0))
    with pytest.raises(ValueError, match='critic_source'):
        wasserstein_estimate(torch.zeros(2, 2), tgt)
    with pytest.raises(ValueError, match='critic_target'):
        wasserstein_estimate(src, torch.zeros(0))


@pytest.mark.parametrize('norm', [1.0, 0.25, 3.0])
def test_penalty_linear_critic_exact(norm):
    dim = 6
    gp = MODELS.build(dict(type='MPTGradientPenalty'))
    assert isinstance(gp, MPTGradientPenalty)
    critic = _linear_critic(dim, norm)
    out = gp(critic, torch.randn(5, dim), torch.randn(5, dim) + 2.0)
    assert set(out) == {'gradient_penalty', 'grad_norm'}
    assert out['gradient_penalty'].shape == ()
    assert torch.isclose(out['grad_norm'], torch.tensor(norm), atol=1e-5)
    assert torch.isclose(out['gradient_penalty'],
                         torch.tensor((norm - 1.0)**2), atol=1e-5)
    weighted = MPTGradientPenalty(loss_weight=50.0)(
        critic, torch.randn(5, dim), torch.randn(5, dim))
    assert torch.isclose(weighted['gradient_penalty'],
                         torch.tensor(50.0 * (norm - 1.0)**2), atol=1e-4)


def test_penalty_second_order_gradient():
    dim, norm = 4, 3.0
    critic = _linear_critic(dim, norm)
    out = MPTGradientPenalty()(critic, torch.randn(8, dim),
                               torch.randn(8, dim))
    out['gradient_penalty'].backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||; the bias gets no grad.
    w = critic.weight.detach()
    expected = 2.0 * (norm - 1.0) * w / w.norm()
    assert torch.allclose(critic.weight.grad, expected, atol=1e-5)
    assert critic.bias.grad is None or torch.all(critic.bias.grad == 0)

    mlp = MPTDomainCritic(in_dim=dim, hidden_dim=8, dropout=0.0)
    src = torch.randn(8, dim, requires_grad=True)
    out = MPTGradientPenalty()(mlp, src, torch.randn(8, dim))
    out['gradient_penalty'].backward()
    # The output bias does not change the input gradient, so it gets none.
    grads = [p.grad for n, p in mlp.named_parameters() if n != 'out.bias']
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert mlp.out.bias.grad is None or torch.all(mlp.out.bias.grad == 0)
    assert sum(g.abs().sum() for g in grads) > 0
    assert src.grad is None  # features are detached


def test_penalty_interpolates_between_samples():
    # A critic that records its input: interpolates lie on the segments.
    seen = {}

    def critic(h):
        seen['h'] = h.detach()
        return h.sum(dim=1, keepdim=True)

    src = torch.zeros(64, 3)
    tgt = torch.ones(64, 3)
    gen = torch.Generator().manual_seed(0)
    out = MPTGradientPenalty()(critic, src, tgt, generator=gen)
    h = seen['h']
    # h = (1 - a) * 1 per row, one a per sample shared across dims
    assert torch.allclose(h, h[:, :1].expand_as(h))
    assert (h >= 0).all() and (h <= 1).all() and h[:, 0].std() > 0.1
    assert torch.isclose(out['grad_norm'], torch.tensor(math.sqrt(3.0)))


def test_penalty_bad_input():
    gp = MPTGradientPenalty()
    lin = nn.Linear(4, 1)
    with pytest.raises(ValueError, match='source_feats'):
        gp(lin, torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match='empty'):
        gp(lin, torch.randn(0, 4), torch.randn(0, 4))
    with pytest.raises(ValueError, match='critic must return'):
        gp(nn.Linear(4, 2), torch.randn(3, 4), torch.randn(3, 4))


@pytest.mark.parametrize('gp_weight', [10.0, 50.0])
def test_wgan_gp_training_converges(gp_weight):
    """Train a small critic on N(0, I) vs N(2, I) in 16-d with -W + l*GP.

    The true W1 distance is ||mu_s - mu_t|| = 2 sqrt(16) = 8. For a critic
    with gradient norm c along the mean difference, -W + l*GP ~
    -8c + l (c - 1)^2 is minimised at c* = 1 + 8 / (2 l): 1.4 for l = 10
    and 1.08 for l = 50 (Key2Mesh's weight), so the gradient norm settles
    near 1 only as l grows; both are checked against c*.
    """
    torch.manual_seed(0)
    dim, bsz = 16, 128
    critic = MPTDomainCritic(in_dim=dim, hidden_dim=32, dropout=0.0)
    gp = MPTGradientPenalty(loss_weight=gp_weight)
    optim = torch.optim.Adam(critic.parameters(), lr=1e-3)
    for _ in range(200):
        src = torch.randn(bsz, dim)
        tgt = torch.randn(bsz, dim) + 2.0
        w = wasserstein_estimate(critic(src), critic(tgt))
        pen = gp(critic, src, tgt)['gradient_penalty']
        loss = -w + pen
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        optim.step()
    src = torch.randn(1024, dim)
    tgt = torch.randn(1024, dim) + 2.0
    out = gp(critic, src, tgt)
    with torch.no_grad():
        w = wasserstein_estimate(critic(src), critic(tgt))
    c_star = 1.0 + 8.0 / (2.0 * gp_weight)
    assert abs(out['grad_norm'].item() - c_star) < 0.1
    if gp_weight == 50.0:
        assert abs(out['grad_norm'].item() - 1.0) < 0.2
    assert w.item() > 0.5
    assert abs(w.item() - 8.0 * c_star) < 0.2 * 8.0 * c_star
