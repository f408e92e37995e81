"""Tests for Key2MeshRegressor (and its output through Key2MeshLoss)."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import (SMPL45_TO_OPENPOSE18,
                                                SMPL_PARENTS,
                                                coco17_to_openpose18)
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.geometry.rotations import rotmat_to_axis_angle
from mpt_plugin.models.heads.key2mesh_regressor import Key2MeshRegressor
from mpt_plugin.models.losses.key2mesh_loss import Key2MeshLoss
from mpt_plugin.registry import MODELS


def make_random_smpl(num_verts: int, seed: int = 0) -> dict:
    """A random SMPL-layout model (24 joints, 10 betas)."""
    rng = np.random.default_rng(seed)
    j_reg = rng.random((24, num_verts))
    weights = rng.random((num_verts, 24))
    idx = np.arange(num_verts)
    faces = np.stack([idx, np.roll(idx, 1), np.roll(idx, 2)], axis=1)
    kintree = np.stack([np.array(SMPL_PARENTS) % 2**32,
                        np.arange(24)]).astype(np.uint32)
    return {
        'v_template': rng.normal(size=(num_verts, 3)) * 0.3,
        'f': faces.astype(np.uint32),
        'J_regressor': j_reg / j_reg.sum(1, keepdims=True),
        'weights': weights / weights.sum(1, keepdims=True),
        'kintree_table': kintree,
        'shapedirs': rng.normal(size=(num_verts, 3, 10)) * 0.02,
        'posedirs': rng.normal(size=(num_verts, 3, 207)) * 0.01,
    }


@pytest.fixture(scope='module')
def tiny_smpl(tmp_path_factory):
    path = tmp_path_factory.mktemp('k2m_smpl') / 'SMPL_NEUTRAL.npz'
    np.savez(path, **make_random_smpl(30))
    return str(path)


@pytest.fixture(scope='module')
def smpl_topology(tmp_path_factory):
    """6890 vertices, so MPTSMPL returns the ``smpl_45`` joints."""
    path = tmp_path_factory.mktemp('k2m_smpl45') / 'SMPL_NEUTRAL.npz'
    np.savez(path, **make_random_smpl(6890, seed=1))
    return str(path)


def small_model(**kwargs):
    kwargs.setdefault('hidden_dim', 32)
    return Key2MeshRegressor(**kwargs)


# --------------------------------------------------------------------------
# Key2MeshRegressor
# --------------------------------------------------------------------------
def test_default_architecture_shapes_without_body_model():
    model = MODELS.build(dict(type='Key2MeshRegressor'))
    assert model.body_model is None
    fe = sum(p.numel() for p in model.feature_extractor.parameters())
    head = sum(p.numel() for p in model.smpl_head.parameters())
    # Key2Mesh: ~4.25 M (extractor) and ~2.26 M (head) parameters.
    assert 4.2e6 < fe < 4.3e6 and 2.2e6 < head < 2.3e6
    assert model.smpl_head.fc.out_features == 10 + 24 * 6
    model.eval()
    out = model(torch.rand(3, 18, 2))
    assert set(out) == {'features', 'betas', 'pose_6d', 'rotmat', 'pose_aa'}
    assert out['features'].shape == (3, 1024)
    assert out['betas'].shape == (3, 10)
    assert out['rotmat'].shape == (3, 24, 3, 3)
    assert out['pose_aa'].shape == (3, 72)
    np.testing.assert_allclose(
        out['pose_aa'].reshape(3, 24, 3).detach().numpy(),
        rotmat_to_axis_angle(out['rotmat']).detach().numpy())
    rot = out['rotmat'].detach()
    np.testing.assert_allclose(torch.linalg.det(rot).numpy(), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r'\(B, 18, 2\)'):
        model(torch.rand(3, 17, 2))
    with pytest.raises(ValueError, match='input_convention'):
        Key2MeshRegressor(input_convention='h36m')


def test_shapes_with_body_model(tiny_smpl):
    model = small_model(body_model=dict(model_path=tiny_smpl))
    model.eval()
    out = model(torch.rand(4, 18, 2))
    assert out['vertices'].shape == (4, 30, 3)
    assert out['joints'].shape == (4, 24, 3)
    assert 'keypoints3d' not in out  # 24-joint mesh: no face landmarks
    # Same as calling the body model with the axis-angle pose.
    ref = model.body_model(betas=out['betas'],
                           global_orient=out['pose_aa'][:, :3],
                           body_pose=out['pose_aa'][:, 3:])
    np.testing.assert_allclose(out['vertices'].detach().numpy(),
                               ref['vertices'].detach().numpy(),
                               atol=1e-4)
    assert not any(p.requires_grad for p in model.body_model.parameters())
    # The body model is not part of the checkpoint.
    assert not any(k.startswith('body_model') for k in model.state_dict())


def test_keypoints3d_on_smpl_topology(smpl_topology):
    model = small_model(body_model=dict(
        type='MPTSMPL', model_path=smpl_topology, gender='neutral'))
    model.eval()
    out = model(torch.rand(2, 18, 2))
    assert out['joints'].shape == (2, 45, 3)
    assert out['keypoints3d'].shape == (2, 18, 3)
    assert SMPL45_TO_OPENPOSE18 == [
        24, 12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28
    ]
    assert torch.equal(out['keypoints3d'][:, 1], out['joints'][:, 12])


def test_coco_input_synthesises_neck():
    torch.manual_seed(0)
    op_model = small_model().eval()
    coco_model = small_model(input_convention='coco').eval()
    coco_model.load_state_dict(op_model.state_dict())
    coco = torch.rand(3, 17, 2)
    mask = torch.ones(3, 17, dtype=torch.bool)
    mask[2, 5] = False
    op, _ = coco17_to_openpose18(coco, mask)
    out_c = coco_model(coco, mask)
    out_o = op_model(op)
    np.testing.assert_allclose(out_c['pose_aa'].detach().numpy(),
                               out_o['pose_aa'].detach().numpy())
    # Neck of sample 2 is 0.5 (left shoulder missing), else the midpoint.
    assert (op[2, 1] == 0.5).all()
    np.testing.assert_allclose(op[0, 1].numpy(),
                               (0.5 * (coco[0, 5] + coco[0, 6])).numpy())
    with pytest.raises(ValueError, match=r'\(B, 17, 2\)'):
        coco_model(torch.rand(3, 18, 2))
    with pytest.raises(ValueError, match='num_keypoints'):
        small_model(input_convention='coco', num_keypoints=17)


def test_eval_deterministic_train_stochastic():
    torch.manual_seed(0)
    model = small_model()
    x = torch.rand(8, 18, 2)
    model.train()
    a, b = model(x)['betas'], model(x)['betas']
    assert not torch.allclose(a, b)  # dropout active
    model.eval()
    a, b = model(x)['betas'], model(x)['betas']
    assert torch.equal(a, b)
    # Eval mode works at batch 1 (BatchNorm uses running statistics).
    assert model(x[:1])['betas'].shape == (1, 10)


def test_gradients_reach_all_parameters(smpl_topology):
    torch.manual_seed(0)
    model = small_model(body_model=dict(model_path=smpl_topology))
    model.train()
    loss_fn = Key2MeshLoss()
    x = torch.rand(6, 18, 2)
    out = model(x)
    mask = torch.ones(6, 18, dtype=torch.bool)
    gt2d, _ = normalize_keypoints_2d(torch.rand(6, 18, 2), mask.float())
    gt = dict(pose_aa=torch.randn(6, 72) * 0.1,
              betas=torch.randn(6, 10),
              keypoints3d=torch.randn(6, 18, 3) * 0.3,
              keypoints2d_norm=gt2d,
              keypoints2d_mask=mask)
    losses = loss_fn(out, gt)
    assert set(losses) == {
        'loss_pose', 'loss_betas', 'loss_keypoints2d', 'loss_keypoints3d'
    }
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
