"""Proportions and skeleton of the synthetic SMPL-format body.

Step 1 of the generator (:mod:`mpt_plugin.synthetic.smpl_model`): a few
proportions (a gender preset, optional per-seed jitter) give the 24 SMPL rest
joints of the T-pose and the end sites of the bones (head top, toe tips,
middle finger tips). Metres, SMPL's template frame: y up, the body faces +z,
the subject's left at +x.
"""
from dataclasses import dataclass, replace
from typing import Dict, Sequence, Tuple

import numpy as np

__all__ = [
    'NUM_JOINTS', 'SMPL_JOINT_NAMES', 'GENDERS', 'BONE_END', 'BodyParams',
    'gender_params', 'jitter_params', 'unit', 'skeleton', 'bone_segments',
    'bone_params'
]

NUM_JOINTS = 24

SMPL_JOINT_NAMES = (
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee',
    'spine2', 'left_ankle', 'right_ankle', 'spine3', 'left_foot', 'right_foot',
    'neck', 'left_collar', 'right_collar', 'head', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hand', 'right_hand')

#: Gender presets of :func:`gender_params`.
GENDERS = ('neutral', 'male', 'female')

# Segment end of each joint's bone: a joint index, or an end-site name.
BONE_END = {
    0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12,
    10: 'ltoe', 11: 'rtoe', 12: 15, 13: 16, 14: 17, 15: 'headtop', 16: 18,
    17: 19, 18: 20, 19: 21, 20: 22, 21: 23, 22: 'lfinger', 23: 'rfinger'
}


@dataclass(frozen=True)
class BodyParams:
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


def gender_params(gender: str) -> BodyParams:
    """Proportions for one gender preset (male taller and broader, female
    smaller with a larger hip-to-shoulder ratio and a bust)."""
    base = BodyParams()
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
    raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")


def jitter_params(params: BodyParams, seed: int) -> BodyParams:
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


def unit(v: Sequence[float]) -> np.ndarray:
    """``v`` ``(3,)`` scaled to length 1 (float64)."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _mirror(p: np.ndarray) -> np.ndarray:
    return p * np.array([-1.0, 1.0, 1.0])


def skeleton(p: BodyParams) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Rest joints of the T-pose and the bone end sites.

    Args:
        p (BodyParams): Proportions.

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
    knee = hip + p.thigh_len * unit((p.knee_out, -1.0, 0.01))
    ankle = knee + p.shin_len * unit((-0.005, -1.0, -0.06))
    floor = ankle[1] - p.ankle_height
    ball = np.array([ankle[0] + 0.012, floor + 0.028, ankle[2] + p.ball_fwd])
    toe = np.array([ankle[0] + 0.012, floor + 0.02, ankle[2] + p.toe_fwd])
    collar = np.array([p.collar_half, p.collar_y, -0.01])
    shoulder = np.array([p.shoulder_half, p.shoulder_y, -0.015])
    elbow = shoulder + p.upper_arm_len * unit((1.0, -0.03, -0.03))
    wrist = elbow + p.forearm_len * unit((1.0, 0.02, 0.015))
    hand = wrist + p.hand_len * unit((1.0, -0.08, 0.0))
    finger = wrist + (p.hand_len + p.finger_len) * unit((1.0, -0.08, 0.0))
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


def bone_segments(
        J: np.ndarray,
        ends: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """``(24, 3)`` start and end points of the bone driven by each joint."""
    start = J.copy()
    stop = np.stack([
        J[BONE_END[j]] if isinstance(BONE_END[j], int) else
        ends[BONE_END[j]] for j in range(NUM_JOINTS)
    ])
    return start, stop


def bone_params(verts: np.ndarray, start: np.ndarray,
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
