"""Rotations: torch (models, differentiable) and numpy (data pipeline).

Conventions of every function here: rotation matrices act on column
vectors, ``y = R @ x`` (on row-vector arrays ``points @ R.T``); frames are
right-handed; a positive angle turns counter-clockwise when seen from the
tip of the axis (right-hand rule); angles are radians unless a name says
degrees; an axis-angle vector is ``angle * unit_axis``.

Torch half (models, losses, heads): batched over arbitrary leading
dimensions ``*``, float32/float64, differentiable with finite values and
gradients everywhere (identity, parallel and opposite vectors, half-turns):

- :func:`skew`, :func:`axis_angle_to_matrix` (Rodrigues),
  :func:`rotation_between_vectors`, :func:`perpendicular_unit_vector`. They
  avoid ``arccos`` and any division by ``sin(angle)`` (the PC-HMR
  calibration module, Luan et al. AAAI 2021, Eq. 6-7, needs exactly this).
  The cross product matrix follows the paper,
  ``skew(phi) = [[0, -z, y], [z, 0, -x], [-y, x, 0]]`` so
  ``skew(a) @ b == cross(a, b)``.
- :func:`rot6d_to_rotmat` / :func:`rotmat_to_rot6d`: the 6D layout of SPIN /
  Key2Mesh (Zhou et al., CVPR 2019): the six numbers are the row-major
  entries of the first two COLUMNS of the rotation matrix, i.e.
  ``x.view(-1, 3, 2)`` gives ``[a1 | a2]`` and Gram-Schmidt on those columns
  gives ``R = [b1 | b2 | b1 x b2]``.
- :func:`rotmat_to_quaternion`, :func:`quaternion_to_axis_angle`,
  :func:`rotmat_to_axis_angle`.

Numpy half (datasets, transforms, asset generators): float64 arrays, no
gradients; axis-angle conversions go through ``scipy.spatial.transform``:

- :func:`rot_x`, :func:`rot_y`, :func:`rot_z`: elementary rotations, batched
  over the angles' shape.
- :func:`euler_xyz_to_rotmat`: Key2Mesh's ``Rz @ Ry @ Rx`` from degrees.
- :func:`euler_to_axis_angle` / :func:`axis_angle_to_euler`: scipy Euler
  sequences (intrinsic ``'XYZ'`` by default).
- :func:`camera_z_rotation`: the 3D rotation matching an in-plane image
  rotation.
- :func:`rotate_smpl_root`: left-multiplies a world rotation onto SMPL root
  orientations.

No formula is written twice: the torch functions serve the models, the
numpy ones the CPU data pipeline, and neither half re-implements the other.
"""
from typing import Tuple

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch import Tensor

__all__ = [
    'skew', 'axis_angle_to_matrix', 'rotation_between_vectors',
    'perpendicular_unit_vector', 'rot6d_to_rotmat', 'rotmat_to_rot6d',
    'rotmat_to_quaternion', 'quaternion_to_axis_angle', 'quaternion_to_rotmat',
    'rotmat_to_axis_angle', 'rot_x', 'rot_y', 'rot_z', 'euler_xyz_to_rotmat',
    'euler_to_axis_angle', 'axis_angle_to_euler', 'camera_z_rotation',
    'rotate_smpl_root'
]

# ---------------------------------------------------------------------------
# torch: rotation vectors, rotation between vectors
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# torch: 6D representation, quaternions, matrix -> axis-angle
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# numpy: elementary rotations, Euler angles, SMPL root orientation
# ---------------------------------------------------------------------------
def quaternion_to_rotmat(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices of unit quaternions (numpy).

    Args:
        quat (np.ndarray): ``(..., 4)`` quaternions ``(w, x, y, z)``; they
            are normalised here.

    Returns:
        np.ndarray: ``(..., 3, 3)`` float64 proper rotations ``M`` acting
        on column vectors (``M @ v`` rotates ``v``).
    """
    q = np.asarray(quat, dtype=np.float64)
    if q.shape[-1:] != (4, ):
        raise ValueError(f'quaternions must be (..., 4), got {q.shape}')
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
    ]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def _axis_rotation(cos: np.ndarray, sin: np.ndarray, axis: int) -> np.ndarray:
    """Rotation about coordinate ``axis`` (0 = x, 1 = y, 2 = z) from the
    cosines and sines (any shape ``*``) of its angles -> (*, 3, 3)."""
    cos = np.asarray(cos, dtype=np.float64)
    out = np.zeros(cos.shape + (3, 3))
    i, j = ((1, 2), (2, 0), (0, 1))[axis]  # the plane turned, i towards j
    out[..., axis, axis] = 1.0
    out[..., i, i] = cos
    out[..., j, j] = cos
    out[..., i, j] = -sin
    out[..., j, i] = sin
    return out


def rot_x(angle: np.ndarray) -> np.ndarray:
    """Rotation about x: ``[[1, 0, 0], [0, c, -s], [0, s, c]]``.

    Args:
        angle (np.ndarray | float): (*) angles in radians.

    Returns:
        np.ndarray: (*, 3, 3) float64 rotation matrices.
    """
    angle = np.asarray(angle, dtype=np.float64)
    return _axis_rotation(np.cos(angle), np.sin(angle), 0)


def rot_y(angle: np.ndarray) -> np.ndarray:
    """Rotation about y: ``[[c, 0, s], [0, 1, 0], [-s, 0, c]]``.

    Args:
        angle (np.ndarray | float): (*) angles in radians.

    Returns:
        np.ndarray: (*, 3, 3) float64 rotation matrices.
    """
    angle = np.asarray(angle, dtype=np.float64)
    return _axis_rotation(np.cos(angle), np.sin(angle), 1)


def rot_z(angle: np.ndarray) -> np.ndarray:
    """Rotation about z: ``[[c, -s, 0], [s, c, 0], [0, 0, 1]]``.

    Args:
        angle (np.ndarray | float): (*) angles in radians.

    Returns:
        np.ndarray: (*, 3, 3) float64 rotation matrices.
    """
    angle = np.asarray(angle, dtype=np.float64)
    return _axis_rotation(np.cos(angle), np.sin(angle), 2)


def euler_xyz_to_rotmat(angles_deg: np.ndarray) -> np.ndarray:
    """Key2Mesh's ``euler_to_rot(x, y, z) = Rz @ Ry @ Rx``, batched.

    The x rotation is applied first (extrinsic x-y-z, scipy's ``'xyz'``).

    Args:
        angles_deg (np.ndarray): (N, 3) angles ``(x, y, z)`` in degrees
            about the x, y (vertical) and z axes.

    Returns:
        np.ndarray: (N, 3, 3) float64 rotation matrices.
    """
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    if angles.ndim != 2 or angles.shape[1] != 3:
        raise ValueError('angles_deg must have shape (N, 3) [x, y, z], got '
                         f'{angles.shape}')
    c, s = np.cos(angles), np.sin(angles)  # (N, 3)
    return (_axis_rotation(c[:, 2], s[:, 2], 2) @
            _axis_rotation(c[:, 1], s[:, 1], 1) @
            _axis_rotation(c[:, 0], s[:, 0], 0))


def euler_to_axis_angle(euler: np.ndarray, seq: str = 'XYZ') -> np.ndarray:
    """Euler angles (radians) -> axis-angle, batched.

    Args:
        euler (np.ndarray): (*, 3) angles in radians, in the order of
            ``seq``.
        seq (str): scipy's Euler sequence: upper case is intrinsic
            (``'XYZ'``: ``R = Rx(e0) @ Ry(e1) @ Rz(e2)``), lower case
            extrinsic (``'xyz'``: ``R = Rz(e2) @ Ry(e1) @ Rx(e0)``).
            Defaults to ``'XYZ'``.

    Returns:
        np.ndarray: (*, 3) float64 axis-angle vectors, norm <= pi.
    """
    euler = np.asarray(euler, dtype=np.float64)
    flat = Rotation.from_euler(seq, euler.reshape(-1, 3)).as_rotvec()
    return flat.reshape(euler.shape)


def axis_angle_to_euler(axis_angle: np.ndarray,
                        seq: str = 'XYZ') -> np.ndarray:
    """Inverse of :func:`euler_to_axis_angle`.

    Args:
        axis_angle (np.ndarray): (*, 3) axis-angle vectors, radians.
        seq (str): scipy's Euler sequence. Defaults to ``'XYZ'``.

    Returns:
        np.ndarray: (*, 3) float64 Euler angles in radians; the middle
        angle lies in [-pi/2, pi/2], the others in (-pi, pi].
    """
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    flat = Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_euler(seq)
    return flat.reshape(axis_angle.shape)


def camera_z_rotation(rotation: float) -> np.ndarray:
    """3D rotation about the camera z axis matching an image rotation.

    In the camera frame (x right, y down, z forward) an image rotation
    counter-clockwise AS SEEN in the image is a rotation by ``-theta``
    about +z, ``R3 = Rz(-theta) = Rz(theta)^T = [[c, s, 0], [-s, c, 0],
    [0, 0, 1]]``; its top-left block is the image map ``R2`` (OpenCV's
    ``getRotationMatrix2D`` sign).

    Args:
        rotation (float): Degrees, counter-clockwise in the image (x right,
            y down).

    Returns:
        np.ndarray: (3, 3) float64 ``R3``; points rotate as ``X' = R3 X``.
    """
    return rot_z(np.deg2rad(float(rotation))).T.copy()


def rotate_smpl_root(poses: np.ndarray, rotmat: np.ndarray) -> np.ndarray:
    """Left-multiplies rotations onto the SMPL root orientation.

    Args:
        poses (np.ndarray): (*, D) SMPL axis-angle poses, radians, root in
            ``[..., :3]`` (D >= 3: 3 for the root alone, 72 for SMPL).
        rotmat (np.ndarray): (3, 3) or (*, 3, 3) world rotations,
            broadcast against the poses' leading shape.

    Returns:
        np.ndarray: (*, D) float64 poses with root ``rotmat @ R_root``; the
        other joints (local rotations) are unchanged.
    """
    poses = np.array(poses, dtype=np.float64)
    if poses.ndim < 1 or poses.shape[-1] < 3:
        raise ValueError('poses must have shape (..., D) with D >= 3 (root '
                         f'axis-angle first), got {poses.shape}')
    rotmat = np.asarray(rotmat, dtype=np.float64)
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError('rotmat must have shape (3, 3) or (..., 3, 3), got '
                         f'{rotmat.shape}')
    lead = poses.shape[:-1]
    root = Rotation.from_rotvec(poses[..., :3].reshape(-1, 3)).as_matrix()
    root = rotmat @ root.reshape(lead + (3, 3))
    poses[..., :3] = Rotation.from_matrix(root.reshape(-1, 3, 3)).as_rotvec(
    ).reshape(lead + (3, ))
    return poses
