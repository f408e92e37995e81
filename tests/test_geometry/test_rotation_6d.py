"""Tests for the 6D rotation helpers and rotmat -> axis-angle."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.geometry.rotations import (quaternion_to_axis_angle,
                                           rot6d_to_rotmat,
                                           rotmat_to_axis_angle,
                                           rotmat_to_quaternion,
                                           rotmat_to_rot6d)


def _random_rotvecs(n, seed=0, angles=None):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    if angles is None:
        angles = rng.uniform(0, np.pi, size=n)
    return axis * np.asarray(angles)[:, None]


def test_rot6d_round_trip_and_orthonormal():
    rotvec = _random_rotvecs(200)
    mats = torch.from_numpy(Rotation.from_rotvec(rotvec).as_matrix())
    six = rotmat_to_rot6d(mats)
    assert six.shape == (200, 6)
    # SPIN layout: row-major first two columns.
    np.testing.assert_allclose(six[0].numpy(),
                               mats[0, :, :2].reshape(-1).numpy())
    back = rot6d_to_rotmat(six)
    np.testing.assert_allclose(back.numpy(), mats.numpy(), atol=1e-12)
    # Arbitrary 6D input: proper rotation; the first column keeps its
    # direction, the second stays in the span of a1, a2.
    raw = torch.randn(4, 7, 6, dtype=torch.float64)
    rot = rot6d_to_rotmat(raw)
    assert rot.shape == (4, 7, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand(4, 7, 3, 3)
    np.testing.assert_allclose((rot.transpose(-1, -2) @ rot).numpy(),
                               eye.numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(rot).numpy(), 1.0, atol=1e-12)
    a1 = raw.reshape(4, 7, 3, 2)[..., 0]
    np.testing.assert_allclose(rot[..., 0].numpy(),
                               (a1 / a1.norm(dim=-1, keepdim=True)).numpy(),
                               atol=1e-12)
    with pytest.raises(ValueError, match='6'):
        rot6d_to_rotmat(torch.zeros(3, 5))


@pytest.mark.parametrize('dtype,atol', [(torch.float64, 1e-10),
                                        (torch.float32, 2e-5)])
def test_axis_angle_matches_scipy(dtype, atol):
    angles = np.concatenate([
        np.random.default_rng(1).uniform(0, np.pi, 100),
        [
            0.0, 1e-9, 1e-6, 1e-4, 1e-2, np.pi - 1e-2, np.pi - 1e-4,
            np.pi - 1e-6
        ]
    ])
    rotvec = _random_rotvecs(len(angles), seed=2, angles=angles)
    mats = torch.from_numpy(Rotation.from_rotvec(rotvec).as_matrix())
    aa = rotmat_to_axis_angle(mats.to(dtype))
    assert aa.dtype == dtype and aa.shape == (len(angles), 3)
    assert torch.isfinite(aa).all()
    expected = Rotation.from_matrix(mats.numpy()).as_rotvec()
    np.testing.assert_allclose(aa.double().numpy(), expected, atol=atol)
    quat = rotmat_to_quaternion(mats)
    assert (quat[:, 0] >= 0).all()
    np.testing.assert_allclose(quat.norm(dim=-1).numpy(), 1.0, atol=1e-12)


def test_axis_angle_exact_half_turn_and_identity():
    axes = torch.tensor(
        [[1., 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3]],
        dtype=torch.float64)
    axes = axes / axes.norm(dim=-1, keepdim=True)
    mats = torch.from_numpy(
        Rotation.from_rotvec((axes * np.pi).numpy()).as_matrix())
    aa = rotmat_to_axis_angle(mats)
    np.testing.assert_allclose(aa.norm(dim=-1).numpy(), np.pi, atol=1e-7)
    # +/- axis are the same half-turn: compare as matrices.
    back = Rotation.from_rotvec(aa.numpy()).as_matrix()
    np.testing.assert_allclose(back, mats.numpy(), atol=1e-7)
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    np.testing.assert_array_equal(rotmat_to_axis_angle(eye).numpy(), 0.0)


def test_gradients_finite_at_identity_and_half_turn():
    rotvec = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, np.pi],
                       [np.pi - 1e-6, 0.0, 0.0], [0.3, -0.2, 0.1]])
    mats = torch.from_numpy(Rotation.from_rotvec(rotvec).as_matrix())
    six = rotmat_to_rot6d(mats).requires_grad_(True)
    aa = rotmat_to_axis_angle(rot6d_to_rotmat(six))
    aa.sum().backward()
    assert torch.isfinite(six.grad).all()
    # Near the identity the map is ~ the skew part of R (d aa / d R finite).
    quat = torch.tensor([[1.0, 0, 0, 0]],
                        dtype=torch.float64,
                        requires_grad=True)
    quaternion_to_axis_angle(quat).sum().backward()
    np.testing.assert_allclose(quat.grad.numpy(), [[0.0, 2.0, 2.0, 2.0]])
