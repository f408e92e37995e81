import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mpt_plugin.models.utils.heatmap_patch_embed import (
    HeatmapPatchEmbed, default_support_radius, joint_window_origins,
    mmpose_support_radius, num_window_patches, render_heatmaps)

K = 17
SIZE = 224


def _rel_err(out, ref):
    return ((out - ref).abs().max() / ref.abs().max()).item()


def _hard_joints(batch=3, dtype=torch.float64, seed=0):
    """Random joints plus the awkward cases: borders, outside, masked."""
    gen = torch.Generator().manual_seed(seed)
    joints = torch.rand(batch, K, 2, generator=gen, dtype=dtype) * 240 - 8
    weights = torch.rand(batch, K, generator=gen, dtype=dtype) + 0.2
    special = torch.tensor(
        [[-0.5, 0.3], [223.49, 223.5], [0.0, 223.0], [3.2, 111.7],
         [220.9, -2.0], [-6.0, 100.0], [230.0, 50.0], [-40.0, -40.0],
         [1e4, 3.0], [111.5, 111.5], [7.5, 7.5], [8.0, 15.999]],
        dtype=dtype)
    joints[0, :len(special)] = special
    # masked joints: weight 0, coordinates arbitrary (even NaN)
    weights[1, :4] = 0
    joints[1, 0] = float('nan')
    joints[1, 1] = float('inf')
    joints[1, 2] = torch.tensor([100.0, 100.0], dtype=dtype)
    return joints, weights


def _embed(dtype, embed_dim=48, zero_bias=True, **kwargs):
    torch.manual_seed(0)
    embed = HeatmapPatchEmbed(in_channels=K, embed_dim=embed_dim, **kwargs)
    if zero_bias:  # tokens are then pure Gaussian contributions
        torch.nn.init.zeros_(embed.proj.bias)
    return embed.to(dtype)


def test_geometry_and_state_dict():
    embed = HeatmapPatchEmbed()
    assert embed.num_patches == 784
    assert embed.grid_size == 28
    assert embed.support_radius == 15.0 == default_support_radius(3.0)
    assert embed.window_patches == 5 == num_window_patches(15.0, 8)
    assert num_window_patches(12.0, 8) == 4
    sd = embed.state_dict()
    assert set(sd) == {'proj.weight', 'proj.bias'}
    assert sd['proj.weight'].shape == (1024, 17, 8, 8)
    assert sd['proj.bias'].shape == (1024, )
    assert embed.pixel_noise_shape(2) == (2, 17, 5, 5, 8, 8)


def test_window_covers_support():
    # every integer pixel within R of the joint lies in the T x T window
    R, P = 15.0, 8
    T = num_window_patches(R, P)
    c = torch.linspace(-25, 248, 2731, dtype=torch.float64)
    joints = torch.stack([c, c.flip(0)], -1)[None]  # (1, n, 2)
    origin = joint_window_origins(joints, R, P, SIZE)[0]  # (n, 2)
    lo_px = torch.ceil(joints[0] - R)
    hi_px = torch.floor(joints[0] + R)
    assert (origin * P <= lo_px).all()
    assert ((origin + T) * P - 1 >= hi_px).all()


def test_render_matches_paper_formula():
    joints = torch.tensor([[[10.0, 20.0], [100.25, 50.5]]])
    weights = torch.tensor([[1.0, 0.5]])
    maps = render_heatmaps(joints, weights, size=SIZE, sigma=3.0)
    assert maps.shape == (1, 2, SIZE, SIZE)
    # pixel centres at integers: (row y=20, col x=10) is the peak
    assert maps[0, 0, 20, 10] == pytest.approx(1.0)
    assert maps[0, 0].argmax().item() == 20 * SIZE + 10
    # divides by sigma^2 (paper Eq. 1), not 2 sigma^2: value e^-1 at d = 3
    assert maps[0, 0, 20, 13].item() == pytest.approx(math.exp(-1), rel=1e-6)
    assert maps[0, 0, 23, 10].item() == pytest.approx(math.exp(-1), rel=1e-6)
    yy, xx = torch.meshgrid(
        torch.arange(SIZE, dtype=torch.float64),
        torch.arange(SIZE, dtype=torch.float64),
        indexing='ij')
    ref = 0.5 * torch.exp(-((xx - 100.25)**2 + (yy - 50.5)**2) / 9.0)
    torch.testing.assert_close(maps[0, 1].double(), ref, rtol=1e-5,
                               atol=1e-7)


def test_dense_forward_is_linear_on_unfolded_patches():
    embed = _embed(torch.float64, zero_bias=False)
    maps = torch.randn(2, K, SIZE, SIZE, dtype=torch.float64)
    tokens = embed(maps)
    assert tokens.shape == (2, 784, 48)
    patches = F.unfold(maps, kernel_size=8, stride=8).transpose(1, 2)
    ref = patches @ embed.proj.weight.flatten(1).T + embed.proj.bias
    torch.testing.assert_close(tokens, ref)
    # token n is patch (row n // 28, col n % 28)
    n = 3 * 28 + 5
    patch = maps[1, :, 24:32, 40:48].reshape(-1)
    torch.testing.assert_close(
        tokens[1, n], embed.proj.weight.flatten(1) @ patch + embed.proj.bias)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float64, 1e-9)])
def test_sparse_equals_dense(dtype, tol):
    embed = _embed(dtype)
    joints, weights = _hard_joints(dtype=dtype)
    maps = render_heatmaps(joints, weights)
    assert torch.isfinite(maps).all()
    ref = embed(maps)
    out = embed.forward_joints(joints, weights)
    assert out.shape == (3, 784, 48) and out.dtype == dtype
    assert _rel_err(out, ref) < tol
    torch.testing.assert_close(
        out, ref, rtol=tol, atol=tol * ref.abs().max().item())
    # masked joints contribute nothing; a joint far outside neither
    w2 = weights.clone()
    w2[0, 8] = 0  # the joint at x = 1e4
    assert _rel_err(embed.forward_joints(joints, w2), out) < tol
    # the bias is added to every token
    torch.nn.init.normal_(embed.proj.bias)
    out_b = embed.forward_joints(joints, weights)
    assert _rel_err(out_b - embed.proj.bias, out) < tol


def test_sparse_equals_dense_with_pixel_noise():
    embed = _embed(torch.float64)
    joints, weights = _hard_joints(dtype=torch.float64, seed=1)
    noise = torch.randn(embed.pixel_noise_shape(3), dtype=torch.float64)
    maps = render_heatmaps(joints, weights, pixel_noise=noise)
    out = embed.forward_joints(joints, weights, pixel_noise=noise)
    assert _rel_err(out, embed(maps)) < 1e-9
    # noise stays inside the image and away from masked joints
    clean = render_heatmaps(joints, weights)
    changed = (maps - clean).abs().sum(dim=(2, 3)) > 0
    assert not changed[1, :4].any()  # masked joints of sample 1
    assert changed[0, :7].all()
    # noise of a masked joint's window is ignored
    w2 = weights.clone()
    w2[2, 5] = 0
    n2 = noise.clone()
    n2[2, 5] = 0
    torch.testing.assert_close(
        embed.forward_joints(joints, w2, pixel_noise=noise),
        embed.forward_joints(joints, w2, pixel_noise=n2))


def test_truncation_is_what_makes_the_difference():
    # a too small radius is visibly wrong, so the equality test has teeth
    embed = _embed(torch.float64, support_radius=4.0)
    joints, weights = _hard_joints(dtype=torch.float64)
    ref = embed(render_heatmaps(joints, weights))
    assert _rel_err(embed.forward_joints(joints, weights), ref) > 1e-3


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_gradients_agree(dtype):
    joints, weights = _hard_joints(batch=2, dtype=dtype, seed=2)
    joints = torch.nan_to_num(joints, nan=5.0, posinf=5.0)
    probe = torch.randn(2, 784, 48, dtype=dtype,
                        generator=torch.Generator().manual_seed(3))
    grads = []
    for sparse in (True, False):
        embed = _embed(dtype, zero_bias=False)
        j = joints.clone().requires_grad_(True)
        w = weights.clone().requires_grad_(True)
        if sparse:
            tokens = embed.forward_joints(j, w)
        else:
            tokens = embed(render_heatmaps(j, w))
        (tokens * probe).sum().backward()
        grads.append((embed.proj.weight.grad, embed.proj.bias.grad, w.grad,
                      j.grad))
    tol = 1e-5 if dtype == torch.float32 else 1e-9
    for g_sparse, g_dense in zip(*grads):
        assert g_sparse is not None and torch.isfinite(g_sparse).all()
        assert g_sparse.abs().max() > 0
        assert _rel_err(g_sparse, g_dense) < tol
    # masked joints get no coordinate gradient
    assert (grads[0][3][1, :4] == 0).all()


def test_forward_inputs_dispatch():
    embed = _embed(torch.float32)
    joints, weights = _hard_joints(batch=2, dtype=torch.float32)
    sparse = embed.forward_inputs(
        dict(joints_px=joints, joint_weights=weights))
    dense = embed.forward_inputs(
        dict(heatmaps=render_heatmaps(joints, weights), joints_px=joints,
             joint_weights=weights))
    assert _rel_err(sparse, dense) < 1e-5
    with pytest.raises(KeyError, match='joint_weights'):
        embed.forward_inputs(dict(joints_px=joints))


def test_bad_input_raises():
    embed = _embed(torch.float32)
    joints = torch.zeros(2, K, 2)
    weights = torch.ones(2, K)
    with pytest.raises(ValueError, match=r'\(B, K, 2\)'):
        embed.forward_joints(joints[..., :1], weights)
    with pytest.raises(ValueError, match=r'\(B, K\)'):
        embed.forward_joints(joints, weights[:, :3])
    with pytest.raises(ValueError, match='in_channels'):
        embed.forward_joints(joints[:, :5], weights[:, :5])
    with pytest.raises(ValueError, match='pixel_noise'):
        embed.forward_joints(joints, weights, torch.zeros(2, K, 4, 4, 8, 8))
    with pytest.raises(ValueError, match='maps must have shape'):
        embed(torch.zeros(2, K, 112, 112))
    with pytest.raises(ValueError, match='multiple of patch_size'):
        HeatmapPatchEmbed(input_size=100)


def _mmpose_joints(batch=3, seed=4):
    """float32 sub-pixel joints with MMPose's awkward cases and 0/1
    visibility: rounding ties, borders, negative coordinates (truncation
    towards zero), windows partly / fully outside, masked (even NaN)."""
    gen = torch.Generator().manual_seed(seed)
    joints = torch.rand(batch, K, 2, generator=gen) * 250 - 13
    special = torch.tensor(
        [[-0.5, 0.3], [-1.49, -0.51], [-7.9, 5.0], [223.49, 223.5],
         [230.0, 231.4], [0.5, -8.5], [6.4, 7.5], [216.6, 2.5],
         [-9.2, 100.0], [100.0, 232.0], [1e4, 3.0], [111.5, 111.5]])
    joints[0, :len(special)] = special
    weights = (torch.rand(batch, K, generator=gen) >= 0.2).float()
    weights[0, :len(special)] = 1.0
    weights[1, :3] = 0
    joints[1, 0] = float('nan')
    return joints, weights


def _mmpose_reference(joints, weights, sigma):
    """(B, K, H, W) maps from MMPose 1.3.2, one call per sample."""
    gen_maps = pytest.importorskip('mmpose.codecs.utils')
    maps = [
        gen_maps.generate_gaussian_heatmaps((SIZE, SIZE),
                                            joints[b:b + 1].numpy(),
                                            weights[b:b + 1].numpy(),
                                            sigma / math.sqrt(2))[0]
        for b in range(joints.shape[0])
    ]
    return torch.from_numpy(np.stack(maps))


# 3.0: non-integer 3 sigma_m (peak 1 px up-left); 2 sqrt 2: 3 sigma_m = 6
@pytest.mark.parametrize('sigma', [3.0, 2 * math.sqrt(2), 1.3])
def test_render_mmpose_mode_equals_mmpose(sigma):
    joints, weights = _mmpose_joints()
    ref = _mmpose_reference(joints, weights, sigma)
    maps = render_heatmaps(joints, weights, SIZE, sigma, gaussian='mmpose')
    assert maps.dtype == torch.float32 and ref.dtype == torch.float32
    assert ref[0, 0].max() == 1.0  # the reference does draw these joints
    torch.testing.assert_close(maps, ref, rtol=0, atol=1e-6)
    # the modes really differ (rounded centre, truncation, peak offset)
    exact = render_heatmaps(joints, weights, SIZE, sigma)
    assert (exact - ref).abs().max() > 0.1


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float64, 1e-9)])
def test_sparse_equals_dense_mmpose_mode(dtype, tol):
    embed = _embed(dtype, zero_bias=False, gaussian='mmpose')
    assert embed.window_patches == 5
    assert "gaussian='mmpose'" in repr(embed)
    joints, weights = _mmpose_joints()
    joints, weights = joints.to(dtype), weights.to(dtype)
    ref = embed(render_heatmaps(joints, weights, gaussian='mmpose'))
    out = embed.forward_joints(joints, weights)
    assert _rel_err(out, ref) < tol
    # with pixel noise too, and the exact mode differs
    noise = torch.randn(embed.pixel_noise_shape(3), dtype=dtype,
                        generator=torch.Generator().manual_seed(5))
    ref_n = embed(
        render_heatmaps(joints, weights, pixel_noise=noise,
                        gaussian='mmpose'))
    assert _rel_err(embed.forward_joints(joints, weights, noise),
                    ref_n) < tol
    assert _rel_err(ref, embed(render_heatmaps(joints, weights))) > 1e-2


def test_mmpose_mode_support_radius():
    assert mmpose_support_radius(3.0) == pytest.approx(
        3 * 3 / math.sqrt(2) + 1.5)
    assert default_support_radius(3.0, 'mmpose') == 15.0
    assert default_support_radius(0.2, 'mmpose') == pytest.approx(
        mmpose_support_radius(0.2))
    assert HeatmapPatchEmbed(sigma=0.2, gaussian='mmpose').support_radius \
        == pytest.approx(mmpose_support_radius(0.2))
    with pytest.raises(ValueError, match='cover'):
        HeatmapPatchEmbed(support_radius=6.0, gaussian='mmpose')
    with pytest.raises(ValueError, match='gaussian must be one of'):
        HeatmapPatchEmbed(gaussian='dark')
    with pytest.raises(ValueError, match='gaussian must be one of'):
        render_heatmaps(torch.zeros(1, K, 2), torch.ones(1, K),
                        gaussian='unbiased')
    assert "gaussian='exact'" in repr(HeatmapPatchEmbed())


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    embed = _embed(torch.float32)
    joints, weights = _hard_joints(dtype=torch.float32)
    ref = embed.forward_joints(joints, weights)
    embed = embed.cuda()
    out = embed.forward_joints(joints.cuda(), weights.cuda())
    assert out.device.type == 'cuda'
    assert _rel_err(out.cpu(), ref) < 1e-5
    dense = embed(render_heatmaps(joints.cuda(), weights.cuda()))
    assert _rel_err(out, dense) < 1e-5
