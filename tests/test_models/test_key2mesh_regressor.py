"""Tests for Key2MeshRegressor, Key2MeshLoss and the keypoint helpers."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import (SMPL45_TO_OPENPOSE18,
                                                coco17_to_openpose18)
from mpt_plugin.geometry.cameras import project_fixed_camera
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.geometry.rotations import rotmat_to_axis_angle
from mpt_plugin.models.heads.key2mesh_regressor import Key2MeshRegressor
from mpt_plugin.models.losses.key2mesh_loss import (OPENPOSE18_JOINT_WEIGHTS,
                                                    Key2MeshLoss)
from mpt_plugin.registry import MODELS

SMPL_PARENTS = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    20, 21
]


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
# normalize_keypoints_2d / coco17_to_openpose18 / camera
# --------------------------------------------------------------------------
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


def test_coco17_to_openpose18_neck():
    coco = torch.arange(2 * 17 * 2, dtype=torch.float32).reshape(2, 17, 2)
    mask = torch.ones(2, 17, dtype=torch.bool)
    mask[1, 6] = False  # right shoulder missing in sample 1
    op, op_mask = coco17_to_openpose18(coco, mask)
    assert op.shape == (2, 18, 2) and op_mask.shape == (2, 18)
    np.testing.assert_allclose(op[0, 1].numpy(),
                               (0.5 * (coco[0, 5] + coco[0, 6])).numpy())
    assert (op[1, 1] == 0.5).all() and not op_mask[1, 1] and op_mask[0, 1]
    # nose, RSho, LSho, RAnk, LEar come from COCO 0, 6, 5, 16, 3.
    for dst, src in [(0, 0), (2, 6), (5, 5), (10, 16), (17, 3), (14, 2)]:
        assert torch.equal(op[:, dst], coco[:, src])
    assert not op_mask[1, 2]  # RSho <- COCO 6
    op_nomask, none = coco17_to_openpose18(coco)
    assert none is None
    np.testing.assert_allclose(op_nomask[1, 1].numpy(),
                               (0.5 * (coco[1, 5] + coco[1, 6])).numpy())


def test_project_fixed_camera_hand_values():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 2.0],
                            [-0.5, 0.25, -2.0]]])
    uv = project_fixed_camera(joints)
    expected = [[[0.0, 0.0], [64.0, -128.0], [-16.0, -8.0]]]
    np.testing.assert_allclose(uv.numpy(), expected, atol=1e-5)


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


# --------------------------------------------------------------------------
# Key2MeshLoss
# --------------------------------------------------------------------------
def test_loss_pose_betas_hand_values_and_validity():
    loss_fn = MODELS.build(
        dict(type='Key2MeshLoss',
             keypoints2d_weight=0,
             keypoints3d_weight=0,
             betas_weight=2.0))
    pred = dict(pose_aa=torch.zeros(2, 72, requires_grad=True),
                betas=torch.zeros(2, 10, requires_grad=True))
    gt_pose = torch.zeros(2, 72)
    gt_pose[0, :36] = 1.0  # mean |d| over sample 0 = 0.5
    gt_betas = torch.full((2, 10), 0.2)
    gt = dict(pose_aa=gt_pose, betas=gt_betas)
    losses = loss_fn(pred, gt)
    assert losses['loss_pose'].item() == pytest.approx(0.25)
    assert losses['loss_betas'].item() == pytest.approx(2.0 * 0.2)
    assert losses['loss_keypoints2d'].item() == 0.0
    # Sample 1 invalid, with NaN GT: value from sample 0 only, finite grads.
    gt_pose[1] = torch.nan
    gt_betas[1] = torch.nan
    losses = loss_fn(pred, dict(gt, has_smpl=torch.tensor([1, 0])))
    assert losses['loss_pose'].item() == pytest.approx(0.5)
    assert losses['loss_betas'].item() == pytest.approx(0.4)
    (losses['loss_pose'] + losses['loss_betas']).backward()
    assert torch.isfinite(pred['pose_aa'].grad).all()
    assert (pred['pose_aa'].grad[1] == 0).all()
    # No valid sample: zero, attached to the graph.
    losses = loss_fn(pred, dict(gt, has_smpl=torch.tensor([0, 0])))
    assert losses['loss_pose'].item() == 0.0
    assert losses['loss_pose'].requires_grad


def test_loss_keypoints3d_hand_value():
    # the pre-2026-12-05 normalisation; the default 'mean' is tested in
    # test_key2mesh_loss.py
    loss_fn = Key2MeshLoss(pose_weight=0, betas_weight=0, keypoints2d_weight=0,
                           reduction='weight_normalized')
    gt3d = torch.randn(1, 18, 3)
    pred3d = gt3d.clone()
    pred3d[0, 4, 0] += 0.1  # right wrist, weight 8
    losses = loss_fn(dict(pose_aa=torch.zeros(1, 72), keypoints3d=pred3d),
                     dict(keypoints3d=gt3d))
    assert sum(OPENPOSE18_JOINT_WEIGHTS) == 62
    expected = 0.3 * 8 * 0.1 / (3 * 62)
    assert losses['loss_keypoints3d'].item() == pytest.approx(expected,
                                                              rel=1e-5)


def test_loss_keypoints2d_hand_value():
    loss_fn = Key2MeshLoss(pose_weight=0, betas_weight=0, keypoints3d_weight=0,
                           reduction='weight_normalized')
    pred3d = torch.zeros(1, 18, 3)
    pred3d[0, 0] = torch.tensor([0.0, 0.0, 0.0])  # nose (weight 1)
    pred3d[0, 1] = torch.tensor([0.6, 0.0, 0.0])  # neck (weight 1)
    pred3d[0, 2] = torch.tensor([0.0, 0.3, 0.0])  # RSho (weight 2)
    pred3d[0, 3:] = torch.randn(15, 3)  # masked out in the GT
    mask = torch.zeros(1, 18, dtype=torch.bool)
    mask[0, :3] = True
    # Projection: (0, 0), (25.6, 0), (0, -12.8) px -> bbox scale 25.6 ->
    # normalised (0, .75), (1, .75), (0, .25). GT moves RSho to (0, .35).
    gt2d = torch.full((1, 18, 2), 0.5)
    gt2d[0, :3] = torch.tensor([[0.0, 0.75], [1.0, 0.75], [0.0, 0.35]])
    losses = loss_fn(dict(pose_aa=torch.zeros(1, 72), keypoints3d=pred3d),
                     dict(keypoints2d_norm=gt2d, keypoints2d_mask=mask))
    expected = 0.3 * 2 * 0.1 / (2 * (1 + 1 + 2))
    assert losses['loss_keypoints2d'].item() == pytest.approx(expected,
                                                              rel=1e-5)
    # Consistency: GT from the same 3D joints -> zero loss, any scale.
    gt_norm, gt_mask = normalize_keypoints_2d(project_fixed_camera(pred3d),
                                              mask.float())
    losses = loss_fn(dict(pose_aa=torch.zeros(1, 72), keypoints3d=pred3d),
                     dict(keypoints2d_norm=gt_norm, keypoints2d_mask=gt_mask))
    assert losses['loss_keypoints2d'].item() == pytest.approx(0, abs=1e-7)


def test_loss_errors():
    loss_fn = Key2MeshLoss()
    with pytest.raises(KeyError, match='keypoints3d'):
        loss_fn(dict(pose_aa=torch.zeros(1, 72), betas=torch.zeros(1, 10)),
                dict(pose_aa=torch.zeros(1, 72), betas=torch.zeros(1, 10)))
    with pytest.raises(ValueError, match='joint_weights'):
        Key2MeshLoss(joint_weights=[1.0, -1.0])
