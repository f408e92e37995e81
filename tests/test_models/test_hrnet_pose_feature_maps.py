"""Tests of MPTHRNetPoseFeatureMaps and the pose checkpoint loader.

Shape tests use the real W32/W48 HRNet on small images (CPU is slow); the
freeze/fine-tune and checkpoint tests use a tiny HRNet (same module names,
1 block per branch, widths 8..64) so that they run in a fraction of the
time.
"""
import math
import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import (
    MPTHRNetPoseFeatureMaps, hrnet_arch_extra)
from mpt_plugin.models.utils.pose_checkpoint import (
    PoseCheckpointKeyError, convert_pose_state_dict,
    detect_pose_checkpoint_format, load_pose_checkpoint,
    read_pose_checkpoint)
from mpt_plugin.registry import MODELS

K = 17


def _tiny_extra():
    """W32's layout with 1 module of 1 block per branch, widths 8..64."""
    extra = hrnet_arch_extra('w32')
    for stage in extra.values():
        num = stage['num_branches']
        stage.update(
            num_modules=1,
            num_blocks=(1, ) * num,
            num_channels=(8, 16, 32, 64)[:num])
    return extra


def _tiny(**kwargs):
    kwargs.setdefault('output_size', 32)
    return MPTHRNetPoseFeatureMaps(
        backbone=dict(extra=_tiny_extra()), **kwargs)


def _randomised_state(model):
    """The model's state dict with random values (ints kept)."""
    gen = torch.Generator().manual_seed(0)
    out = OrderedDict()
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            out[key] = value.clone() + 7
            continue
        noise = torch.randn(value.shape, generator=gen)
        if value.dim() > 1:  # conv: fan-in scaled, activations stay O(1)
            out[key] = noise / math.sqrt(value[0].numel())
        elif key.endswith('running_var'):
            out[key] = 0.5 + noise.abs()
        elif key.endswith('.weight'):
            out[key] = 1.0 + 0.1 * noise
        else:
            out[key] = 0.1 * noise
    return out


class _Parent(nn.Module):
    """Feature maps -> pooled linear regressor (a stand-in MPT model)."""

    def __init__(self, features):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(K, 2)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _train_step(parent, images):
    optim = torch.optim.SGD(
        parent.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    optim.zero_grad()
    parent(images).square().sum().backward()
    optim.step()


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: the first HRNet forward with several OpenMP
    threads on a busy 2-core machine takes seconds instead of 0.1 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def images():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 64, 64, generator=gen)


# ----------------------------------------------------------------- shapes
def test_arch_extra():
    extra = hrnet_arch_extra('w48')
    assert extra['stage4']['num_channels'] == (48, 96, 192, 384)
    assert hrnet_arch_extra('w32')['stage2']['num_channels'] == (32, 64)
    with pytest.raises(ValueError, match='w64'):
        hrnet_arch_extra('w64')


def test_w48_built_from_registry_224_112():
    model = MODELS.build(
        dict(type='MPTHRNetPoseFeatureMaps', arch='w48', output_size=224))
    assert model.head.final_layer.in_channels == 48
    assert model.backbone.extra['stage4']['num_channels'] == (48, 96, 192,
                                                             384)
    images = torch.randn(1, 3, 64, 64)  # a small image: W48 on CPU is slow
    with torch.no_grad():
        out = model(images)
        assert out.shape == (1, K, 224, 224)
        assert torch.isfinite(out).all()
        model.output_size = (112, 112)
        assert model(images).shape == (1, K, 112, 112)


def test_non_square_output_and_bad_inputs():
    model = _tiny(output_size=(48, 40))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 32)).shape == (1, K, 48, 40)
    with pytest.raises(ValueError, match='divisible by 32'):
        model(torch.randn(1, 3, 112, 112))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='output_size'):
        _tiny(output_size=0)


# ------------------------------------------------------- freeze semantics
def test_frozen_stays_eval_and_unchanged(images):
    model = _tiny(freeze=True)
    parent = _Parent(model).train()
    assert parent.training and parent.fc.training
    assert not any(m.training for m in model.modules() if m is not model)
    assert all(not p.requires_grad for p in model.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fc_before = parent.fc.weight.detach().clone()

    _train_step(parent, images)

    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():  # incl. BN running stats
        assert torch.equal(value, before[key]), key
    assert not torch.equal(parent.fc.weight, fc_before)
    parent.train()  # still eval after another train() call
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(bn.training for bn in bns)


def test_fine_tune_gets_gradients(images):
    model = _tiny(freeze=False)
    parent = _Parent(model).train()
    assert model.backbone.training and model.head.training
    mean_before = model.backbone.bn1.running_mean.clone()
    weight_before = model.head.final_layer.weight.detach().clone()
    _train_step(parent, images)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert not torch.equal(model.backbone.bn1.running_mean, mean_before)
    assert not torch.equal(model.head.final_layer.weight, weight_before)


def test_freeze_bn_only(images):
    model = _tiny(freeze=False, freeze_bn=True)
    parent = _Parent(model).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert not any(bn.training for bn in bns)
    stats = model.backbone.bn1.running_mean.clone()
    _train_step(parent, images)
    assert torch.equal(model.backbone.bn1.running_mean, stats)
    assert all(p.grad is None for bn in bns for p in bn.parameters())
    assert model.backbone.conv1.weight.grad is not None
    assert model.head.final_layer.weight.grad is not None


# ------------------------------------------------------------ checkpoints
def _save(path, obj):
    torch.save(obj, str(path))
    return str(path)


def _higherhrnet_state(state):
    """A 0.x HigherHRNet state dict whose 1/4 heatmaps are ``state``'s."""
    out = OrderedDict((k, v) for k, v in state.items()
                      if k.startswith('backbone.'))
    weight = state['head.final_layer.weight']  # (17, 8, 1, 1)
    bias = state['head.final_layer.bias']
    c = weight.shape[1]
    out['keypoint_head.final_layers.0.weight'] = torch.cat(
        [weight, -torch.ones_like(weight)])  # 17 heatmaps + 17 tags
    out['keypoint_head.final_layers.0.bias'] = torch.cat(
        [bias, -torch.ones_like(bias)])
    out['keypoint_head.final_layers.1.weight'] = torch.randn(K, c, 1, 1)
    out['keypoint_head.final_layers.1.bias'] = torch.randn(K)
    pre = 'keypoint_head.deconv_layers.0.'
    out[pre + '0.0.weight'] = torch.randn(c + 2 * K, c, 4, 4)
    for name in ('weight', 'bias', 'running_mean', 'running_var'):
        out[pre + f'0.1.{name}'] = torch.randn(c)
    out[pre + '0.1.num_batches_tracked'] = torch.tensor(3)
    for i in range(1, 5):
        out[pre + f'{i}.0.conv1.weight'] = torch.randn(c, c, 3, 3)
        out[pre + f'{i}.0.bn1.weight'] = torch.randn(c)
    return out


def _assert_loaded(model, state):
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


@pytest.fixture(scope='module')
def source_state():
    return _randomised_state(_tiny())


def test_mmpose1x_round_trip(tmp_path, source_state):
    meta = dict(
        epoch=210,
        dataset_meta=dict(
            dataset_name='coco',
            sigmas=np.linspace(0.02, 0.1, K, dtype=np.float32)))
    path = _save(tmp_path / 'td-hm_hrnet.pth',
                 dict(meta=meta, state_dict=source_state))
    model = _tiny(checkpoint=path)
    _assert_loaded(model, source_state)
    assert model.checkpoint_info == dict(
        format='mmpose', dropped=[], missing=[], unexpected=[])
    # A parent's init_weights() (Runner.train) must not re-initialise it.
    parent = BaseModule()
    parent.features = model
    parent.init_weights()
    _assert_loaded(model, source_state)


def test_mmpose0x_topdown_round_trip(tmp_path, source_state):
    state = OrderedDict(
        (k.replace('head.final_layer.', 'keypoint_head.final_layer.'), v)
        for k, v in source_state.items())
    assert 'keypoint_head.final_layer.weight' in state
    # Old PyTorch saves lack num_batches_tracked: tolerated.
    old = OrderedDict((k, v) for k, v in state.items()
                      if not k.endswith('num_batches_tracked'))
    path = _save(tmp_path / 'hrnet_w32_coco_256x192.pth',
                 dict(meta=dict(mmcv_version='1.3.8'), state_dict=old))
    model = _tiny(checkpoint=path, checkpoint_format='mmpose0x_topdown')
    expected = OrderedDict(source_state)
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked'):
            expected[key] = value
    _assert_loaded(model, expected)
    assert model.checkpoint_info['format'] == 'mmpose0x_topdown'
    # Top-level state dict with a DataParallel 'module.' prefix, auto.
    path = _save(tmp_path / 'dp.pth',
                 OrderedDict(('module.' + k, v) for k, v in state.items()))
    model = _tiny(checkpoint=path)
    _assert_loaded(model, source_state)
    assert model.checkpoint_info['format'] == 'mmpose0x_topdown'


def test_mmpose0x_higherhrnet_round_trip(tmp_path, source_state):
    state = _higherhrnet_state(source_state)
    path = _save(tmp_path / 'higher_hrnet32_coco_512x512.pth',
                 dict(state_dict=state))
    model = _tiny(checkpoint=path)
    _assert_loaded(model, source_state)
    info = model.checkpoint_info
    assert info['format'] == 'mmpose0x_higherhrnet'
    assert sorted(info['dropped']) == sorted(
        k for k in state if k.startswith(('keypoint_head.deconv_layers.',
                                          'keypoint_head.final_layers.1.')))
    assert not info['missing'] and not info['unexpected']


def test_higherhrnet_conversion_slices_heatmap_channels(source_state):
    state = _higherhrnet_state(source_state)
    converted, dropped = convert_pose_state_dict(state,
                                                 'mmpose0x_higherhrnet')
    assert converted['head.final_layer.weight'].shape == (K, 8, 1, 1)
    torch.testing.assert_close(converted['head.final_layer.bias'],
                               source_state['head.final_layer.bias'])
    assert not any(k.startswith('keypoint_head') for k in converted)
    assert len(dropped) == 2 + 6 + 4 * 2
    bad = dict(state)
    bad['keypoint_head.final_layers.0.weight'] = torch.randn(20, 8, 1, 1)
    bad['keypoint_head.final_layers.0.bias'] = torch.randn(20)
    with pytest.raises(ValueError, match=r'x\.pth.*\(20, 8, 1, 1\)'):
        convert_pose_state_dict(bad, 'mmpose0x_higherhrnet', filename='x.pth')
    with pytest.raises(ValueError, match='checkpoint_format'):
        convert_pose_state_dict(state, 'mmpose2x')


def test_detect_format():
    w = torch.zeros(1)
    assert detect_pose_checkpoint_format({'head.final_layer.weight': w}) \
        == 'mmpose'
    assert detect_pose_checkpoint_format(
        {'keypoint_head.final_layer.bias': w}) == 'mmpose0x_topdown'
    assert detect_pose_checkpoint_format(
        {'keypoint_head.final_layers.0.bias': w}) == 'mmpose0x_higherhrnet'
    with pytest.raises(PoseCheckpointKeyError, match='a.pth.*conv1.weight'):
        detect_pose_checkpoint_format({'conv1.weight': w}, 'a.pth')
    with pytest.raises(PoseCheckpointKeyError, match='ambiguous'):
        detect_pose_checkpoint_format(
            {
                'head.final_layer.weight': w,
                'keypoint_head.final_layer.weight': w
            }, 'a.pth')


def test_unexpected_and_missing_keys_raise(tmp_path, source_state):
    extra = OrderedDict(source_state)
    extra['head.deconv_layers.0.weight'] = torch.zeros(8, 256, 4, 4)
    path = _save(tmp_path / 'deconv_head.pth', dict(state_dict=extra))
    with pytest.raises(PoseCheckpointKeyError) as err:
        _tiny(checkpoint=path)
    msg = str(err.value)
    assert 'deconv_head.pth' in msg and 'head.deconv_layers.0.weight' in msg
    assert 'unexpected' in msg

    less = OrderedDict(
        (k, v) for k, v in source_state.items()
        if k not in ('backbone.conv1.weight', 'head.final_layer.bias'))
    path = _save(tmp_path / 'partial.pth', dict(state_dict=less))
    with pytest.raises(PoseCheckpointKeyError,
                       match=r"partial\.pth.*2 missing keys.*"
                       r"'backbone\.conv1\.weight'"):
        _tiny(checkpoint=path)
    # strict=False loads what matches and reports the rest.
    model = _tiny(checkpoint=path, strict=False)
    assert sorted(model.checkpoint_info['missing']) == [
        'backbone.conv1.weight', 'head.final_layer.bias'
    ]
    assert torch.equal(model.backbone.conv2.weight,
                       source_state['backbone.conv2.weight'])


def test_shape_mismatch_and_bad_files(tmp_path, source_state):
    path = _save(tmp_path / 'tiny.pth', dict(state_dict=source_state))
    wide = _tiny_extra()
    wide['stage4']['num_channels'] = (8, 16, 32, 128)
    model = MPTHRNetPoseFeatureMaps(backbone=dict(extra=wide))
    with pytest.raises(ValueError, match=r'tiny\.pth.*wrong shape'):
        load_pose_checkpoint(model, path)
    with pytest.raises(ValueError, match='checkpoint_format'):
        load_pose_checkpoint(model, path, checkpoint_format='0x')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        read_pose_checkpoint(osp.join(tmp_path, 'missing.pth'))
    path = _save(tmp_path / 'mixed.pth', {'a': torch.zeros(1), 'b': 'text'})
    with pytest.raises(PoseCheckpointKeyError, match=r"mixed\.pth.*'b'"):
        read_pose_checkpoint(path)
    path = _save(tmp_path / 'pickled.pth', {'state_dict': _Unsafe()})
    with pytest.raises(ValueError, match=r'pickled\.pth.*weights_only'):
        read_pose_checkpoint(path)


class _Unsafe:
    """Not on torch's weights-only allowlist."""


def test_w32_matches_stock_mmpose_estimator_224_112(tmp_path):
    """MMPose 1.3.2's own td-hm_hrnet-w32 COCO config: its estimator's
    state dict loads strictly, its raw heatmaps (``mode='tensor'``, no
    decoding) equal our native maps, and 224 / 112 outputs are their
    bilinear resizes."""
    import mmpose
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg_file = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
        'topdown_heatmap', 'coco',
        'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py')
    cfg = Config.fromfile(cfg_file)
    cfg.model.backbone.init_cfg = None  # no download
    with DefaultScope.overwrite_default_scope('mmpose'):
        estimator = MODELS.build(cfg.model).eval()
    # PyTorch's default init already makes every conv random (and
    # different from the model below); the file holds the estimator's
    # own state dict, keys as in a published checkpoint.
    state = estimator.state_dict()
    path = _save(tmp_path / 'td-hm_hrnet-w32.pth', dict(state_dict=state))
    model = MPTHRNetPoseFeatureMaps(
        arch='w32', checkpoint=path, output_size=None)
    assert model.checkpoint_info['format'] == 'mmpose'
    assert model.head.final_layer.in_channels == 32
    images = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        native = model(images)
        assert native.shape == (1, K, 16, 8)  # 1/4 resolution
        torch.testing.assert_close(
            native, estimator(images, None, mode='tensor'))
        for size in (224, 112):
            model.output_size = (size, size)
            out = model(images)
            assert out.shape == (1, K, size, size)
            assert torch.isfinite(out).all()
            torch.testing.assert_close(
                out,
                F.interpolate(
                    native, size=(size, size), mode='bilinear',
                    align_corners=False))
