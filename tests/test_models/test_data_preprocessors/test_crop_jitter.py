import numpy as np
import pytest
import torch

from mpt_plugin.geometry.crop import crop_to_norm
from mpt_plugin.models.data_preprocessors import (MPTCropJitter,
                                                  MPTMoCapDataPreprocessor)

S = 112


def test_apply_rescales_about_the_centre_and_shifts():
    # the frame centre (55.5 px) is norm 0; a point 20 px right of it
    px = torch.tensor([[[55.5, 55.5], [75.5, 55.5], [55.5, 15.5]]])
    w = torch.ones(1, 3)
    norm = torch.from_numpy(crop_to_norm(px.numpy(), S)).float()
    m = torch.tensor([2.0])  # crop twice as large: body half the size
    t = torch.tensor([[0.0, 0.0]])
    new_px, new_w, new_norm = MPTCropJitter.recrop(px, w, S, m, t, norm)
    np.testing.assert_allclose(new_px[0].numpy(),
                               [[55.5, 55.5], [65.5, 55.5], [55.5, 35.5]],
                               atol=1e-5)
    assert new_w.eq(1).all()
    # the targets stay the same points of the same crop
    np.testing.assert_allclose(crop_to_norm(new_px.numpy(), S),
                               new_norm.numpy(), atol=1e-6)
    # moving the crop centre right by 10 % of the side moves points left
    new_px, _, new_norm = MPTCropJitter.recrop(
        px, w, S, torch.tensor([1.0]), torch.tensor([[0.1, 0.0]]), norm)
    np.testing.assert_allclose(new_px[0, :, 0].numpy() - px[0, :, 0].numpy(),
                               -0.1 * S, atol=1e-4)
    np.testing.assert_allclose(crop_to_norm(new_px.numpy(), S),
                               new_norm.numpy(), atol=1e-6)


def test_joints_leaving_the_frame_become_invisible():
    px = torch.tensor([[[55.5, 55.5], [110.0, 55.5]]])
    w = torch.ones(1, 2)
    new_px, new_w, _ = MPTCropJitter.recrop(px, w, S, torch.tensor([0.8]),
                                            torch.zeros(1, 2))
    assert new_px[0, 1, 0] > S - 0.5
    assert new_w.tolist() == [[1.0, 0.0]]


def test_sampling_ranges_and_errors():
    jit = MPTCropJitter(scale_factor=0.25, shift_factor=0.1)
    torch.manual_seed(0)
    m, t = jit.sample(4096, torch.device('cpu'))
    assert m.min() >= 0.75 and m.max() <= 1.25 and m.std() > 0.15
    assert t.abs().max() <= 0.1 and t.abs().max() > 0.09
    with pytest.raises(ValueError, match='scale_factor'):
        MPTCropJitter(scale_factor=1.0)
    with pytest.raises(ValueError, match='shift_factor'):
        MPTCropJitter(shift_factor=0.6)
    with pytest.raises(TypeError, match='crop_jitter'):
        MPTMoCapDataPreprocessor(crop_jitter=3)


def test_preprocessor_jitters_in_training_only():
    pre = MPTMoCapDataPreprocessor(
        heatmap_size=S, mhm=None,
        crop_jitter=dict(type='MPTCropJitter', scale_factor=0.25,
                         shift_factor=0.1))
    g = torch.Generator().manual_seed(0)
    joints = torch.cat([30 + 50 * torch.rand(8, 17, 2, generator=g),
                        torch.ones(8, 17, 1)], dim=-1)
    norm = torch.from_numpy(crop_to_norm(joints[..., :2].numpy(), S)).float()
    data = dict(inputs=joints, data_samples=dict(joints_2d_norm=norm[:, :14]))
    out = pre(data, training=False)
    assert torch.equal(out['inputs']['joints_px'], joints[..., :2])
    assert torch.equal(out['data_samples']['joints_2d_norm'], norm[:, :14])
    torch.manual_seed(1)
    out = pre(data, training=True)
    moved = out['inputs']['joints_px']
    assert not torch.allclose(moved, joints[..., :2])
    # inputs and targets went through the same crop
    np.testing.assert_allclose(
        crop_to_norm(moved[:, :14].numpy(), S),
        out['data_samples']['joints_2d_norm'].numpy(), atol=1e-5)


def test_module_apply_still_works():
    """``nn.Module.apply`` (used by init_weights) is not shadowed."""
    jit = MPTCropJitter()
    assert jit.apply(lambda m: None) is jit
