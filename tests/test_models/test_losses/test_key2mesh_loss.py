"""Key2MeshLoss against hand-computed values: its reductions (issue 11,
item 2), then its terms, validity masks and errors.

The expected numbers are worked out by hand in the comments, not with the
loss code: ``'mean'`` is LGD's ``weighted_L1_loss`` (mean of ``w |d|`` over
all elements of the valid samples, masked joints included in the count),
``'weight_normalized'`` divides by ``C sum(w m)``.
"""
import pytest
import torch

from mpt_plugin.geometry.cameras import project_fixed_camera
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.models.losses.key2mesh_loss import (KEY2MESH_REDUCTIONS,
                                                    OPENPOSE18_JOINT_WEIGHTS,
                                                    Key2MeshLoss)
from mpt_plugin.registry import MODELS


def _loss3d(reduction=None, **kwargs):
    cfg = dict(type='Key2MeshLoss', pose_weight=0, betas_weight=0,
               keypoints2d_weight=0, keypoints3d_weight=1.0, **kwargs)
    if reduction is not None:
        cfg['reduction'] = reduction
    return MODELS.build(cfg)


def _case3d():
    """B=2 samples, K=3 joints (weights 1, 2, 4), C=3; prediction 0."""
    pred = torch.zeros(2, 3, 3, requires_grad=True)
    gt = torch.tensor([
        # sum_k w_k sum_c |d|: 1*1 + 2*2 + 4*3 = 17
        [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]],
        # 1*(0.5+0.5) + 2*1 + 4*0.25 = 4
        [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.25]],
    ])
    return pred, gt


def test_default_is_lgd_mean_over_all_elements():
    loss_fn = _loss3d(joint_weights=(1.0, 2.0, 4.0))
    assert loss_fn.reduction == 'mean'
    pred, gt = _case3d()
    out = loss_fn(dict(pose_aa=torch.zeros(2, 72), keypoints3d=pred),
                  dict(keypoints3d=gt))
    # (17 + 4) / (B K C = 2 * 3 * 3 = 18)
    assert out['loss_keypoints3d'].item() == pytest.approx(21 / 18)
    # a sample flagged out leaves the sum and the count: 17 / (1 * 3 * 3)
    gt[1] = torch.nan
    out = loss_fn(dict(pose_aa=torch.zeros(2, 72), keypoints3d=pred),
                  dict(keypoints3d=gt, has_3d=torch.tensor([1, 0])))
    assert out['loss_keypoints3d'].item() == pytest.approx(17 / 9)
    out['loss_keypoints3d'].backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[1] == 0).all()
    # d/dpred of w |d| / 9 with pred < gt: -w / 9 where d != 0
    assert pred.grad[0, 2, 2].item() == pytest.approx(-4 / 9)
    assert pred.grad[0, 2, 0].item() == 0.0


def test_weight_normalized_reduction():
    loss_fn = _loss3d('weight_normalized', joint_weights=(1.0, 2.0, 4.0))
    pred, gt = _case3d()
    out = loss_fn(dict(pose_aa=torch.zeros(2, 72), keypoints3d=pred),
                  dict(keypoints3d=gt))
    # (17 + 4) / (C sum(w) = 3 * (7 + 7))
    assert out['loss_keypoints3d'].item() == pytest.approx(0.5)
    out = loss_fn(dict(pose_aa=torch.zeros(2, 72), keypoints3d=pred),
                  dict(keypoints3d=gt, has_3d=torch.tensor([1, 0])))
    assert out['loss_keypoints3d'].item() == pytest.approx(17 / 21)
    # no valid sample: a graph-attached zero under both reductions
    for reduction in KEY2MESH_REDUCTIONS:
        out = _loss3d(reduction, joint_weights=(1.0, 2.0, 4.0))(
            dict(pose_aa=torch.zeros(2, 72, requires_grad=True),
                 keypoints3d=pred),
            dict(keypoints3d=gt, has_3d=torch.tensor([0, 0])))
        assert out['loss_keypoints3d'].item() == 0.0
        assert out['loss_keypoints3d'].requires_grad


def test_openpose18_weights_scale_the_mean_by_sum_w_over_k():
    """Uniform error 0.1 on every coordinate of one sample: 'mean' gives
    0.1 * 62 / 18 (the released scale), 'weight_normalized' 0.1."""
    assert sum(OPENPOSE18_JOINT_WEIGHTS) == 62
    pred = torch.zeros(1, 18, 3)
    gt = torch.full((1, 18, 3), 0.1)
    values = {
        r: _loss3d(r)(dict(pose_aa=torch.zeros(1, 72), keypoints3d=pred),
                      dict(keypoints3d=gt))['loss_keypoints3d'].item()
        for r in KEY2MESH_REDUCTIONS
    }
    assert values['mean'] == pytest.approx(0.1 * 62 / 18)
    assert values['weight_normalized'] == pytest.approx(0.1)


def test_masked_joints_stay_in_the_mean_denominator():
    """2D term, OpenPose-18 weights, 3 visible joints, 15 masked (NaN GT).

    Projection (focal 256, 6 m): nose (0, 0) px, neck (25.6, 0), RSho
    (0, -12.8); bbox scale 25.6 -> normalised (0, .75), (1, .75), (0, .25).
    The GT moves RSho (weight 2) to (0, .35): one error of 0.1.
    """
    pred3d = torch.zeros(2, 18, 3)
    pred3d[:, 1] = torch.tensor([0.6, 0.0, 0.0])
    pred3d[:, 2] = torch.tensor([0.0, 0.3, 0.0])
    pred3d[:, 3:] = torch.randn(2, 15, 3)
    mask = torch.zeros(2, 18, dtype=torch.bool)
    mask[:, :3] = True
    gt2d = torch.full((2, 18, 2), torch.nan)
    gt2d[:, :3] = torch.tensor([[0.0, 0.75], [1.0, 0.75], [0.0, 0.35]])
    gt2d[1] = torch.nan  # sample 1 flagged out below
    pred = dict(pose_aa=torch.zeros(2, 72), keypoints3d=pred3d)
    gt = dict(keypoints2d_norm=gt2d, keypoints2d_mask=mask,
              has_2d=torch.tensor([True, False]))
    common = dict(pose_weight=0, betas_weight=0, keypoints3d_weight=0)
    default = Key2MeshLoss(**common)(pred, gt)['loss_keypoints2d'].item()
    # 0.3 * (2 * 0.1) / (1 sample * 18 joints * 2 coordinates)
    assert default == pytest.approx(0.3 * 0.2 / 36, rel=1e-5)
    normed = Key2MeshLoss(**common, reduction='weight_normalized')(
        pred, gt)['loss_keypoints2d'].item()
    # 0.3 * (2 * 0.1) / (2 coordinates * (1 + 1 + 2) visible weight)
    assert normed == pytest.approx(0.3 * 0.2 / 8, rel=1e-5)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError,
                       match=r"Key2MeshLoss: reduction must be one of "
                       r"\('mean', 'weight_normalized'\), got 'sum'"):
        Key2MeshLoss(reduction='sum')


# --------------------------------------------------------------------------
# pose / betas / 3D / 2D terms
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
    # the pre-2026-12-05 normalisation; the default 'mean' is tested
    # above
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
