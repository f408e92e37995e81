"""Tests for MPTMaskedHeatmapModeling (masking, jitter and noise of the
joints fed to the heatmap embedding)."""
import pytest
import torch

from mpt_plugin.models.data_preprocessors.masked_heatmap_modeling import \
    MPTMaskedHeatmapModeling
from mpt_plugin.models.utils.heatmap_patch_embed import (HeatmapPatchEmbed,
                                                         render_heatmaps)
from .random_joints import K, random_joints


def _quiet_mhm(**kwargs):
    cfg = dict(jitter_std_px=0.0, amplitude_noise_std=0.0, seed=0)
    cfg.update(kwargs)
    return MPTMaskedHeatmapModeling(**cfg)


def test_mask_fixed_ratio_is_exact():
    mhm = _quiet_mhm(mask_mode='fixed', mask_ratio=0.3)
    joints, weights = random_joints(64)
    out = mhm(joints, weights, training=True)
    assert (out['masked_joints'].sum(1) == 5).all()  # round(0.3 * 17)
    assert torch.equal(out['joint_weights'] == 0, out['masked_joints'])
    assert torch.equal(out['joints_px'], joints)  # no jitter configured


def test_mask_uniform_up_to_ratio_statistics():
    mhm = _quiet_mhm(mask_mode='uniform', mask_ratio=0.3)
    joints, weights = random_joints(4000)
    counts = mhm(joints, weights, training=True)['masked_joints'].sum(1)
    assert counts.min() == 0 and counts.max() == 5  # floor(0.3 * 17)
    hist = torch.bincount(counts, minlength=6).float() / 4000
    assert torch.allclose(hist, torch.full((6, ), 1 / 6), atol=0.03)
    # every joint is equally likely to be masked
    per_joint = mhm(joints, weights, True)['masked_joints'].float().mean(0)
    assert torch.allclose(per_joint, torch.full((K, ), 2.5 / K), atol=0.03)


def test_mask_bernoulli_and_visible_first():
    mhm = _quiet_mhm(mask_mode='bernoulli', mask_ratio=0.3)
    joints, weights = random_joints(2000)
    frac = mhm(joints, weights, True)['masked_joints'].float().mean()
    assert abs(frac.item() - 0.3) < 0.01
    # fixed mode masks visible joints first and reports only real masking
    mhm = _quiet_mhm(mask_mode='fixed', mask_ratio=0.5)
    joints, weights = random_joints(200, invisible=8)
    out = mhm(joints, weights, True)
    assert (out['masked_joints'][:, 8:].sum(1) == 9).all()  # all visible
    assert not out['masked_joints'][:, :8].any()
    assert (out['joint_weights'] == 0).all()


def test_jitter_and_amplitude_statistics():
    mhm = MPTMaskedHeatmapModeling(
        mask_mode='none', jitter_std_px=2.0, amplitude_noise_std=0.1, seed=0)
    joints, weights = random_joints(3000)
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
    joints, weights = random_joints(8)
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
    joints, weights = random_joints(8)
    mhm = MPTMaskedHeatmapModeling()
    torch.manual_seed(123)
    a = mhm(joints, weights, True)
    torch.manual_seed(123)
    b = mhm(joints, weights, True)
    assert torch.equal(a['joints_px'], b['joints_px'])
    assert torch.equal(a['joint_weights'], b['joint_weights'])


def test_test_time_mask_exact_and_deterministic():
    mhm = MPTMaskedHeatmapModeling(test_mask_ratio=0.3, seed=0)
    joints, weights = random_joints(300)
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
    joints, weights = random_joints(50, invisible=15)
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
    joints, weights = random_joints(4)
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
