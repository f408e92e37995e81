import math

import pytest
import torch

from mpt_plugin.geometry.rotations import (axis_angle_to_matrix,
                                           perpendicular_unit_vector,
                                           rotation_between_vectors, skew)


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
