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

K = 17


def _joints(batch, seed=0, invisible=0):
    gen = torch.Generator().manual_seed(seed)
    joints = torch.rand(batch, K, 2, generator=gen) * 200 + 12
    weights = torch.ones(batch, K)
    if invisible:
        weights[:, :invisible] = 0
    return joints, weights


def _kpts(batch, seed=0):
    joints, weights = _joints(batch, seed)
    return torch.cat([joints, weights[..., None]], dim=-1)  # (B, K, 3)


def _quiet_mhm(**kwargs):
    cfg = dict(jitter_std_px=0.0, amplitude_noise_std=0.0, seed=0)
    cfg.update(kwargs)
    return MPTMaskedHeatmapModeling(**cfg)


# ---------------------------------------------------------------- MHM
def test_mask_fixed_ratio_is_exact():
    mhm = _quiet_mhm(mask_mode='fixed', mask_ratio=0.3)
    joints, weights = _joints(64)
    out = mhm(joints, weights, training=True)
    assert (out['masked_joints'].sum(1) == 5).all()  # round(0.3 * 17)
    assert torch.equal(out['joint_weights'] == 0, out['masked_joints'])
    assert torch.equal(out['joints_px'], joints)  # no jitter configured


def test_mask_uniform_up_to_ratio_statistics():
    mhm = _quiet_mhm(mask_mode='uniform', mask_ratio=0.3)
    joints, weights = _joints(4000)
    counts = mhm(joints, weights, training=True)['masked_joints'].sum(1)
    assert counts.min() == 0 and counts.max() == 5  # floor(0.3 * 17)
    hist = torch.bincount(counts, minlength=6).float() / 4000
    assert torch.allclose(hist, torch.full((6, ), 1 / 6), atol=0.03)
    # every joint is equally likely to be masked
    per_joint = mhm(joints, weights, True)['masked_joints'].float().mean(0)
    assert torch.allclose(per_joint, torch.full((K, ), 2.5 / K), atol=0.03)


def test_mask_bernoulli_and_visible_first():
    mhm = _quiet_mhm(mask_mode='bernoulli', mask_ratio=0.3)
    joints, weights = _joints(2000)
    frac = mhm(joints, weights, True)['masked_joints'].float().mean()
    assert abs(frac.item() - 0.3) < 0.01
    # fixed mode masks visible joints first and reports only real masking
    mhm = _quiet_mhm(mask_mode='fixed', mask_ratio=0.5)
    joints, weights = _joints(200, invisible=8)
    out = mhm(joints, weights, True)
    assert (out['masked_joints'][:, 8:].sum(1) == 9).all()  # all visible
    assert not out['masked_joints'][:, :8].any()
    assert (out['joint_weights'] == 0).all()


def test_jitter_and_amplitude_statistics():
    mhm = MPTMaskedHeatmapModeling(
        mask_mode='none', jitter_std_px=2.0, amplitude_noise_std=0.1, seed=0)
    joints, weights = _joints(3000)
    out = mhm(joints, weights, training=True)
    delta = out['joints_px'] - joints
    assert abs(delta.mean().item()) < 0.03
    assert abs(delta.std().item() - 2.0) < 0.03
    amp = out['joint_weights']
    assert abs(amp.mean().item() - 1.0) < 0.005
    assert abs(amp.std().item() - 0.1) < 0.003
    assert (amp >= 0).all()
    assert not out['masked_joints'].any()


def test_seeded_generator_is_deterministic():
    joints, weights = _joints(8)
    cfg = dict(pixel_noise_std=0.1, jitter_std_px=1.0)
    outs = [
        MPTMaskedHeatmapModeling(seed=7, **cfg)(joints, weights, True,
                                                noise_window=(5, 8))
        for _ in range(2)
    ]
    other = MPTMaskedHeatmapModeling(seed=8, **cfg)(
        joints, weights, True, noise_window=(5, 8))
    for key in ('joints_px', 'joint_weights', 'masked_joints', 'pixel_noise'):
        assert torch.equal(outs[0][key], outs[1][key]), key
    assert not torch.equal(outs[0]['joints_px'], other['joints_px'])
    assert outs[0]['pixel_noise'].shape == (8, K, 5, 5, 8, 8)
    # the module's generator advances; reset restarts the stream
    mhm = MPTMaskedHeatmapModeling(seed=7, **cfg)
    first = mhm(joints, weights, True, noise_window=(5, 8))['joints_px']
    second = mhm(joints, weights, True, noise_window=(5, 8))['joints_px']
    assert not torch.equal(first, second)
    mhm.reset_generators()
    again = mhm(joints, weights, True, noise_window=(5, 8))['joints_px']
    assert torch.equal(first, again)


def test_global_rng_when_no_seed():
    joints, weights = _joints(8)
    mhm = MPTMaskedHeatmapModeling()
    torch.manual_seed(123)
    a = mhm(joints, weights, True)
    torch.manual_seed(123)
    b = mhm(joints, weights, True)
    assert torch.equal(a['joints_px'], b['joints_px'])
    assert torch.equal(a['joint_weights'], b['joint_weights'])


def test_test_time_mask_exact_and_deterministic():
    mhm = MPTMaskedHeatmapModeling(test_mask_ratio=0.3, seed=0)
    joints, weights = _joints(300)
    out = mhm(joints, weights, training=False)
    assert (out['masked_joints'].sum(1) == 5).all()
    assert (out['joint_weights'].sum(1) == K - 5).all()
    assert torch.equal(out['joints_px'], joints)  # no jitter at test time
    # same sample -> same mask, whatever the batch order or composition
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(1))
    out_p = mhm(joints[perm], weights[perm], training=False)
    assert torch.equal(out_p['masked_joints'], out['masked_joints'][perm])
    sub = mhm(joints[10:13], weights[10:13], training=False)
    assert torch.equal(sub['masked_joints'], out['masked_joints'][10:13])
    # not a fixed pattern: every joint gets masked in some sample
    per_joint = out['masked_joints'].float().mean(0)
    assert (per_joint > 0.1).all() and (per_joint < 0.5).all()
    # the salt changes the choice
    other = MPTMaskedHeatmapModeling(test_mask_ratio=0.3, test_mask_seed=1)
    assert not torch.equal(
        other(joints, weights, False)['masked_joints'], out['masked_joints'])
    # visible joints first; NaN coordinates of invisible joints are fine
    joints, weights = _joints(50, invisible=15)
    joints[:, :15] = float('nan')
    out = mhm(joints, weights, training=False)
    assert (out['masked_joints'][:, 15:].sum(1) == 2).all()
    # off by default
    assert not MPTMaskedHeatmapModeling()(joints, weights,
                                          False)['masked_joints'].any()


def test_sparse_pixel_noise_through_embedding():
    torch.manual_seed(0)
    embed = HeatmapPatchEmbed(embed_dim=32).double()
    mhm = MPTMaskedHeatmapModeling(
        pixel_noise_std=0.2, mask_mode='fixed', mask_ratio=0.3, seed=0)
    joints, weights = _joints(4)
    out = mhm(joints.double(), weights.double(), True,
              noise_window=(embed.window_patches, embed.patch_size))
    sparse = embed.forward_joints(out['joints_px'], out['joint_weights'],
                                  out['pixel_noise'])
    maps = render_heatmaps(out['joints_px'], out['joint_weights'],
                           pixel_noise=out['pixel_noise'])
    dense = embed(maps)
    assert ((sparse - dense).abs().max() / dense.abs().max()) < 1e-9
    # masked joints' channels stay exactly zero (no noise leaks them)
    masked = out['masked_joints']
    assert masked.sum() == 20
    assert (maps[masked] == 0).all()
    with pytest.raises(ValueError, match='noise_window'):
        mhm(joints, weights, True)


def test_mhm_bad_config():
    with pytest.raises(ValueError, match='mask_mode'):
        MPTMaskedHeatmapModeling(mask_mode='random')
    with pytest.raises(ValueError, match='mask_ratio'):
        MPTMaskedHeatmapModeling(mask_ratio=1.5)
    with pytest.raises(ValueError, match='pixel_noise_mode'):
        MPTMaskedHeatmapModeling(pixel_noise_mode='pixel')
    with pytest.raises(ValueError, match='jitter_std_px'):
        MPTMaskedHeatmapModeling(jitter_std_px=-1)


# ------------------------------------------------------- preprocessor
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
