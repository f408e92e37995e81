import numpy as np
import pytest
import torch

from mpt_plugin.models.losses.mesh_loss import MPTMeshLoss
from mpt_plugin.registry import MODELS

V0, V1, V2, J = 2, 3, 4, 2


def _pred(bsz=1, requires_grad=False):
    pred = dict(
        joints=torch.zeros(bsz, J, 3),
        vertices_coarse=torch.zeros(bsz, V0, 3),
        vertices_mid=torch.zeros(bsz, V1, 3),
        vertices=torch.zeros(bsz, V2, 3),
        camera=torch.tensor([[1.0, 0.0, 0.0]]).repeat(bsz, 1))
    if requires_grad:
        for v in pred.values():
            v.requires_grad_(True)
    return pred


def _only(name, **kwargs):
    """Loss with only one term switched on."""
    weights = dict(vertices_weight=0., joints_weight=0., joints_reg_weight=0.,
                   joints_proj_weight=0.)
    weights[name] = 1.0
    weights.update(kwargs)
    return MPTMeshLoss(**weights)


def test_vertex_loss_hand_computed():
    pred = _pred()
    gt = dict(
        vertices_coarse=torch.zeros(1, V0, 3),
        vertices_mid=torch.zeros(1, V1, 3),
        vertices=torch.zeros(1, V2, 3))
    gt['vertices_coarse'][..., 0] = 0.1  # per point 0.1 -> mean 0.1
    gt['vertices_mid'][...] = torch.tensor([0.1, -0.2, 0.3])  # 0.6
    loss = _only('vertices_weight')(pred, gt)
    assert set(loss) == {
        'loss_vertices', 'loss_joints', 'loss_joints_reg', 'loss_joints_proj'
    }
    assert loss['loss_vertices'].item() == pytest.approx((0.1 + 0.6) / 3)
    assert loss['loss_joints'].item() == 0.0
    # Element mean (METRO's nn.L1Loss) and custom level weights.
    loss = _only('vertices_weight', coord_reduction='mean',
                 vertex_level_weights=(1., 2., 0.))(pred, gt)
    assert loss['loss_vertices'].item() == pytest.approx(0.1 / 3 +
                                                         2 * 0.6 / 3)
    # The full level weight 0: its GT key is not needed.
    gt.pop('vertices')
    loss = _only('vertices_weight', vertex_level_weights=(1., 1., 0.),
                 vertices_weight=10.)(pred, gt)
    assert loss['loss_vertices'].item() == pytest.approx(10 * 0.7)


def test_joint_losses_hand_computed(tmp_path):
    pred = _pred()
    pred['joints'] = torch.tensor([[[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]]])
    pred['vertices'] = torch.arange(V2 * 3, dtype=torch.float32).view(
        1, V2, 3) / 10
    gt = dict(joints_3d=torch.zeros(1, J, 3))
    # L_J: (0.6 + 0) / 2 joints.
    loss = _only('joints_weight')(pred, gt)
    assert loss['loss_joints'].item() == pytest.approx(0.3)
    # Per-joint weights multiply, denominator stays J.
    gt['joints_3d_weights'] = torch.tensor([[0.5, 1.0]])
    loss = _only('joints_weight')(pred, gt)
    assert loss['loss_joints'].item() == pytest.approx(0.15)
    gt.pop('joints_3d_weights')

    # L_J^reg: G picks vertex 1 and averages vertices 2 and 3.
    reg = np.zeros((3, V2))
    reg[0, 0] = 1.0
    reg[1, 1] = 1.0
    reg[2, 2:] = 0.5
    path = tmp_path / 'reg.npy'
    np.save(path, reg)
    loss_fn = _only('joints_reg_weight', joint_regressor=str(path),
                    joint_regressor_rows=[1, 2])
    assert loss_fn.joint_regressor.shape == (2, V2)
    # v1 = (0.3, 0.4, 0.5) -> 1.2; (v2 + v3) / 2 = (0.75, 0.85, 0.95) -> 2.55
    loss = loss_fn(pred, gt)
    assert loss['loss_joints_reg'].item() == pytest.approx((1.2 + 2.55) / 2)
    assert loss['loss_joints'].item() == 0.0

    # Root re-centring: a translated prediction costs nothing.
    pred['joints'] = gt['joints_3d'] + torch.tensor([1.0, -2.0, 3.0])
    loss = _only('joints_weight', joints_root_indices=[0, 1])(pred, gt)
    assert loss['loss_joints'].item() == pytest.approx(0.0, abs=1e-7)
    loss = _only('joints_weight')(pred, gt)
    assert loss['loss_joints'].item() == pytest.approx(6.0)


def test_projection_loss_hand_computed():
    pred = _pred()
    pred['joints'] = torch.tensor([[[0.5, 0.5, 7.0], [0.0, -1.0, 2.0]]])
    pred['camera'] = torch.tensor([[2.0, 0.1, -0.1]])
    # projections: (1.2, 0.8) and (0.2, -2.2)
    gt = dict(
        joints_2d_norm=torch.tensor([[[1.0, 1.0], [0.0, -2.0]]]),
        joints_2d_weights=torch.tensor([[1.0, 0.5]]))
    loss = _only('joints_proj_weight', proj_joints='tokens')(pred, gt)
    # (0.4 * 1 + 0.4 * 0.5) / 2
    assert loss['loss_joints_proj'].item() == pytest.approx(0.3)
    # 'both' adds the projection of the mesh-regressed joints.
    reg = torch.zeros(J, V2)
    reg[0, 0] = reg[1, 1] = 1.0  # vertices are 0 -> projections (0.2, -0.2)
    loss = _only('joints_proj_weight', joint_regressor=reg)(pred, gt)
    reg_term = ((0.8 + 1.2) * 1.0 + (0.2 + 1.8) * 0.5) / 2
    assert loss['loss_joints_proj'].item() == pytest.approx(0.3 + reg_term)


def test_masks_nan_and_empty_batches():
    pred = _pred(bsz=2, requires_grad=True)
    nan = float('nan')
    gt = dict(
        vertices=torch.stack([torch.ones(V2, 3),
                              torch.full((V2, 3), nan)]),
        vertices_mid=torch.zeros(2, V1, 3),
        vertices_coarse=torch.zeros(2, V0, 3),
        has_mesh=torch.tensor([True, False]),
        joints_3d=torch.stack([torch.ones(J, 3),
                               torch.full((J, 3), nan)]),
        has_3d=torch.tensor([1.0, 0.0]),
        joints_2d_norm=torch.full((2, J, 2), nan),
        has_2d=torch.zeros(2))
    loss_fn = MPTMeshLoss(
        joint_regressor=torch.eye(J, V2), proj_joints='both')
    loss = loss_fn(pred, gt)
    # Only sample 0 counts, averaged over 1 valid sample.
    assert loss['loss_vertices'].item() == pytest.approx(3.0 / 3)
    assert loss['loss_joints'].item() == pytest.approx(3.0)
    assert loss['loss_joints_reg'].item() == pytest.approx(3.0)
    assert loss['loss_joints_proj'].item() == 0.0
    sum(loss.values()).backward()
    for key, value in pred.items():
        if key == 'camera':  # no 2D GT in this batch
            continue
        assert value.grad is not None and torch.isfinite(value.grad).all()
    assert pred['vertices'].grad[1].abs().sum() == 0
    assert pred['vertices'].grad[0].abs().sum() > 0

    # A batch without any kind of GT: every term 0, finite, backward works.
    pred = _pred(bsz=2, requires_grad=True)
    empty = dict(has_mesh=torch.zeros(2), has_3d=torch.zeros(2),
                 has_2d=torch.zeros(2))
    loss = loss_fn(pred, empty)
    total = sum(loss.values())
    assert total.item() == 0.0 and total.requires_grad
    total.backward()
    assert torch.isfinite(pred['joints'].grad).all()


def test_errors():
    pred = _pred()
    # Missing GT without a has_* flag is an error, naming the key.
    with pytest.raises(KeyError, match='joints_3d'):
        _only('joints_weight')(pred, {})
    with pytest.raises(ValueError, match='joints_3d'):
        _only('joints_weight')(pred, dict(joints_3d=torch.zeros(1, 5, 3)))
    with pytest.raises(ValueError, match='has_3d'):
        _only('joints_weight')(
            pred, dict(joints_3d=torch.zeros(1, J, 3), has_3d=torch.ones(3)))
    with pytest.raises(ValueError, match='joint regressor'):
        _only('joints_reg_weight')(pred, dict(joints_3d=torch.zeros(1, J,
                                                                    3)))
    with pytest.raises(ValueError, match='columns'):
        _only('joints_reg_weight', joint_regressor=torch.zeros(J, 7))(
            pred, dict(joints_3d=torch.zeros(1, J, 3)))
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        MPTMeshLoss(joint_regressor='/nonexistent/missing.npy')
    with pytest.raises(ValueError, match='proj_joints'):
        MPTMeshLoss(proj_joints='mesh')
    with pytest.raises(ValueError, match='vertex_level_weights'):
        MPTMeshLoss(vertex_level_weights=(1., 1., 1., 1.))


def test_registry_and_real_regressor():
    import os
    path = '/work/shared/reference/assets/J_regressor_h36m_correct.npy'
    if not os.path.isfile(path):
        pytest.skip('reference regressor not available')
    loss_fn = MODELS.build(
        dict(type='MPTMeshLoss', joint_regressor=path,
             joint_regressor_rows=[3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13,
                                   8, 10]))
    assert isinstance(loss_fn, MPTMeshLoss)
    assert loss_fn.joint_regressor.shape == (14, 6890)
    # Non-persistent: not in the state dict.
    assert 'joint_regressor' not in loss_fn.state_dict()


def test_two_level_hand_loss_hand_computed():
    """Hands: (coarse, full) levels 0.5 / 0.5, squared joint errors with the
    element mean of nn.MSELoss, wrist-centred."""
    pred = _pred()
    pred.pop('vertices_mid')  # a two-level head has no mid level
    gt = dict(vertices_coarse=torch.zeros(1, V0, 3),
              vertices=torch.zeros(1, V2, 3))
    gt['vertices_coarse'][..., 0] = 0.3  # element mean 0.1
    gt['vertices'][..., 1] = -0.6  # element mean 0.2
    loss = MPTMeshLoss(vertices_weight=1.0, joints_weight=0.0,
                       joints_reg_weight=0.0, joints_proj_weight=0.0,
                       vertex_level_weights=(0.5, 0.5),
                       coord_reduction='mean')(pred, gt)
    assert loss['loss_vertices'].item() == pytest.approx(0.15, rel=1e-5)

    joints_gt = torch.zeros(1, J, 3)
    joints_gt[0, 1] = torch.tensor([0.3, 0.0, 0.0])  # joint 0 is the root
    joints_gt = joints_gt + 5.0  # a translation: removed by the centring
    mse = _only('joints_weight', joints_criterion='mse',
                coord_reduction='mean', joints_root_indices=(0, ))
    out = mse(pred, dict(joints_3d=joints_gt))
    # squared 0.09 on one of J * 3 = 6 elements
    assert out['loss_joints'].item() == pytest.approx(0.09 / 6, rel=1e-5)
    l1 = _only('joints_weight', coord_reduction='mean',
               joints_root_indices=(0, ))(pred, dict(joints_3d=joints_gt))
    assert l1['loss_joints'].item() == pytest.approx(0.3 / 6, rel=1e-5)
    # the 2D term follows the criterion too (projection of zeros = (tx, ty))
    proj = _only('joints_proj_weight', joints_criterion='mse',
                 proj_joints='tokens', coord_reduction='mean')
    gt2d = torch.zeros(1, J, 2)
    gt2d[0, 0, 0] = 0.5
    assert proj(pred, dict(joints_2d_norm=gt2d))[
        'loss_joints_proj'].item() == pytest.approx(0.25 / 4, rel=1e-5)
    with pytest.raises(ValueError, match='joints_criterion'):
        MPTMeshLoss(joints_criterion='huber')
    # a two-level loss asks for the keys of two levels only
    with pytest.raises(KeyError, match='vertices_coarse'):
        MPTMeshLoss(vertex_level_weights=(0.5, 0.5), joints_weight=0.0,
                    joints_reg_weight=0.0, joints_proj_weight=0.0)(
                        {k: v for k, v in pred.items()
                         if k != 'vertices_coarse'}, gt)
