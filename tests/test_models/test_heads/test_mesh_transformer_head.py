import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from mpt_plugin.models.heads.mesh_transformer_head import (
    PAPER_DIMS, MPTMeshTransformerHead)
from mpt_plugin.models.utils.heatmap_patch_embed import render_heatmaps
from mpt_plugin.registry import MODELS

C, SIZE, J, VERTS = 4, 32, 3, (5, 9, 17)


def _small_head(**kwargs) -> MPTMeshTransformerHead:
    cfg = dict(
        in_channels=C,
        input_size=SIZE,
        patch_size=8,
        num_joints=J,
        num_vertices=VERTS,
        embed_dims=(32, 16, 8),
        hidden_dims=(32, 16, 8),
        num_layers=(2, 1, 1),
        num_heads=2,
        camera_hidden=7,
        loss=dict(
            type='MPTMeshLoss', joint_regressor=torch.rand(J, VERTS[2])))
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MPTMeshTransformerHead(**cfg)


def _joints(bsz=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    joints_px = torch.rand(bsz, C, 2, generator=g) * (SIZE - 1)
    weights = torch.ones(bsz, C)
    weights[0, 1] = 0.0  # a removed (masked) joint
    return joints_px, weights


def _gt(bsz=2):
    g = torch.Generator().manual_seed(3)
    return dict(
        vertices=torch.randn(bsz, VERTS[2], 3, generator=g) * 0.3,
        vertices_mid=torch.randn(bsz, VERTS[1], 3, generator=g) * 0.3,
        vertices_coarse=torch.randn(bsz, VERTS[0], 3, generator=g) * 0.3,
        joints_3d=torch.randn(bsz, J, 3, generator=g) * 0.3,
        joints_2d_norm=torch.rand(bsz, J, 2, generator=g) * 2 - 1,
        joints_2d_weights=torch.ones(bsz, J))


def test_shapes_registry_and_inputs():
    head = MODELS.build(
        dict(type='MPTMeshTransformerHead', **{
            k: v
            for k, v in dict(
                in_channels=C, input_size=SIZE, num_joints=J,
                num_vertices=VERTS, embed_dims=(32, 16, 8),
                hidden_dims=(32, 16, 8), num_layers=1, num_heads=2).items()
        }))
    assert isinstance(head, MPTMeshTransformerHead)
    assert head.num_patches == 16 and head.num_tokens == J + 5 + 16
    assert head.out_dims == (16, 8, 3)
    head.eval()
    joints_px, weights = _joints()
    out = head(dict(joints_px=joints_px, joint_weights=weights))
    assert out['joints'].shape == (2, J, 3)
    assert out['vertices_coarse'].shape == (2, VERTS[0], 3)
    assert out['vertices_mid'].shape == (2, VERTS[1], 3)
    assert out['vertices'].shape == (2, VERTS[2], 3)
    assert out['camera'].shape == (2, 3)
    # Maps of another size are resized; tuples use their last map.
    maps = torch.rand(2, C, 16, 16)
    out_small = head(maps)
    resized = torch.nn.functional.interpolate(
        maps, size=(SIZE, SIZE), mode='bilinear', align_corners=False)
    assert torch.equal(out_small['vertices'], head(resized)['vertices'])
    assert torch.equal(head((maps, ))['joints'], out_small['joints'])
    assert torch.equal(
        head(dict(heatmaps=resized))['joints'], out_small['joints'])
    assert torch.equal(head.predict(resized)['camera'], out_small['camera'])
    # Weights default to ones.
    ones = torch.ones_like(weights)
    assert torch.equal(
        head(dict(joints_px=joints_px))['joints'],
        head(dict(joints_px=joints_px, joint_weights=ones))['joints'])


def test_dense_and_sparse_inputs_agree():
    head = _small_head().eval()
    joints_px, weights = _joints()
    maps = render_heatmaps(joints_px, weights, size=SIZE, sigma=3.0)
    sparse = head(dict(joints_px=joints_px, joint_weights=weights))
    dense = head(maps)
    for key in sparse:
        torch.testing.assert_close(sparse[key], dense[key], rtol=1e-5,
                                   atol=1e-5)


def test_mvm_only_in_training():
    head = _small_head(drop_rate=0.0, attn_drop_rate=0.0, mvm_ratio=1.0)
    head.init_template(torch.randn(J, 3), torch.randn(VERTS[0], 3))
    captured = []
    head.query_proj.register_forward_hook(
        lambda m, inp, out: captured.append(inp[0].detach()))
    joints_px, weights = _joints(bsz=32)
    x = dict(joints_px=joints_px, joint_weights=weights)

    head.eval()
    out_a, out_b = head(x), head(x)
    assert torch.equal(out_a['vertices'], out_b['vertices'])
    masked = (captured[-1] == 0.01).all(-1)  # (B, Q)
    assert not masked.any()

    head.train()
    torch.manual_seed(0)
    out_train = head(x)
    queries = captured[-1]
    masked = (queries == 0.01).all(-1)
    n_joint = masked[:, :J].sum(1)
    n_vert = masked[:, J:].sum(1)
    # Between 0 and floor(ratio * n) per sample, varying across samples.
    assert n_joint.max() <= J and n_vert.max() <= VERTS[0]
    assert n_vert.unique().numel() > 2 and n_vert.min() == 0
    # Unmasked queries are untouched: xyz equals the template.
    template = torch.cat([head.template_joints, head.template_vertices])
    keep = ~masked
    assert torch.equal(queries[..., :3][keep],
                       template.expand(32, -1, -1)[keep])
    assert not torch.equal(out_train['vertices'], out_a['vertices'])
    # Ratio 0.3 -> at most int(0.3 * 5) = 1 vertex query masked.
    head.mvm_ratio = 0.3
    head(x)
    assert (captured[-1] == 0.01).all(-1)[:, J:].sum(1).max() <= 1
    # mvm_ratio=0 in training mode == eval mode (no dropout here).
    head.mvm_ratio = 0.0
    assert torch.equal(head(x)['vertices'], out_a['vertices'])


def test_init_template_and_state_dict():
    head = _small_head().eval()
    joints_px, weights = _joints()
    x = dict(joints_px=joints_px, joint_weights=weights)
    before = head(x)['joints']
    assert not head.template_initialized
    tj, tv = torch.randn(J, 3), torch.randn(VERTS[0], 3)
    head.init_template(tj.numpy(), tv)
    assert head.template_initialized
    assert torch.equal(head.template_joints, tj)
    after = head(x)['joints']
    assert not torch.allclose(before, after)
    state = head.state_dict()
    assert torch.equal(state['template_vertices'], tv)
    other = _small_head().eval()
    other.load_state_dict(state)
    assert torch.equal(other(x)['joints'], after)
    with pytest.raises(ValueError, match='template joints'):
        head.init_template(torch.zeros(J + 1, 3), tv)
    with pytest.raises(ValueError, match='non-finite'):
        head.init_template(torch.full((J, 3), float('nan')), tv)


def test_init_upsampling_and_freeze():
    import scipy.sparse as sp
    head = _small_head().eval()
    up_mid = torch.rand(VERTS[1], VERTS[0])
    up_full = sp.random(VERTS[2], VERTS[1], density=0.3, random_state=0,
                        format='csr')
    head.init_upsampling(up_mid, up_full, freeze=True)
    out = head(torch.rand(1, C, SIZE, SIZE))
    torch.testing.assert_close(out['vertices_mid'][0],
                               up_mid @ out['vertices_coarse'][0])
    dense_full = torch.as_tensor(up_full.toarray(), dtype=torch.float32)
    torch.testing.assert_close(out['vertices'][0],
                               dense_full @ out['vertices_mid'][0])
    assert not head.upsample_mid.weight.requires_grad
    assert not head.upsample_full.bias.requires_grad
    head.set_upsampling_trainable(True)
    assert head.upsample_full.weight.requires_grad
    assert not _small_head(
        freeze_upsampling=True).upsample_mid.weight.requires_grad
    with pytest.raises(ValueError, match='U1'):
        head.init_upsampling(up_mid.T, up_full)


def test_camera_scale():
    head = _small_head().eval()
    for layer in (head.cam_fc3, ):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    cam = head(torch.rand(2, C, SIZE, SIZE))['camera']
    torch.testing.assert_close(cam, torch.tensor([[1.0, 0, 0]] * 2))
    head.cam_fc3.bias.data[0] = -20.0  # softplus keeps s > 0
    assert (head(torch.rand(2, C, SIZE, SIZE))['camera'][:, 0] > 0).all()
    raw = _small_head(camera_scale_act='none').eval()
    torch.nn.init.zeros_(raw.cam_fc3.weight)
    raw.cam_fc3.bias.data = torch.tensor([-0.5, 0.1, 0.2])
    torch.testing.assert_close(
        raw(torch.rand(1, C, SIZE, SIZE))['camera'],
        torch.tensor([[-0.5, 0.1, 0.2]]))


def test_loss_and_gradients_reach_every_parameter():
    head = _small_head(mvm_ratio=0.3).train()
    head.init_template(torch.randn(J, 3), torch.randn(VERTS[0], 3))
    joints_px, weights = _joints()
    losses = head.loss(
        dict(joints_px=joints_px, joint_weights=weights), _gt(), {})
    assert set(losses) == {
        'loss_vertices', 'loss_joints', 'loss_joints_reg', 'loss_joints_proj'
    }
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    for name, param in head.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_pre_ln_and_no_global_feature():
    head = _small_head(norm_first=True, global_feature='none').train()
    assert head.query_proj.in_features == 3
    assert isinstance(head.blocks[0].final_norm, torch.nn.LayerNorm)
    out = head(torch.rand(2, C, SIZE, SIZE))
    sum(v.sum() for v in out.values()).backward()
    assert head.blocks[0].final_norm.weight.grad is not None


@pytest.mark.parametrize('global_feature',
                         ['token_mix', 'flatten', 'mean', 'none'])
def test_analytic_flops_match_flop_counter(global_feature):
    head = _small_head(global_feature=global_feature).eval()
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:  # count attention matmuls
        head(torch.rand(2, C, SIZE, SIZE))
    assert counter.get_total_flops() / 2 == head.flops_per_sample(False)
    counter = FlopCounterMode(display=False)
    joints_px, weights = _joints()
    with sdpa_kernel(SDPBackend.MATH), counter:
        head(dict(joints_px=joints_px, joint_weights=weights))
    # The sparse path's own cost depends on HeatmapPatchEmbed's algorithm;
    # require agreement within that (small) term.
    sparse_term = head.flops_breakdown(sparse_input=True)['patch_embed']
    assert counter.get_total_flops() / 2 == pytest.approx(
        head.flops_per_sample(False, sparse_input=True), abs=sparse_term)


def test_errors():
    head = _small_head()
    with pytest.raises(ValueError, match='channels'):
        head(torch.rand(1, C + 1, SIZE, SIZE))
    with pytest.raises(KeyError, match='joints_px'):
        head(dict(points=torch.rand(1, C, 2)))
    with pytest.raises(ValueError, match='multiple'):
        _small_head(input_size=30)
    with pytest.raises(ValueError, match='divisible'):
        _small_head(num_heads=3)
    with pytest.raises(ValueError, match='camera_scale_act'):
        _small_head(camera_scale_act='relu')


def test_paper_dims():
    head = MPTMeshTransformerHead(loss=None)
    for key, value in PAPER_DIMS.items():
        got = getattr(head, key)
        assert got == value or got == (value, ) * 3, key
    assert head.num_patches == 784 and head.num_tokens == 14 + 431 + 784
    assert [b.pos_embed.shape for b in head.blocks] == [
        (1229, 1024), (1229, 256), (1229, 64)
    ]
    assert [b.layers[0].ffn_in.out_features
            for b in head.blocks] == [2048, 512, 128]
    # 55_780_355 + the default 'flatten' summary: Linear(1024, 4),
    # Linear(784 * 4, 1024) and its LayerNorm
    assert head.num_parameters() == (55_780_355 + 1024 * 4 + 4 +
                                     784 * 4 * 1024 + 1024 + 2 * 1024)
    layers = sum(v for k, v in head.flops_breakdown().items()
                 if k.endswith('_layers'))
    # The issue's ~360 GFLOP per training sample is 3x the layer FLOPs.
    assert 3 * layers / 1e9 == pytest.approx(361.3, abs=0.1)
    # 391.7 + 3 x 2 x 2 x 784 x 1024 x 4 ('flatten' summary) = 391.8
    assert head.flops_per_sample() / 1e9 == pytest.approx(391.8, abs=0.05)
    tm = MPTMeshTransformerHead(loss=None, global_feature='token_mix')
    # METRO's Conv1d(784, 445, 1): 3 x 2 x 445 x 784 x 1024 = 2.1 GFLOP
    assert tm.num_parameters() == 55_780_355 + 784 * 445 + 445
    assert tm.flops_per_sample() / 1e9 == pytest.approx(393.9, abs=0.05)
    head.eval()
    with torch.no_grad():
        out = head(dict(joints_px=torch.rand(1, 17, 2) * 223))
    assert out['vertices'].shape == (1, 6890, 3)
    assert out['vertices_mid'].shape == (1, 1723, 3)
    assert out['joints'].shape == (1, 14, 3)
    assert torch.isfinite(out['vertices']).all()


def test_flatten_global_feature_is_position_aware():
    """Moving every joint by a whole patch leaves the 'mean' global feature
    unchanged (it only sees patch contents) but not the 'flatten' one."""
    size = 64  # room for whole Gaussians (support 15 px) before and after
    g = torch.Generator().manual_seed(0)
    joints_px = 18 + 10 * torch.rand(1, C, 2, generator=g)
    weights = torch.ones(1, C)
    shifted = joints_px + 8.0  # one patch right and down

    def glob(head, j):
        patches = head._embed_input(dict(joints_px=j, joint_weights=weights))
        if head.global_feature == 'mean':
            return patches.mean(dim=1)
        return head.global_proj(head.global_reduce(patches).flatten(1))

    mean_head = _small_head(global_feature='mean', input_size=size).eval()
    flat_head = _small_head(global_feature='flatten', global_reduce_dim=3,
                            input_size=size).eval()
    with torch.no_grad():
        assert torch.allclose(glob(mean_head, joints_px),
                              glob(mean_head, shifted), atol=1e-5)
        g0, g1 = glob(flat_head, joints_px), glob(flat_head, shifted)
    assert (g0 - g1).abs().max() > 1e-2
    assert flat_head.global_proj[0].in_features == flat_head.num_patches * 3
    out = flat_head.train()(dict(joints_px=joints_px, joint_weights=weights))
    sum(v.sum() for v in out.values()).backward()
    assert flat_head.global_reduce.weight.grad.abs().sum() > 0


def test_token_mix_is_metro_conv1d_per_query():
    """'token_mix' (METRO's released Conv1d(49, 445)): query q gets
    sum_p W[q, p] patch_p + b[q], its own mix, and it moves with the
    joints."""
    size = 64
    head = _small_head(input_size=size, global_feature='token_mix').eval()
    assert tuple(head.token_mix.weight.shape) == (head.num_queries,
                                                  head.num_patches, 1)
    g = torch.Generator().manual_seed(0)
    joints_px = 18 + 10 * torch.rand(1, C, 2, generator=g)
    weights = torch.ones(1, C)
    with torch.no_grad():
        patches = head._embed_input(dict(joints_px=joints_px,
                                         joint_weights=weights))
        mixed = head.token_mix(patches)
        w = head.token_mix.weight[..., 0]  # (Q, P)
        ref = torch.einsum('qp,bpd->bqd', w, patches) + \
            head.token_mix.bias[None, :, None]
        shifted = head.token_mix(head._embed_input(dict(
            joints_px=joints_px + 8.0, joint_weights=weights)))
    assert mixed.shape == (1, head.num_queries, head.embed_dims[0])
    assert torch.allclose(mixed, ref, atol=1e-5)
    assert (mixed[:, 0] - mixed[:, 1]).abs().max() > 1e-3  # per query
    assert (mixed - shifted).abs().max() > 1e-3  # position-aware
    out = head.train()(dict(joints_px=joints_px, joint_weights=weights))
    sum(v.sum() for v in out.values()).backward()
    assert head.token_mix.weight.grad.abs().sum() > 0


def test_global_feature_default_and_patch_norm_combination():
    assert _small_head().global_feature == 'flatten'
    head = _small_head(global_feature='token_mix', patch_norm=True)
    assert head.token_mix.out_channels == head.num_queries


def test_patch_norm_scales_tokens():
    joints_px, weights = _joints(bsz=1)
    head = _small_head(patch_norm=True).eval()
    with torch.no_grad():
        tokens = head._embed_input(dict(joints_px=joints_px,
                                        joint_weights=weights))
    assert torch.allclose(tokens.std(dim=-1), torch.ones(1, tokens.shape[1]),
                          atol=0.05)


def test_two_level_hand_head():
    """MANO: (coarse, full) levels, one upsampling layer, no vertices_mid;
    the loss with two level weights trains it."""
    up = torch.rand(VERTS[2], VERTS[0])
    head = _small_head(
        num_vertices=(VERTS[0], VERTS[2]),
        loss=dict(type='MPTMeshLoss', vertex_level_weights=(0.5, 0.5),
                  joints_criterion='mse', coord_reduction='mean',
                  joints_root_indices=(0, ),
                  joint_regressor=torch.rand(J, VERTS[2]))).eval()
    assert head.upsample_mid is None and len(head.upsampling_layers) == 1
    head.init_upsampling(None, up, freeze=True)
    out = head(torch.rand(2, C, SIZE, SIZE))
    assert 'vertices_mid' not in out
    assert out['vertices'].shape == (2, VERTS[2], 3)
    torch.testing.assert_close(out['vertices'][1],
                               up @ out['vertices_coarse'][1])
    assert not head.upsample_full.weight.requires_grad
    with pytest.raises(ValueError, match='up_mid=None'):
        head.init_upsampling(torch.rand(VERTS[1], VERTS[0]), up)
    with pytest.raises(ValueError, match='both upsampling'):
        _small_head().init_upsampling(None, torch.rand(VERTS[2], VERTS[1]))
    with pytest.raises(ValueError, match='num_vertices'):
        _small_head(num_vertices=(5, ))
    head.train()
    gt = dict(vertices=torch.zeros(2, VERTS[2], 3),
              vertices_coarse=torch.zeros(2, VERTS[0], 3),
              joints_3d=torch.zeros(2, J, 3),
              joints_2d_norm=torch.zeros(2, J, 2))
    losses = head.loss(torch.rand(2, C, SIZE, SIZE), gt)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and head.query_proj.weight.grad is not None
    # FLOPs count one upsampling product
    assert head.flops_breakdown()['upsampling'] == 2.0 * 3 * VERTS[0] * VERTS[2]
