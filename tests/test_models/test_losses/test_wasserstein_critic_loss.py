"""Tests for WassersteinCriticLoss (the critic and its WGAN-GP loss)."""
import pytest
import torch

from mpt_plugin.models.heads.domain_critic import MPTDomainCritic
from mpt_plugin.models.losses.gradient_penalty import MPTGradientPenalty
from mpt_plugin.models.losses.wasserstein_critic_loss import \
    WassersteinCriticLoss


def test_critic_gradient_norm_approaches_one():
    """The penalised critic becomes ~1-Lipschitz on the interpolates."""
    torch.manual_seed(0)
    critic = WassersteinCriticLoss(
        MPTDomainCritic(in_dim=8, hidden_dim=32, dropout=0.0),
        MPTGradientPenalty(loss_weight=50.0))  # Key2Mesh's weight
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    source = torch.randn(64, 8) + 1.0
    target = torch.randn(64, 8)
    gen = torch.Generator().manual_seed(0)
    norms = []
    for _ in range(300):
        out = critic(source, target, generator=gen)
        opt.zero_grad()
        out['loss_critic'].backward()
        opt.step()
        norms.append(float(out['critic_grad_norm']))
    assert abs(norms[0] - 1.0) > 0.3
    assert abs(sum(norms[-20:]) / 20 - 1.0) < 0.1
    # a 1-Lipschitz estimate of W1 between N(0, I) and N(1, I) in 8-D:
    # the distance of the means, sqrt(8)
    assert 2.0 < float(out['wasserstein']) < 4.0
    assert critic(source, mode='score').shape == (64, 1)
    with pytest.raises(ValueError, match='mode'):
        critic(source, target, mode='other')
