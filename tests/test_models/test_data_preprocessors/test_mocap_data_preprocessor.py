"""Tests for MPTMoCapDataPreprocessor (joints -> MHM -> model inputs)."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from mpt_plugin.models.data_preprocessors.masked_heatmap_modeling import \
    MPTMaskedHeatmapModeling
from mpt_plugin.models.data_preprocessors.mocap_data_preprocessor import \
    MPTMoCapDataPreprocessor
from mpt_plugin.models.utils.heatmap_patch_embed import (HeatmapPatchEmbed,
                                                         render_heatmaps)
from mpt_plugin.registry import MODELS
from .random_joints import K, random_joints


def _kpts(batch, seed=0):
    joints, weights = random_joints(batch, seed)
    return torch.cat([joints, weights[..., None]], dim=-1)  # (B, K, 3)


def test_preprocessor_outputs():
    pre = MODELS.build(
        dict(
            type='MPTMoCapDataPreprocessor',
            mhm=dict(type='MPTMaskedHeatmapModeling', seed=0)))
    assert isinstance(pre.mhm, MPTMaskedHeatmapModeling)
    kpts = _kpts(4)
    samples = [BaseDataElement(metainfo=dict(idx=i)) for i in range(4)]
    out = pre(dict(inputs=list(kpts), data_samples=samples), training=True)
    inputs = out['inputs']
    assert set(inputs) == {'joints_px', 'joint_weights', 'masked_joints'}
    assert inputs['joints_px'].shape == (4, K, 2)
    assert inputs['joint_weights'].shape == (4, K)
    assert inputs['joints_px'].dtype == torch.float32
    for value in inputs.values():
        assert value.device == pre.device == torch.device('cpu')
    assert [s.idx for s in out['data_samples']] == [0, 1, 2, 3]
    # training augments, evaluation does not
    assert not torch.equal(inputs['joints_px'], kpts[..., :2])
    ev = pre(dict(inputs=kpts), training=False)['inputs']
    assert torch.equal(ev['joints_px'], kpts[..., :2])
    assert torch.equal(ev['joint_weights'], kpts[..., 2])


def test_preprocessor_list_stack_numpy_agree_and_visibility():
    pre = MPTMoCapDataPreprocessor(mhm=None)
    kpts = _kpts(3)
    kpts[0, 2, 2] = 0.2  # below the 0.5 threshold
    kpts[0, 3, 2] = 0.7
    kpts[1, 4, :2] = float('nan')  # invisible: any coordinates
    kpts[1, 4, 2] = 0
    a = pre(dict(inputs=list(kpts)))['inputs']
    b = pre(dict(inputs=kpts))['inputs']
    c = pre(dict(inputs=[k.numpy() for k in kpts]))['inputs']
    for key in a:
        torch.testing.assert_close(a[key], b[key], equal_nan=True)
        torch.testing.assert_close(a[key], c[key], equal_nan=True)
    assert a['joint_weights'][0, 2] == 0 and a['joint_weights'][0, 3] == 1
    soft = MPTMoCapDataPreprocessor(mhm=None, visibility_thr=None)
    w = soft(dict(inputs=kpts))['inputs']['joint_weights']
    assert w[0, 2].item() == pytest.approx(0.2)


def test_preprocessor_dense_option_and_test_mask():
    kpts = _kpts(2)
    pre = MPTMoCapDataPreprocessor(
        dense=True,
        mhm=dict(type='MPTMaskedHeatmapModeling', test_mask_ratio=0.3))
    inputs = pre(dict(inputs=kpts), training=False)['inputs']
    maps = inputs['heatmaps']
    assert maps.shape == (2, K, 224, 224) and maps.dtype == torch.float32
    torch.testing.assert_close(
        maps, render_heatmaps(inputs['joints_px'], inputs['joint_weights']))
    assert (inputs['masked_joints'].sum(1) == 5).all()
    assert (maps.amax(dim=(2, 3)) == 0).sum() == 10
    # dense and sparse outputs give the same tokens (same MHM seed)
    embed = HeatmapPatchEmbed(embed_dim=32)
    tok = []
    for dense in (False, True):
        pre = MPTMoCapDataPreprocessor(
            dense=dense,
            mhm=dict(
                type='MPTMaskedHeatmapModeling', seed=3,
                pixel_noise_std=0.1))
        inputs = pre(dict(inputs=kpts), True)['inputs']
        tok.append(embed.forward_inputs(inputs))
    assert ((tok[0] - tok[1]).abs().max() / tok[1].abs().max()) < 1e-5


def test_preprocessor_exact_dense_pixel_noise():
    pre = MPTMoCapDataPreprocessor(
        mhm=dict(
            type='MPTMaskedHeatmapModeling', mask_mode='none',
            jitter_std_px=0.0, amplitude_noise_std=0.0, pixel_noise_std=0.05,
            pixel_noise_mode='dense', seed=0))
    kpts = _kpts(2)
    inputs = pre(dict(inputs=kpts), training=True)['inputs']
    assert 'pixel_noise' not in inputs
    noise = inputs['heatmaps'] - render_heatmaps(kpts[..., :2], kpts[..., 2])
    assert abs(noise.std().item() - 0.05) < 0.001
    # evaluation renders no dense maps and adds no noise
    assert 'heatmaps' not in pre(dict(inputs=kpts), False)['inputs']


def test_preprocessor_bad_input():
    pre = MPTMoCapDataPreprocessor()
    with pytest.raises(KeyError, match='inputs'):
        pre(dict(data_samples=None))
    with pytest.raises(ValueError, match=r'\(K, 3\)'):
        pre(dict(inputs=[torch.zeros(16, 3)]))
    with pytest.raises(ValueError, match=r'\(B, K, 3\)'):
        pre(dict(inputs=torch.zeros(2, K, 2)))
    with pytest.raises(TypeError, match='tensor'):
        pre(dict(inputs=[[0.0, 1.0]]))
    kpts = _kpts(2)
    kpts[1, 3, 0] = float('nan')
    with pytest.raises(ValueError, match=r'finite x_px, y_px.*\[\[1, 3\]\]'):
        pre(dict(inputs=kpts))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        MPTMoCapDataPreprocessor(visibility_thr=None)(
            dict(inputs=np.full((1, K, 3), 2.0, dtype=np.float32)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_preprocessor_cuda():
    pre = MPTMoCapDataPreprocessor(
        mhm=dict(type='MPTMaskedHeatmapModeling', seed=0,
                 pixel_noise_std=0.1, test_mask_ratio=0.3)).cuda()
    kpts = _kpts(4)
    inputs = pre(dict(inputs=list(kpts)), training=True)['inputs']
    for value in inputs.values():
        assert value.device.type == 'cuda'
    ev = pre(dict(inputs=kpts), training=False)['inputs']
    ev_cpu = MPTMoCapDataPreprocessor(
        mhm=dict(type='MPTMaskedHeatmapModeling', test_mask_ratio=0.3))(
            dict(inputs=kpts), training=False)['inputs']
    assert torch.equal(ev['masked_joints'].cpu(), ev_cpu['masked_joints'])
