"""Tests for normalize_keypoints_2d (Key2Mesh's bounding-box normalisation)."""
import numpy as np
import pytest
import torch

from mpt_plugin.geometry.keypoints import normalize_keypoints_2d


def test_normalize_keypoints_properties():
    gen = torch.Generator().manual_seed(0)
    kps = torch.rand(5, 18, 2, generator=gen, dtype=torch.float64) * 300
    kps[:, :, 1] *= 0.5  # wide boxes: x is the longer side
    conf = torch.rand(5, 18, generator=gen, dtype=torch.float64)
    conf[:, :4] = 1.0
    out, mask = normalize_keypoints_2d(kps, conf, threshold=0.3)
    assert out.shape == (5, 18, 2) and out.dtype == torch.float64
    assert torch.equal(mask, conf >= 0.3)
    assert (out[~mask] == 0.5).all()
    big = torch.where(mask[..., None], out, torch.nan)
    lo = big.nan_to_num(np.inf).amin(1)
    hi = big.nan_to_num(-np.inf).amax(1)
    # Longer side spans exactly [0, 1]; the box is centred at 0.5.
    np.testing.assert_allclose((hi - lo).amax(-1).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(((hi + lo) / 2).numpy(), 0.5, atol=1e-12)
    np.testing.assert_allclose(lo[:, 0].numpy(), 0.0, atol=1e-12)
    # Invariant to translation and isotropic scale of the input.
    out2, _ = normalize_keypoints_2d(kps * 3.0 + 17.0, conf, threshold=0.3)
    np.testing.assert_allclose(out2.numpy(), out.numpy(), atol=1e-12)


def test_normalize_keypoints_hand_case_and_degenerate():
    kps = torch.tensor([[[10., 20.], [30., 30.], [20., 25.], [999., -5.]]])
    conf = torch.tensor([[0.9, 0.5, 0.1, 0.05]])
    out, mask = normalize_keypoints_2d(kps, conf)  # threshold 0.1
    # bbox x [10, 30], y [20, 30]; scale 20; centre (20, 25).
    expected = torch.tensor([[[0.0, 0.25], [1.0, 0.75], [0.5, 0.5], [0.5,
                                                                     0.5]]])
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-7)
    assert mask.tolist() == [[True, True, True, False]]
    # No confident joint / one confident joint: all 0.5, finite.
    out, mask = normalize_keypoints_2d(
        kps.repeat(2, 1, 1), torch.tensor([[0.0] * 4, [1.0, 0, 0, 0]]))
    assert (out == 0.5).all()
    with pytest.raises(ValueError, match='conf'):
        normalize_keypoints_2d(kps, conf[:, :3])


def test_normalize_keypoints_gradient_finite():
    kps = torch.randn(3, 18, 2, requires_grad=True)
    conf = torch.ones(3, 18)
    conf[1] = 0.0  # a sample with no valid joint
    out, _ = normalize_keypoints_2d(kps, conf)
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(kps.grad).all()
    assert (kps.grad[1] == 0).all()


def test_synthesize_keypoints_2d():
    from mpt_plugin.geometry.cameras import project_fixed_camera
    from mpt_plugin.geometry.keypoints import synthesize_keypoints_2d
    g = torch.Generator().manual_seed(0)
    joints = torch.randn(4, 18, 3, generator=g, dtype=torch.float64) * 0.5
    clean, px, conf = synthesize_keypoints_2d(joints, 256.0, 6.0)
    assert torch.equal(clean, project_fixed_camera(joints, 256.0, 6.0))
    assert torch.equal(px, clean) and torch.all(conf == 1)
    normal = torch.randn(4, 18, 2, generator=g, dtype=torch.float64)
    uniform = torch.rand(4, 18, generator=g, dtype=torch.float64)
    bias = torch.tensor([3.0, -2.0], dtype=torch.float64)
    clean, px, conf = synthesize_keypoints_2d(
        joints, 256.0, 6.0, normal, uniform, jitter_std=2.0,
        occlusion_prob=0.3, bias_px=bias)
    assert torch.allclose(clean,
                          project_fixed_camera(joints, 256.0, 6.0) + bias)
    assert torch.allclose(px - clean, torch.round(2.0 * normal))  # whole px
    assert torch.equal(conf, (uniform >= 0.3).double())
    _, px, _ = synthesize_keypoints_2d(joints, 256.0, 6.0, normal,
                                       jitter_std=2.0, round_jitter=False)
    assert torch.allclose(px - project_fixed_camera(joints, 256.0, 6.0),
                          2.0 * normal)
