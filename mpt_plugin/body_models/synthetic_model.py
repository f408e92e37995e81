"""Deterministic synthetic body model in the SMPL file format.

The real SMPL model cannot be redistributed, so the project embeds this
generator: it builds an SMPL-*format* model (same keys, shapes, dtypes,
kinematic tree and vertex-id landmarks as ``SMPL_{NEUTRAL,MALE,FEMALE}``) of
a plausible adult human in SMPL's rest T-pose, so that every pipeline (LBS
through :mod:`smplx`, joint regressors, keypoint conventions, mesh
down-sampling) runs end to end without the licensed files. It is a stand-in
for plumbing and learning experiments, not an anatomical model.

Construction (all in metres, y up, the body faces +z, the subject's left at
+x, SMPL's template frame: pelvis joint near y = -0.22, soles near
y = -1.18, head top near y = +0.515; 1.70 m tall for the neutral body):

1. A skeleton of the 24 SMPL joints from a few proportions (gender preset,
   optional per-seed jitter).
2. A smooth implicit surface (signed distance, smooth union of a swept
   elliptical torso, tapered capsules, ellipsoids and rounded boxes).
3. One canonical mesh topology shared by all genders and seeds: a coarse quad
   cage box-modelled by extruding faces of a box (torso -> neck/head, legs ->
   feet, arms -> hands -> thumbs; extrusion keeps a closed genus-0 surface),
   two Catmull-Clark steps, triangulation, projection onto the surface, then
   isotropic refinement (edge splits, valence-improving flips, tangential
   relaxation) until exactly 6890 vertices and 13776 faces. Vertices are
   permuted so that the SMPL(-H) landmark ids used by :mod:`smplx`
   (nose 332, eyes, ears, finger tips, toes, heels) sit at those places.
4. Per gender/seed: the canonical mesh is carried by a skeleton-driven
   deformation to the new proportions and re-projected onto that body's
   surface; skinning weights (diffused part labels), joint regressor (rings
   of vertices around each joint, solved so that it reproduces the skeleton
   exactly), 10 shape directions (skeleton-driven displacement fields) and
   pose correctives (bulges near joints, linear in ``R - I``) follow.

Public API: :func:`make_synthetic_smpl`, :func:`make_synthetic_h36m_regressor`,
:func:`save_smpl_npz`.
"""
import functools
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import PchipInterpolator
from scipy.optimize import nnls

__all__ = [
    'GENERATOR_VERSION', 'SMPL_NUM_VERTICES', 'SMPL_NUM_FACES',
    'SMPL_PARENTS', 'SMPL_JOINT_NAMES', 'SMPLH_LANDMARK_VERTEX_IDS',
    'H36M_JOINT_NAMES', 'make_synthetic_smpl', 'make_synthetic_h36m_regressor',
    'save_smpl_npz'
]

#: Bumped whenever the generated numbers change.
GENERATOR_VERSION = '1.0.1'

SMPL_NUM_VERTICES = 6890
SMPL_NUM_FACES = 13776
NUM_JOINTS = 24
NUM_BETAS = 10
NUM_POSE_BASIS = 207

SMPL_JOINT_NAMES = (
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee',
    'spine2', 'left_ankle', 'right_ankle', 'spine3', 'left_foot', 'right_foot',
    'neck', 'left_collar', 'right_collar', 'head', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hand', 'right_hand')

#: Parent of each SMPL joint (-1 for the root).
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
     20, 21],
    dtype=np.int64)

#: Root parent as stored in the official SMPL ``kintree_table`` (uint32 -1).
_ROOT_PARENT = 4294967295

#: SMPL(-H) vertex ids that smplx selects as extra joints (its
#: ``vertex_ids['smplh']`` table); the generator puts these vertices there.
SMPLH_LANDMARK_VERTEX_IDS = {
    'nose': 332, 'reye': 6260, 'leye': 2800, 'rear': 4071, 'lear': 583,
    'rthumb': 6191, 'rindex': 5782, 'rmiddle': 5905, 'rring': 6016,
    'rpinky': 6133, 'lthumb': 2746, 'lindex': 2319, 'lmiddle': 2445,
    'lring': 2556, 'lpinky': 2673, 'LBigToe': 3216, 'LSmallToe': 3226,
    'LHeel': 3387, 'RBigToe': 6617, 'RSmallToe': 6624, 'RHeel': 6787,
}

#: Row order of :func:`make_synthetic_h36m_regressor` (mmhuman3d ``h36m``
#: convention = SPIN's ``J_regressor_h36m.npy``: left leg first).
H36M_JOINT_NAMES = (
    'pelvis', 'left_hip', 'left_knee', 'left_ankle', 'right_hip',
    'right_knee', 'right_ankle', 'spine', 'neck', 'head', 'headtop',
    'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder',
    'right_elbow', 'right_wrist')

_GENDERS = ('neutral', 'male', 'female')

# Segment end of each joint's bone: a joint index, or an end-site name.
_BONE_END = {
    0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12,
    10: 'ltoe', 11: 'rtoe', 12: 15, 13: 16, 14: 17, 15: 'headtop', 16: 18,
    17: 19, 18: 20, 19: 21, 20: 22, 21: 23, 22: 'lfinger', 23: 'rfinger'
}


# ---------------------------------------------------------------------------
# Body proportions and skeleton
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _BodyParams:
    """Proportions of the synthetic body (metres, before ``scale``).

    Vertical positions are y coordinates in SMPL's template frame; half
    widths are distances from the mid-sagittal plane (x = 0).
    """
    scale: float = 1.0
    pelvis_y: float = -0.22
    hip_y: float = -0.31
    spine1_y: float = -0.11
    spine2_y: float = 0.025
    spine3_y: float = 0.085
    neck_y: float = 0.285
    head_y: float = 0.36
    head_top_y: float = 0.515
    collar_y: float = 0.205
    shoulder_y: float = 0.225
    hip_half: float = 0.07
    collar_half: float = 0.075
    shoulder_half: float = 0.175
    thigh_len: float = 0.40
    shin_len: float = 0.39
    upper_arm_len: float = 0.27
    forearm_len: float = 0.25
    hand_len: float = 0.085
    finger_len: float = 0.095
    knee_out: float = 0.03
    ankle_height: float = 0.075
    ball_fwd: float = 0.125
    toe_fwd: float = 0.175
    heel_back: float = 0.075
    foot_half_width: float = 0.045
    # Torso cross-sections: (y, half width, half depth, z centre).
    torso_rows: Tuple[Tuple[float, float, float, float], ...] = (
        (-0.40, 0.150, 0.100, -0.010),
        (-0.33, 0.168, 0.108, -0.012),
        (-0.22, 0.170, 0.110, -0.004),
        (-0.10, 0.142, 0.098, 0.008),
        (0.03, 0.152, 0.106, 0.010),
        (0.14, 0.163, 0.112, 0.004),
        (0.22, 0.158, 0.090, -0.008),
        (0.27, 0.120, 0.070, -0.015),
    )
    torso_bottom_y: float = -0.395
    torso_top_y: float = 0.27
    thigh_r: Tuple[float, float] = (0.086, 0.056)
    shin_r: Tuple[float, float] = (0.052, 0.034)
    calf_r: float = 0.047
    upper_arm_r: Tuple[float, float] = (0.047, 0.038)
    forearm_r: Tuple[float, float] = (0.038, 0.027)
    deltoid_r: float = 0.055
    neck_r: Tuple[float, float] = (0.057, 0.051)
    cranium_r: Tuple[float, float, float] = (0.077, 0.105, 0.095)
    hand_half_width: float = 0.043
    hand_half_thick: float = 0.016
    bust: float = 0.0
    glute: float = 0.075


def _gender_params(gender: str) -> _BodyParams:
    """Proportions for one gender preset (male taller and broader, female
    smaller with a larger hip-to-shoulder ratio and a bust)."""
    base = _BodyParams()
    if gender == 'neutral':
        return base
    if gender == 'male':
        rows = tuple((y, a * m, b * n, c) for (y, a, b, c), m, n in zip(
            base.torso_rows, (0.97, 0.96, 0.96, 1.0, 1.05, 1.10, 1.10, 1.08),
            (1.0, 1.0, 1.0, 1.02, 1.05, 1.06, 1.08, 1.05)))
        return replace(
            base, scale=1.05, shoulder_half=0.19, collar_half=0.08,
            hip_half=0.07, torso_rows=rows, thigh_r=(0.084, 0.058),
            shin_r=(0.055, 0.036), calf_r=0.05, upper_arm_r=(0.052, 0.042),
            forearm_r=(0.042, 0.029), deltoid_r=0.06, neck_r=(0.062, 0.056),
            hand_half_width=0.045, glute=0.072)
    if gender == 'female':
        rows = tuple((y, a * m, b * n, c) for (y, a, b, c), m, n in zip(
            base.torso_rows, (1.05, 1.06, 1.05, 0.93, 0.93, 0.92, 0.90, 0.92),
            (1.02, 1.04, 1.03, 0.97, 0.95, 0.95, 0.94, 0.95)))
        return replace(
            base, scale=0.96, shoulder_half=0.16, collar_half=0.07,
            hip_half=0.074, torso_rows=rows, thigh_r=(0.089, 0.055),
            shin_r=(0.050, 0.032), calf_r=0.046, upper_arm_r=(0.043, 0.034),
            forearm_r=(0.034, 0.025), deltoid_r=0.049, neck_r=(0.051, 0.046),
            cranium_r=(0.074, 0.102, 0.092), hand_half_width=0.04,
            hand_half_thick=0.015, foot_half_width=0.042, bust=1.0,
            glute=0.08)
    raise ValueError(f"gender must be one of {_GENDERS}, got {gender!r}")


def _jitter_params(params: _BodyParams, seed: int) -> _BodyParams:
    """Small per-seed variation of bone lengths and girths (seed 0: none)."""
    if seed == 0:
        return params
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=10)
    girth = 1.0 + 0.03 * u[0]
    rows = tuple((y, a * girth, b * girth, c)
                 for y, a, b, c in params.torso_rows)
    return replace(
        params,
        scale=params.scale * (1.0 + 0.015 * u[1]),
        thigh_len=params.thigh_len * (1.0 + 0.02 * u[2]),
        shin_len=params.shin_len * (1.0 + 0.02 * u[3]),
        upper_arm_len=params.upper_arm_len * (1.0 + 0.02 * u[4]),
        forearm_len=params.forearm_len * (1.0 + 0.02 * u[5]),
        shoulder_half=params.shoulder_half * (1.0 + 0.02 * u[6]),
        hip_half=params.hip_half * (1.0 + 0.03 * u[7]),
        torso_rows=rows,
        thigh_r=tuple(r * (1.0 + 0.02 * u[8]) for r in params.thigh_r),
        upper_arm_r=tuple(r * (1.0 + 0.03 * u[9])
                          for r in params.upper_arm_r))


def _unit(v: Sequence[float]) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _norm3(v: np.ndarray) -> np.ndarray:
    """Row norms of ``(N, 3)`` (faster than ``np.linalg.norm``)."""
    return np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])


def _mirror(p: np.ndarray) -> np.ndarray:
    return p * np.array([-1.0, 1.0, 1.0])


def _skeleton(p: _BodyParams) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Rest joints of the T-pose and the bone end sites.

    Args:
        p (_BodyParams): Proportions.

    Returns:
        tuple: ``(J, ends)``: ``J`` ``(24, 3)`` joint positions in metres and
        ``ends`` a dict of end-site positions ``(3,)`` (head top, toe tips,
        middle finger tips).
    """
    J = np.zeros((NUM_JOINTS, 3))
    J[0] = (0.0, p.pelvis_y, 0.0)
    J[3] = (0.0, p.spine1_y, -0.005)
    J[6] = (0.0, p.spine2_y, 0.008)
    J[9] = (0.0, p.spine3_y, 0.012)
    J[12] = (0.0, p.neck_y, -0.015)
    J[15] = (0.0, p.head_y, 0.015)
    hip = np.array([p.hip_half, p.hip_y, 0.0])
    knee = hip + p.thigh_len * _unit((p.knee_out, -1.0, 0.01))
    ankle = knee + p.shin_len * _unit((-0.005, -1.0, -0.06))
    floor = ankle[1] - p.ankle_height
    ball = np.array([ankle[0] + 0.012, floor + 0.028, ankle[2] + p.ball_fwd])
    toe = np.array([ankle[0] + 0.012, floor + 0.02, ankle[2] + p.toe_fwd])
    collar = np.array([p.collar_half, p.collar_y, -0.01])
    shoulder = np.array([p.shoulder_half, p.shoulder_y, -0.015])
    elbow = shoulder + p.upper_arm_len * _unit((1.0, -0.03, -0.03))
    wrist = elbow + p.forearm_len * _unit((1.0, 0.02, 0.015))
    hand = wrist + p.hand_len * _unit((1.0, -0.08, 0.0))
    finger = wrist + (p.hand_len + p.finger_len) * _unit((1.0, -0.08, 0.0))
    for left, right, pos in ((1, 2, hip), (4, 5, knee), (7, 8, ankle),
                             (10, 11, ball), (13, 14, collar),
                             (16, 17, shoulder), (18, 19, elbow),
                             (20, 21, wrist), (22, 23, hand)):
        J[left] = pos
        J[right] = _mirror(pos)
    ends = {
        'headtop': np.array([0.0, p.head_top_y, 0.0]),
        'ltoe': toe, 'rtoe': _mirror(toe),
        'lfinger': finger, 'rfinger': _mirror(finger),
    }
    J = J * p.scale
    ends = {k: v * p.scale for k, v in ends.items()}
    return J, ends


def _bone_segments(J: np.ndarray,
                   ends: Dict[str, np.ndarray]) -> Tuple[np.ndarray,
                                                          np.ndarray]:
    """``(24, 3)`` start and end points of the bone driven by each joint."""
    start = J.copy()
    stop = np.stack([
        J[_BONE_END[j]] if isinstance(_BONE_END[j], int) else
        ends[_BONE_END[j]] for j in range(NUM_JOINTS)
    ])
    return start, stop


# ---------------------------------------------------------------------------
# Implicit surface (signed distance, negative inside)
# ---------------------------------------------------------------------------
def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum with blend radius ``k`` (metres)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _sd_cone(p: np.ndarray, a: Sequence[float], b: Sequence[float], ra: float,
             rb: float) -> np.ndarray:
    """Tapered capsule from ``a`` (radius ``ra``) to ``b`` (radius ``rb``)."""
    a = np.asarray(a, dtype=np.float64)
    ba = np.asarray(b, dtype=np.float64) - a
    pa = p - a
    t = np.clip(pa @ ba / (ba @ ba), 0.0, 1.0)
    return _norm3(pa - t[:, None] * ba) - (ra + t * (rb - ra))


def _sd_ellipsoid(p: np.ndarray, c: Sequence[float],
                  r: Sequence[float]) -> np.ndarray:
    """Ellipsoid with centre ``c`` and semi-axes ``r`` (first-order SDF)."""
    q = p - np.asarray(c, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    k0 = _norm3(q / r)
    k1 = _norm3(q / (r * r))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _sd_round_box(p: np.ndarray, c: Sequence[float], h: Sequence[float],
                  r: float) -> np.ndarray:
    """Axis-aligned box with half sizes ``h`` and edges rounded by ``r``."""
    q = np.abs(p - np.asarray(c, dtype=np.float64)) - (np.asarray(h) - r)
    outside = _norm3(np.maximum(q, 0.0))
    return outside + np.minimum(q.max(axis=1), 0.0) - r


def _sd_flat_ellipse(p: np.ndarray, c: Sequence[float], rx: float, rz: float,
                     h: float, r: float) -> np.ndarray:
    """Slab of half thickness ``h`` (along y) with an elliptic outline of
    semi-axes ``rx``, ``rz`` (x, z) and its rim rounded by ``r <= h``."""
    q = p - np.asarray(c, dtype=np.float64)
    ax, az = rx - r, rz - r
    k0 = np.sqrt((q[:, 0] / ax)**2 + (q[:, 2] / az)**2)
    k1 = np.sqrt((q[:, 0] / ax**2)**2 + (q[:, 2] / az**2)**2)
    d2 = k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
    wy = np.abs(q[:, 1]) - (h - r)
    out = np.sqrt(np.maximum(d2, 0.0)**2 + np.maximum(wy, 0.0)**2)
    return out + np.minimum(np.maximum(d2, wy), 0.0) - r


def _thumb_axis(wrist: np.ndarray, sign: float,
                s: float) -> Tuple[np.ndarray, np.ndarray]:
    """Base and tip centre of the thumb (``sign`` +1 left, -1 right)."""
    t0 = wrist + np.array([sign * 0.02 * s, -0.008 * s, 0.028 * s])
    t1 = wrist + np.array([sign * 0.05 * s, -0.012 * s, 0.096 * s])
    return t0, t1


class _BodySDF:
    """Signed distance of the synthetic body (metres, negative inside).

    Args:
        params (_BodyParams): Proportions.
    """

    def __init__(self, params: _BodyParams) -> None:
        self.p = params
        self.J, self.ends = _skeleton(params)
        s = params.scale
        rows = np.asarray(params.torso_rows, dtype=np.float64) * s
        self._a = PchipInterpolator(rows[:, 0], rows[:, 1])
        self._b = PchipInterpolator(rows[:, 0], rows[:, 2])
        self._c = PchipInterpolator(rows[:, 0], rows[:, 3])
        self._y_range = (rows[0, 0], rows[-1, 0])

    # -- parts -------------------------------------------------------------
    def _torso(self, q: np.ndarray) -> np.ndarray:
        s = self.p.scale
        y = np.clip(q[:, 1], *self._y_range)
        a, b, c = self._a(y), self._b(y), self._c(y)
        x, z = q[:, 0], q[:, 2] - c
        ell = np.sqrt((x / a)**2 + (z / b)**2)
        grad = np.sqrt((x / a**2)**2 + (z / b**2)**2)
        d2 = (ell - 1.0) * ell / np.maximum(grad, 1e-9)
        bot, top = self.p.torso_bottom_y * s, self.p.torso_top_y * s
        mid, half = 0.5 * (bot + top), 0.5 * (top - bot)
        r = np.where(q[:, 1] < mid, 0.085 * s, 0.06 * s)
        wx = d2 + r
        wy = np.abs(q[:, 1] - mid) - (half - r)
        out = np.sqrt(np.maximum(wx, 0)**2 + np.maximum(wy, 0)**2)
        return out + np.minimum(np.maximum(wx, wy), 0.0) - r

    def groups(self, q: np.ndarray) -> Dict[str, np.ndarray]:
        """Distance to each part group (before blending).

        Args:
            q (np.ndarray): ``(N, 3)`` points in metres.

        Returns:
            dict: group name (``torso``, ``collar_l/r``, ``neck``, ``head``,
            ``arm_l/r``, ``hand_l/r``, ``leg_l/r``, ``foot_l/r``) ->
            ``(N,)`` signed distances; used for the skinning segmentation.
        """
        p, J, s = self.p, self.J, self.p.scale
        out = {}
        torso = self._torso(q)
        for sign in (1.0, -1.0):
            g = _sd_ellipsoid(q, (sign * (J[1, 0] + 0.002 * s),
                                  J[1, 1] - 0.005 * s, -0.045 * s),
                              (0.085 * s, 0.095 * s, p.glute * s))
            torso = _smin(torso, g, 0.03 * s)
            if p.bust > 0:
                b = _sd_ellipsoid(q, (sign * 0.085 * s, 0.115 * s, 0.06 * s),
                                  (0.07 * s, 0.065 * s, 0.058 * s * p.bust))
                torso = _smin(torso, b, 0.03 * s)
        out['torso'] = torso
        for side, sign, js in (('l', 1.0, 16), ('r', -1.0, 17)):
            base = np.array([sign * 0.03 * s, J[12, 1] - 0.005 * s,
                             J[12, 2] - 0.01 * s])
            tip = J[js] + np.array([-sign * 0.012 * s, 0.02 * s, 0.0])
            out['collar_' + side] = _sd_cone(q, base, tip, 0.045 * s,
                                             0.045 * s)
        neck_a = np.array([0.0, J[12, 1] - 0.03 * s, J[12, 2]])
        neck_b = J[15] + np.array([0.0, 0.01 * s, -0.01 * s])
        out['neck'] = _sd_cone(q, neck_a, neck_b, p.neck_r[0] * s,
                               p.neck_r[1] * s)
        out['head'] = self._head(q)
        for side, sign, js, je, jw, jh, fe in (
                ('l', 1.0, 16, 18, 20, 22, 'lfinger'),
                ('r', -1.0, 17, 19, 21, 23, 'rfinger')):
            ua = _sd_cone(q, J[js], J[je], p.upper_arm_r[0] * s,
                          p.upper_arm_r[1] * s)
            fa = _sd_cone(q, J[je], J[jw], p.forearm_r[0] * s,
                          p.forearm_r[1] * s)
            dl = _sd_ellipsoid(q, J[js] + np.array([0.0, 0.008 * s, 0.0]),
                               (p.deltoid_r * s * 1.25, p.deltoid_r * s,
                                p.deltoid_r * s))
            out['arm_' + side] = _smin(_smin(ua, fa, 0.02 * s), dl, 0.03 * s)
            out['hand_' + side] = self._hand(q, J[jw], J[jh], self.ends[fe],
                                             sign)
        for side, sign, jh, jk, ja, jb, te in (
                ('l', 1.0, 1, 4, 7, 10, 'ltoe'),
                ('r', -1.0, 2, 5, 8, 11, 'rtoe')):
            top = J[jh] + np.array([sign * 0.028 * s, -0.02 * s, 0.0])
            th = _sd_cone(q, top, J[jk], p.thigh_r[0] * s, p.thigh_r[1] * s)
            sh = _sd_cone(q, J[jk], J[ja], p.shin_r[0] * s, p.shin_r[1] * s)
            calf_c = J[jk] + 0.3 * (J[ja] - J[jk]) + np.array(
                [sign * 0.004 * s, 0.0, -0.018 * s])
            calf = _sd_ellipsoid(q, calf_c, (p.calf_r * s, 0.09 * s,
                                             p.calf_r * s * 0.95))
            leg = _smin(_smin(th, sh, 0.03 * s), calf, 0.03 * s)
            out['leg_' + side] = leg
            out['foot_' + side] = self._foot(q, J[ja], J[jb], self.ends[te],
                                             sign)
        return out

    def _head(self, q: np.ndarray) -> np.ndarray:
        p, s = self.p, self.p.scale
        cr = np.asarray(p.cranium_r) * s
        top = p.head_top_y * s
        cranium = _sd_ellipsoid(q, (0.0, top - cr[1], 0.003 * s), cr)
        jaw = _sd_ellipsoid(q, (0.0, top - 0.15 * s, 0.03 * s),
                            (0.056 * s, 0.052 * s, 0.066 * s))
        head = _smin(cranium, jaw, 0.035 * s)
        nose = _sd_ellipsoid(q, (0.0, top - 0.123 * s, 0.098 * s),
                             (0.013 * s, 0.024 * s, 0.02 * s))
        head = _smin(head, nose, 0.012 * s)
        for sign in (1.0, -1.0):
            ear = _sd_ellipsoid(q, (sign * 0.074 * s, top - 0.118 * s,
                                    -0.008 * s),
                                (0.014 * s, 0.03 * s, 0.018 * s))
            head = _smin(head, ear, 0.008 * s)
        return head

    def _hand(self, q: np.ndarray, wrist: np.ndarray, knuckle: np.ndarray,
              tip: np.ndarray, sign: float) -> np.ndarray:
        p, s = self.p, self.p.scale
        hw, ht = p.hand_half_width * s, p.hand_half_thick * s
        palm_len = knuckle[0] - wrist[0]
        palm_c = wrist + np.array([0.5 * palm_len, -0.004 * s, 0.0])
        palm = _sd_round_box(q, palm_c, (abs(0.5 * palm_len) + 0.008 * s, ht,
                                         hw), 0.012 * s)
        fing_len = abs(tip[0] - knuckle[0])
        fingers = _sd_flat_ellipse(
            q, knuckle + np.array([0.0, -0.002 * s, 0.0]), fing_len,
            hw * 0.98, ht * 0.8, ht * 0.75)
        hand = _smin(palm, fingers, 0.015 * s)
        t0, t1 = _thumb_axis(wrist, sign, s)
        thumb = _sd_cone(q, t0, t1, 0.015 * s, 0.0105 * s)
        return _smin(hand, thumb, 0.02 * s)

    def _foot(self, q: np.ndarray, ankle: np.ndarray, ball: np.ndarray,
              toe: np.ndarray, sign: float) -> np.ndarray:
        p, s = self.p, self.p.scale
        floor = ankle[1] - p.ankle_height * s
        fw = p.foot_half_width * s
        heel_c = np.array([ankle[0], floor + 0.038 * s,
                           ankle[2] - (p.heel_back - 0.038) * s])
        heel = _norm3(q - heel_c) - 0.038 * s
        instep = _sd_cone(q, ankle, np.array([ankle[0] + sign * 0.008 * s,
                                              floor + 0.03 * s,
                                              ball[2] - 0.03 * s]),
                          0.036 * s, 0.03 * s)
        front_c = np.array([ball[0], floor + 0.021 * s,
                            0.5 * (heel_c[2] + toe[2] + 0.012 * s)])
        front_h = (fw, 0.021 * s, 0.5 * (toe[2] + 0.012 * s - heel_c[2]))
        sole = _sd_round_box(q, front_c, front_h, 0.018 * s)
        foot = _smin(_smin(heel, sole, 0.03 * s), instep, 0.03 * s)
        return foot

    # -- composition -------------------------------------------------------
    def __call__(self, q: np.ndarray) -> np.ndarray:
        """Signed distance ``(N,)`` at points ``q`` ``(N, 3)``."""
        g = self.groups(q)
        s = self.p.scale
        collars = _smin(g['collar_l'], g['collar_r'], 0.01 * s)
        body = _smin(g['torso'], collars, 0.04 * s)
        body = _smin(body, g['neck'], 0.03 * s)
        body = _smin(body, g['head'], 0.025 * s)
        for side in ('l', 'r'):
            arm = _smin(g['arm_' + side], g['hand_' + side], 0.015 * s)
            body = _smin(body, arm, 0.03 * s)
            leg = _smin(g['leg_' + side], g['foot_' + side], 0.03 * s)
            body = _smin(body, leg, 0.025 * s)
        return body

    def gradient(self, q: np.ndarray, eps: float = 1e-6,
                 value: Optional[np.ndarray] = None) -> np.ndarray:
        """Forward-difference gradient ``(N, 3)`` (``value``: ``self(q)``
        if already known)."""
        if value is None:
            value = self(q)
        grad = np.empty_like(q)
        for k in range(3):
            d = np.zeros(3)
            d[k] = eps
            grad[:, k] = (self(q + d) - value) / eps
        return grad

    def project(self, q: np.ndarray, iters: int = 8,
                max_step: float = 0.03) -> np.ndarray:
        """Move points onto the zero level set by damped Newton steps."""
        q = q.copy()
        for _ in range(iters):
            f = self(q)
            g = self.gradient(q, value=f)
            step = np.clip(f, -max_step, max_step) / np.maximum(
                np.einsum('ij,ij->i', g, g), 1e-12)
            q -= step[:, None] * g
        return q


# ---------------------------------------------------------------------------
# Quad cage (box modelling by extrusion) and Catmull-Clark subdivision
# ---------------------------------------------------------------------------
class _Cage:
    """A closed, outward-oriented quad mesh grown by face extrusion."""

    def __init__(self) -> None:
        self.verts: List[np.ndarray] = []
        self.faces: Dict[int, List[int]] = {}
        self._next = 0

    def _add_vert(self, p: Sequence[float]) -> int:
        self.verts.append(np.asarray(p, dtype=np.float64))
        return len(self.verts) - 1

    def _add_face(self, quad: Sequence[int]) -> int:
        self.faces[self._next] = list(quad)
        self._next += 1
        return self._next - 1

    def normal(self, fid: int) -> np.ndarray:
        a, b, c, d = (self.verts[i] for i in self.faces[fid])
        n = np.cross(c - a, d - b)
        return n / np.linalg.norm(n)

    def add_box(self, xs: Sequence[float], ys: Sequence[float],
                zs: Sequence[float]) -> Dict[Tuple[str, int, int], int]:
        """Surface of a box subdivided at the given coordinates.

        Returns:
            dict: ``(side, i, j) -> face id`` with ``side`` in ``'-x', '+x',
            '-y', '+y', '-z', '+z'`` and ``(i, j)`` the cell indices along
            the two other axes in x, y, z order.
        """
        grid = [np.asarray(xs), np.asarray(ys), np.asarray(zs)]
        ids: Dict[Tuple[int, int, int], int] = {}

        def vid(i: int, j: int, k: int) -> int:
            if (i, j, k) not in ids:
                ids[(i, j, k)] = self._add_vert(
                    (grid[0][i], grid[1][j], grid[2][k]))
            return ids[(i, j, k)]

        lookup = {}
        for axis in range(3):
            u, w = [a for a in range(3) if a != axis]
            for end, sign in ((0, '-'), (len(grid[axis]) - 1, '+')):
                outward = np.zeros(3)
                outward[axis] = 1.0 if sign == '+' else -1.0
                for i in range(len(grid[u]) - 1):
                    for j in range(len(grid[w]) - 1):
                        corners = []
                        for di, dj in ((0, 0), (1, 0), (1, 1), (0, 1)):
                            idx = [0, 0, 0]
                            idx[axis], idx[u], idx[w] = end, i + di, j + dj
                            corners.append(vid(*idx))
                        fid = self._add_face(corners)
                        if self.normal(fid) @ outward < 0:
                            self.faces[fid] = corners[::-1]
                        lookup[(sign + 'xyz'[axis], i, j)] = fid
        return lookup

    def extrude(self, fid: int, center: Sequence[float], axes: Sequence[
            Sequence[float]], halves: Sequence[float]) -> Tuple[int, list]:
        """Extrude face ``fid`` to a rectangle.

        The new corner of each old corner ``p`` is ``center + sum_k s_k *
        halves[k] * axes[k]`` with ``s_k`` the sign of ``(p - c_old) .
        axes[k]``, so the rectangle must be roughly aligned with the face.

        Returns:
            tuple: ``(cap face id, side face ids)``.
        """
        quad = self.faces.pop(fid)
        c_old = np.mean([self.verts[i] for i in quad], axis=0)
        center = np.asarray(center, dtype=np.float64)
        axes = [_unit(a) for a in axes]
        new = []
        for i in quad:
            rel = self.verts[i] - c_old
            pos = center.copy()
            for ax, h in zip(axes, halves):
                pos += np.sign(rel @ ax) * h * ax
            new.append(self._add_vert(pos))
        if len(set(tuple(self.verts[i]) for i in new)) != 4:
            raise RuntimeError('degenerate extrusion')
        sides = []
        for k in range(4):
            a, b = quad[k], quad[(k + 1) % 4]
            sides.append(self._add_face([a, b, new[(k + 1) % 4], new[k]]))
        cap = self._add_face(new)
        return cap, sides

    def side_facing(self, sides: Sequence[int], direction: Sequence[float]
                    ) -> int:
        """The face of ``sides`` whose normal is closest to ``direction``."""
        d = _unit(direction)
        return max(sides, key=lambda f: self.normal(f) @ d)

    def arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(V, 3)`` vertices and ``(Q, 4)`` quads (face-id order)."""
        quads = np.array([self.faces[k] for k in sorted(self.faces)],
                         dtype=np.int64)
        return np.stack(self.verts), quads


def _catmull_clark(verts: np.ndarray,
                   quads: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One Catmull-Clark step of a closed quad mesh.

    Args:
        verts (np.ndarray): ``(V, 3)`` positions.
        quads (np.ndarray): ``(Q, 4)`` outward-oriented quads.

    Returns:
        tuple: ``(V + E + Q, 3)`` positions (old vertices, edge points, face
        points) and ``(4Q, 4)`` quads with the same orientation.
    """
    nv, nq = len(verts), len(quads)
    a = quads.reshape(-1)
    b = np.roll(quads, -1, axis=1).reshape(-1)
    key = np.minimum(a, b) * nv + np.maximum(a, b)
    uniq, edge_of = np.unique(key, return_inverse=True)
    ne = len(uniq)
    e0, e1 = uniq // nv, uniq % nv
    face_pts = verts[quads].mean(axis=1)
    face_of_he = np.repeat(np.arange(nq), 4)
    fsum = np.zeros((ne, 3))
    np.add.at(fsum, edge_of, face_pts[face_of_he])
    edge_pts = (verts[e0] + verts[e1] + fsum) / 4.0
    valence = np.bincount(np.concatenate([e0, e1]), minlength=nv)
    fvsum = np.zeros((nv, 3))
    np.add.at(fvsum, a, face_pts[face_of_he])
    mids = 0.5 * (verts[e0] + verts[e1])
    rsum = np.zeros((nv, 3))
    np.add.at(rsum, e0, mids)
    np.add.at(rsum, e1, mids)
    n = valence[:, None].astype(np.float64)
    new_verts = (fvsum / n + 2.0 * rsum / n + (n - 3.0) * verts) / n
    out = np.concatenate([new_verts, edge_pts, face_pts])
    ei = (nv + edge_of).reshape(nq, 4)  # edge k joins corner k and k+1
    fi = nv + ne + np.arange(nq)
    new_quads = []
    for k in range(4):
        new_quads.append(
            np.stack([quads[:, k], ei[:, k], fi, ei[:, (k - 1) % 4]], 1))
    return out, np.stack(new_quads, 1).reshape(-1, 4)


def _triangulate(verts: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Split each quad along its shorter diagonal (orientation kept)."""
    d02 = np.linalg.norm(verts[quads[:, 0]] - verts[quads[:, 2]], axis=1)
    d13 = np.linalg.norm(verts[quads[:, 1]] - verts[quads[:, 3]], axis=1)
    use02 = d02 <= d13
    t1 = np.where(use02[:, None], quads[:, [0, 1, 2]], quads[:, [0, 1, 3]])
    t2 = np.where(use02[:, None], quads[:, [0, 2, 3]], quads[:, [1, 2, 3]])
    return np.concatenate([t1, t2])


# ---------------------------------------------------------------------------
# Triangle-mesh helpers (closed manifold meshes)
# ---------------------------------------------------------------------------
def _edges(faces: np.ndarray, nv: int) -> Dict[str, np.ndarray]:
    """Undirected edges of a closed manifold mesh with their two faces.

    Returns:
        dict: ``v0, v1`` (E,) endpoints, ``f0, f1`` the faces that traverse
        the edge as ``v0 -> v1`` and ``v1 -> v0``, ``k0, k1`` the local index
        of the edge start in those faces, ``key`` sorted edge keys.

    Raises:
        ValueError: If an edge is not shared by exactly two faces with
            opposite directions.
    """
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    fidx = np.repeat(np.arange(len(faces)), 3)
    kidx = np.tile(np.arange(3), len(faces))
    key = np.minimum(src, dst) * nv + np.maximum(src, dst)
    order = np.argsort(key * 2 + (src > dst), kind='stable')
    key_s = key[order]
    if len(key_s) % 2 or np.any(key_s[0::2] != key_s[1::2]) or np.any(
            key_s[1:-1:2] == key_s[2::2]):
        raise ValueError('mesh is not a closed 2-manifold')
    first, second = order[0::2], order[1::2]
    if np.any(src[first] > dst[first]) or np.any(src[second] < dst[second]):
        raise ValueError('mesh is not consistently oriented')
    return dict(v0=src[first], v1=dst[first], f0=fidx[first],
                f1=fidx[second], k0=kidx[first], k1=kidx[second],
                key=key_s[0::2])


def _adjacency(faces: np.ndarray, nv: int) -> sp.csr_matrix:
    """Symmetric 0/1 vertex adjacency ``(V, V)``."""
    i = faces.reshape(-1)
    j = np.roll(faces, -1, axis=1).reshape(-1)
    adj = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(nv, nv)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    return adj.tocsr()


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)``."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                  verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _split_edges(verts: np.ndarray, faces: np.ndarray, sel: np.ndarray,
                 e: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Split the selected edges (no two in one face) at their midpoints.

    Each split adds one vertex and two faces and keeps the surface closed
    and consistently oriented.
    """
    v0, v1 = e['v0'][sel], e['v1'][sel]
    f0, f1, k0, k1 = e['f0'][sel], e['f1'][sel], e['k0'][sel], e['k1'][sel]
    c = faces[f0, (k0 + 2) % 3]  # opposite of v0 -> v1 in f0
    d = faces[f1, (k1 + 2) % 3]  # opposite of v1 -> v0 in f1
    m = len(verts) + np.arange(len(v0))
    verts = np.concatenate([verts, 0.5 * (verts[v0] + verts[v1])])
    faces = faces.copy()
    faces[f0] = np.stack([v0, m, c], 1)
    faces[f1] = np.stack([v1, m, d], 1)
    extra = np.concatenate([np.stack([m, v1, c], 1), np.stack([m, v0, d], 1)])
    return verts, np.concatenate([faces, extra])


def _flip_edges(verts: np.ndarray, faces: np.ndarray) -> Tuple[np.ndarray,
                                                               int]:
    """One pass of valence-improving edge flips (target valence 6).

    A flip is done when it lowers the summed squared valence deviation of
    the four vertices involved, the new edge does not exist yet, no vertex
    drops below valence 4 and the two new triangles keep the orientation of
    the old ones (no fold-over). Flips in one pass touch disjoint vertices, so
    every pass lowers the total deviation.

    Returns:
        tuple: ``(faces, number of flips)``.
    """
    nv = len(verts)
    e = _edges(faces, nv)
    val = np.bincount(np.concatenate([e['v0'], e['v1']]), minlength=nv)
    a, b = e['v0'], e['v1']
    c = faces[e['f0'], (e['k0'] + 2) % 3]
    d = faces[e['f1'], (e['k1'] + 2) % 3]
    before = ((val[[a, b, c, d]] - 6.0)**2).sum(0)
    after = ((val[a] - 7.0)**2 + (val[b] - 7.0)**2 + (val[c] - 5.0)**2 +
             (val[d] - 5.0)**2)
    gain = before - after
    ok = (gain > 0) & (val[a] > 4) & (val[b] > 4)
    new_key = np.minimum(c, d) * nv + np.maximum(c, d)
    ok &= ~np.isin(new_key, e['key'])

    def tri_n(p, q, r):
        return np.cross(verts[q] - verts[p], verts[r] - verts[p])

    n_old = tri_n(a, b, c) + tri_n(b, a, d)
    n_old /= np.maximum(np.linalg.norm(n_old, axis=1, keepdims=True), 1e-12)
    for n_new in (tri_n(c, a, d), tri_n(d, b, c)):
        n_new = n_new / np.maximum(
            np.linalg.norm(n_new, axis=1, keepdims=True), 1e-12)
        ok &= np.einsum('ij,ij->i', n_new, n_old) > 0.5
    cand = np.flatnonzero(ok)
    cand = cand[np.lexsort((cand, -gain[cand]))]
    used = np.zeros(nv, dtype=bool)
    chosen = []
    for i in cand:
        quad = (a[i], b[i], c[i], d[i])
        if used[a[i]] or used[b[i]] or used[c[i]] or used[d[i]]:
            continue
        used[list(quad)] = True
        chosen.append(i)
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen):
        faces = faces.copy()
        faces[e['f0'][chosen]] = np.stack([c[chosen], a[chosen], d[chosen]],
                                          1)
        faces[e['f1'][chosen]] = np.stack([d[chosen], b[chosen], c[chosen]],
                                          1)
    return faces, len(chosen)


# ---------------------------------------------------------------------------
# Canonical mesh
# ---------------------------------------------------------------------------
def _build_cage(sdf: _BodySDF) -> _Cage:
    """Box-model the coarse quad cage of the body around the skeleton."""
    J, ends, s = sdf.J, sdf.ends, sdf.p.scale
    X, Y, Z = np.eye(3)
    cage = _Cage()
    w, c, d = 0.16 * s, 0.05 * s, 0.105 * s
    ys = [-0.375 * s, J[0, 1], 0.5 * (J[6, 1] + J[3, 1]), 0.135 * s,
          0.262 * s]
    box = cage.add_box([-w, -c, c, w], ys, [-d, d])
    # Legs: rings down the thigh and shin, then the heel block.
    for sign, col, hip, knee, ankle, toe in ((1, 2, 1, 4, 7, 'ltoe'),
                                             (-1, 0, 2, 5, 8, 'rtoe')):
        fid = box[('-y', col, 0)]
        hx = J[hip, 0] + sign * 0.02 * s
        ring = [(np.array([hx, -0.5 * s, 0.0]), 0.085),
                ((J[hip] + J[knee]) * 0.5 + [sign * 0.01 * s, -0.08 * s, 0],
                 0.07),
                (J[knee], 0.058), (J[knee] + 0.45 * (J[ankle] - J[knee]),
                                   0.052),
                (J[ankle] + [0.0, 0.045 * s, 0.0], 0.042)]
        for pos, h in ring:
            fid, _ = cage.extrude(fid, pos, (X, Z), (h * s, h * s))
        floor = J[ankle, 1] - sdf.p.ankle_height * s
        heel = np.array([J[ankle, 0], floor + 0.01 * s,
                         J[ankle, 2] - 0.012 * s])
        fid, sides = cage.extrude(fid, heel, (X, Z),
                                  (0.046 * s, 0.05 * s))
        front = cage.side_facing(sides, Z)
        fx = J[ankle, 0] + sign * 0.008 * s
        mid = np.array([fx, floor + 0.032 * s, J[ankle, 2] + 0.085 * s])
        fid, _ = cage.extrude(front, mid, (X, Y), (0.05 * s, 0.032 * s))
        tip = np.array([fx, floor + 0.022 * s, ends[toe][2] - 0.012 * s])
        cage.extrude(fid, tip, (X, Y), (0.047 * s, 0.02 * s))
    # Neck and head.
    fid = box[('+y', 1, 0)]
    top = sdf.p.head_top_y * s
    for y, zc, hx, hz in ((J[12, 1] + 0.035 * s, -0.012, 0.055, 0.055),
                          (J[15, 1] + 0.005 * s, 0.02, 0.068, 0.085),
                          (top - 0.1 * s, 0.01, 0.088, 0.105),
                          (top - 0.03 * s, 0.0, 0.06, 0.075)):
        fid, _ = cage.extrude(fid, (0.0, y, zc * s), (X, Z), (hx * s, hz * s))
    # Arms, hands and thumbs.
    for sign, side, sh, el, wr, hd, fe in ((1, '+x', 16, 18, 20, 22,
                                            'lfinger'),
                                           (-1, '-x', 17, 19, 21, 23,
                                            'rfinger')):
        fid = box[(side, 3, 0)]
        ring = [(J[sh] + [sign * 0.025 * s, 0.005 * s, 0.0], 0.058, 0.058),
                (J[sh] + 0.5 * (J[el] - J[sh]), 0.05, 0.05),
                (J[el], 0.043, 0.043),
                (J[el] + 0.5 * (J[wr] - J[el]), 0.038, 0.04),
                (J[wr], 0.027, 0.033)]
        for pos, hy, hz in ring:
            fid, _ = cage.extrude(fid, pos, (Y, Z), (hy * s, hz * s))
        knuck = J[hd] + [0.0, -0.003 * s, 0.0]
        fid, sides = cage.extrude(fid, knuck, (Y, Z), (0.02 * s, 0.048 * s))
        palm_side = cage.side_facing(sides, Z)
        tip = ends[fe] - [sign * 0.012 * s, 0.0, 0.0]
        cage.extrude(fid, tip, (Y, Z), (0.012 * s, 0.035 * s))
        base, tip = _thumb_axis(J[wr], sign, s)
        t0 = base + 0.5 * (tip - base)
        t1 = tip - 0.004 * s * _unit(tip - base)
        fid, _ = cage.extrude(palm_side, t0, (X, Y), (0.017 * s, 0.015 * s))
        cage.extrude(fid, t1, (X, Y), (0.01 * s, 0.009 * s))
    return cage


def _sizing(sdf: _BodySDF, q: np.ndarray) -> np.ndarray:
    """Relative target edge length ``(N,)``: finer on the face, hands and
    feet (where the landmarks are), 1 elsewhere."""
    J, s = sdf.J, sdf.p.scale

    def sig(t):
        return 0.5 * (1.0 + np.tanh(t))

    hand = sig((np.abs(q[:, 0]) - J[20, 0] + 0.01 * s) / (0.015 * s))
    head = sig((q[:, 1] - J[15, 1] + 0.01 * s) / (0.015 * s))
    face = head * sig((q[:, 2] - 0.03 * s) / (0.02 * s))
    foot = sig((J[7, 1] + 0.02 * s - q[:, 1]) / (0.015 * s))
    return 1.0 - 0.6 * hand - 0.2 * head - 0.2 * face - 0.25 * foot


def _relax_project(verts: np.ndarray, faces: np.ndarray, sdf: _BodySDF,
                   iters: int, lam: float = 0.5,
                   newton: int = 1) -> np.ndarray:
    """Tangential Laplacian relaxation alternated with projection."""
    nv = len(verts)
    adj = _adjacency(faces, nv)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(iters):
        lap = adj @ verts / deg[:, None] - verts
        n = _vertex_normals(verts, faces)
        lap -= np.einsum('ij,ij->i', lap, n)[:, None] * n
        verts = sdf.project(verts + lam * lap, iters=newton)
    return verts


def _remesh(verts: np.ndarray, faces: np.ndarray, sdf: _BodySDF,
            target: int) -> Tuple[np.ndarray, np.ndarray]:
    """Refine a closed mesh on ``sdf`` to exactly ``target`` vertices.

    Rounds of longest-edge splits (relative to :func:`_sizing`), valence
    flips and relaxation; each split adds one vertex and two faces.
    """
    if len(verts) > target:
        raise RuntimeError(f'the subdivided cage already has {len(verts)} '
                           f'vertices, more than the target {target}')
    while len(verts) < target:
        e = _edges(faces, len(verts))
        mid = 0.5 * (verts[e['v0']] + verts[e['v1']])
        length = np.linalg.norm(verts[e['v0']] - verts[e['v1']], axis=1)
        prio = length / _sizing(sdf, mid)
        budget = min(target - len(verts), max(1, len(length) // 8))
        order = np.lexsort((np.arange(len(prio)), -prio))
        used = np.zeros(len(faces), dtype=bool)
        sel = []
        for i in order:
            f0, f1 = e['f0'][i], e['f1'][i]
            if used[f0] or used[f1]:
                continue
            used[f0] = used[f1] = True
            sel.append(i)
            if len(sel) == budget:
                break
        verts, faces = _split_edges(verts, faces, np.asarray(sel), e)
        for _ in range(4):
            faces, nflip = _flip_edges(verts, faces)
            if not nflip:
                break
        verts = _relax_project(verts, faces, sdf, 2)
    for _ in range(30):
        faces, nflip = _flip_edges(verts, faces)
        if not nflip:
            break
    return verts, faces


def _ray_hits(sdf: _BodySDF, origins: np.ndarray,
              directions: np.ndarray) -> np.ndarray:
    """First surface points along rays (sphere tracing), ``(N, 3)``."""
    d = directions / _norm3(directions)[:, None]
    t = np.zeros(len(origins))
    for _ in range(500):
        f = sdf(origins + t[:, None] * d)
        if np.all(f < 1e-6):
            break
        t += np.where(f < 1e-6, 0.0, np.maximum(0.9 * f, 1e-5))
    else:
        raise RuntimeError('a landmark ray missed the body')
    return origins + t[:, None] * d


def _landmark_targets(sdf: _BodySDF) -> Dict[str, np.ndarray]:
    """Surface points for the SMPL-H landmark vertex ids ``{name: (3,)}``."""
    J, ends, p, s = sdf.J, sdf.ends, sdf.p, sdf.p.scale
    top = p.head_top_y * s
    eye_y = top - 0.1 * s
    ear_y, ear_z = top - 0.118 * s, -0.008 * s
    rays = {  # name: (origin, direction)
        'nose': ((0.0, top - 0.13 * s, 0.5), (0, 0, -1)),
        'leye': ((0.032 * s, eye_y, 0.5), (0, 0, -1)),
        'reye': ((-0.032 * s, eye_y, 0.5), (0, 0, -1)),
        'lear': ((0.5, ear_y, ear_z), (-1, 0, 0)),
        'rear': ((-0.5, ear_y, ear_z), (1, 0, 0)),
    }
    hw = p.hand_half_width * s
    for side, sign, wr, fe in (('l', 1.0, 20, 'lfinger'),
                               ('r', -1.0, 21, 'rfinger')):
        y = ends[fe][1]
        for name, zf in (('index', 0.62), ('middle', 0.2), ('ring', -0.22),
                         ('pinky', -0.62)):
            rays[side + name] = ((sign * 1.5, y, J[wr, 2] + zf * hw),
                                 (-sign, 0, 0))
        t0, t1 = _thumb_axis(J[wr], sign, s)
        axis = _unit(t1 - t0)
        rays[side + 'thumb'] = (t1 + 0.2 * axis, -axis)
    fw = p.foot_half_width * s
    for side, sign, an in (('L', 1.0, 7), ('R', -1.0, 8)):
        floor = J[an, 1] - p.ankle_height * s
        x = J[an + 3, 0]
        rays[side + 'BigToe'] = ((x - sign * 0.45 * fw, floor + 0.016 * s,
                                  1.0), (0, 0, -1))
        rays[side + 'SmallToe'] = ((x + sign * 0.6 * fw, floor + 0.012 * s,
                                    1.0), (0, 0, -1))
        rays[side + 'Heel'] = ((J[an, 0], floor + 0.015 * s, -1.0),
                               (0, 0, 1))
    names = sorted(rays)
    hits = _ray_hits(sdf, np.array([rays[n][0] for n in names], dtype=float),
                     np.array([rays[n][1] for n in names], dtype=float))
    return dict(zip(names, hits))


def _landmark_permutation(verts: np.ndarray, sdf: _BodySDF) -> np.ndarray:
    """``order`` with ``new_verts = verts[order]`` putting each SMPL-H
    landmark id at the vertex nearest to its target point."""
    targets = _landmark_targets(sdf)
    order = np.arange(len(verts))
    taken = set()
    for name in sorted(SMPLH_LANDMARK_VERTEX_IDS):
        dist = np.linalg.norm(verts - targets[name], axis=1)
        dist[list(taken)] = np.inf
        old = int(np.argmin(dist))
        taken.add(old)
        new_id = SMPLH_LANDMARK_VERTEX_IDS[name]
        pos = int(np.flatnonzero(order == old)[0])
        order[pos], order[new_id] = order[new_id], order[pos]
    return order


def _part_labels(verts: np.ndarray, sdf: _BodySDF) -> np.ndarray:
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
        n_knee = _unit(_unit(J[knee] - J[hip]) + _unit(J[ankle] - J[knee]))
        n_ank = _unit(J[ankle] - J[knee])
        below_knee = (verts - J[knee]) @ n_knee > 0
        below_ankle = (verts - J[ankle]) @ n_ank > 0
        label[leg] = np.select([~below_knee, ~below_ankle], [hip, knee],
                               ankle)[leg]
        foot = grp == 'foot_' + side
        label[foot] = np.where(z > J[ankle + 3, 2], ankle + 3, ankle)[foot]
    if np.any(label < 0):
        raise RuntimeError('unlabelled vertices')
    return label


def _skinning_weights(verts: np.ndarray, faces: np.ndarray, sdf: _BodySDF,
                      iters: int = 24, floor: float = 2e-3) -> np.ndarray:
    """Smooth skinning weights ``(V, 24)`` (rows sum to 1).

    Hard part labels are diffused over the mesh graph (``iters`` steps of
    neighbour averaging); the far tails are cut by soft thresholding at
    ``floor`` (continuous, so neighbouring rows stay close).
    """
    nv = len(verts)
    label = _part_labels(verts, sdf)
    w = np.zeros((nv, NUM_JOINTS))
    w[np.arange(nv), label] = 1.0
    adj = _adjacency(faces, nv)
    avg = sp.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj
    for _ in range(iters):
        w = 0.5 * w + 0.5 * (avg @ w)
    w = np.maximum(w - floor, 0.0)
    return w / w.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=1)
def _canonical() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical mesh shared by all genders and seeds (neutral, seed 0).

    Returns:
        tuple: read-only ``(V, 3)`` vertices (metres), ``(F, 3)`` int64
        faces and ``(V, 24)`` skinning weights.
    """
    sdf = _BodySDF(_BodyParams())
    verts, quads = _build_cage(sdf).arrays()
    for _ in range(2):
        verts, quads = _catmull_clark(verts, quads)
    faces = _triangulate(verts, quads)
    verts = sdf.project(verts, iters=10)
    verts = _relax_project(verts, faces, sdf, 8)
    verts, faces = _remesh(verts, faces, sdf, SMPL_NUM_VERTICES)
    verts = _relax_project(verts, faces, sdf, 10, newton=2)
    order = _landmark_permutation(verts, sdf)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    verts, faces = verts[order], inverse[faces]
    if faces.shape != (SMPL_NUM_FACES, 3):
        raise RuntimeError(f'canonical mesh has {len(faces)} faces, '
                           f'expected {SMPL_NUM_FACES}')
    weights = _skinning_weights(verts, faces, sdf)
    for arr in (verts, faces, weights):
        arr.setflags(write=False)
    return verts, faces, weights


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
        n[j] = _unit(J[b] - J[a])
    for j, (a, b, c) in {4: (1, 4, 7), 5: (2, 5, 8), 18: (16, 18, 20),
                         19: (17, 19, 21), 20: (18, 20, 22),
                         21: (19, 21, 23)}.items():
        n[j] = _unit(_unit(J[b] - J[a]) + _unit(J[c] - J[b]))
    n[10] = n[11] = (0.0, 0.0, 1.0)
    return n


def _support_mask(weights: np.ndarray, joints: Sequence[int]) -> np.ndarray:
    return weights[:, list(joints)].sum(axis=1) > 0.02


def _smpl_regressor(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
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


# ---------------------------------------------------------------------------
# Per-body fitting, shape and pose blend shapes
# ---------------------------------------------------------------------------
def _bone_params(verts: np.ndarray, start: np.ndarray,
                 stop: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Projection parameter ``t`` ``(V, 24)`` of each vertex on each bone
    segment (clipped to [0, 1]) and the offsets ``(V, 24, 3)`` from the
    projected point."""
    ba = stop - start
    t = np.einsum('vbk,bk->vb', verts[:, None] - start[None], ba) / (
        np.einsum('bk,bk->b', ba, ba)[None])
    t = np.clip(t, 0.0, 1.0)
    foot = start[None] + t[..., None] * ba[None]
    return t, verts[:, None] - foot


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking direction ``a`` to ``b``."""
    a, b = _unit(a), _unit(b)
    v, c = np.cross(a, b), float(a @ b)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _fit_body(verts: np.ndarray, faces: np.ndarray, weights: np.ndarray,
              src: _BodySDF, dst: _BodySDF) -> np.ndarray:
    """Carry the mesh from body ``src`` to body ``dst``.

    Each bone's vertices follow the bone (translation, rotation and
    stretch along the bone, blended by the skinning weights), then the
    result is projected onto the new surface and lightly relaxed.
    """
    s0, e0 = _bone_segments(src.J, src.ends)
    s1, e1 = _bone_segments(dst.J, dst.ends)
    t, off = _bone_params(verts, s0, e0)
    rot = np.stack([_rotation_between(e0[b] - s0[b], e1[b] - s1[b])
                    for b in range(NUM_JOINTS)])
    moved = (s1[None] + t[..., None] * (e1 - s1)[None] +
             np.einsum('bij,vbj->vbi', rot, off))
    verts = np.einsum('vb,vbk->vk', weights, moved)
    verts = dst.project(verts, iters=6)
    return _relax_project(verts, faces, dst, 6, lam=0.3)


def _shape_field(verts: np.ndarray, weights: np.ndarray, start: np.ndarray,
                 stop: np.ndarray, d_start: np.ndarray, d_stop: np.ndarray,
                 d_mat: np.ndarray) -> np.ndarray:
    """Displacement ``(V, 3)`` of a linear skeleton-driven shape change.

    Bone ``b`` moves its start by ``d_start[b]`` and its end by
    ``d_stop[b]`` (points in between by linear interpolation) and changes
    the offsets ``o`` of its vertices from the bone by ``d_mat[b] @ o``;
    the per-bone displacements are blended by the skinning weights.
    """
    t, off = _bone_params(verts, start, stop)
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


def _shape_dirs(verts: np.ndarray, weights: np.ndarray, J: np.ndarray,
                ends: Dict[str, np.ndarray], scale: float) -> np.ndarray:
    """Ten shape directions ``(V, 3, 10)`` (displacement per unit beta).

    0: overall size (height), 1: weight/girth, 2: leg length, 3: shoulder
    width, 4: hip width, 5: arm length, 6: torso length, 7: belly depth,
    8: limb muscle, 9: head size. Each is rescaled to the RMS vertex
    displacement :data:`_SHAPE_RMS` (times the body scale), so magnitudes
    decrease with the index like SMPL's PCA components and ``|beta| <= 3``
    keeps every girth factor positive.
    """
    start, stop = _bone_segments(J, ends)
    end_index = [_BONE_END[b] if isinstance(_BONE_END[b], int) else None
                 for b in range(NUM_JOINTS)]
    dirs = np.zeros((len(verts), 3, NUM_BETAS))
    eye = np.eye(3)

    def radial(b):
        u = _unit(stop[b] - start[b])
        return eye - np.outer(u, u)

    def field(d_joint, d_ends=None, d_mat=None):
        d_start = d_joint
        d_stop = np.stack([
            d_joint[end_index[b]] if end_index[b] is not None else
            (d_ends or {}).get(_BONE_END[b], d_joint[b])
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
        translate(d, knee, 0.025 * scale * _unit(J[knee] - J[hip]))
        translate(d, ankle, 0.025 * scale * _unit(J[ankle] - J[knee]))
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
        translate(d, el, 0.016 * scale * _unit(J[el] - J[sh]))
        translate(d, wr, 0.015 * scale * _unit(J[wr] - J[el]))
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


def _pose_dirs(verts: np.ndarray, faces: np.ndarray, weights: np.ndarray,
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
    normals = _vertex_normals(verts, faces)
    k = 0.006 * scale
    dirs = np.zeros((len(verts), 3, NUM_POSE_BASIS))
    for j in range(1, NUM_JOINTS):
        h = np.minimum(1.0, 4.0 * weights[:, j] * weights[:, SMPL_PARENTS[j]])
        for r in range(3):
            dirs[:, :, 9 * (j - 1) + 4 * r] = -k * h[:, None] * normals
    return dirs


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def _check_gender_seed(gender: str, seed: int) -> Tuple[str, int]:
    if not isinstance(gender, str) or gender.lower() not in _GENDERS:
        raise ValueError(f'gender must be one of {_GENDERS}, got {gender!r}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
            seed < 0):
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    return gender.lower(), int(seed)


def make_synthetic_smpl(gender: str = 'neutral',
                        seed: int = 0) -> Dict[str, np.ndarray]:
    """Generate a synthetic SMPL-format body model.

    All genders and seeds share one mesh topology (faces, landmark vertex
    ids, skinning weights), like the official male/female/neutral files;
    the gender sets the proportions (male taller and broader, female
    smaller with a larger hip-to-shoulder ratio) and a non-zero ``seed``
    varies bone lengths and girths by a few percent. Same arguments, same
    bytes.

    Args:
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``.
        seed (int): Non-negative seed of the small per-body variation
            (0: the reference proportions).

    Returns:
        dict: The keys of the official SMPL file (metres, T-pose, y up,
        facing +z, the subject's left at +x):

        - ``v_template`` ``(6890, 3)`` float64,
        - ``f`` ``(13776, 3)`` uint32, a closed genus-0 outward-oriented
          triangle mesh,
        - ``J_regressor`` ``(24, 6890)`` float64 (dense), non-negative rows
          summing to 1,
        - ``weights`` ``(6890, 24)`` float64 skinning weights,
        - ``kintree_table`` ``(2, 24)`` uint32 (parents with the root's as
          4294967295, then joint ids),
        - ``shapedirs`` ``(6890, 3, 10)`` float64 (displacement per unit
          beta),
        - ``posedirs`` ``(6890, 3, 207)`` float64 (per entry of the
          flattened ``R_j - I``, joints 1..23),
        - ``J`` ``(24, 3)`` float64 rest joints (``J_regressor @
          v_template``),
        - ``bs_style`` ``'lbs'`` and ``bs_type`` ``'lrotmin'`` (str).

    Raises:
        ValueError: For an unknown gender or a negative seed.
    """
    gender, seed = _check_gender_seed(gender, seed)
    verts_c, faces, weights = _canonical()
    params = _jitter_params(_gender_params(gender), seed)
    sdf = _BodySDF(params)
    if params == _BodyParams():
        verts = np.array(verts_c)
    else:
        verts = _fit_body(np.array(verts_c), faces, weights,
                          _BodySDF(_BodyParams()), sdf)
    weights = np.array(weights)
    regressor = _smpl_regressor(verts, weights, sdf.J, params.scale)
    joints = regressor @ verts
    kintree = np.stack([SMPL_PARENTS, np.arange(NUM_JOINTS)])
    kintree[0, 0] = _ROOT_PARENT
    return {
        'v_template': verts,
        'f': faces.astype(np.uint32),
        'J_regressor': regressor,
        'weights': weights,
        'kintree_table': kintree.astype(np.uint32),
        'shapedirs': _shape_dirs(verts, weights, joints, sdf.ends,
                                 params.scale),
        'posedirs': _pose_dirs(verts, faces, weights, params.scale),
        'J': joints,
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }


def save_smpl_npz(path: Union[str, os.PathLike],
                  model: Dict[str, np.ndarray]) -> None:
    """Write an SMPL-format model as an smplx-style ``.npz``.

    Plain (compressed) arrays only, so ``np.load`` reads it without pickle;
    the string entries become 0-d unicode arrays. The file is written to a
    temporary file in the same folder and renamed, so an interrupted call
    never leaves a partial file at ``path``. Read it with
    :func:`mpt_plugin.body_models.io.load_body_model_file`, or for smplx:
    ``smplx.SMPL('', data_struct=Struct(**dict(np.load(path))))``.

    Args:
        path (str | os.PathLike): Output path; ``.npz`` is appended if the
            name lacks it.
        model (dict): Output of :func:`make_synthetic_smpl`.

    Raises:
        KeyError: If a required SMPL key is missing.
    """
    required = ('v_template', 'f', 'J_regressor', 'weights', 'kintree_table',
                'shapedirs', 'posedirs')
    missing = [k for k in required if k not in model]
    if missing:
        raise KeyError(f'cannot save {os.fspath(path)!r}: model lacks '
                       f'{missing}')
    path = os.fspath(path)
    if not path.endswith('.npz'):
        path += '.npz'
    arrays = {k: np.asarray(v) for k, v in model.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise ValueError(f'cannot save {path!r}: entry {k!r} is an '
                             'object array (only plain arrays are written)')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.npz', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
