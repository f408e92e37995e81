"""Tests for MPTMeshRandomFlip and flip_smpl_pose."""
import copy

import numpy as np
import pytest

from mpt_plugin.body_models.conventions import get_flip_indices
from mpt_plugin.datasets.transforms.mesh_random_flip import (SMPL_FLIP_INDICES,
                                                             MPTMeshRandomFlip,
                                                             flip_smpl_pose)
from tests.kinematics import REST, fk, rodrigues
from .mesh_samples import K, MIRROR, random_sample


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    ref = random_sample(rng)
    flip = MPTMeshRandomFlip(prob=1.0)
    once = flip(copy.deepcopy(ref))
    assert once['flip'] is True
    twice = flip(copy.deepcopy(once))
    assert twice['flip'] is False
    for key in ('img', 'keypoints2d', 'keypoints2d_visible', 'keypoints3d',
                'keypoints3d_visible', 'smpl_global_orient', 'smpl_body_pose',
                'smpl_betas', 'bbox_center', 'bbox_xywh'):
        np.testing.assert_allclose(
            twice[key], ref[key], atol=1e-5, err_msg=key)
    assert not np.array_equal(once['img'], ref['img'])


def test_flip_swaps_left_right_and_mirrors_pixels():
    rng = np.random.default_rng(1)
    h, w = 48, 64
    res = random_sample(rng, h, w)
    kp = rng.integers(0, [w, h], size=(K, 2)).astype(np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    img[kp[:, 1].astype(int), kp[:, 0].astype(int)] = 255
    res.update(img=img, keypoints2d=kp)
    ref = copy.deepcopy(res)
    out = MPTMeshRandomFlip(prob=1.0)(res)
    idx = get_flip_indices('h36m')
    # h36m left-leg-first order: left hip (1) <-> right hip (4).
    assert idx[1] == 4 and idx[11] == 14 and idx[0] == 0
    np.testing.assert_allclose(out['keypoints2d'][:, 0],
                               w - 1 - ref['keypoints2d'][idx, 0])
    np.testing.assert_allclose(out['keypoints2d'][:, 1],
                               ref['keypoints2d'][idx, 1])
    # every flipped keypoint sits on a (mirrored) dot
    kx, ky = out['keypoints2d'].astype(int).T
    assert (out['img'][ky, kx] == 255).all()
    np.testing.assert_allclose(out['keypoints3d'],
                               ref['keypoints3d'][idx] * MIRROR)
    np.testing.assert_array_equal(out['keypoints2d_visible'],
                                  ref['keypoints2d_visible'][idx])
    np.testing.assert_array_equal(out['keypoints3d_visible'],
                                  ref['keypoints3d_visible'][idx])
    # the box centre is mirrored and stays the centre of the mirrored box
    np.testing.assert_allclose(out['bbox_center'], [w - 1 - 25, 24])
    x, y, bw, bh = out['bbox_xywh']
    np.testing.assert_allclose([x + bw / 2, y + bh / 2], out['bbox_center'])
    np.testing.assert_array_equal(out['smpl_betas'], ref['smpl_betas'])


def test_flip_smpl_pose_matches_mirrored_kinematics():
    # the reference rest joints are left/right symmetric
    np.testing.assert_allclose(REST[SMPL_FLIP_INDICES] * MIRROR, REST)
    rng = np.random.default_rng(2)
    poses = rng.normal(scale=0.6, size=(5, 72))
    flipped = flip_smpl_pose(poses)
    joints, joints_f = fk(poses), fk(flipped)
    np.testing.assert_allclose(
        joints_f, joints[:, SMPL_FLIP_INDICES] * MIRROR, atol=1e-10)
    # global orientation alone: R' = M R M
    rot, rot_f = rodrigues(poses[:, :3]), rodrigues(flipped[:, :3])
    m = np.diag(MIRROR)
    np.testing.assert_allclose(rot_f, m @ rot @ m, atol=1e-10)
    # (24, 3) layout and involution
    np.testing.assert_allclose(
        flip_smpl_pose(poses.reshape(5, 24, 3)), flipped.reshape(5, 24, 3))
    np.testing.assert_allclose(flip_smpl_pose(flipped), poses)
    with pytest.raises(ValueError, match='72'):
        flip_smpl_pose(np.zeros(69))


def test_flip_transform_mirrors_smpl_fields():
    rng = np.random.default_rng(3)
    res = random_sample(rng)
    full = np.concatenate([res['smpl_global_orient'], res['smpl_body_pose']])
    out = MPTMeshRandomFlip(prob=1.0)(res)
    expect = flip_smpl_pose(full)
    np.testing.assert_allclose(out['smpl_global_orient'], expect[:3])
    np.testing.assert_allclose(out['smpl_body_pose'], expect[3:])


def test_flip_probability_and_errors():
    rng = np.random.default_rng(4)
    res = random_sample(rng)
    ref = copy.deepcopy(res)
    out = MPTMeshRandomFlip(prob=0.0)(res)
    assert out['flip'] is False
    np.testing.assert_array_equal(out['img'], ref['img'])
    np.random.seed(0)
    flips = [
        MPTMeshRandomFlip(prob=0.3)(random_sample(rng))['flip']
        for _ in range(400)
    ]
    assert 0.22 < np.mean(flips) < 0.38
    with pytest.raises(ValueError, match='prob'):
        MPTMeshRandomFlip(prob=1.5)
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        MPTMeshRandomFlip(convention='nope')
    bad = random_sample(rng)
    bad['keypoints2d'] = np.zeros((14, 2))
    with pytest.raises(ValueError, match=r'keypoints2d must have shape'):
        MPTMeshRandomFlip(prob=1.0)(bad)
    with pytest.raises(KeyError, match='LoadImage'):
        MPTMeshRandomFlip(prob=1.0)(random_sample(rng, with_img=False))
