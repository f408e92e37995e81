"""Blend shapes and the PCA pose space of the synthetic MANO-format hand.

Step 4 of the hand generator (:mod:`mpt_plugin.synthetic.hand_model`):

- :func:`hand_shape_dirs`: 10 shape directions ``(V, 3, 10)``, smooth
  displacement fields per unit beta (size, palm width and length,
  thickness, finger lengths and girths, thumb length, finger spread),
  blended by the skinning weights so that every finger moves as a whole.
- :func:`hand_pose_dirs`: pose correctives ``(V, 3, 135)`` linear in
  ``R_j - I`` (joints 1..15): a bulge along the rest normal where the skin
  blends between a joint's bone and its parent's.
- :func:`hand_pose_space`: ``hands_mean`` (a relaxed, slightly curled hand),
  an orthonormal 45 x 45 PCA basis ``hands_components`` whose first rows
  are the natural synergies (all fingers curling, the thumb opposing, the
  fingers spreading), and ``hands_coeffs`` (synthetic coefficients of
  1554 poses, as the official files carry).
"""
from typing import Dict, Tuple

import numpy as np

from mpt_plugin.body_models.conventions import MANO_PARENTS

from .body_remeshing import vertex_normals
from .hand_proportions import FINGER_JOINTS, FINGERS, NUM_HAND_JOINTS

__all__ = [
    'NUM_BETAS', 'NUM_POSE_BASIS', 'NUM_HAND_COEFFS', 'hand_shape_dirs',
    'hand_pose_dirs', 'hand_pose_space'
]

NUM_BETAS = 10
NUM_POSE_BASIS = 9 * (NUM_HAND_JOINTS - 1)
NUM_HAND_COEFFS = 1554


def _finger_weights(weights: np.ndarray) -> np.ndarray:
    """``(V, 5)`` summed skinning weights of each finger's joints."""
    return np.stack([weights[:, list(FINGER_JOINTS[n])].sum(1)
                     for n in FINGERS], 1)


def hand_shape_dirs(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
                    dirs: np.ndarray) -> np.ndarray:
    """Shape directions ``(V, 3, 10)`` (metres per unit beta).

    Args:
        verts (np.ndarray): ``(V, 3)`` rest vertices.
        weights (np.ndarray): ``(V, 16)`` skinning weights.
        J (np.ndarray): ``(16, 3)`` rest joints.
        dirs (np.ndarray): ``(5, 3)`` unit finger directions
            (:data:`FINGERS` order).
    """
    fw = _finger_weights(weights)
    palm = weights[:, 0:1]
    base = J[[FINGER_JOINTS[n][0] for n in FINGERS]]  # (5, 3)
    rel = verts[:, None] - base[None]  # (V, 5, 3)
    along = (rel * dirs[None]).sum(-1)  # (V, 5)
    radial = rel - along[..., None] * dirs[None]
    ex, ey, ez = np.eye(3)
    lengthen = np.einsum('vf,vf,fd->vfd', fw, along, dirs)  # (V, 5, 3)
    out = np.zeros((len(verts), 3, NUM_BETAS))
    out[:, :, 0] = 0.04 * (verts - J[0])
    out[:, :, 1] = 0.06 * (verts[:, :1] - J[0, 0]) * ex
    out[:, :, 2] = 0.06 * lengthen[:, :4].sum(1)
    out[:, :, 3] = 0.08 * (verts[:, 2:3] - J[0, 2]) * ez
    out[:, :, 4] = 0.08 * np.einsum('vf,vfd->vd', fw, radial)
    # palm length: the palm stretches along y and carries the fingers
    out[:, :, 5] = 0.05 * (palm * (verts[:, 1:2] - J[0, 1]) + np.einsum(
        'vf,f->v', fw, base[:, 1] - J[0, 1])[:, None]) * ey
    out[:, :, 6] = 0.08 * lengthen[:, 4]
    gradient = np.array([1.0, 0.3, -1.0, -0.3, 0.0])  # index vs pinky
    out[:, :, 7] = 0.05 * np.einsum('vfd,f->vd', lengthen, gradient)
    out[:, :, 8] = 0.12 * np.einsum('vf,f->v', fw, base[:, 0] - J[0, 0]
                                    )[:, None] * ex
    out[:, :, 9] = 0.03 * palm * (verts - J[0]) * np.array([0.5, 0.0, 1.0])
    return out


def hand_pose_dirs(verts: np.ndarray, faces: np.ndarray,
                   weights: np.ndarray, k: float = 0.002) -> np.ndarray:
    """Pose correctives ``(V, 3, 135)`` in MANO's layout.

    Column ``9 * (j - 1) + 3 * r + c`` multiplies entry ``(r, c)`` of
    ``R_j - I`` (joint ``j`` = 1..15). Only the diagonal is used:
    ``trace(R_j - I) = 2 (cos(theta) - 1)``, so the offset
    ``-k h_j n trace(R_j - I)`` pushes the skin at the crease outwards by
    ``2 k (1 - cos(theta))`` along the rest normal ``n``, with
    ``h_j = min(1, 4 w_j w_parent)``.
    """
    normals = vertex_normals(verts, faces)
    out = np.zeros((len(verts), 3, NUM_POSE_BASIS))
    for j in range(1, NUM_HAND_JOINTS):
        h = np.minimum(1.0, 4.0 * weights[:, j] * weights[:, MANO_PARENTS[j]])
        for r in range(3):
            out[:, :, 9 * (j - 1) + 4 * r] = -k * h[:, None] * normals
    return out


def _flexion(per_joint: Dict[str, Tuple[float, float, float]]) -> np.ndarray:
    """``(45,)`` axis-angle of finger flexions (radians) about -x, the
    curl of the right hand's fingers towards the palm (-z)."""
    pose = np.zeros((NUM_HAND_JOINTS - 1, 3))
    for name, angles in per_joint.items():
        for j, a in zip(FINGER_JOINTS[name], angles):
            pose[j - 1, 0] = -a
    return pose.ravel()


def hand_pose_space(seed: int = 0) -> Dict[str, np.ndarray]:
    """``hands_mean`` ``(45,)``, ``hands_components`` ``(45, 45)``
    (orthonormal rows) and ``hands_coeffs`` ``(1554, 45)``, right hand.

    Args:
        seed (int): Seed of the higher components and the coefficients.
    """
    curl = {'index': (0.15, 0.2, 0.1), 'middle': (0.2, 0.25, 0.1),
            'ring': (0.25, 0.3, 0.12), 'pinky': (0.3, 0.3, 0.12),
            'thumb': (0.0, 0.1, 0.1)}
    mean = _flexion(curl)
    fist = _flexion({n: (1.0, 1.0, 1.0) for n in FINGERS[:4]})
    thumb = _flexion({'thumb': (0.6, 0.8, 0.8)})
    thumb[12 * 3:12 * 3 + 3] += (0.0, -0.8, 0.0)  # thumb1 swings across
    spread = np.zeros((NUM_HAND_JOINTS - 1, 3))
    for name, s in zip(('index', 'middle', 'pinky', 'ring'),
                       (1.0, 0.3, -1.0, -0.4)):
        spread[FINGER_JOINTS[name][0] - 1, 2] = 0.3 * s
    lead = np.stack([fist, thumb, spread.ravel()], 1)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(np.concatenate(
        [lead, rng.normal(size=(45, 45 - lead.shape[1]))], 1))
    q = q * np.sign(np.diag(r))[None]  # the leading rows keep their signs
    std = 1.2 * 0.85**np.arange(45)
    coeffs = rng.normal(size=(NUM_HAND_COEFFS, 45)) * std
    return {'hands_mean': mean, 'hands_components': q.T.copy(),
            'hands_coeffs': coeffs}
