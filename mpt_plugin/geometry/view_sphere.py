"""Viewpoints all around an object: uniform rotations and look-at cameras.

Used for the synthetic stand-in of MobRecon's "Complement" hand set (hand
poses x viewpoints uniform on the view sphere). Numpy, float64.

Camera convention (the one of :mod:`.virtual_cameras`): a camera is a
world-to-camera rotation ``R`` (3, 3) and its centre ``T`` (3,) in world
coordinates (metres), with row vectors ``x_cam = (x_world - T) @ R``; the
columns of ``R`` are the camera axes in world coordinates: x right, y down,
z forward (the optical axis). Pixels: ``u = f * x_cam[:2] / x_cam[2] + c``.
"""
from typing import Sequence, Tuple

import numpy as np

from mpt_plugin.utils.value_checks import require_non_negative_int

from .rotations import quaternion_to_rotmat

__all__ = ['uniform_rotations', 'look_at_cameras']


def uniform_rotations(num: int, seed: int) -> np.ndarray:
    """Deterministic rotations uniformly distributed on SO(3).

    Shoemake's method (Graphics Gems III, "Uniform random rotations"):
    with ``u1, u2, u3 ~ U[0, 1)`` from ``np.random.default_rng(seed)``,
    the quaternion ``(sqrt(1 - u1) sin 2 pi u2, sqrt(1 - u1) cos 2 pi u2,
    sqrt(u1) sin 2 pi u3, sqrt(u1) cos 2 pi u3)`` is uniform on the unit
    3-sphere, hence its rotation is Haar-uniform: each column of the
    result (e.g. a camera's forward axis) is uniform on the unit sphere.

    Args:
        num (int): Number of rotations ``N >= 0``.
        seed (int): Non-negative seed; same ``(num, seed)``, same values
            (and the first ``k`` rotations do not depend on ``num``).

    Returns:
        np.ndarray: ``(N, 3, 3)`` float64, orthonormal with determinant +1.
    """
    num = require_non_negative_int(num, 'num')
    seed = require_non_negative_int(seed, 'seed')
    u = np.random.default_rng(seed).random((num, 3))
    u1, u2, u3 = u[:, 0], 2 * np.pi * u[:, 1], 2 * np.pi * u[:, 2]
    a, b = np.sqrt(1.0 - u1), np.sqrt(u1)
    quat = np.stack([a * np.sin(u2), a * np.cos(u2), b * np.sin(u3),
                     b * np.cos(u3)], axis=-1)
    return quaternion_to_rotmat(quat)


def look_at_cameras(rotations: np.ndarray,
                    distance: float,
                    target: Sequence[float] = (0.0, 0.0, 0.0)
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Cameras with the given orientations, all aimed at ``target``.

    Args:
        rotations (np.ndarray): ``(N, 3, 3)`` rotations used as the
            world-to-camera ``R`` (row-vector convention, module doc): the
            columns are the camera's x (right), y (down) and z (forward)
            axes in world coordinates.
        distance (float): Distance from each camera centre to ``target``,
            metres, > 0.
        target (Sequence[float]): ``(3,)`` world point (metres) every
            optical axis passes through. Defaults to the origin.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``cam_R`` ``(N, 3, 3)`` float64 (the
        rotations) and ``cam_T`` ``(N, 3)`` float64 camera centres
        ``target - distance * forward`` (metres), so that ``(target -
        cam_T) @ cam_R = (0, 0, distance)``: ``target`` projects to the
        principal point at depth ``distance``.

    Raises:
        ValueError: Wrong shapes, non-finite values, a matrix that is not a
            proper rotation (tolerance 1e-6), or ``distance <= 0``.
    """
    rot = np.asarray(rotations, dtype=np.float64)
    if rot.ndim != 3 or rot.shape[1:] != (3, 3):
        raise ValueError(f'rotations must be (N, 3, 3), got {rot.shape}')
    tgt = np.asarray(target, dtype=np.float64)
    if tgt.shape != (3, ):
        raise ValueError(f'target must be (3,) metres, got {tgt.shape}')
    if not (np.isfinite(rot).all() and np.isfinite(tgt).all()):
        raise ValueError('rotations and target must be finite')
    distance = float(distance)
    if not (np.isfinite(distance) and distance > 0):
        raise ValueError(f'distance must be > 0 metres, got {distance}')
    eye = rot.transpose(0, 2, 1) @ rot
    if len(rot) and (not np.allclose(eye, np.eye(3), atol=1e-6)
                     or not np.allclose(np.linalg.det(rot), 1.0, atol=1e-6)):
        raise ValueError('rotations must be proper rotation matrices '
                         '(orthonormal, determinant +1)')
    forward = rot[:, :, 2]
    return rot.copy(), tgt[None] - distance * forward
