"""Rotation helpers: skew matrices, Rodrigues and rotation between vectors.

All functions are batched over arbitrary leading dimensions ``*``, work in
float32/float64, and are differentiable. They avoid ``arccos`` and any
division by ``sin(angle)`` so that values and gradients stay finite when the
vectors are parallel, opposite or nearly opposite (the PC-HMR calibration
module, Luan et al. AAAI 2021, Eq. 6-7, needs exactly this).

Conventions: rotation matrices act on column vectors, ``y = R @ x``; the
cross product matrix follows the paper,
``skew(phi) = [[0, -z, y], [z, 0, -x], [-y, x, 0]]`` so
``skew(a) @ b == cross(a, b)``.
"""
from typing import Tuple

import torch
from torch import Tensor

__all__ = [
    'skew', 'axis_angle_to_matrix', 'rotation_between_vectors',
    'perpendicular_unit_vector'
]


def skew(vec: Tensor) -> Tensor:
    """Cross product matrix ``phi^`` of a vector (paper Eq. 7).

    Args:
        vec (Tensor): (*, 3) vectors.

    Returns:
        Tensor: (*, 3, 3) matrices ``K`` with ``K @ b == cross(vec, b)``.
    """
    if vec.shape[-1] != 3:
        raise ValueError(f'vec must have shape (*, 3), got {tuple(vec.shape)}')
    x, y, z = vec.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([
        torch.stack([zero, -z, y], dim=-1),
        torch.stack([z, zero, -x], dim=-1),
        torch.stack([-y, x, zero], dim=-1),
    ], dim=-2)


def _eye_like(vec: Tensor) -> Tensor:
    """(*, 3, 3) identity matching the leading shape of (*, 3) ``vec``."""
    eye = torch.eye(3, dtype=vec.dtype, device=vec.device)
    return eye.expand(*vec.shape[:-1], 3, 3)


def axis_angle_to_matrix(rotvec: Tensor) -> Tensor:
    """Rodrigues' formula: rotation vector -> rotation matrix (Eq. 7).

    ``R = cos|psi| I + (1 - cos|psi|) phi phi^T + sin|psi| phi^`` with
    ``phi = psi / |psi|``. Near ``|psi| = 0`` the equivalent form
    ``I + A K + B K^2`` (``K = skew(psi)``, ``A = sin t / t``,
    ``B = (1 - cos t) / t^2``) is evaluated with Taylor series, so the
    result (and its gradient) is finite at ``psi = 0``.

    Args:
        rotvec (Tensor): (*, 3) axis-angle vectors, angle in radians.

    Returns:
        Tensor: (*, 3, 3) rotation matrices.
    """
    if rotvec.shape[-1] != 3:
        raise ValueError('rotvec must have shape (*, 3), got '
                         f'{tuple(rotvec.shape)}')
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # (*, 1, 1)
    small = theta2 < 1e-6
    # Safe angle: never take sqrt(0) on the branch that is used for grads.
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a_big = torch.sin(theta) / theta
    b_big = (1.0 - torch.cos(theta)) / theta2_safe
    a_small = 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0
    b_small = 0.5 - theta2 / 24.0 + theta2 * theta2 / 720.0
    a = torch.where(small, a_small, a_big)
    b = torch.where(small, b_small, b_big)
    k = skew(rotvec)
    return _eye_like(rotvec) + a * k + b * (k @ k)


def perpendicular_unit_vector(vec: Tensor) -> Tensor:
    """A deterministic unit vector perpendicular to ``vec``.

    Uses ``normalize(cross(vec, e_k))`` where ``e_k`` is the coordinate
    axis with the smallest ``|vec_k|`` (ties -> lowest index), so for a unit
    ``vec`` the cross product has norm >= sqrt(2/3) and never degenerates.

    Args:
        vec (Tensor): (*, 3) non-zero vectors (need not be unit length).

    Returns:
        Tensor: (*, 3) unit vectors ``u`` with ``u . vec == 0``.
    """
    idx = vec.detach().abs().argmin(dim=-1)
    axis = torch.nn.functional.one_hot(idx, 3).to(vec.dtype)
    perp = torch.linalg.cross(vec, axis, dim=-1)
    return perp / perp.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _rotation_unit_vectors(a: Tensor, b: Tensor) -> Tensor:
    """Rotation taking unit ``a`` to unit ``b``, valid for ``a . b >= 0``.

    Eq. 6-7 combined: with ``v = a x b = sin(t) phi`` and ``c = a . b =
    cos(t)``, ``(1 - cos t) phi phi^T = v v^T / (1 + c)`` and
    ``cos t I = I + (K^2 - v v^T) / (1 + c)``, hence
    ``R = I + K + K^2 / (1 + c)`` with ``K = skew(v)``. No arccos and no
    division by ``|v|``; the denominator is clamped (>= 1 on the branch where
    it is used) so the unused branch of a ``torch.where`` never produces
    inf/NaN gradients.
    """
    v = torch.linalg.cross(a, b, dim=-1)
    c = (a * b).sum(-1)[..., None, None]
    k = skew(v)
    return _eye_like(a) + k + (k @ k) / (1.0 + c).clamp_min(0.5)


def rotation_between_vectors(a: Tensor,
                             b: Tensor,
                             eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
    """Minimal rotation taking direction ``a`` to direction ``b``.

    Equivalent to the paper's Eq. 6 (rotation vector ``arccos(a.b) * a x b /
    |a x b|``) followed by Rodrigues (Eq. 7), but evaluated stably
    (``a``, ``b`` normalised first, ``c = a.b``, ``v = a x b``):

    * ``c >= 0``: ``R = I + K + K^2 / (1 + c)``, ``K = skew(v)`` (exact
      Rodrigues for unit vectors, smooth at ``a == b``; no arccos).
    * ``c < 0``: Rodrigues (Eq. 7) with ``cos = c``, ``sin = |v|`` and axis
      ``phi = v / |v|``. When ``|v| < sqrt(machine eps)`` (exactly or nearly
      opposite, where the minimal-rotation axis is ill-conditioned) the axis
      is the deterministic ``perpendicular_unit_vector(a)`` instead, i.e. a
      half-turn for exactly opposite inputs. Rounding in ``phi`` is then
      removed by composing with the small acute-branch rotation from
      ``R a`` to ``b``, so ``R a == b`` to machine precision in every case.
    * ``|a| < eps`` or ``|b| < eps`` (zero-length direction): identity,
      flagged in the returned mask.

    Values and gradients are finite everywhere (branches of ``torch.where``
    use clamped denominators).

    Args:
        a (Tensor): (*, 3) source directions (any non-zero length).
        b (Tensor): (*, 3) target directions (any non-zero length).
        eps (float): Norm below which a vector counts as zero-length.
            Defaults to 1e-8.

    Returns:
        tuple:
        - rot (Tensor): (*, 3, 3) rotation matrices, ``rot @ a_hat == b_hat``.
        - valid (Tensor): (*,) bool, False where ``a`` or ``b`` was
          zero-length (identity returned there).
    """
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError('a and b must have shape (*, 3), got '
                         f'{tuple(a.shape)} and {tuple(b.shape)}')
    a, b = torch.broadcast_tensors(a, b)
    norm_a = a.norm(dim=-1, keepdim=True)
    norm_b = b.norm(dim=-1, keepdim=True)
    valid = (norm_a > eps) & (norm_b > eps)  # (*, 1)
    # Replace zero-length vectors by a dummy unit vector so that no NaN
    # reaches values or gradients; their result is overwritten below.
    dummy = torch.zeros_like(a)
    dummy[..., 0] = 1.0
    a_hat = torch.where(valid, a / norm_a.clamp_min(eps), dummy)
    b_hat = torch.where(valid, b / norm_b.clamp_min(eps), dummy)
    eye = _eye_like(a_hat)

    # Acute branch (c >= 0).
    rot_acute = _rotation_unit_vectors(a_hat, b_hat)

    # Obtuse branch (c < 0): Rodrigues with an explicit axis.
    cross = torch.linalg.cross(a_hat, b_hat, dim=-1)
    sin2 = (cross * cross).sum(-1, keepdim=True)
    sin = sin2.clamp_min(1e-30).sqrt()
    tiny = torch.finfo(a_hat.dtype).eps**0.5
    ill = sin < tiny  # (*, 1) nearly / exactly opposite
    axis = torch.where(ill, perpendicular_unit_vector(a_hat),
                       cross / torch.where(ill, torch.ones_like(sin), sin))
    cos = (a_hat * b_hat).sum(-1, keepdim=True)[..., None]  # (*, 1, 1)
    sin_m = torch.where(ill, torch.zeros_like(sin), sin)[..., None]
    rot_obtuse = (cos * eye + (1.0 - cos) * axis[..., :, None] *
                  axis[..., None, :] + sin_m * skew(axis))
    # Remove rounding: small rotation from rot_obtuse @ a_hat to b_hat.
    mapped = (rot_obtuse @ a_hat[..., None])[..., 0]
    mapped = mapped / mapped.norm(dim=-1, keepdim=True).clamp_min(eps)
    rot_obtuse = _rotation_unit_vectors(mapped, b_hat) @ rot_obtuse

    rot = torch.where(cos < 0, rot_obtuse, rot_acute)
    rot = torch.where(valid[..., None], rot, eye)
    return rot, valid[..., 0]
