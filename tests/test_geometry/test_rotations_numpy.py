"""Numpy half of mpt_plugin.geometry.rotations: conventions against scipy."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mpt_plugin.geometry.rotations import (axis_angle_to_euler,
                                           camera_z_rotation,
                                           euler_to_axis_angle,
                                           euler_xyz_to_rotmat, rot_x, rot_y,
                                           rot_z, rotate_smpl_root)


@pytest.mark.parametrize('fn, axis', [(rot_x, 'x'), (rot_y, 'y'),
                                      (rot_z, 'z')])
def test_elementary_rotations_match_scipy_and_batch(fn, axis):
    angles = np.random.default_rng(0).uniform(-4, 4, (5, 2))
    ref = Rotation.from_euler(axis, angles.reshape(-1, 1)).as_matrix()
    np.testing.assert_allclose(fn(angles), ref.reshape(5, 2, 3, 3),
                               atol=1e-12)
    assert fn(0.3).shape == (3, 3)
    # right-hand rule: a quarter turn takes the next axis to the one after
    e = np.eye(3)
    i = 'xyz'.index(axis)
    np.testing.assert_allclose(fn(np.pi / 2) @ e[(i + 1) % 3], e[(i + 2) % 3],
                               atol=1e-12)


def test_euler_conventions():
    rng = np.random.default_rng(1)
    deg = rng.uniform(-180, 180, (6, 3))
    rad = np.deg2rad(deg)
    ref = rot_z(rad[:, 2]) @ rot_y(rad[:, 1]) @ rot_x(rad[:, 0])
    np.testing.assert_allclose(euler_xyz_to_rotmat(deg), ref, atol=1e-12)
    np.testing.assert_allclose(  # lower case: extrinsic, x first
        Rotation.from_rotvec(euler_to_axis_angle(rad, 'xyz')).as_matrix(),
        ref, atol=1e-12)
    intrinsic = rot_x(rad[:, 0]) @ rot_y(rad[:, 1]) @ rot_z(rad[:, 2])
    aa = euler_to_axis_angle(rad.reshape(2, 3, 3))
    np.testing.assert_allclose(
        Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix(), intrinsic,
        atol=1e-12)
    np.testing.assert_allclose(
        euler_to_axis_angle(axis_angle_to_euler(aa)), aa, atol=1e-10)


def test_camera_z_rotation_is_the_image_rotation():
    r3 = camera_z_rotation(30.0)
    np.testing.assert_array_equal(r3, rot_z(np.deg2rad(30.0)).T)
    # counter-clockwise as seen with y down: +x turns towards -y (up)
    assert r3[1, 0] < 0 and r3.flags['C_CONTIGUOUS']


def test_rotate_smpl_root_broadcasts():
    rng = np.random.default_rng(2)
    poses = rng.normal(size=(4, 5, 72))
    rot = rot_x(0.7)
    out = rotate_smpl_root(poses, rot)
    assert out.shape == poses.shape
    np.testing.assert_array_equal(out[..., 3:], poses[..., 3:])
    np.testing.assert_allclose(
        Rotation.from_rotvec(out[..., :3].reshape(-1, 3)).as_matrix(),
        rot @ Rotation.from_rotvec(poses[..., :3].reshape(-1, 3)).as_matrix(),
        atol=1e-10)
    with pytest.raises(ValueError, match='poses'):
        rotate_smpl_root(np.zeros((4, 2)), rot)
    with pytest.raises(ValueError, match='rotmat'):
        rotate_smpl_root(poses, np.eye(2))
