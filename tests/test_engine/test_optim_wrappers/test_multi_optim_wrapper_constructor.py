"""Tests for MPTMultiOptimWrapperConstructor."""
import pytest
import torch
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from mpt_plugin.engine.optim_wrappers import MPTMultiOptimWrapperConstructor


class _Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.estimator = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        self.critic = nn.Linear(4, 1)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _ids(params):
    return {id(p) for p in params}


def test_builds_one_wrapper_per_submodule():
    model = _Model()
    cfg = dict(
        estimator=dict(optimizer=dict(type='Adam', lr=1e-4)),
        critic=dict(type='OptimWrapper',
                    optimizer=dict(type='SGD', lr=0.5, momentum=0.9)))
    wrappers = MPTMultiOptimWrapperConstructor(cfg)(model)
    assert isinstance(wrappers, OptimWrapperDict)
    assert set(wrappers.keys()) == {'estimator', 'critic'}
    est_opt = wrappers['estimator'].optimizer
    critic_opt = wrappers['critic'].optimizer
    assert isinstance(est_opt, torch.optim.Adam)
    assert isinstance(critic_opt, torch.optim.SGD)
    assert est_opt.param_groups[0]['lr'] == 1e-4
    assert critic_opt.param_groups[0]['momentum'] == 0.9
    est_params = [p for g in est_opt.param_groups for p in g['params']]
    critic_params = [p for g in critic_opt.param_groups for p in g['params']]
    assert _ids(est_params) == _ids(model.estimator.parameters())
    assert _ids(critic_params) == _ids(model.critic.parameters())

    # stepping one wrapper leaves the other sub-module untouched
    before = model.critic.weight.detach().clone()
    loss = model.estimator(torch.randn(5, 3)).sum() + model.critic(
        torch.randn(5, 4)).sum()
    wrappers['estimator'].update_params(loss)
    assert torch.equal(model.critic.weight, before)


def test_runner_style_build_with_paramwise_and_module_path():
    model = _Model()
    cfg = dict(
        constructor='MPTMultiOptimWrapperConstructor',
        gen=dict(module='estimator.0',
                 optimizer=dict(type='SGD', lr=0.1, weight_decay=0.5)),
        critic=dict(optimizer=dict(type='SGD', lr=0.2, weight_decay=0.5),
                    paramwise_cfg=dict(bias_decay_mult=0.0)),
        paramwise_cfg=dict(bias_decay_mult=2.0))
    with DefaultScope.overwrite_default_scope('mmpose'):
        wrappers = build_optim_wrapper(model, cfg)
    assert set(wrappers.keys()) == {'gen', 'critic'}
    gen_groups = wrappers['gen'].optimizer.param_groups
    assert _ids(p for g in gen_groups for p in g['params']) == _ids(
        model.estimator[0].parameters())
    # shared paramwise_cfg for 'gen', the entry's own for 'critic'
    decays = {
        id(g['params'][0]): g['weight_decay']
        for g in gen_groups
    }
    assert decays[id(model.estimator[0].bias)] == pytest.approx(1.0)
    critic_decays = {
        id(g['params'][0]): g['weight_decay']
        for g in wrappers['critic'].optimizer.param_groups
    }
    assert critic_decays[id(model.critic.bias)] == 0.0
    assert critic_decays[id(model.critic.weight)] == 0.5


def test_looks_through_model_wrappers():
    from mmengine.model import MMDistributedDataParallel

    model = _Model()

    class FakeDDP(MMDistributedDataParallel):

        def __init__(self, module):  # no process group needed
            nn.Module.__init__(self)
            self.module = module

    model.critic = FakeDDP(model.critic)
    wrapped = FakeDDP(model)
    wrappers = MPTMultiOptimWrapperConstructor(
        dict(critic=dict(optimizer=dict(type='SGD', lr=0.1))))(wrapped)
    params = [
        p for g in wrappers['critic'].optimizer.param_groups
        for p in g['params']
    ]
    assert _ids(params) == _ids(model.critic.module.parameters())


def test_errors(caplog):
    model = _Model()
    with pytest.raises(KeyError, match="no sub-module 'generator'"):
        MPTMultiOptimWrapperConstructor(
            dict(generator=dict(optimizer=dict(type='SGD', lr=0.1))))(model)
    with pytest.raises(KeyError, match="must be a dict with 'optimizer'"):
        MPTMultiOptimWrapperConstructor(
            dict(type='OptimWrapper',
                 critic=dict(optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(TypeError, match='non-empty dict'):
        MPTMultiOptimWrapperConstructor({})
    with pytest.raises(ValueError, match='share parameters'):
        MPTMultiOptimWrapperConstructor(
            dict(a=dict(module='estimator',
                        optimizer=dict(type='SGD', lr=0.1)),
                 b=dict(module='estimator.0',
                        optimizer=dict(type='SGD', lr=0.1))))(model)
