"""Tests of mpt_plugin.geometry.view_sphere: uniform rotations and look-at
cameras in the virtual cameras' convention."""
import numpy as np
import pytest

from mpt_plugin.geometry import look_at_cameras, uniform_rotations
from mpt_plugin.geometry.cameras import project_points


def test_rotations_are_proper_and_deterministic():
    rot = uniform_rotations(500, seed=3)
    assert rot.shape == (500, 3, 3) and rot.dtype == np.float64
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), rot.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_array_equal(rot, uniform_rotations(500, seed=3))
    assert not np.allclose(rot, uniform_rotations(500, seed=4))
    # a prefix does not depend on the count
    np.testing.assert_array_equal(rot[:10], uniform_rotations(10, seed=3))
    assert uniform_rotations(0, seed=0).shape == (0, 3, 3)


@pytest.mark.parametrize('bad', [dict(num=-1, seed=0), dict(num=3, seed=-1),
                                 dict(num=2.5, seed=0),
                                 dict(num=True, seed=0)])
def test_rotation_arguments_checked(bad):
    with pytest.raises(ValueError):
        uniform_rotations(**bad)


def test_rotations_roughly_uniform():
    rot = uniform_rotations(4000, seed=0)
    n = len(rot)
    for col in range(3):  # every camera axis is uniform on the sphere
        axis = rot[:, :, col]
        # mean of a uniform unit vector: 0 (std of each component 1/sqrt(3n))
        assert np.abs(axis.mean(axis=0)).max() < 4 / np.sqrt(3 * n)
        # Archimedes: each coordinate is uniform in [-1, 1]
        for comp in range(3):
            counts, _ = np.histogram(axis[:, comp], bins=8, range=(-1, 1))
            expected = n / 8
            assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)
    # Haar measure: the rotation angle has density (1 - cos t) / pi
    angle = np.arccos(np.clip((np.trace(rot, axis1=1, axis2=2) - 1) / 2, -1,
                              1))
    assert abs(angle.mean() - (np.pi / 2 + 2 / np.pi)) < 0.03


def test_look_at_target_on_optical_axis():
    rot = uniform_rotations(64, seed=1)
    target = np.array([0.1, -0.2, 0.3])
    cam_R, cam_T = look_at_cameras(rot, distance=0.6, target=target)
    assert cam_R.shape == (64, 3, 3) and cam_T.shape == (64, 3)
    np.testing.assert_array_equal(cam_R, rot)
    np.testing.assert_allclose(np.linalg.norm(cam_T - target, axis=1), 0.6)
    x_cam = np.einsum('nj,nji->ni', target - cam_T, cam_R)
    np.testing.assert_allclose(x_cam, np.tile([0, 0, 0.6], (64, 1)),
                               atol=1e-12)
    f, c = np.array([373.35, 373.35]), np.array([128.0, 128.0])
    uv = project_points(x_cam[:, None], f, c)[:, 0]
    np.testing.assert_allclose(uv, np.tile(c, (64, 1)), atol=1e-9)
    # a point 1 cm along the camera's x axis (right) lands right of centre,
    # one along its y axis (down) lands below: OpenCV axes
    right = np.einsum('nj,nji->ni', target + 0.01 * cam_R[:, :, 0] - cam_T,
                      cam_R)
    down = np.einsum('nj,nji->ni', target + 0.01 * cam_R[:, :, 1] - cam_T,
                     cam_R)
    assert (project_points(right[:, None], f, c)[:, 0, 0] > c[0]).all()
    assert (project_points(down[:, None], f, c)[:, 0, 1] > c[1]).all()
    # the default target is the origin
    _, cam_T0 = look_at_cameras(rot, distance=2.0)
    np.testing.assert_allclose(cam_T0, -2.0 * rot[:, :, 2])


@pytest.mark.parametrize('rot, dist', [
    (np.eye(3), 1.0),  # not batched
    (np.eye(3)[None] * 2, 1.0),  # not orthonormal
    (np.diag([1.0, 1.0, -1.0])[None], 1.0),  # reflection
    (np.eye(3)[None], 0.0),
    (np.eye(3)[None], float('nan')),
])
def test_look_at_refuses_bad_input(rot, dist):
    with pytest.raises(ValueError):
        look_at_cameras(rot, dist)
