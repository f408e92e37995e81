"""Tests for ``ImageTargetBuilder``: image samples -> mesh targets."""
import os.path as osp

import pytest
import torch

from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.models.utils.image_targets import ImageTargetBuilder
from mpt_plugin.models.utils.mesh_targets import MESH_TARGET_KEYS
from .image_samples import packed_samples


@pytest.fixture(scope='module')
def setup(synthetic_assets):
    bm_dir = osp.join(synthetic_assets, 'body_models')
    body_model = dict(model_path=bm_dir,
                      joints_regressor=osp.join(bm_dir,
                                                'J_regressor_h36m.npy'))
    return bm_dir, body_model


@pytest.fixture(scope='module')
def builder(setup):
    return ImageTargetBuilder(setup[1])


def test_targets_use_the_right_source(setup, builder):
    bm_dir, _ = setup
    samples, verts, joints = packed_samples(bm_dir)
    gt = builder(samples, 112)
    assert set(gt) == set(MESH_TARGET_KEYS)
    assert gt['has_mesh'].tolist() == [True, False, True, False]
    # GT meshes of SMPL samples: the gendered model's, pelvis-centred;
    # zeros without SMPL
    for i in (0, 2):
        torch.testing.assert_close(gt['vertices'][i],
                                   verts[i] - joints[i, :1], atol=1e-5,
                                   rtol=0)
    assert not gt['vertices'][1].any() and not gt['vertices'][3].any()
    # 3D joints: regressed from the mesh (keypoints3d invisible, weight 1)
    # or the keypoints centred on their pelvis (weight = visibility)
    for i in range(4):
        torch.testing.assert_close(gt['joints_h36m'][i],
                                   joints[i] - joints[i, :1], atol=1e-5,
                                   rtol=0)
    assert (gt['joints_h36m_weights'] == 1).all()
    torch.testing.assert_close(gt['joints_3d'],
                               gt['joints_h36m'][:, H36M_TO_J14])
    assert gt['has_3d'].all() and gt['has_2d'].all()
    # 2D: crop px with pixel centres at integers -> [-1, 1]
    kp = samples[1].gt_instances.keypoints2d[0, H36M_TO_J14]
    torch.testing.assert_close(gt['joints_2d_norm'][1],
                               (kp + 0.5) * 2 / 112 - 1)


def test_one_gender_and_no_smpl_at_all(setup, builder):
    bm_dir, body_model = setup
    samples, verts, joints = packed_samples(bm_dir)
    gendered = builder(samples, 112)
    neutral = ImageTargetBuilder(dict(body_model, gender='neutral'))(
        samples, 112)
    # sample 2 is neutral (-1) already, sample 0 is male
    torch.testing.assert_close(neutral['vertices'][2],
                               gendered['vertices'][2])
    assert (neutral['vertices'][0] - gendered['vertices'][0]).abs().max() \
        > 1e-3
    # no sample with SMPL: no mesh, weights from the keypoints only; a
    # sample whose pelvis is invisible gets no 3D joint
    for s in samples:
        s.gt_instances.has_smpl = torch.zeros(1)
        s.gt_instances.smpl_betas = torch.full((1, 10), float('nan'))
    samples[1].gt_instances.keypoints3d_visible[0, 0] = 0.
    gt = builder(samples, 112)
    assert not gt['has_mesh'].any() and not gt['vertices'].any()
    assert gt['has_3d'].tolist() == [False, False, False, True]
    assert torch.isfinite(gt['vertices']).all()


def test_missing_and_bad_fields_are_named(setup, builder):
    bm_dir, body_model = setup
    samples, _, _ = packed_samples(bm_dir, n=2)
    samples[1].gt_instances.pop('smpl_betas')
    with pytest.raises(KeyError, match=r'data sample 1 \(img1.jpg\) has no '
                       r'gt_instances.smpl_betas; pack .*MPTPackMeshInputs'):
        builder(samples, 112)
    samples, _, _ = packed_samples(bm_dir, n=2)
    for s in samples:
        s.gt_instances.keypoints3d = s.gt_instances.keypoints3d[:, :14]
        s.gt_instances.keypoints3d_visible = torch.ones(1, 14)
    with pytest.raises(ValueError, match=r"keypoints3d must be \(1, 17, 3\) "
                       r".*convention='h36m'.*got \(1, 14, 3\)"):
        builder(samples, 112)
    samples, _, _ = packed_samples(bm_dir, n=2)
    samples[1].gt_instances.keypoints2d[0, 5, 0] = float('inf')
    with pytest.raises(ValueError, match=r'data sample 1 \(img1.jpg\): '
                       r'gt_instances.keypoints2d joint 5 is visible but '
                       'not finite'):
        builder(samples, 112)
    # an invisible non-finite joint is fine (zeroed, weight 0)
    samples[1].gt_instances.keypoints2d_visible[0, 5] = 0.
    gt = builder(samples, 112)
    assert torch.isfinite(gt['joints_2d_norm']).all()
    with pytest.raises(ValueError, match='gender must be one of'):
        ImageTargetBuilder(dict(body_model, gender='file'))
    with pytest.raises(KeyError, match='joints_regressor'):
        ImageTargetBuilder(dict(model_path=bm_dir))
