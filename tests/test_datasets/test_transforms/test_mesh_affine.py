"""Tests for MPTMeshAffine (the crop of the image, 2D and 3D labels)."""
import numpy as np
import pytest

from mpt_plugin.datasets.transforms.mesh_affine import MPTMeshAffine
from mpt_plugin.geometry.rotations import camera_z_rotation
from tests.kinematics import fk
from .mesh_samples import (K, blob_centroids, draw_gaussians,
                           random_sample)


@pytest.mark.parametrize('rotation', [0.0, 90.0])
def test_affine_moves_single_pixels_exactly(rotation):
    size = 64
    rng = np.random.default_rng(6)
    pts = rng.integers(20, 60, size=(6, 2))
    img = np.zeros((80, 90, 3), np.uint8)
    img[pts[:, 1], pts[:, 0]] = 200
    # scale 1 and a centre at x.5 put pixel centres onto pixel centres
    res = dict(
        img=img,
        bbox_center=np.array([40.5, 39.5]),
        bbox_scale=float(size),
        rotation=rotation,
        keypoints2d=pts.astype(np.float32))
    out = MPTMeshAffine(input_size=size)(res)
    kp = out['keypoints2d']
    np.testing.assert_allclose(kp, np.round(kp), atol=1e-4)
    found = np.argwhere(out['img'][..., 0] > 0)[:, ::-1]  # (x, y)
    np.testing.assert_array_equal(
        found[np.lexsort(found.T)],
        np.round(kp).astype(int)[np.lexsort(np.round(kp).T)])
    assert (out['img'][found[:, 1], found[:, 0]] == 200).all()


@pytest.mark.parametrize('rotation', [0.0, 27.0, -140.0])
def test_affine_maps_dots_to_crop_pixels(rotation):
    size = 96
    centres = np.array([[30.3, 40.7], [52.0, 20.2], [75.6, 66.1], [44.4,
                                                                   70.5]])
    img = draw_gaussians((90, 110), centres, sigma=2.5)
    res = dict(
        img=img,
        bbox_center=np.array([52.5, 45.0]),
        bbox_scale=80.,
        rotation=rotation,
        keypoints2d=centres.astype(np.float32),
        keypoints2d_visible=np.ones(4, np.float32))
    out = MPTMeshAffine(input_size=size)(res)
    assert out['img'].shape == (size, size)
    found = blob_centroids(out['img'], 0.02)
    expect = out['keypoints2d'][np.argsort(out['keypoints2d'][:, 0])]
    assert len(found) == 4
    np.testing.assert_allclose(found, expect, atol=0.05)
    # the matrix stored is the one used
    np.testing.assert_allclose(
        centres @ out['crop_affine'][:, :2].T + out['crop_affine'][:, 2],
        out['keypoints2d'],
        atol=1e-3)


def test_affine_rotation_consistent_between_2d_and_3d():
    rng = np.random.default_rng(7)
    f, center, scale, size, rotation = 900.0, np.array([310., 250.]), 200., \
        224, 33.0
    pts3d = rng.normal(scale=0.4, size=(K, 3)) + [0.1, -0.05, 5.0]

    def project(x, focal, c):
        return focal * x[:, :2] / x[:, 2:] + c

    res = dict(
        img=np.zeros((480, 640, 3), np.uint8),
        bbox_center=center,
        bbox_scale=scale,
        rotation=rotation,
        keypoints2d=project(pts3d, f, center).astype(np.float32),
        keypoints3d=pts3d.astype(np.float32),
        smpl_global_orient=np.array([2.9, 0.2, -0.3], np.float32))
    pose = np.zeros((1, 72))
    pose[0, :3] = res['smpl_global_orient']
    pose[0, 3:] = 0.3 * rng.normal(size=69)
    out = MPTMeshAffine(input_size=size)(res)
    # a camera with the principal point at the crop centre, zoomed by S/s
    reproj = project(out['keypoints3d'].astype(np.float64), f * size / scale,
                     np.full(2, (size - 1) / 2))
    np.testing.assert_allclose(reproj, out['keypoints2d'], atol=2e-3)
    # depth is kept, the rotation is about the optical axis
    np.testing.assert_allclose(
        out['keypoints3d'][:, 2], pts3d[:, 2], atol=1e-5)
    # the body (global orient) turns with the points: root-relative joints
    pose_r = pose.copy()
    pose_r[0, :3] = out['smpl_global_orient']
    j, j_r = fk(pose)[0], fk(pose_r)[0]
    rot3 = camera_z_rotation(rotation)
    np.testing.assert_allclose(j_r - j_r[0], (j - j[0]) @ rot3.T, atol=1e-5)


def test_affine_defaults_outside_points_and_errors():
    rng = np.random.default_rng(8)
    res = random_sample(rng)
    for key in ('rotation', 'flip'):
        res.pop(key, None)
    res['keypoints2d'][0] = [-500, 900]  # far outside the crop
    vis = res['keypoints2d_visible'].copy()
    kp3d = res['keypoints3d'].copy()
    out = MPTMeshAffine()(res)
    assert out['rotation'] == 0.0 and out['flip'] is False
    assert out['input_size'] == 224 and out['img_shape'] == (224, 224)
    assert out['img'].shape == (224, 224, 3) and out['img'].dtype == np.uint8
    assert out['crop_affine'].shape == (2, 3)
    assert out['crop_affine'].dtype == np.float32
    assert out['keypoints2d'][0, 0] < -1000  # not clipped
    np.testing.assert_array_equal(out['keypoints2d_visible'], vis)
    np.testing.assert_array_equal(out['keypoints3d'], kp3d)  # no rotation
    for key, value, err in (('bbox_scale', 0.0, ValueError),
                            ('bbox_center', np.zeros(3),
                             ValueError), ('img', None, KeyError)):
        bad = random_sample(rng)
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
        with pytest.raises(err, match=key):
            MPTMeshAffine()(bad)


def test_affine_rotates_a_gt_mesh_like_the_3d_keypoints():
    """A GT mesh (FreiHAND's vertices) turns with the in-plane rotation
    exactly as keypoints3d do; without rotation it is untouched."""
    rng = np.random.default_rng(3)
    verts = rng.normal(size=(778, 3)).astype(np.float32)
    results = dict(img=np.zeros((32, 32, 3), np.uint8),
                   bbox_center=np.array([16., 16.]), bbox_scale=20.0,
                   rotation=30.0, keypoints3d=verts[:21].copy(),
                   vertices=verts.copy())
    out = MPTMeshAffine(input_size=16)(results)
    np.testing.assert_allclose(out['vertices'],
                               verts @ camera_z_rotation(30.0).T, atol=1e-6)
    np.testing.assert_allclose(out['vertices'][:21], out['keypoints3d'],
                               atol=1e-6)
    still = MPTMeshAffine(input_size=16)(dict(results, rotation=0.0,
                                              vertices=verts.copy()))
    np.testing.assert_array_equal(still['vertices'], verts)
    with pytest.raises(ValueError, match='vertices must have shape'):
        MPTMeshAffine(input_size=16)(dict(results, vertices=verts[:, :2]))
