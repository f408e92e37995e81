"""Tests for MPTWGANDomainAdaptation (WDGRL adaptation of Key2Mesh)."""
import copy
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from mpt_plugin.datasets.domain_adaptation_dataset import \
    MPTDomainAdaptationDataset
from mpt_plugin.engine.optim_wrappers import MPTMultiOptimWrapperConstructor
from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor import \
    Key2MeshDataPreprocessor  # noqa: F401 (registers it)
from mpt_plugin.models.estimators.key2mesh_estimator import \
    Key2MeshEstimator  # noqa: F401 (registers it)
from mpt_plugin.models.estimators.wgan_domain_adaptation import \
    MPTWGANDomainAdaptation
from mpt_plugin.models.heads.domain_critic import \
    MPTDomainCritic  # noqa: F401 (registers it)
from mpt_plugin.models.losses.gradient_penalty import \
    MPTGradientPenalty  # noqa: F401 (registers it)
from mpt_plugin.registry import MODELS

LOG_KEYS = {
    'loss', 'loss_critic', 'wasserstein', 'gradient_penalty',
    'critic_grad_norm', 'loss_domain', 'loss_reprojection',
    'loss_feature_reg'
}


def _model_cfg(paths, **kwargs):
    cfg = dict(
        type='MPTWGANDomainAdaptation',
        estimator=dict(
            type='Key2MeshEstimator',
            regressor=dict(type='Key2MeshRegressor', hidden_dim=32,
                           dropout=0.0, body_model=paths['body_model']),
            joint_regressor=paths['regressor'],
            data_preprocessor=dict(type='Key2MeshDataPreprocessor',
                                   body_model=paths['body_model'],
                                   jitter_std=0.0, occlusion_prob=0.0)),
        critic=dict(type='MPTDomainCritic', in_dim=32, hidden_dim=16,
                    dropout=0.0),
        critic_steps=2,
        gradient_penalty=dict(type='MPTGradientPenalty',
                              loss_weight=10.0))
    cfg.update(kwargs)
    return cfg


def _build(paths, **kwargs):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(_model_cfg(paths, **kwargs))


def _optim(model, lr=1e-2):
    return MPTMultiOptimWrapperConstructor(
        dict(estimator=dict(optimizer=dict(type='Adam', lr=lr)),
             critic=dict(optimizer=dict(type='Adam', lr=lr))))(model)


@pytest.fixture(scope='module')
def batches(paths):
    """Two paired batches; the target also as a labelled copy."""
    amass = dict(data_root=paths['amass'], num_samples=16, verbose=False)
    kp = dict(body_model=paths['body_model'], jitter_std=2.0,
              occlusion_prob=0.3, bias_px=(1.0, -1.0))
    free = MPTDomainAdaptationDataset(
        dict(type='Key2MeshAMASSPairsDataset', **amass),
        dict(type='Key2MeshAMASSPairsDataset', keypoints2d=kp,
             return_3d=False, test_mode=True, seed=1, **amass))
    labelled = MPTDomainAdaptationDataset(
        dict(type='Key2MeshAMASSPairsDataset', **amass),
        dict(type='Key2MeshAMASSPairsDataset', keypoints2d=kp,
             test_mode=True, seed=1, **amass))
    with DefaultScope.overwrite_default_scope('mmpose'):
        return dict(
            free=[pseudo_collate([free[i] for i in range(j, j + 6)])
                  for j in (0, 6)],
            labelled=[pseudo_collate([labelled[i] for i in range(j, j + 6)])
                      for j in (0, 6)])


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_adaptation_steps(paths, batches):
    model = _build(paths)
    est = model.estimator
    # frozen: everything but the encoder
    trainable = {n for n, p in est.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('regressor.feature_extractor.')
                             for n in trainable)
    assert not any(p.requires_grad
                   for p in model.source_encoder.parameters())
    # weights loaded after construction (e.g. load_from) are what is frozen
    with torch.no_grad():
        for p in est.regressor.parameters():
            p.add_(0.01 * torch.randn_like(p))
    pre_encoder = _params(est.da_encoder)
    pre_head = _params(est.regressor.smpl_head)
    critic_before = _params(model.critic)
    optim = _optim(model)
    model.train()
    assert not est.regressor.smpl_head.training
    assert est.da_encoder.training and not model.source_encoder.training
    for batch in batches['free']:
        log = model.train_step(batch, optim)
        assert set(log) == LOG_KEYS
        assert all(math.isfinite(float(v)) for v in log.values())
    assert int(model.num_iters) == 2 and int(model.source_initialised) == 1
    # the source encoder is the pre-adaptation encoder, untouched
    for key, value in _params(model.source_encoder).items():
        assert torch.equal(value, pre_encoder[key]), key
    # the target encoder moved, the head did not, the critic trained
    changed = [k for k, v in _params(est.da_encoder).items()
               if not torch.equal(v, pre_encoder[k])]
    assert changed
    for key, value in _params(est.regressor.smpl_head).items():
        assert torch.equal(value, pre_head[key]), key
    assert any(not torch.equal(v, critic_before[k])
               for k, v in _params(model.critic).items())
    # the adaptation step left no gradient on the critic
    assert all(p.grad is None or not p.grad.any()
               for p in model.critic.parameters())

    # evaluation runs the adapted estimator on plain target batches
    model.eval()
    preds = model.val_step(batches['labelled'][0]['target'])
    assert preds[0].pred_instances.vertices.shape == (1, 6890, 3)
    assert preds[0].gt_instances.joints_h36m.shape == (1, 17, 3)


@pytest.mark.parametrize('mode', ['source', 'target'])
def test_feature_reg_penalises_weight_changes_only(paths, batches, mode):
    """With dropout and batch norm active the regulariser is exactly 0
    while E_t == E_s (same dropout masks, same batch statistics), so the
    first step equals a step without it; the source pass leaves E_t's
    running statistics to the target batches."""
    def first_step(weight):
        cfg = _model_cfg(paths, feature_reg_weight=weight,
                         feature_reg_mode=mode)
        cfg['estimator']['regressor']['dropout'] = 0.3
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('mmpose'):
            model = MODELS.build(cfg)
        optim = _optim(model)
        model.train()
        torch.manual_seed(1)
        log = model.train_step(batches['free'][0], optim)
        return model, log

    with_reg, log = first_step(20.0)
    without, _ = first_step(0.0)
    assert float(log['loss_feature_reg']) == 0.0
    adapted = _params(with_reg.estimator.da_encoder)
    assert any('running_mean' in k for k in adapted)
    for key, value in _params(without.estimator.da_encoder).items():
        torch.testing.assert_close(adapted[key], value, rtol=0, atol=0,
                                   msg=key)
    # the frozen copy kept its statistics and is back in eval mode
    assert not with_reg.source_encoder.training
    for key, value in _params(with_reg.source_encoder).items():
        if 'running' in key or 'num_batches' in key:
            assert torch.equal(value, _params(
                without.source_encoder)[key]), key
    # the critic's source features come from E_s in E_t's (training) mode
    modes = []
    hook = without.source_encoder.register_forward_pre_hook(
        lambda module, args: modes.append(module.training))
    without.train_step(batches['free'][1], _optim(without))
    hook.remove()
    assert modes and all(modes) and not without.source_encoder.training
    # once the encoders differ the regulariser is positive
    log = with_reg.train_step(batches['free'][1], _optim(with_reg))
    assert float(log['loss_feature_reg']) > 0

def test_no_target_labels_are_used(paths, batches):
    """NaN target labels give exactly the run without labels."""
    nan_batches = copy.deepcopy(batches['labelled'])
    for batch in nan_batches:
        samples = batch['target']['data_samples']
        for key in ('pose_aa', 'betas', 'keypoints3d', 'rot_euler_deg'):
            samples[key] = [torch.full_like(v, float('nan'))
                            for v in samples[key]]
    logs = []
    states = []
    for data in (batches['free'], nan_batches):
        model = _build(paths)
        optim = _optim(model)
        model.train()
        logs.append([model.train_step(b, optim) for b in data])
        states.append(_params(model))
    for a, b in zip(*logs):
        for key in LOG_KEYS:
            assert math.isfinite(float(b[key]))
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_resume_keeps_the_frozen_copy(paths, batches):
    model = _build(paths)
    optim = _optim(model)
    model.train()
    model.train_step(batches['free'][0], optim)
    state = model.state_dict()
    assert 'source_initialised' in state and 'num_iters' in state
    assert any(k.startswith('source_encoder.') for k in state)

    resumed = _build(paths)
    resumed.load_state_dict(state)
    assert int(resumed.source_initialised) == 1
    # the estimator encoder is already adapted: it must not be re-copied
    enc = _params(resumed.estimator.da_encoder)
    src = _params(resumed.source_encoder)
    assert any(not torch.equal(enc[k], src[k]) for k in enc)
    resumed.train()
    resumed.train_step(batches['free'][1], _optim(resumed))
    for key, value in _params(resumed.source_encoder).items():
        assert torch.equal(value, src[key])


def test_source_checkpoint(paths, tmp_path):
    donor = _build(paths).estimator
    with torch.no_grad():
        for p in donor.parameters():
            p.add_(1.0)
    path = tmp_path / 'pretrained.pth'
    torch.save(dict(state_dict=donor.state_dict()), path)
    model = _build(paths, source_checkpoint=str(path))
    model.init_weights()
    for key, value in donor.state_dict().items():
        assert torch.equal(model.estimator.state_dict()[key], value), key
    assert model.init_source_encoder()
    assert not model.init_source_encoder()
    # a checkpoint of the adaptation model works too
    path2 = tmp_path / 'da.pth'
    torch.save(dict(state_dict=model.state_dict()), path2)
    other = _build(paths, source_checkpoint=str(path2))
    other.init_weights()
    assert torch.equal(other.estimator.regressor.smpl_head.fc.weight,
                       donor.regressor.smpl_head.fc.weight)
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict=dict(foo=torch.zeros(1))), bad)
    with pytest.raises(KeyError, match='does not match'):
        _build(paths, source_checkpoint=str(bad)).init_weights()


def test_options_and_errors(paths, batches):
    model = _build(paths, feature_reg_mode='target', source_loss_weight=0.5,
                   critic_steps=0)
    model.train()
    critic_before = _params(model.critic)
    log = model.train_step(batches['free'][0], _optim(model))
    assert {'source_loss_pose', 'source_loss_keypoints3d'} <= set(log)
    assert float(log['loss_feature_reg']) >= 0
    for key, value in _params(model.critic).items():  # critic_steps=0
        assert torch.equal(value, critic_before[key])

    with pytest.raises(KeyError, match='OptimWrapperDict'):
        model.train_step(batches['free'][0], None)
    with pytest.raises(KeyError, match='dict\\(source=...'):
        model.train_step(batches['free'][0]['target'], _optim(model))
    with pytest.raises(KeyError, match='target_loss_weights'):
        _build(paths, target_loss_weights=dict(loss_foo=1.0)).train_step(
            batches['free'][0], _optim(model))
    with pytest.raises(ValueError, match='feature_reg_mode'):
        _build(paths, feature_reg_mode='weights')
    with pytest.raises(ValueError, match='critic_steps'):
        _build(paths, critic_steps=-1)
    with pytest.raises(TypeError, match='DomainAdaptationProtocol'):
        MPTWGANDomainAdaptation(estimator=dict(type='MPTDomainCritic'),
                                critic=dict(type='MPTDomainCritic'))
