"""Tests for ``PCHMRLoss``."""
import pytest
import torch

from mpt_plugin.models.losses import PCHMRLoss


def _case(seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = dict(vertices=torch.randn(3, 8, 3, generator=gen,
                                     requires_grad=True),
                joints_h36m=torch.randn(3, 17, 3, generator=gen,
                                        requires_grad=True),
                joints_target=torch.randn(3, 17, 3, generator=gen))
    gt = dict(vertices=torch.randn(3, 8, 3, generator=gen),
              vertices_weight=torch.tensor([1., 0., 1.]),
              joints=torch.randn(3, 17, 3, generator=gen),
              joints_weight=(torch.rand(3, 17, generator=gen) > 0.3).float())
    return pred, gt


def test_weighted_terms_equal_the_formulas():
    pred, gt = _case()
    loss = PCHMRLoss(vertices=2.0, joints=0.5, pose=3.0)
    out = loss(pred, gt, torch.tensor(0.25))
    # vertices: mean |d| over the coordinates of samples 0 and 2
    d = (pred['vertices'] - gt['vertices']).abs()[[0, 2]]
    torch.testing.assert_close(out['loss_vertices'], 2.0 * d.mean())
    # joints: mean |d| over the coordinates of labelled joints
    w = gt['joints_weight']
    dj = (pred['joints_h36m'] - gt['joints']).abs().sum(-1)
    torch.testing.assert_close(out['loss_joints'],
                               0.5 * (dj * w).sum() / (3 * w.sum()))
    torch.testing.assert_close(out['loss_pose'], torch.tensor(0.75))
    err = (pred['joints_target'] - gt['joints']).norm(dim=-1)
    torch.testing.assert_close(out['mpjpe_lifter'],
                               1000 * (err * w).sum() / w.sum())
    assert not out['mpjpe_lifter'].requires_grad
    (out['loss_vertices'] + out['loss_joints']).backward()
    assert pred['vertices'].grad[1].abs().sum() == 0  # no mesh: no gradient


def test_no_labels_give_zero_with_a_graph():
    pred, gt = _case(1)
    gt = dict(gt, vertices=None, joints_weight=torch.zeros(3, 17))
    out = PCHMRLoss()(pred, gt, torch.tensor(0.0))
    assert out['loss_vertices'] == 0 and out['loss_joints'] == 0
    assert out['loss_vertices'].requires_grad
    assert out['mpjpe_lifter'] == 0
    assert 'vertices=1.0' in repr(PCHMRLoss())


@pytest.mark.parametrize('bad', [dict(vertices='x'), dict(other=1.0)])
def test_bad_weights(bad):
    with pytest.raises((TypeError, ValueError)):
        PCHMRLoss(**bad)
