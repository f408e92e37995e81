"""Tests for MPTDomainCritic, Key2Mesh's domain critic."""
import pytest
import torch
from torch import nn

from mpt_plugin.models.heads.domain_critic import MPTDomainCritic
from mpt_plugin.registry import MODELS


def test_critic_shapes_and_structure():
    critic = MPTDomainCritic()
    assert critic(torch.randn(4, 1024)).shape == (4, 1)
    small = MODELS.build(
        dict(type='MPTDomainCritic', in_dim=8, hidden_dim=16,
             dropout=0.0))
    assert isinstance(small, MPTDomainCritic)
    assert small(torch.randn(3, 8)).shape == (3, 1)
    kinds = [type(m) for m in critic.modules()]
    assert not any(issubclass(k, nn.modules.batchnorm._NormBase)
                   or issubclass(k, nn.LayerNorm) for k in kinds)
    linears = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (1024, 1024), (1024, 1024), (1024, 1)]
    assert sum(isinstance(m, nn.PReLU) for m in critic.modules()) == 2
    drops = [m for m in critic.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.2 for d in drops)
    n_params = sum(p.numel() for p in critic.parameters())
    assert 2.0e6 < n_params < 2.2e6  # spec: ~2.1 M


def test_critic_bad_input():
    critic = MPTDomainCritic(in_dim=8, hidden_dim=4)
    with pytest.raises(ValueError, match='in_dim'):
        MPTDomainCritic(in_dim=0)
    with pytest.raises(ValueError, match='dropout'):
        MPTDomainCritic(dropout=1.0)
    with pytest.raises(ValueError, match=r'\(B, 8\)'):
        critic(torch.randn(3, 7))
