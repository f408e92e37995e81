"""Skinning weights and joint regressor of the synthetic MANO-format hand.

Step 3 of the hand generator (:mod:`mpt_plugin.synthetic.hand_model`):

- :func:`hand_skinning_weights`: every vertex is labelled with the bone
  nearest to it (joint ``j`` owns the bone from ``J[j]`` to its child or
  fingertip; the wrist owns the palm bones to the five finger bases), and
  the labels are diffused over the mesh graph (as the body's weights).
- :func:`hand_regressor`: each joint from a ring of vertices around it,
  solved (non-negative, summing to 1) so that it reproduces the skeleton
  exactly (:func:`mpt_plugin.synthetic.body_rigging._regressor_row`).
"""
import numpy as np

from mpt_plugin.body_models.conventions import MANO_PARENTS

from .body_rigging import _regressor_row, diffuse_labels
from .hand_proportions import FINGER_JOINTS, FINGERS, NUM_HAND_JOINTS

__all__ = ['hand_bones', 'hand_skinning_weights', 'hand_regressor']

#: Names of the 16 joints (``mano_16`` order), for messages.
HAND_JOINT_NAMES = ('wrist', ) + tuple(
    f'{name}{k}' for name in FINGERS for k in (1, 2, 3))


def hand_bones(J: np.ndarray, tips: np.ndarray):
    """Bone segments ``(starts (B, 3), ends (B, 3), owner joint (B,))``.

    Args:
        J (np.ndarray): ``(16, 3)`` joints.
        tips (np.ndarray): ``(5, 3)`` fingertips in :data:`FINGERS` order.
    """
    starts, ends, owner = [], [], []
    for f, name in enumerate(FINGERS):
        ids = FINGER_JOINTS[name]
        chain = [J[0]] + [J[i] for i in ids] + [tips[f]]
        for k, j in enumerate((0, ) + ids):
            starts.append(chain[k])
            ends.append(chain[k + 1])
            owner.append(j)
    return np.stack(starts), np.stack(ends), np.asarray(owner)


def _segment_distance(points: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray) -> np.ndarray:
    """``(P, B)`` distances of points to segments."""
    seg = ends - starts
    rel = points[:, None] - starts[None]
    t = np.clip((rel * seg).sum(-1) / (seg * seg).sum(-1), 0.0, 1.0)
    return np.linalg.norm(rel - t[..., None] * seg, axis=-1)


def hand_skinning_weights(verts: np.ndarray, faces: np.ndarray,
                          J: np.ndarray, tips: np.ndarray, iters: int = 6,
                          floor: float = 2e-3) -> np.ndarray:
    """Smooth skinning weights ``(V, 16)`` (rows sum to 1).

    Args:
        verts (np.ndarray): ``(V, 3)`` rest vertices.
        faces (np.ndarray): ``(F, 3)`` faces.
        J (np.ndarray): ``(16, 3)`` rest joints.
        tips (np.ndarray): ``(5, 3)`` fingertips (:data:`FINGERS` order).
        iters (int): Steps of neighbour averaging of the hard labels.
        floor (float): Weights below it are cut (soft threshold).
    """
    starts, ends, owner = hand_bones(J, tips)
    label = owner[np.argmin(_segment_distance(verts, starts, ends), axis=1)]
    return diffuse_labels(label, NUM_HAND_JOINTS, faces, iters, floor)


def hand_regressor(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
                   tips: np.ndarray) -> np.ndarray:
    """``(16, V)`` joint regressor reproducing ``J`` (to well under 0.1 mm):
    non-negative rows summing to 1 over rings of vertices around each joint
    (the ring plane normal to the bone)."""
    children = {j: [c for c in range(NUM_HAND_JOINTS)
                    if MANO_PARENTS[c] == j] for j in range(NUM_HAND_JOINTS)}
    reg = np.zeros((NUM_HAND_JOINTS, len(verts)))
    for j in range(NUM_HAND_JOINTS):
        if j == 0:
            normal, radius, band = np.array([0.0, 1.0, 0.0]), 0.05, 0.004
        else:
            name = FINGERS[(j - 1) // 3]
            end = (J[j + 1] if j % 3 else tips[FINGERS.index(name)])
            normal = (end - J[j]) / np.linalg.norm(end - J[j])
            radius, band = (0.025 if name == 'thumb' else 0.016), 0.003
        near = [j] + children[j] + ([MANO_PARENTS[j]] if j else [])
        mask = weights[:, near].sum(axis=1) > 0.02
        ids, w = _regressor_row(verts, J[j], normal, radius, mask, band,
                                HAND_JOINT_NAMES[j])
        reg[j, ids] = w
    return reg
