"""Tests for mpt_plugin.geometry.rotations: the torch helpers (skew,
axis-angle, rotation between vectors, 6D, quaternions, rotmat -> axis-angle)
and the numpy half (conventions against scipy)."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.geometry.rotations import (
    axis_angle_to_euler, axis_angle_to_matrix, camera_z_rotation,
    euler_to_axis_angle, euler_xyz_to_rotmat, perpendicular_unit_vector,
    quaternion_to_axis_angle, rot6d_to_rotmat, rot_x, rot_y, rot_z,
    rotate_smpl_root, rotation_between_vectors, rotmat_to_axis_angle,
    rotmat_to_quaternion, rotmat_to_rot6d, skew)


def _assert_rotation(rot: torch.Tensor, atol: float = 1e-5) -> None:
    eye = torch.eye(3, dtype=rot.dtype).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye, atol=atol)
    assert torch.allclose(torch.linalg.det(rot),
                          torch.ones(rot.shape[:-2], dtype=rot.dtype),
                          atol=atol)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def test_skew_is_cross_product():
    a = torch.randn(5, 3)
    b = torch.randn(5, 3)
    k = skew(a)
    assert k.shape == (5, 3, 3)
    assert torch.allclose((k @ b[..., None])[..., 0],
                          torch.linalg.cross(a, b, dim=-1), atol=1e-6)
    with pytest.raises(ValueError, match='vec'):
        skew(torch.zeros(4, 2))


def test_axis_angle_matches_closed_form_and_zero():
    rot = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0],
                             [0.0, 0.0, 1.0]])
    assert torch.allclose(rot, expected, atol=1e-6)
    vecs = torch.randn(64, 3, dtype=torch.float64) * 2
    _assert_rotation(axis_angle_to_matrix(vecs), atol=1e-10)
    # rotation of the axis itself is a no-op
    mats = axis_angle_to_matrix(vecs)
    assert torch.allclose((mats @ vecs[..., None])[..., 0], vecs)
    # zero / tiny angles: identity with finite gradients
    tiny = torch.tensor([[0.0, 0.0, 0.0], [1e-5, -2e-5, 0.0]],
                        requires_grad=True)
    out = axis_angle_to_matrix(tiny)
    assert torch.allclose(out, torch.eye(3).expand(2, 3, 3), atol=1e-4)
    out.sum().backward()
    assert torch.isfinite(tiny.grad).all()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_rotation_between_random_vectors(dtype):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(256, 3, generator=gen, dtype=dtype) * 3
    b = torch.randn(256, 3, generator=gen, dtype=dtype) * 0.1
    rot, valid = rotation_between_vectors(a, b)
    assert rot.shape == (256, 3, 3) and valid.all()
    _assert_rotation(rot)
    assert torch.allclose((rot @ _unit(a)[..., None])[..., 0], _unit(b),
                          atol=1e-5)
    # minimal rotation: the axis a x b is fixed
    axis = torch.linalg.cross(a, b, dim=-1)
    assert torch.allclose((rot @ axis[..., None])[..., 0], axis, atol=1e-5)
    # matches Eq. 6 + Rodrigues (Eq. 7) computed the textbook way
    cos = (_unit(a) * _unit(b)).sum(-1, keepdim=True)
    rotvec = torch.acos(cos.clamp(-1, 1)) * _unit(axis)
    assert torch.allclose(rot, axis_angle_to_matrix(rotvec), atol=1e-4)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_rotation_parallel_opposite_near_opposite(dtype):
    a = torch.tensor([[0.3, -1.2, 0.5]] * 6, dtype=dtype)
    perturb = torch.tensor([0.0, 1e-3, 1e-5, 1e-7, 1e-9, 0.0],
                           dtype=dtype)[:, None] * torch.tensor(
                               [1.0, 0.2, -0.4], dtype=dtype)
    b = -a * 2.5 + perturb  # exactly / nearly opposite
    b[-1] = a[-1] * 0.5  # exactly parallel
    b.requires_grad_(True)
    rot, valid = rotation_between_vectors(a, b)
    assert valid.all()
    _assert_rotation(rot.detach())
    mapped = (rot @ _unit(a)[..., None])[..., 0]
    assert torch.allclose(mapped, _unit(b), atol=1e-5)
    assert torch.allclose(rot[-1], torch.eye(3, dtype=dtype), atol=1e-6)
    # exactly opposite: half-turn about an axis perpendicular to a
    half_turn = rot[0].detach()
    assert torch.allclose(torch.diagonal(half_turn).sum(),
                          torch.tensor(-1.0, dtype=dtype), atol=1e-5)
    # gradients finite everywhere
    rot.sum().backward()
    assert torch.isfinite(b.grad).all()


def test_opposite_is_deterministic_and_perpendicular():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                      [1.0, 1.0, 1.0]])
    u = perpendicular_unit_vector(a)
    assert torch.allclose((u * a).sum(-1), torch.zeros(4), atol=1e-6)
    assert torch.allclose(u.norm(dim=-1), torch.ones(4))
    rot1, _ = rotation_between_vectors(a, -a)
    rot2, _ = rotation_between_vectors(a.clone(), -a.clone())
    assert torch.equal(rot1, rot2)
    assert torch.allclose((rot1 @ a[..., None])[..., 0], -a, atol=1e-6)


def test_zero_length_gives_identity_and_mask():
    a = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
                     requires_grad=True)
    b = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    rot, valid = rotation_between_vectors(a, b)
    assert valid.tolist() == [False, False, False]
    assert torch.equal(rot.detach(), torch.eye(3).expand(3, 3, 3))
    rot.sum().backward()
    assert torch.isfinite(a.grad).all()
    with pytest.raises(ValueError, match='shape'):
        rotation_between_vectors(torch.zeros(2, 2), torch.zeros(2, 2))


def test_broadcast_batch_dims():
    a = torch.randn(2, 4, 3)
    b = torch.randn(4, 3)
    rot, valid = rotation_between_vectors(a, b)
    assert rot.shape == (2, 4, 3, 3) and valid.shape == (2, 4)


# ------------------------------------- 6D, quaternions, rotmat -> axis-angle
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


# ------------------------------------------ numpy: conventions against scipy
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
