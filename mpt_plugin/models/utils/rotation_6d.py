"""6D rotation representation and rotation-matrix -> axis-angle conversion.

The 6D layout follows SPIN / Key2Mesh (Zhou et al., CVPR 2019): the six
numbers are the row-major entries of the first two COLUMNS of the rotation
matrix, i.e. ``x.view(-1, 3, 2)`` gives ``[a1 | a2]`` and Gram-Schmidt on
those columns gives ``R = [b1 | b2 | b1 x b2]``.

All functions are batched over arbitrary leading dimensions ``*``, work in
float32/float64 and are differentiable with finite gradients everywhere
(including identity and half-turn rotations).
"""
import torch
from torch import Tensor

__all__ = [
    'rot6d_to_rotmat', 'rotmat_to_rot6d', 'rotmat_to_quaternion',
    'quaternion_to_axis_angle', 'rotmat_to_axis_angle'
]


def rot6d_to_rotmat(rot6d: Tensor, eps: float = 1e-8) -> Tensor:
    """6D representation -> rotation matrix (Gram-Schmidt, SPIN layout).

    Args:
        rot6d (Tensor): (*, 6) values; ``rot6d.view(*, 3, 2)`` are the two
            (unnormalised) first columns.
        eps (float): Lower bound of the norms divided by. Defaults to 1e-8.

    Returns:
        Tensor: (*, 3, 3) rotation matrices (columns ``b1, b2, b3``).
    """
    if rot6d.shape[-1] != 6:
        raise ValueError('rot6d must have shape (*, 6), got '
                         f'{tuple(rot6d.shape)}')
    cols = rot6d.reshape(*rot6d.shape[:-1], 3, 2)
    a1, a2 = cols[..., 0], cols[..., 1]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(eps)
    a2_perp = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2_perp / a2_perp.norm(dim=-1, keepdim=True).clamp_min(eps)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def rotmat_to_rot6d(rotmat: Tensor) -> Tensor:
    """Rotation matrix -> 6D (first two columns, row-major, SPIN layout).

    Args:
        rotmat (Tensor): (*, 3, 3) rotation matrices.

    Returns:
        Tensor: (*, 6), the inverse of :func:`rot6d_to_rotmat` on rotations.
    """
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError('rotmat must have shape (*, 3, 3), got '
                         f'{tuple(rotmat.shape)}')
    return rotmat[..., :, :2].reshape(*rotmat.shape[:-2], 6)


def rotmat_to_quaternion(rotmat: Tensor) -> Tensor:
    """Rotation matrix -> unit quaternion ``(w, x, y, z)`` with ``w >= 0``.

    Shepperd's method: the four candidate formulas (divisor ``4w, 4x, 4y,
    4z``) are evaluated and the one with the largest divisor is kept, so
    the chosen square root is of a value ``>= 1`` and both values and
    gradients are well conditioned for every rotation (angles near 0 and
    near pi included).

    Args:
        rotmat (Tensor): (*, 3, 3) rotation matrices (approximately
            orthonormal; the result is renormalised).

    Returns:
        Tensor: (*, 4) unit quaternions, scalar first, ``w >= 0``.
    """
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError('rotmat must have shape (*, 3, 3), got '
                         f'{tuple(rotmat.shape)}')
    m00, m01, m02 = rotmat[..., 0, 0], rotmat[..., 0, 1], rotmat[..., 0, 2]
    m10, m11, m12 = rotmat[..., 1, 0], rotmat[..., 1, 1], rotmat[..., 1, 2]
    m20, m21, m22 = rotmat[..., 2, 0], rotmat[..., 2, 1], rotmat[..., 2, 2]
    # t_i = 4 * q_i^2 for q = (w, x, y, z).
    t = torch.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ],
                    dim=-1)  # (*, 4)
    # Candidate i scaled by 4 * q_i; row i holds (4 q_i) * (w, x, y, z).
    cand = torch.stack([
        torch.stack([t[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, t[..., 1], m01 + m10, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m01 + m10, t[..., 2], m12 + m21], dim=-1),
        torch.stack([m10 - m01, m02 + m20, m12 + m21, t[..., 3]], dim=-1),
    ],
                       dim=-2)  # (*, 4, 4)
    best = t.detach().argmax(dim=-1)  # (*,)
    t_best = t.gather(-1, best[..., None])  # (*, 1)
    q = cand.gather(-2, best[..., None, None].expand(*best.shape, 1,
                                                     4))[..., 0, :]  # (*, 4)
    # max_i t_i >= 1 for a rotation; clamp only guards degenerate input.
    q = q / (2.0 * t_best.clamp_min(1e-12).sqrt())
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quat: Tensor) -> Tensor:
    """Unit quaternion ``(w, x, y, z)`` -> axis-angle vector.

    Uses ``angle = 2 atan2(|v|, w)`` (no ``acos``); for ``|v| -> 0`` the
    factor ``angle / |v|`` is replaced by its series ``2/w (1 - |v|^2 /
    (3 w^2))``, so the result and its gradient are finite at the identity.

    Args:
        quat (Tensor): (*, 4) unit quaternions, scalar first.

    Returns:
        Tensor: (*, 3) axis-angle vectors, angle in radians in ``[0, pi]``.
    """
    if quat.shape[-1] != 4:
        raise ValueError('quat must have shape (*, 4), got '
                         f'{tuple(quat.shape)}')
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    w, vec = quat[..., :1], quat[..., 1:]
    sin2 = (vec * vec).sum(-1, keepdim=True)
    small = sin2 < 1e-8
    sin_safe = torch.where(small, torch.ones_like(sin2), sin2).sqrt()
    factor_big = 2.0 * torch.atan2(sin_safe, w) / sin_safe
    w_safe = torch.where(small, w, torch.ones_like(w))
    factor_small = 2.0 / w_safe * (1.0 - sin2 / (3.0 * w_safe * w_safe))
    factor = torch.where(small, factor_small, factor_big)
    return vec * factor


def rotmat_to_axis_angle(rotmat: Tensor) -> Tensor:
    """Rotation matrix -> axis-angle (via Shepperd quaternions).

    Args:
        rotmat (Tensor): (*, 3, 3) rotation matrices.

    Returns:
        Tensor: (*, 3) axis-angle vectors, angle in radians in ``[0, pi]``.
        At exactly pi either of the two equivalent signs may be returned.
    """
    return quaternion_to_axis_angle(rotmat_to_quaternion(rotmat))
