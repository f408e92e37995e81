"""Skinning weights and joint regressors of the synthetic body.

Step 4a of the generator (:mod:`mpt_plugin.synthetic.smpl_model`): skinning
weights diffused from part labels over the mesh graph, and joint regressors
(SMPL's 24 joints and the 17 Human3.6M joints) that average rings of vertices
around each joint with convex weights solved to reproduce the skeleton.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from mpt_plugin.body_models.conventions import SMPL_PARENTS

from .body_proportions import NUM_JOINTS, SMPL_JOINT_NAMES, unit
from .body_remeshing import adjacency
from .body_sdf import BodySDF

__all__ = [
    'H36M_JOINT_NAMES', 'skinning_weights', 'smpl_regressor',
    'make_synthetic_h36m_regressor'
]

#: Row order of :func:`make_synthetic_h36m_regressor` (mmhuman3d ``h36m``
#: convention = SPIN's ``J_regressor_h36m.npy``: left leg first).
H36M_JOINT_NAMES = (
    'pelvis', 'left_hip', 'left_knee', 'left_ankle', 'right_hip',
    'right_knee', 'right_ankle', 'spine', 'neck', 'head', 'headtop',
    'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder',
    'right_elbow', 'right_wrist')


# ---------------------------------------------------------------------------
# Skinning weights
# ---------------------------------------------------------------------------
def _part_labels(verts: np.ndarray, sdf: BodySDF) -> np.ndarray:
    """Hard joint label ``(V,)`` of each vertex from the part groups."""
    J = sdf.J
    groups = sdf.groups(verts)
    names = list(groups)
    grp = np.argmin(np.stack([groups[n] for n in names]), axis=0)
    grp = np.asarray(names, dtype=object)[grp]
    x, y, z = verts.T
    ax = np.abs(x)
    left = x >= 0
    label = np.full(len(verts), -1, dtype=np.int64)

    def lr(mask, jl, jr):
        label[mask & left] = jl
        label[mask & ~left] = jr

    torso = grp == 'torso'
    label[torso] = np.select(
        [y < J[3, 1], y < J[6, 1], y < J[9, 1]], [0, 3, 6], 9)[torso]
    lr(torso & (y > 0.5 * (J[9, 1] + J[13, 1])) & (ax > 0.8 * J[13, 0]), 13,
       14)
    collar = (grp == 'collar_l') | (grp == 'collar_r')
    lr(collar, 13, 14)
    mid = collar & (ax < 0.8 * J[13, 0])
    label[mid] = np.where(y < J[12, 1], 9, 12)[mid]
    neck = grp == 'neck'
    label[neck] = np.where(y > J[15, 1], 15, 12)[neck]
    label[grp == 'head'] = 15
    arm = (grp == 'arm_l') | (grp == 'arm_r')
    lr(arm & (ax < J[16, 0]), 13, 14)
    lr(arm & (ax >= J[16, 0]) & (ax < J[18, 0]), 16, 17)
    lr(arm & (ax >= J[18, 0]), 18, 19)
    hand = (grp == 'hand_l') | (grp == 'hand_r')
    lr(hand & (ax < J[22, 0]), 20, 21)
    lr(hand & (ax >= J[22, 0]), 22, 23)
    for side, hip, knee, ankle in (('l', 1, 4, 7), ('r', 2, 5, 8)):
        leg = grp == 'leg_' + side
        n_knee = unit(unit(J[knee] - J[hip]) + unit(J[ankle] - J[knee]))
        n_ank = unit(J[ankle] - J[knee])
        below_knee = (verts - J[knee]) @ n_knee > 0
        below_ankle = (verts - J[ankle]) @ n_ank > 0
        label[leg] = np.select([~below_knee, ~below_ankle], [hip, knee],
                               ankle)[leg]
        foot = grp == 'foot_' + side
        label[foot] = np.where(z > J[ankle + 3, 2], ankle + 3, ankle)[foot]
    if np.any(label < 0):
        raise RuntimeError('unlabelled vertices')
    return label


def skinning_weights(verts: np.ndarray, faces: np.ndarray, sdf: BodySDF,
                     iters: int = 24, floor: float = 2e-3) -> np.ndarray:
    """Smooth skinning weights ``(V, 24)`` (rows sum to 1).

    Hard part labels are diffused over the mesh graph (``iters`` steps of
    neighbour averaging); the far tails are cut by soft thresholding at
    ``floor`` (continuous, so neighbouring rows stay close).
    """
    return diffuse_labels(_part_labels(verts, sdf), NUM_JOINTS, faces, iters,
                          floor)


def diffuse_labels(label: np.ndarray, num_joints: int, faces: np.ndarray,
                   iters: int, floor: float) -> np.ndarray:
    """Hard per-vertex joint labels ``(V,)`` -> smooth weights
    ``(V, num_joints)`` (rows sum to 1): ``iters`` steps of averaging with
    the mesh-graph neighbours, then a soft threshold at ``floor``."""
    nv = len(label)
    w = np.zeros((nv, num_joints))
    w[np.arange(nv), label] = 1.0
    adj = adjacency(faces, nv)
    avg = sp.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj
    for _ in range(iters):
        w = 0.5 * w + 0.5 * (avg @ w)
    w = np.maximum(w - floor, 0.0)
    return w / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# Joint regressors
# ---------------------------------------------------------------------------
def _convex_weights(points: np.ndarray, target: np.ndarray,
                    reg: float = 1e-3) -> Tuple[np.ndarray, float]:
    """Non-negative weights summing to 1 with ``w @ points ~= target``.

    Solves ``min |w @ points - target|^2 + reg^2 |w - 1/n|^2`` under
    ``w >= 0, sum(w) = 1`` (the sum as a heavily weighted row), which
    spreads the weight over the whole ring.

    Returns:
        tuple: ``(w (n,), residual distance in metres)``.
    """
    n = len(points)
    scale = 100.0
    a = np.concatenate([points.T, scale * np.ones((1, n)),
                        reg * np.eye(n)])
    b = np.concatenate([target, [scale], np.full(n, reg / n)])
    w, _ = nnls(a, b, maxiter=50 * n)
    w = w / w.sum()
    return w, float(np.linalg.norm(w @ points - target))


def _ring(verts: np.ndarray, center: np.ndarray, normal: np.ndarray,
          band: float, radius: float, mask: np.ndarray) -> np.ndarray:
    """Ids of the vertices near the plane through ``center`` with
    ``normal`` (within ``band``) and within ``radius`` of ``center``."""
    rel = verts - center
    sel = (np.abs(rel @ normal) < band) & (np.linalg.norm(rel, axis=1) <
                                           radius) & mask
    return np.flatnonzero(sel)


def _regressor_row(verts: np.ndarray, target: np.ndarray, normal: np.ndarray,
                   radius: float, mask: np.ndarray, band: float,
                   what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Vertex ids and convex weights reproducing ``target``.

    Tries rings around ``target`` in the plane with ``normal`` (widening
    them), then balls of vertices around it, and takes the first whose
    exact solution uses at least a third of the vertices (the joint lies
    well inside them, not on the rim of their hull).
    """
    tries = [(band * 1.5**k, radius * 1.2**k) for k in range(3)]
    tries += [(np.inf, radius * 1.25**k) for k in range(4)]
    for band_k, radius_k in tries:
        ids = _ring(verts, target, normal, band_k, radius_k, mask)
        if len(ids) < 8:
            continue
        w, res = _convex_weights(verts[ids], target)
        keep = w > 1e-6
        if res < 2e-5 and keep.sum() >= max(8, len(ids) // 3):
            return ids[keep], w[keep] / w[keep].sum()
    raise RuntimeError(f'could not regress {what} from the vertices around '
                       f'{np.round(target, 3).tolist()}')


_RING_RADIUS = {
    0: 0.25, 3: 0.25, 6: 0.25, 9: 0.25, 12: 0.08, 15: 0.11, 1: 0.12,
    2: 0.12, 4: 0.08, 5: 0.08, 7: 0.065, 8: 0.065, 10: 0.07, 11: 0.07,
    13: 0.12, 14: 0.12, 16: 0.09, 17: 0.09, 18: 0.06, 19: 0.06, 20: 0.05,
    21: 0.05, 22: 0.06, 23: 0.06
}


def _joint_normals(J: np.ndarray) -> np.ndarray:
    """``(24, 3)`` ring-plane normals (bone directions at each joint)."""
    n = np.tile([0.0, 1.0, 0.0], (NUM_JOINTS, 1))
    for j, (a, b) in {1: (1, 4), 2: (2, 5), 7: (4, 7), 8: (5, 8),
                      13: (13, 16), 14: (14, 17), 16: (16, 18),
                      17: (17, 19), 22: (20, 22), 23: (21, 23)}.items():
        n[j] = unit(J[b] - J[a])
    for j, (a, b, c) in {4: (1, 4, 7), 5: (2, 5, 8), 18: (16, 18, 20),
                         19: (17, 19, 21), 20: (18, 20, 22),
                         21: (19, 21, 23)}.items():
        n[j] = unit(unit(J[b] - J[a]) + unit(J[c] - J[b]))
    n[10] = n[11] = (0.0, 0.0, 1.0)
    return n


def _support_mask(weights: np.ndarray, joints: Sequence[int]) -> np.ndarray:
    return weights[:, list(joints)].sum(axis=1) > 0.02


def smpl_regressor(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
                   scale: float) -> np.ndarray:
    """``(24, V)`` joint regressor: each joint from a ring of vertices
    around it, reproducing ``J`` (to well under a millimetre)."""
    normals = _joint_normals(J)
    children = {j: [c for c in range(NUM_JOINTS) if SMPL_PARENTS[c] == j]
                for j in range(NUM_JOINTS)}
    reg = np.zeros((NUM_JOINTS, len(verts)))
    for j in range(NUM_JOINTS):
        near = [j] + children[j] + ([SMPL_PARENTS[j]] if j else [])
        ids, w = _regressor_row(verts, J[j], normals[j],
                                _RING_RADIUS[j] * scale,
                                _support_mask(weights, near), 0.012 * scale,
                                SMPL_JOINT_NAMES[j])
        reg[j, ids] = w
    return reg


def make_synthetic_h36m_regressor(model: Dict[str, np.ndarray]) -> np.ndarray:
    """Human3.6M joint regressor for an SMPL-format model.

    Rows follow mmhuman3d's ``h36m`` convention = SPIN's
    ``J_regressor_h36m.npy`` (left leg first, see :data:`H36M_JOINT_NAMES`).
    Like the real regressor, the H36M hips sit lower and wider than SMPL's
    hip joints with the pelvis between them, the spine between pelvis and
    thorax, the thorax at the base of the neck, the head joint in the middle
    of the head at nose height and the head top on the skull surface.

    Args:
        model (dict): SMPL-format model with ``v_template`` ``(V, 3)``,
            ``J`` ``(24, 3)`` rest joints and ``weights`` ``(V, 24)``
            (metres, SMPL template frame).

    Returns:
        np.ndarray: ``(17, V)`` float64, non-negative rows summing to 1.

    Raises:
        KeyError: If a required key is missing.
        ValueError: If the arrays have the wrong shapes.
    """
    for key in ('v_template', 'J', 'weights'):
        if key not in model:
            raise KeyError(f'model dict lacks {key!r} (needed for the H36M '
                           'regressor)')
    verts = np.asarray(model['v_template'], dtype=np.float64)
    J = np.asarray(model['J'], dtype=np.float64)
    weights = np.asarray(model['weights'], dtype=np.float64)
    nv = len(verts)
    if verts.shape != (nv, 3) or J.shape != (NUM_JOINTS, 3) or (
            weights.shape != (nv, NUM_JOINTS)):
        raise ValueError('expected v_template (V, 3), J (24, 3), weights '
                         f'(V, 24); got {verts.shape}, {J.shape}, '
                         f'{weights.shape}')
    height = verts[:, 1].max() - verts[:, 1].min()
    s = height / 1.69
    y_axis = np.array([0.0, 1.0, 0.0])
    normals = _joint_normals(J)
    h36m_reg = np.zeros((17, nv))
    # Rows reused from rings around the SMPL joints (knees, ankles, arms).
    same = {2: 4, 3: 7, 5: 5, 6: 8, 12: 18, 13: 20, 15: 19, 16: 21}
    torso = _support_mask(weights, (0, 1, 2, 3))
    for row, j in same.items():
        ids, w = _regressor_row(verts, J[j], normals[j],
                                _RING_RADIUS[j] * s,
                                _support_mask(weights, (j, SMPL_PARENTS[j])),
                                0.012 * s, H36M_JOINT_NAMES[row])
        h36m_reg[row, ids] = w
    hips = {1: J[1] + np.array([0.055, -0.025, 0.0]) * s,
            4: J[2] + np.array([-0.055, -0.025, 0.0]) * s}
    pelvis = 0.5 * (hips[1] + hips[4])
    thorax = J[12] + np.array([0.0, -0.035, 0.012]) * s
    head_c = J[15] + np.array([0.0, 0.045, 0.02]) * s
    spine = 0.5 * (pelvis + thorax)
    spine[2] = J[3, 2]
    targets = {
        0: (pelvis, 0.25, torso),
        1: (hips[1], 0.09, torso),
        4: (hips[4], 0.09, torso),
        7: (spine, 0.25, _support_mask(weights, (0, 3, 6, 9))),
        8: (thorax, 0.1, _support_mask(weights, (9, 12, 13, 14))),
        9: (head_c, 0.12, _support_mask(weights, (15,))),
    }
    for row, (target, radius, mask) in targets.items():
        ids, w = _regressor_row(verts, target, y_axis, radius * s, mask,
                                0.012 * s, H36M_JOINT_NAMES[row])
        h36m_reg[row, ids] = w
    # Shoulders: slightly lateral and higher than SMPL's.
    for row, j, sign in ((11, 16, 1.0), (14, 17, -1.0)):
        target = J[j] + np.array([sign * 0.012, 0.006, 0.0]) * s
        ids, w = _regressor_row(verts, target, normals[j], 0.09 * s,
                                _support_mask(weights, (j, 13, 14)),
                                0.012 * s, H36M_JOINT_NAMES[row])
        h36m_reg[row, ids] = w
    # Head top: a small cap of vertices around the top of the skull.
    head = weights[:, 15] > 0.5
    top = np.flatnonzero(head)[np.argmax(verts[head, 1])]
    dist = np.linalg.norm(verts - verts[top], axis=1)
    cap = np.exp(-0.5 * (dist / (0.008 * s))**2) * head
    cap[dist > 0.02 * s] = 0.0
    h36m_reg[10] = cap / cap.sum()
    return h36m_reg
