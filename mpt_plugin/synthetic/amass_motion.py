"""Synthetic motion capture in the AMASS file format (SMPL-H, z up).

:func:`make_synthetic_amass_tree` writes a small tree that looks like an
extracted AMASS release, so the whole MoCap pipeline (reader, cache,
pre-training) can run without the licensed data::

    out_dir/SynthWalk/S01/shape.npz               betas (16,), gender
    out_dir/SynthWalk/S01/walk_00_poses.npz
    out_dir/SynthDaily/S02/reach_00_poses.npz
    ...

Every ``*_poses.npz`` holds exactly AMASS's (SMPL-H) keys:

    - ``poses`` (T, 156) float64: SMPL-H axis-angle, radians. Joints 0..21
      are the SMPL body joints (0 = the global root orientation in the z-up
      world), 22..36 the left hand (index1-3, middle1-3, pinky1-3, ring1-3,
      thumb1-3) and 37..51 the right hand, in the same order.
    - ``betas`` (16,) float64 shape coefficients.
    - ``trans`` (T, 3) float64 root translation, metres, z-up world.
    - ``gender`` numpy str (``'male'`` / ``'female'``).
    - ``mocap_framerate`` float64 scalar, frames per second.
    - ``dmpls`` (T, 8) float64 soft-tissue coefficients (zeros here).

Conventions:
    - Joint rotations are designed in the SMPL joint frame (the rest pose is
      the T-pose, y up, the body faces +z, the subject's left is +x; every
      joint frame is parallel to the world at rest) as intrinsic XYZ Euler
      angles ``R = Rx(x) @ Ry(y) @ Rz(z)`` and clamped to
      :data:`SMPL_JOINT_LIMITS` before conversion to axis-angle.
    - The files are z up like real AMASS: the stored root orientation is
      ``ZUP_FROM_YUP @ R_root_yup`` (``ZUP_FROM_YUP`` = +90 deg about x), so
      rotating it back with ``mpt_plugin.datasets.amass_io.AMASS_TO_YUP``
      gives an upright, y-up body.
    - ``trans`` follows SMPL: a posed joint is
      ``R_root @ (J - J_pelvis) + J_pelvis + trans`` with the rest joints
      ``J`` in template coordinates. It is chosen so that the lowest foot
      point touches the floor ``z = 0``; standing, the pelvis joint is about
      0.9 m above the floor and ``trans[:, 2]`` about the same (the rest
      pelvis has template z = 0.03 m). The body's joint layout
      is the generic SMPL rest layout scaled by a size factor derived from
      ``betas[0]`` (an approximation of the real shape space, used only for
      the floor contact).

The same seed gives byte-identical files.
"""
import pathlib
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.datasets.amass_io import AMASS_TO_YUP
from mpt_plugin.geometry.rotations import euler_to_axis_angle, rot_y

__all__ = [
    'SMPL_REST_JOINTS', 'SMPL_JOINT_LIMITS', 'ZUP_FROM_YUP', 'MOTION_KINDS',
    'clamp_to_joint_limits', 'make_synthetic_amass_tree'
]

#: Approximate rest (T-pose) joint locations of the SMPL template, (24, 3)
#: metres, y up, facing +z, subject's left at +x.
SMPL_REST_JOINTS = np.array([
    [0.00, -0.22, 0.03],  # 0 pelvis
    [0.07, -0.31, 0.02],  # 1 left_hip
    [-0.07, -0.31, 0.02],  # 2 right_hip
    [0.00, -0.10, 0.00],  # 3 spine1
    [0.10, -0.69, 0.01],  # 4 left_knee
    [-0.10, -0.69, 0.01],  # 5 right_knee
    [0.00, 0.03, 0.02],  # 6 spine2
    [0.09, -1.09, -0.03],  # 7 left_ankle
    [-0.09, -1.09, -0.03],  # 8 right_ankle
    [0.00, 0.08, 0.03],  # 9 spine3
    [0.12, -1.15, 0.09],  # 10 left_foot
    [-0.12, -1.15, 0.09],  # 11 right_foot
    [0.00, 0.29, -0.01],  # 12 neck
    [0.08, 0.19, -0.01],  # 13 left_collar
    [-0.08, 0.19, -0.01],  # 14 right_collar
    [0.00, 0.35, 0.04],  # 15 head
    [0.17, 0.22, -0.02],  # 16 left_shoulder
    [-0.17, 0.22, -0.02],  # 17 right_shoulder
    [0.43, 0.21, -0.03],  # 18 left_elbow
    [-0.43, 0.21, -0.03],  # 19 right_elbow
    [0.70, 0.22, -0.03],  # 20 left_wrist
    [-0.70, 0.22, -0.03],  # 21 right_wrist
    [0.78, 0.21, -0.05],  # 22 left_hand
    [-0.78, 0.21, -0.05],  # 23 right_hand
])

#: Rotation taking a y-up body into AMASS's z-up world: +90 deg about x
#: (y -> z, z -> -y). The inverse (transpose) of ``amass_io.AMASS_TO_YUP``.
ZUP_FROM_YUP = AMASS_TO_YUP.T.copy()

_NUM_BODY = 22  # SMPL-H / SMPL shared body joints 0..21
_NUM_SMPLH = 52

# Joint ranges, radians, intrinsic XYZ Euler in the SMPL joint (parent rest)
# frame, for the LEFT joint of each pair (the right one is mirrored: x stays,
# y and z change sign). Row 0 is the pelvis tilt *without* heading (the yaw
# about the vertical is free and not limited).
# Sign facts (FK-checked in the tests): knee flexion is +x for both knees;
# hip flexion (thigh forward) and shoulder flexion (arm forward from hanging)
# are -x; the left elbow flexes about -y (right about +y); lowering the left
# arm from the T-pose is -z (right +z); left hip abduction is +z.
_LEFT_LIMITS_DEG = {
    0: ((-20, 60), (-30, 30), (-20, 20)),  # pelvis tilt (no heading)
    1: ((-125, 35), (-35, 35), (-25, 45)),  # hip
    3: ((-20, 35), (-25, 25), (-15, 15)),  # spine1
    4: ((0, 140), (-5, 5), (-5, 5)),  # knee: flexes one way only
    6: ((-20, 35), (-25, 25), (-15, 15)),  # spine2
    7: ((-35, 45), (-20, 20), (-20, 20)),  # ankle (-x dorsi, +x plantar)
    9: ((-20, 35), (-25, 25), (-15, 15)),  # spine3
    10: ((-30, 20), (-5, 5), (-5, 5)),  # foot (toes)
    12: ((-35, 45), (-45, 45), (-30, 30)),  # neck
    13: ((-15, 15), (-20, 20), (-15, 25)),  # collar
    15: ((-30, 35), (-40, 40), (-25, 25)),  # head
    16: ((-160, 60), (-70, 70), (-95, 70)),  # shoulder
    18: ((-30, 30), (-150, 0), (-5, 5)),  # elbow: flexes one way only
    20: ((-30, 30), (-30, 30), (-70, 60)),  # wrist
    22: ((-20, 20), (-20, 20), (-90, 15)),  # hand (SMPL), index1 (SMPL-H)
}
_MIRROR = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}


def _build_limits() -> np.ndarray:
    lim = np.zeros((24, 3, 2))
    for j, rng in _LEFT_LIMITS_DEG.items():
        lim[j] = np.deg2rad(np.asarray(rng, dtype=np.float64))
        if j in _MIRROR:
            r = lim[_MIRROR[j]]
            r[0] = lim[j, 0]
            r[1:] = -lim[j, 1:, ::-1]
    return lim


#: Per-joint limits, (24, 3, 2) radians: ``[joint, euler_axis, (lo, hi)]``
#: for intrinsic XYZ Euler angles in the SMPL joint frame (see module doc).
SMPL_JOINT_LIMITS = _build_limits()

#: Motion kinds written by :func:`make_synthetic_amass_tree`, per dataset.
MOTION_KINDS = {
    'SynthWalk': ('walk', 'turn', 'walkturn', 'walkstop'),
    'SynthDaily': ('idle', 'reach', 'squat', 'walkreach', 'squatreach'),
}


def clamp_to_joint_limits(euler: np.ndarray) -> np.ndarray:
    """Clamp ``(..., J, 3)`` Euler angles (J <= 24) to the limit table."""
    lim = SMPL_JOINT_LIMITS[:euler.shape[-2]]
    return np.clip(euler, lim[..., 0], lim[..., 1])


# ---------------------------------------------------------------------------
# motion primitives (y-up body frame)
# ---------------------------------------------------------------------------
@dataclass
class _Track:
    """Per-frame body motion before conversion to SMPL-H parameters.

    Attributes:
        euler: (T, 22, 3) radians, XYZ Euler per body joint; row 0 is the
            pelvis tilt without heading.
        heading: (T,) radians, yaw about the vertical (y-up frame).
        speed: (T,) m/s, forward speed along the heading.
        loco: (T,) in [0, 1]; 1 = translation from ``speed``, 0 = the feet
            stay where they are (the pelvis moves over them).
    """
    euler: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    loco: np.ndarray


_L_HIP, _R_HIP, _L_KNEE, _R_KNEE = 1, 2, 4, 5
_L_ANK, _R_ANK, _L_FOOT, _R_FOOT = 7, 8, 10, 11
_SPINE = (3, 6, 9)
_NECK, _HEAD = 12, 15
_L_SH, _R_SH, _L_EL, _R_EL, _L_WR, _R_WR = 16, 17, 18, 19, 20, 21


def _bell(x: np.ndarray, power: float) -> np.ndarray:
    """Smooth 2pi-periodic bump in [0, 1] peaking at x = 0."""
    return (0.5 + 0.5 * np.cos(x))**power


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """C2-continuous ramp 0 -> 1 on [0, 1] (quintic smootherstep)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def _set_legs(e: np.ndarray, side: int, thigh: np.ndarray, knee: np.ndarray,
              ankle: np.ndarray, pitch: np.ndarray) -> None:
    """Write one leg from segment angles.

    ``thigh`` is the thigh's forward angle from the vertical in the world
    (rad); the hip angle compensates the pelvis pitch so that it holds.
    """
    hip, kn, an = ((_L_HIP, _L_KNEE, _L_ANK) if side == 0 else
                   (_R_HIP, _R_KNEE, _R_ANK))
    e[:, hip, 0] = -thigh - pitch
    e[:, kn, 0] = knee
    e[:, an, 0] = ankle


def _relaxed_arms(e: np.ndarray, rng: np.random.Generator, t: np.ndarray,
                  sway: float) -> None:
    """Arms hanging with slightly bent elbows and a slow sway."""
    lower = rng.uniform(1.2, 1.4)
    elbow = rng.uniform(0.1, 0.45)
    f = rng.uniform(0.1, 0.3)
    ph = rng.uniform(0, 2 * np.pi)
    s = sway * np.sin(2 * np.pi * f * t + ph)
    e[:, _L_SH, 2] = -lower
    e[:, _R_SH, 2] = lower
    e[:, _L_SH, 0] = -0.05 + s
    e[:, _R_SH, 0] = -0.05 - s
    e[:, _L_EL, 1] = -elbow - 0.5 * np.abs(s)
    e[:, _R_EL, 1] = elbow + 0.5 * np.abs(s)
    e[:, _L_WR, 2] = -rng.uniform(0.0, 0.3)
    e[:, _R_WR, 2] = rng.uniform(0.0, 0.3)


def _idle(t: np.ndarray,
          rng: np.random.Generator,
          heading0: float,
          amp: float = 1.0) -> _Track:
    """Standing: weight shift, breathing-like sway, looking around."""
    n = t.size
    e = np.zeros((n, _NUM_BODY, 3))
    f = rng.uniform(0.15, 0.35)
    ph = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    roll = amp * rng.uniform(0.03, 0.07) * np.sin(ph)
    pitch = rng.uniform(0.0, 0.08) + amp * 0.02 * np.sin(2 * ph)
    e[:, 0, 0] = pitch
    e[:, 0, 2] = roll
    e[:, 0, 1] = amp * rng.uniform(0.0, 0.08) * np.sin(0.5 * ph)
    knee0 = rng.uniform(0.03, 0.15)
    for side, sgn in ((0, 1.0), (1, -1.0)):
        # the loaded leg straightens, the other one relaxes
        knee = knee0 + 0.08 * amp * (1 - sgn * np.sin(ph)) / 2
        thigh = 0.3 * knee + rng.uniform(-0.05, 0.05)
        _set_legs(e, side, thigh, knee, thigh - knee, pitch)  # feet flat
        # keep the legs vertical while the pelvis rolls
        hip = _L_HIP if side == 0 else _R_HIP
        e[:, hip, 2] = -roll + sgn * rng.uniform(0.0, 0.08)
    for j in _SPINE:
        e[:, j, 0] = rng.uniform(-0.02, 0.05)
        e[:, j, 2] = -roll / 3
    look_f = rng.uniform(0.15, 0.4)
    look = amp * rng.uniform(
        0.25, 0.7) * np.sin(2 * np.pi * look_f * t + rng.uniform(0, 2 * np.pi))
    e[:, _NECK, 1] = 0.5 * look
    e[:, _HEAD, 1] = 0.5 * look
    e[:, _NECK, 0] = rng.uniform(-0.05, 0.2)
    e[:, _HEAD, 0] = amp * rng.uniform(0.0, 0.15) * np.sin(
        2 * np.pi * rng.uniform(0.1, 0.3) * t) - 0.5 * pitch
    _relaxed_arms(e, rng, t, sway=amp * rng.uniform(0.05, 0.15))
    zeros = np.zeros(n)
    return _Track(e, zeros + heading0, zeros, zeros.copy())


def _walk(t: np.ndarray,
          rng: np.random.Generator,
          heading0: float,
          amp: float = 1.0,
          speed_scale: float = 1.0) -> _Track:
    """Gait cycle: hip/knee/ankle flexion, pelvis rotation, arm swing."""
    n = t.size
    e = np.zeros((n, _NUM_BODY, 3))
    cadence = rng.uniform(0.8, 1.1)  # gait cycles per second
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    a_hip = amp * rng.uniform(0.3, 0.45)
    a_knee = amp * rng.uniform(0.8, 1.05)
    knee_peak = rng.uniform(-0.6, -0.2)
    lean = rng.uniform(0.0, 0.1)
    pitch = lean + 0.03 * amp * np.sin(2 * phase)
    e[:, 0, 0] = pitch
    e[:, 0, 1] = -amp * rng.uniform(0.05, 0.12) * np.sin(phase)
    e[:, 0, 2] = amp * rng.uniform(0.02, 0.05) * np.sin(phase)
    for side in (0, 1):
        ph = phase + side * np.pi
        thigh = a_hip * np.sin(ph) + 0.05
        knee = (0.05 + a_knee * _bell(ph - knee_peak, 3.0) +
                0.15 * amp * _bell(ph - np.pi / 2 - 0.4, 8.0))
        push_off = 0.35 * amp * _bell(ph + np.pi / 2 + 0.3, 6.0)
        ankle = 0.3 * (thigh - knee) + push_off
        _set_legs(e, side, thigh, knee, ankle, pitch)
        e[:, _L_FOOT if side == 0 else _R_FOOT, 0] = -0.2 * push_off
    twist = amp * rng.uniform(0.03, 0.08) * np.sin(phase)
    for j in _SPINE:
        e[:, j, 0] = lean / 3
        e[:, j, 1] = twist
    e[:, _NECK, 0] = -0.5 * lean
    e[:, _HEAD, 0] = -0.5 * lean + 0.03 * np.sin(2 * phase)
    e[:, _HEAD, 1] = rng.uniform(-0.2, 0.2)
    lower = rng.uniform(1.2, 1.4)
    a_arm = amp * rng.uniform(0.2, 0.45)
    e0, e1 = rng.uniform(0.15, 0.35), amp * rng.uniform(0.1, 0.4)
    e[:, _L_SH, 2] = -lower
    e[:, _R_SH, 2] = lower
    # each arm swings forward (-x) with the opposite leg
    e[:, _L_SH, 0] = a_arm * np.sin(phase) - 0.05
    e[:, _R_SH, 0] = -a_arm * np.sin(phase) - 0.05
    e[:, _L_EL, 1] = -(e0 + e1 * (1 - np.sin(phase)) / 2)
    e[:, _R_EL, 1] = e0 + e1 * (1 + np.sin(phase)) / 2
    # two steps of about 2 * leg * sin(a_hip) per cycle, shortened by the knee
    speed = (
        speed_scale * 2.9 * np.sin(a_hip) * cadence *
        (1 + 0.05 * np.sin(2 * phase)))
    return _Track(e, np.zeros(n) + heading0, speed, np.ones(n))


def _squat(t: np.ndarray, rng: np.random.Generator, heading0: float) -> _Track:
    """1-3 squats: hips, knees and ankles flex, the pelvis lowers."""
    track = _idle(t, rng, heading0, amp=0.3)
    e = track.euler
    dur = t[-1] - t[0] + 1e-6
    reps = int(np.clip(rng.integers(1, 4), 1, max(1, dur // 1.5)))
    period = dur / reps  # at least 1.5 s per squat when possible
    cycle = 2 * np.pi * (t - t[0]) / period
    d = rng.uniform(0.6, 1.0) * (1 - np.cos(cycle)) / 2  # depth in [0, 1]
    thigh = d * rng.uniform(1.3, 1.5)
    shin = d * rng.uniform(0.4, 0.55)  # knees travel forward
    pitch = e[:, 0, 0] + d * rng.uniform(0.35, 0.5)
    e[:, 0, 0] = pitch
    for side in (0, 1):
        _set_legs(e, side, thigh, thigh + shin, -shin, pitch)
    for j in _SPINE:
        e[:, j, 0] += d * 0.08
    e[:, _NECK, 0] -= d * 0.3
    # arms forward for balance
    fwd = d * rng.uniform(0.6, 1.4)
    e[:, _L_SH, 0] -= fwd
    e[:, _R_SH, 0] -= fwd
    e[:, _L_SH, 2] *= 1 - 0.3 * d
    e[:, _R_SH, 2] *= 1 - 0.3 * d
    return track


def _add_reach(track: _Track,
               t: np.ndarray,
               rng: np.random.Generator,
               flex: Tuple[float, float] = (-2.4, -1.4)) -> _Track:
    """Overlay one arm reaching up/forward (shoulder + elbow) and back."""
    e = track.euler
    dur = t[-1] - t[0]
    left = bool(rng.integers(0, 2))
    sh, el, wr = (_L_SH, _L_EL, _L_WR) if left else (_R_SH, _R_EL, _R_WR)
    sgn = 1.0 if left else -1.0  # mirror y/z for the right arm
    rise = min(rng.uniform(0.6, 1.0), 0.4 * dur)  # seconds up (and down)
    hold = min(rng.uniform(0.1, 0.5), dur - 2 * rise)
    start = rng.uniform(0.02, 0.95) * (dur - 2 * rise - hold)
    s = t - t[0] - start
    env = _smoothstep(s / rise) - _smoothstep((s - rise - hold) / rise)
    target = {
        (sh, 0): rng.uniform(*flex),  # flex: forward / up
        (sh, 1): sgn * rng.uniform(-0.3, 0.3),
        (sh, 2): sgn * rng.uniform(-1.4, -0.8),  # hanging to abducted
        (el, 1): -sgn * rng.uniform(0.05, 0.6),
        (wr, 2): -sgn * rng.uniform(-0.3, 0.3),
    }
    for (j, k), v in target.items():
        e[:, j, k] += env * (v - e[:, j, k])
    for j in _SPINE:
        e[:, j, 0] += env * 0.05
        e[:, j, 1] -= sgn * env * 0.08  # the reaching shoulder goes forward
    e[:, _NECK, 0] -= env * 0.15
    return track


def _blend(a: _Track, b: _Track, w: np.ndarray) -> _Track:
    """``a`` -> ``b`` with time weight ``w`` (T,) in [0, 1]."""
    return _Track(a.euler + w[:, None, None] * (b.euler - a.euler),
                  a.heading + w * (b.heading - a.heading),
                  a.speed + w * (b.speed - a.speed),
                  a.loco + w * (b.loco - a.loco))


def _heading_ramp(t: np.ndarray,
                  rng: np.random.Generator,
                  heading0: float,
                  min_turn: float,
                  max_turn: float,
                  max_rate: float = 3.0) -> np.ndarray:
    """Heading turning by min..max_turn rad, at most ``max_rate`` rad/s."""
    dur = t[-1] - t[0]
    turn = rng.uniform(min_turn, max_turn)
    # smootherstep's peak slope is 1.875 / length
    length = min(
        max(rng.uniform(0.5, 0.8) * dur, 1.875 * turn / max_rate), dur)
    turn = min(turn, max_rate * length / 1.875) * rng.choice([-1.0, 1.0])
    start = rng.uniform(0.0, 1.0) * (dur - length)
    return heading0 + turn * _smoothstep((t - t[0] - start) / length)


def _motion(kind: str, t: np.ndarray, rng: np.random.Generator,
            heading0: float) -> _Track:
    """One sequence of the given kind (see :data:`MOTION_KINDS`)."""
    if kind == 'idle':
        return _idle(t, rng, heading0)
    if kind == 'walk':
        return _walk(t, rng, heading0)
    if kind == 'turn':  # small steps on the spot while turning
        track = _walk(
            t, rng, heading0, amp=rng.uniform(0.35, 0.6), speed_scale=0.15)
        track.heading = _heading_ramp(t, rng, heading0, 1.0, 3.0)
        return track
    if kind == 'walkturn':
        track = _walk(t, rng, heading0)
        track.heading = _heading_ramp(t, rng, heading0, 0.8, 1.6, max_rate=1.5)
        return track
    if kind == 'walkstop':
        dur = t[-1] - t[0]
        start = rng.uniform(0.3, 0.5) * dur
        w = _smoothstep((t - t[0] - start) / rng.uniform(0.6, 1.0))
        return _blend(_walk(t, rng, heading0), _idle(t, rng, heading0), w)
    if kind == 'reach':
        return _add_reach(_idle(t, rng, heading0, amp=0.5), t, rng)
    if kind == 'squat':
        return _squat(t, rng, heading0)
    if kind == 'walkreach':
        return _add_reach(
            _walk(t, rng, heading0, amp=0.8, speed_scale=0.8), t, rng)
    if kind == 'squatreach':
        # the squat already holds both arms forward: reach higher
        return _add_reach(_squat(t, rng, heading0), t, rng, (-2.5, -2.0))
    raise ValueError(f'unknown motion kind {kind!r}')


# ---------------------------------------------------------------------------
# track -> SMPL-H parameters
# ---------------------------------------------------------------------------
def _body_fk(root: np.ndarray, local: np.ndarray,
             joints: np.ndarray) -> np.ndarray:
    """Joint positions relative to the pelvis.

    Args:
        root: (T, 3, 3) root rotation.
        local: (T, 22, 3, 3) local joint rotations (row 0 unused).
        joints: (22, 3) rest joint locations, metres.

    Returns:
        (T, 22, 3) positions, metres, pelvis at the origin.
    """
    n = root.shape[0]
    glob = np.empty((n, _NUM_BODY, 3, 3))
    pos = np.zeros((n, _NUM_BODY, 3))
    glob[:, 0] = root
    for j in range(1, _NUM_BODY):
        p = SMPL_PARENTS[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ (joints[j] - joints[p])
    return pos


def _soft_min(x: np.ndarray, tau: float) -> np.ndarray:
    """Smooth minimum over the last axis (<= min, within tau*log(K))."""
    m = x.min(axis=-1)
    return m - tau * np.log(np.exp(-(x - m[..., None]) / tau).sum(-1))


def _track_to_smplh(track: _Track, fps: float, scale: float, hands: np.ndarray,
                    start_xy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Convert a track to AMASS ``poses`` (T, 156) and ``trans`` (T, 3)."""
    n = track.euler.shape[0]
    euler = clamp_to_joint_limits(track.euler)
    local = Rotation.from_euler('XYZ', euler.reshape(-1, 3)).as_matrix()
    local = local.reshape(n, _NUM_BODY, 3, 3)
    root_yup = rot_y(track.heading) @ local[:, 0]

    joints = SMPL_REST_JOINTS[:_NUM_BODY] * scale
    pos = _body_fk(root_yup, local, joints)  # (T, 22, 3) y-up, pelvis at 0
    # floor contact: the lowest of ankles (0.10 m above the sole) and balls of
    # the feet (0.04 m) touches y = 0
    sole = np.array([0.10, 0.10, 0.04, 0.04]) * scale
    feet = pos[:, [_L_ANK, _R_ANK, _L_FOOT, _R_FOOT], 1] - sole  # (T, 4)
    height = -_soft_min(feet, tau=0.01)
    # horizontal: walk along the heading, or keep the feet in place
    dt = 1.0 / fps
    fwd = np.stack([np.sin(track.heading), np.cos(track.heading)], -1)
    v_walk = track.speed[:, None] * fwd
    mid = pos[:, [_L_ANK, _R_ANK, _L_FOOT, _R_FOOT]][..., [0, 2]].mean(1)
    v_anchor = -np.gradient(mid, dt, axis=0) if n > 1 else np.zeros((n, 2))
    loco = track.loco[:, None]
    vel = loco * v_walk + (1 - loco) * v_anchor
    planar = np.concatenate(
        [np.zeros((1, 2)),
         np.cumsum(0.5 * (vel[1:] + vel[:-1]) * dt, axis=0)]) + start_xy
    pelvis_yup = np.stack([planar[:, 0], height, planar[:, 1]], -1)

    # to AMASS's z-up world
    root_zup = ZUP_FROM_YUP @ root_yup
    pelvis_zup = pelvis_yup @ ZUP_FROM_YUP.T
    trans = pelvis_zup - joints[0]

    poses = np.zeros((n, _NUM_SMPLH, 3))
    poses[:, 0] = Rotation.from_matrix(root_zup).as_rotvec()
    body = Rotation.from_matrix(local[:, 1:].reshape(-1, 3, 3)).as_rotvec()
    poses[:, 1:_NUM_BODY] = body.reshape(n, _NUM_BODY - 1, 3)
    poses[:, _NUM_BODY:] = hands
    return poses.reshape(n, _NUM_SMPLH * 3), trans


def _relaxed_hands(rng: np.random.Generator) -> np.ndarray:
    """(30, 3) SMPL-H finger axis-angles: a relaxed, slightly curled hand."""
    curl = rng.uniform(0.7, 1.2)
    # per finger: (proximal, middle, distal) flexion, rad; fingers point
    # along +x (left) and curl toward the palm (-y), i.e. -z for the left hand
    flex = curl * np.array([
        [0.25, 0.3, 0.2],  # index
        [0.3, 0.35, 0.2],  # middle
        [0.4, 0.4, 0.25],  # pinky
        [0.35, 0.4, 0.25],  # ring
    ])
    left = np.zeros((15, 3))
    left[:12, 2] = -flex.reshape(-1)
    left[12:] = curl * np.array([[0.1, 0.3, -0.1], [0.0, 0.15, -0.05],
                                 [0.0, 0.1, -0.05]])  # thumb
    left = euler_to_axis_angle(left)
    right = left * np.array([1.0, -1.0, -1.0])  # mirror across x = 0
    return np.concatenate([left, right])


def _random_betas(rng: np.random.Generator) -> np.ndarray:
    betas = rng.normal(0.0, 1.0, 16)
    betas[10:] *= 0.3
    return np.clip(betas, -2.5, 2.5)


def make_synthetic_amass_tree(out_dir: Union[str, pathlib.Path],
                              seed: int = 0,
                              num_subjects: int = 6,
                              sequences_per_subject: int = 5,
                              seconds: Tuple[float, float] = (1.5, 3.0),
                              fps: Sequence[float] = (60.0, 120.0),
                              datasets: Optional[Sequence[str]] = None
                              ) -> List[pathlib.Path]:
    """Write a synthetic AMASS-format tree (SMPL-H, z up) and list it.

    Subjects alternate between the datasets (``SynthWalk``: walking, turning
    on the spot, walking while turning, walking then stopping;
    ``SynthDaily``: idle, reaching, squatting, walking while reaching,
    squatting while reaching) and differ in betas, gender (both genders
    occur when there are >= 2 subjects) and frame rate. Each sequence draws
    its own amplitudes, speeds, phases, durations and heading. Motions are
    smooth (C2 in time) and clamped to :data:`SMPL_JOINT_LIMITS`.

    Args:
        out_dir: root of the tree (created; existing files are overwritten).
        seed: random seed; the same seed writes byte-identical files.
        num_subjects: subjects in total, spread over the datasets.
        sequences_per_subject: motion files per subject.
        seconds: (min, max) duration of a sequence, seconds.
        fps: frame rates to draw from, one per subject (``mocap_framerate``).
        datasets: dataset folder names, a subset of :data:`MOTION_KINDS`
            (default: all, in its order).

    Returns:
        Sorted paths of the ``*_poses.npz`` files (not the ``shape.npz``).
    """
    datasets = list(MOTION_KINDS) if datasets is None else list(datasets)
    unknown = [d for d in datasets if d not in MOTION_KINDS]
    if unknown or not datasets:
        raise ValueError(f'datasets must be a non-empty subset of '
                         f'{list(MOTION_KINDS)}, got {datasets}')
    if num_subjects < 1 or sequences_per_subject < 1:
        raise ValueError('num_subjects and sequences_per_subject must be >= 1')
    lo, hi = seconds
    if not 0.5 <= lo <= hi:
        raise ValueError(f'seconds must be (min, max) with 0.5 <= min <= max, '
                         f'got {seconds}')
    if len(fps) == 0 or min(fps) <= 0:
        raise ValueError(f'fps must be positive frame rates, got {fps}')

    out_dir = pathlib.Path(out_dir)
    root_rng = np.random.default_rng(seed)
    first_gender = int(root_rng.integers(0, 2))
    written = []
    for s in range(num_subjects):
        dataset = datasets[s % len(datasets)]
        kinds = MOTION_KINDS[dataset]
        subj_rng = np.random.default_rng([seed, s])
        # alternate so that every dataset gets both genders
        gender = ('male',
                  'female')[(first_gender + s + s // len(datasets)) % 2]
        betas = _random_betas(subj_rng)
        scale = float(np.clip(1.0 + 0.03 * betas[0], 0.9, 1.1))
        rate = float(fps[int(subj_rng.integers(0, len(fps)))])
        subj_dir = out_dir / dataset / f'S{s + 1:02d}'
        subj_dir.mkdir(parents=True, exist_ok=True)
        np.savez(subj_dir / 'shape.npz', betas=betas, gender=np.array(gender))
        offset = int(subj_rng.integers(0, len(kinds)))
        for q in range(sequences_per_subject):
            kind = kinds[(offset + q) % len(kinds)]
            rng = np.random.default_rng([seed, s, q])
            n = max(2, int(round(rng.uniform(lo, hi) * rate)))
            t = np.arange(n) / rate
            heading0 = rng.uniform(-np.pi, np.pi)
            start_xy = rng.uniform(-2.0, 2.0, 2)
            track = _motion(kind, t, rng, heading0)
            poses, trans = _track_to_smplh(track, rate, scale,
                                           _relaxed_hands(rng), start_xy)
            path = subj_dir / f'{kind}_{q:02d}_poses.npz'
            np.savez(
                path,
                trans=trans,
                gender=np.array(gender),
                mocap_framerate=np.float64(rate),
                betas=betas,
                dmpls=np.zeros((n, 8)),
                poses=poses)
            written.append(path)
    return sorted(written)
