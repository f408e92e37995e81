"""Shape and pose blend shapes of the synthetic body.

Step 4b of the generator (:mod:`mpt_plugin.synthetic.smpl_model`): 10 shape
directions (skeleton-driven displacement fields with SMPL-like decreasing
magnitudes) and pose correctives (bulges near the joints, linear in
``R - I``), in SMPL's ``shapedirs`` / ``posedirs`` layouts.
"""
from typing import Dict

import numpy as np

from mpt_plugin.body_models.conventions import SMPL_PARENTS

from .body_proportions import (BONE_END, NUM_JOINTS, bone_params,
                               bone_segments, unit)
from .body_remeshing import vertex_normals

__all__ = ['NUM_BETAS', 'NUM_POSE_BASIS', 'shape_dirs', 'pose_dirs']

NUM_BETAS = 10
NUM_POSE_BASIS = 207


def _shape_field(verts: np.ndarray, weights: np.ndarray, start: np.ndarray,
                 stop: np.ndarray, d_start: np.ndarray, d_stop: np.ndarray,
                 d_mat: np.ndarray) -> np.ndarray:
    """Displacement ``(V, 3)`` of a linear skeleton-driven shape change.

    Bone ``b`` moves its start by ``d_start[b]`` and its end by
    ``d_stop[b]`` (points in between by linear interpolation) and changes
    the offsets ``o`` of its vertices from the bone by ``d_mat[b] @ o``;
    the per-bone displacements are blended by the skinning weights.
    """
    t, off = bone_params(verts, start, stop)
    disp = ((1.0 - t)[..., None] * d_start[None] + t[..., None] *
            d_stop[None] + np.einsum('bij,vbj->vbi', d_mat, off))
    return np.einsum('vb,vbk->vk', weights, disp)


_LIMB_BONES = (1, 2, 4, 5, 16, 17, 18, 19)
# RMS vertex displacement (metres) of each shape direction per unit beta.
_SHAPE_RMS = np.array(
    [0.030, 0.0086, 0.0076, 0.0066, 0.0056, 0.0048, 0.004, 0.0032, 0.0025,
     0.0018])
_TORSO_BONES = (0, 3, 6, 9)
_DISTAL_BONES = (7, 8, 10, 11, 20, 21, 22, 23)


def shape_dirs(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
               ends: Dict[str, np.ndarray], scale: float) -> np.ndarray:
    """Ten shape directions ``(V, 3, 10)`` (displacement per unit beta).

    0: overall size (height), 1: weight/girth, 2: leg length, 3: shoulder
    width, 4: hip width, 5: arm length, 6: torso length, 7: belly depth,
    8: limb muscle, 9: head size. Each is rescaled to the RMS vertex
    displacement :data:`_SHAPE_RMS` (times the body scale), so magnitudes
    decrease with the index like SMPL's PCA components and ``|beta| <= 3``
    keeps every girth factor positive.
    """
    start, stop = bone_segments(J, ends)
    end_index = [BONE_END[b] if isinstance(BONE_END[b], int) else None
                 for b in range(NUM_JOINTS)]
    dirs = np.zeros((len(verts), 3, NUM_BETAS))
    eye = np.eye(3)

    def radial(b):
        u = unit(stop[b] - start[b])
        return eye - np.outer(u, u)

    def field(d_joint, d_ends=None, d_mat=None):
        d_start = d_joint
        d_stop = np.stack([
            d_joint[end_index[b]] if end_index[b] is not None else
            (d_ends or {}).get(BONE_END[b], d_joint[b])
            for b in range(NUM_JOINTS)])
        if d_mat is None:
            d_mat = np.zeros((NUM_JOINTS, 3, 3))
        return _shape_field(verts, weights, start, stop, d_start, d_stop,
                            d_mat)

    descendants = {j: {j} for j in range(NUM_JOINTS)}
    for j in range(NUM_JOINTS - 1, 0, -1):
        descendants[SMPL_PARENTS[j]] |= descendants[j]

    def translate(d, root, vec):
        for j in descendants[root]:
            d[j] += vec
        return d

    ends_of = {'headtop': 15, 'ltoe': 10, 'rtoe': 11, 'lfinger': 22,
               'rfinger': 23}

    def end_moves(d):
        return {k: d[j] for k, j in ends_of.items()}

    # 0: overall size, uniform scaling about the origin (+ a little girth).
    k = 0.045
    mats = np.stack([k * eye for _ in range(NUM_JOINTS)])
    for b in _TORSO_BONES:
        mats[b] += np.diag([0.01, 0.0, 0.012])
    dirs[..., 0] = field(k * J, {n: k * e for n, e in ends.items()}, mats)
    # 1: weight / girth.
    mats = np.zeros((NUM_JOINTS, 3, 3))
    for b in _TORSO_BONES:
        mats[b] = np.diag([0.11, 0.0, 0.16])
    for b in _LIMB_BONES:
        mats[b] = 0.1 * radial(b)
    for b in (12, 13, 14):
        mats[b] = 0.08 * radial(b)
    for b in _DISTAL_BONES:
        mats[b] = 0.03 * radial(b)
    mats[15] = 0.015 * eye
    dirs[..., 1] = field(np.zeros((NUM_JOINTS, 3)), None, mats)
    # 2: leg length.
    d = np.zeros((NUM_JOINTS, 3))
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        translate(d, knee, 0.025 * scale * unit(J[knee] - J[hip]))
        translate(d, ankle, 0.025 * scale * unit(J[ankle] - J[knee]))
    dirs[..., 2] = field(d, end_moves(d))
    # 3: shoulder width.
    d = np.zeros((NUM_JOINTS, 3))
    mats = np.zeros((NUM_JOINTS, 3, 3))
    for collar, shoulder, sign in ((13, 16, 1.0), (14, 17, -1.0)):
        translate(d, collar, np.array([sign * 0.006 * scale, 0.0, 0.0]))
        translate(d, shoulder, np.array([sign * 0.014 * scale, 0.0, 0.0]))
    mats[9] = np.diag([0.06, 0.0, 0.0])
    mats[6] = np.diag([0.03, 0.0, 0.0])
    dirs[..., 3] = field(d, end_moves(d), mats)
    # 4: hip width.
    d = np.zeros((NUM_JOINTS, 3))
    mats = np.zeros((NUM_JOINTS, 3, 3))
    for hip, sign in ((1, 1.0), (2, -1.0)):
        translate(d, hip, np.array([sign * 0.01 * scale, 0.0, 0.0]))
    mats[0] = np.diag([0.1, 0.0, 0.03])
    mats[3] = np.diag([0.04, 0.0, 0.0])
    for b in (1, 2):
        mats[b] = 0.04 * radial(b)
    dirs[..., 4] = field(d, end_moves(d), mats)
    # 5: arm length.
    d = np.zeros((NUM_JOINTS, 3))
    for sh, el, wr in ((16, 18, 20), (17, 19, 21)):
        translate(d, el, 0.016 * scale * unit(J[el] - J[sh]))
        translate(d, wr, 0.015 * scale * unit(J[wr] - J[el]))
    dirs[..., 5] = field(d, end_moves(d))
    # 6: torso length (upper body moves up).
    d = np.zeros((NUM_JOINTS, 3))
    translate(d, 6, np.array([0.0, 0.008 * scale, 0.0]))
    translate(d, 9, np.array([0.0, 0.006 * scale, 0.0]))
    translate(d, 3, np.array([0.0, 0.006 * scale, 0.0]))
    dirs[..., 6] = field(d, end_moves(d))
    # 7: belly / chest depth.
    mats = np.zeros((NUM_JOINTS, 3, 3))
    mats[0] = np.diag([0.0, 0.0, 0.06])
    mats[3] = np.diag([0.03, 0.0, 0.14])
    mats[6] = np.diag([0.0, 0.0, 0.06])
    mats[9] = np.diag([0.0, 0.0, -0.04])
    dirs[..., 7] = field(np.zeros((NUM_JOINTS, 3)), None, mats)
    # 8: limb muscle.
    mats = np.zeros((NUM_JOINTS, 3, 3))
    for b, g in ((1, 0.06), (2, 0.06), (4, 0.07), (5, 0.07), (16, 0.09),
                 (17, 0.09), (18, 0.05), (19, 0.05), (13, 0.04), (14, 0.04)):
        mats[b] = g * radial(b)
    dirs[..., 8] = field(np.zeros((NUM_JOINTS, 3)), None, mats)
    # 9: head size.
    mats = np.zeros((NUM_JOINTS, 3, 3))
    mats[15] = 0.05 * eye
    mats[12] = 0.025 * radial(12)
    d = np.zeros((NUM_JOINTS, 3))
    dirs[..., 9] = field(d, {'headtop': 0.05 * (ends['headtop'] - J[15])},
                         mats)
    # Normalise to decreasing RMS magnitudes, like SMPL's PCA spectrum.
    rms = np.sqrt((dirs**2).sum(axis=1).mean(axis=0))
    dirs *= (scale * _SHAPE_RMS / rms)[None, None]
    return dirs


def pose_dirs(verts: np.ndarray, faces: np.ndarray, weights: np.ndarray,
              scale: float) -> np.ndarray:
    """Pose correctives ``(V, 3, 207)`` in SMPL's layout.

    Column ``9 * (j - 1) + 3 * r + c`` multiplies entry ``(r, c)`` of
    ``R_j - I`` (joint ``j`` = 1..23). Only the diagonal entries are used:
    ``trace(R_j - I) = 2 (cos(theta) - 1)`` for a rotation by ``theta``
    about any axis, so the offset ``-k h_j(v) n(v) trace(R_j - I)`` pushes
    the skin near joint ``j`` outwards along the rest normal ``n`` by
    ``2 k (1 - cos(theta))`` (``k`` = 6 mm at the crease), which counters
    the volume loss of linear blend skinning when the joint bends or
    twists. ``h_j = min(1, 4 w_j w_parent)`` is non-zero only where the
    skin blends between the joint's bone and its parent's.
    """
    normals = vertex_normals(verts, faces)
    k = 0.006 * scale
    dirs = np.zeros((len(verts), 3, NUM_POSE_BASIS))
    for j in range(1, NUM_JOINTS):
        h = np.minimum(1.0, 4.0 * weights[:, j] * weights[:, SMPL_PARENTS[j]])
        for r in range(3):
            dirs[:, :, 9 * (j - 1) + 4 * r] = -k * h[:, None] * normals
    return dirs
