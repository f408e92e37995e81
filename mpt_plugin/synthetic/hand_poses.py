"""Hand articulations within finger joint limits: the synthetic stand-in for
the "Complement" hand poses of MobRecon, which MPT's hand pre-training uses
(1520 poses x 216 viewpoints; it cannot be downloaded here).

A pose is the 15 finger-joint rotations of MANO (``mano_16`` order without
the wrist: index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3) as axis-angle,
radians, **relative to the flat hand** (use them with
``MPTMANO(flat_hand_mean=True)``). Each joint turns by three anatomical
angles ``(flexion, abduction, twist)`` about three unit axes derived from
the model's own rest joints (:func:`hand_joint_axes`), so the same code
serves the synthetic hand (fingers along +y) and the real MANO files (whose
rest hand points another way):

- ``bone``: joint -> its child joint; the distal joint -> its fingertip
  vertex (FreiHAND's ids: thumb 744, index 320, middle 443, ring 555,
  pinky 672).
- palm normal ``n`` (towards the palm side): with ``across = pinky1 -
  index1`` and ``along = middle1 - wrist``, the back of a right hand is
  ``cross(across, along)``, so ``n = -cross(across, along)`` for a right
  hand and ``+cross(across, along)`` for a left one (normalised).
- flexion axis ``normalize(cross(bone, n_j))``: a positive angle bends the
  bone towards ``n_j``: the palm normal ``n`` for the fingers; for the
  three thumb joints ``n`` tilted by :data:`THUMB_FLEXION_TILT` (60 deg)
  towards the little-finger side (``across`` made orthogonal to ``n``), so
  that the thumb curls across the palm towards the fingers instead of
  curling under the palm towards the wrist (its pad faces the fingers more
  than the palm's normal does).
- abduction axis ``s * n'`` and twist axis ``s * bone`` with ``s = +1``
  for a right hand and ``-1`` for a left one, where ``n'`` is the palm
  normal made orthogonal to the joint's flexion axis (``n`` itself for the
  fingers): a positive abduction turns the finger towards the
  little-finger side on both hands, and a left pose is exactly the mirror
  image (axis-angle ``(x, -y, -z)``) of the right pose with the same
  angles.

In MANO's linear blend skinning the local rotation of a joint is expressed
in the axes of the rest pose, so these axes are directly axis-angle
directions. A joint's axis-angle is ``flexion * a_flex + abduction *
a_abd + twist * a_twist``: one rotation about the combined axis (for the
small abduction and twist angles, close to composing the three). The
flexion axis is orthogonal to the two others, so the flexion is the
projection of the axis-angle on it; :func:`hand_pose_to_angles` inverts
the map exactly.

Limits (:data:`HAND_JOINT_LIMITS`, radians) and the sampling mixture
(:data:`POSE_MODES`: random grips, flat hands, fists, pointing, pinches)
are documented where they are defined; every angle is clipped to its limit.
The file format is that of :mod:`mpt_plugin.datasets.hand_pose_io`
(:func:`save_hand_pose_set` writes it; this generator does not import the
datasets floor, the format constants are repeated here and compared by the
tests).
"""
import os
from typing import Dict, Mapping, Tuple, Union

import numpy as np

from mpt_plugin.body_models.conventions import MANO_PARENTS
from mpt_plugin.body_models.mano import FINGERTIP_VERTEX_IDS
from mpt_plugin.utils.file_io import write_atomic
from mpt_plugin.utils.value_checks import require_non_negative_int

__all__ = [
    'HAND_JOINT_LIMITS', 'JOINT_KINDS', 'POSE_MODES', 'THUMB_FLEXION_TILT',
    'HAND_POSE_FORMAT', 'HAND_POSE_GENERATOR_VERSION',
    'HAND_POSE_VERSION', 'hand_joint_axes', 'sample_hand_angles',
    'angles_to_hand_pose', 'hand_pose_to_angles',
    'sample_hand_articulations', 'make_hand_pose_set', 'save_hand_pose_set'
]

PathLike = Union[str, os.PathLike]

#: Bumped whenever the sampled numbers change (recorded by
#: ``tools/make_synthetic_assets.py`` in its manifest).
HAND_POSE_GENERATOR_VERSION = '1.0.0'

#: ``format`` and ``version`` of the files written here (the reference is
#: :mod:`mpt_plugin.datasets.hand_pose_io`).
HAND_POSE_FORMAT = 'mpt_hand_poses'
HAND_POSE_VERSION = 1

#: Joint limits (radians) per kind of joint: ``(low, high)`` of the
#: flexion (positive bends towards the palm), abduction (positive towards
#: the little-finger side) and twist (about the bone). Fingers: MCP
#: (metacarpophalangeal, joint 1), PIP (2), DIP (3); thumb: CMC
#: (carpometacarpal, thumb1), MCP (thumb2), IP (thumb3). Only the MCP of
#: the fingers and the thumb's CMC abduct.
HAND_JOINT_LIMITS: Dict[str, Dict[str, Tuple[float, float]]] = {
    'mcp': dict(flexion=(-0.35, 1.6), abduction=(-0.35, 0.35),
                twist=(-0.1, 0.1)),
    'pip': dict(flexion=(0.0, 1.8), abduction=(0.0, 0.0), twist=(-0.1, 0.1)),
    'dip': dict(flexion=(0.0, 1.4), abduction=(0.0, 0.0), twist=(-0.1, 0.1)),
    'thumb_cmc': dict(flexion=(-0.3, 0.9), abduction=(-0.5, 0.6),
                      twist=(-0.1, 0.1)),
    'thumb_mcp': dict(flexion=(0.0, 1.0), abduction=(0.0, 0.0),
                      twist=(-0.1, 0.1)),
    'thumb_ip': dict(flexion=(0.0, 1.3), abduction=(0.0, 0.0),
                     twist=(-0.1, 0.1)),
}

#: Tilt (radians) of the thumb joints' flexion normal from the palm normal
#: towards the little-finger side (module doc).
THUMB_FLEXION_TILT = np.pi / 3

#: Kind of each of the 15 finger joints (``mano_16`` order without wrist).
JOINT_KINDS: Tuple[str, ...] = ('mcp', 'pip', 'dip') * 4 + (
    'thumb_cmc', 'thumb_mcp', 'thumb_ip')

#: Sampling mixture: mode -> probability. Each sample draws one mode, which
#: sets a curl (0 flat, 1 fist) per finger (index, middle, pinky, ring,
#: thumb):
#:
#: - ``random``: a global grip ``g ~ U[0, 1]`` plus per-finger noise
#:   ``N(0, 0.3)``;
#: - ``flat``: every curl ``U[-0.2, 0.1]`` (negative: a slight
#:   hyperextension, where the limits allow it);
#: - ``fist``: every curl ``U[0.85, 1]``;
#: - ``pointing``: index ``U[0, 0.15]``, other fingers ``U[0.75, 1]``,
#:   thumb ``U[0.5, 1]``;
#: - ``pinch``: thumb and index ``U[0.3, 0.7]``; the three other fingers
#:   curled (``U[0.6, 1]``) or extended (``U[0, 0.3]``), half each.
#:
#: From the curl ``c`` of a finger (``N(0, s)`` noise per joint, then
#: clipped to the limits): MCP flexion ``1.6 (c + N(0, 0.1))``, PIP
#: flexion ``1.8 (c + N(0, 0.1))`` and DIP flexion ``1.4 (0.75 p + 0.25 c
#: + N(0, 0.08))`` with ``p`` the PIP's fraction of its range (DIP follows
#: PIP); MCP abduction: a per-sample fan ``U[-0.1, 0.35]`` (index -1,
#: middle -0.2, ring 0.5, pinky 1 times the fan) plus ``N(0, 0.08)``,
#: damped by ``1 - 0.7 c``. Thumb (a curled thumb wraps over the curled
#: fingers; its extremes come from the noise): CMC flexion ``0.6 c + N(0,
#: 0.15)``, CMC abduction ``0.5 c - 0.1 + N(0, 0.2)`` (opposition grows
#: with the curl), MCP ``1.0 m`` with ``m = 0.7 c + N(0, 0.15)`` clipped to
#: [0, 1], IP ``1.3 (0.5 c + 0.3 m + N(0, 0.15))``. Twist ``N(0, 0.05)``
#: at every joint.
POSE_MODES: Dict[str, float] = dict(random=0.45, flat=0.1, fist=0.15,
                                    pointing=0.1, pinch=0.2)

#: Fingertip vertex id (FreiHAND) of each finger in ``mano_16`` order.
_TIP_IDS_MANO_ORDER = tuple(FINGERTIP_VERTEX_IDS['freihand'][i]
                            for i in (1, 2, 4, 3, 0))
_NUM_JOINTS = 15
_THUMB = 4  # finger index of the thumb in (index, middle, pinky, ring, thumb)
#: Fan factors of the MCP abduction (index, middle, pinky, ring).
_FAN = np.array([-1.0, -0.2, 1.0, 0.5])


def _limits_array() -> np.ndarray:
    """``(15, 3, 2)`` low/high of (flexion, abduction, twist) per joint."""
    return np.array([[HAND_JOINT_LIMITS[kind][name]
                      for name in ('flexion', 'abduction', 'twist')]
                     for kind in JOINT_KINDS])


def _unit(vec: np.ndarray, what: str) -> np.ndarray:
    norm = np.linalg.norm(vec, axis=-1, keepdims=True)
    if np.any(norm < 1e-9):
        raise ValueError(f'degenerate hand model: {what} has zero length')
    return vec / norm


def hand_joint_axes(model: Mapping[str, np.ndarray],
                    is_rhand: bool = True) -> Dict[str, np.ndarray]:
    """Anatomical rotation axes of the 15 finger joints of a MANO model.

    Args:
        model (Mapping[str, np.ndarray]): MANO arrays: ``v_template``
            ``(778, 3)`` metres, ``J_regressor`` ``(16, 778)`` and
            ``kintree_table`` ``(2, 16)`` (as :func:`~mpt_plugin.synthetic.
            hand_model.make_synthetic_mano` or ``load_body_model_file(path,
            model_type='mano')`` return them). The rest joints are
            ``J_regressor @ v_template`` (betas 0).
        is_rhand (bool): The model is a right hand (True) or a left one.

    Returns:
        dict[str, np.ndarray]: float64, rest-pose world axes (module doc):

        - ``axes`` ``(15, 3, 3)``: per joint the unit flexion, abduction
          and twist axes (rows), ``mano_16`` order without the wrist;
        - ``palm_normal`` ``(3,)`` unit vector towards the palm side;
        - ``flexion_normals`` ``(15, 3)``: per joint the unit direction a
          positive flexion bends the bone towards (the palm normal, tilted
          for the thumb);
        - ``bones`` ``(15, 3)`` unit bone directions;
        - ``rest_joints`` ``(16, 3)`` and ``tips`` ``(5, 3)`` (fingertip
          vertices in ``mano_16`` finger order: index, middle, pinky, ring,
          thumb), metres.

    Raises:
        KeyError: A key is missing.
        ValueError: Wrong shapes, a kinematic tree other than MANO's, or a
            degenerate geometry (zero-length bone, bone along the palm
            normal).
    """
    for key in ('v_template', 'J_regressor', 'kintree_table'):
        if key not in model:
            raise KeyError(f'MANO model lacks {key!r}')
    verts = np.asarray(model['v_template'], dtype=np.float64)
    reg = np.asarray(model['J_regressor'], dtype=np.float64)
    tree = np.asarray(model['kintree_table'])
    if verts.ndim != 2 or verts.shape[1] != 3 or verts.shape[0] <= max(
            _TIP_IDS_MANO_ORDER):
        raise ValueError(f"MANO model key 'v_template': expected (778, 3), "
                         f'got {verts.shape}')
    if reg.shape != (16, verts.shape[0]):
        raise ValueError(f"MANO model key 'J_regressor': expected (16, "
                         f'{verts.shape[0]}), got {reg.shape}')
    if tree.shape != (2, 16) or not np.array_equal(
            tree[0, 1:].astype(np.int64), np.asarray(MANO_PARENTS[1:])):
        raise ValueError("MANO model key 'kintree_table': expected (2, 16) "
                         f'with parents {list(MANO_PARENTS[1:])} for joints '
                         '1..15 (mano_16 order)')
    rest = reg @ verts
    tips = verts[list(_TIP_IDS_MANO_ORDER)]
    joints = np.arange(1, 16)
    ends = np.where((joints % 3 != 0)[:, None], rest[np.minimum(joints + 1,
                                                                15)],
                    tips[np.clip(joints // 3 - 1, 0, 4)])
    bones = _unit(ends - rest[1:], 'a bone')
    back = np.cross(rest[7] - rest[1], rest[4] - rest[0])
    palm = _unit(-back if is_rhand else back,
                 'the palm normal (pinky1 - index1) x (middle1 - wrist)')
    across = rest[7] - rest[1]
    across = _unit(across - (across @ palm) * palm,
                   'the palm width (pinky1 - index1) off the palm normal')
    normals = np.tile(palm, (_NUM_JOINTS, 1))
    normals[12:] = (np.cos(THUMB_FLEXION_TILT) * palm +
                    np.sin(THUMB_FLEXION_TILT) * across)
    flex = np.cross(bones, normals)
    if np.any(np.linalg.norm(flex, axis=-1) < 1e-6):
        raise ValueError('degenerate hand model: a bone is parallel to its '
                         'flexion normal')
    flex = _unit(flex, 'a flexion axis')
    abduct = _unit(palm - (flex @ palm)[:, None] * flex,
                   'the palm normal off a flexion axis')
    sign = 1.0 if is_rhand else -1.0
    axes = np.stack([flex, sign * abduct, sign * bones], axis=1)
    return dict(axes=axes, palm_normal=palm, flexion_normals=normals,
                bones=bones, rest_joints=rest, tips=tips)


def sample_hand_angles(num: int, seed: int) -> np.ndarray:
    """Anatomical angles of ``num`` hand poses (the mixture of
    :data:`POSE_MODES`), independent of the hand model.

    Args:
        num (int): Number of poses ``N >= 0``.
        seed (int): Non-negative seed; same arguments, same values.

    Returns:
        np.ndarray: ``(N, 15, 3)`` float64 (flexion, abduction, twist) per
        finger joint (``mano_16`` order without the wrist), radians, each
        within :data:`HAND_JOINT_LIMITS`.
    """
    n = require_non_negative_int(num, 'num')
    rng = np.random.default_rng(require_non_negative_int(seed, 'seed'))
    names = list(POSE_MODES)
    mode = rng.choice(len(names), size=n,
                      p=np.array(list(POSE_MODES.values())))

    def u(lo, hi, shape=(n, 5)):
        return rng.uniform(lo, hi, shape)

    # Curl per finger (index, middle, pinky, ring, thumb) for every mode;
    # all candidates are drawn so the stream does not depend on the modes.
    grip = u(0.0, 1.0, (n, 1))
    candidates = dict(
        random=np.clip(grip + rng.normal(0.0, 0.3, (n, 5)), 0.0, 1.0),
        flat=u(-0.2, 0.1), fist=u(0.85, 1.0))
    pointing = u(0.75, 1.0)
    pointing[:, 0] = u(0.0, 0.15, n)
    pointing[:, _THUMB] = u(0.5, 1.0, n)
    candidates['pointing'] = pointing
    others_curled = rng.random((n, 1)) < 0.5
    pinch = np.where(others_curled, u(0.6, 1.0), u(0.0, 0.3))
    pinch[:, [0, _THUMB]] = u(0.3, 0.7, (n, 2))
    candidates['pinch'] = pinch
    curl = np.zeros((n, 5))
    for i, name in enumerate(names):
        curl = np.where((mode == i)[:, None], candidates[name], curl)

    fingers, thumb = curl[:, :4], curl[:, _THUMB]
    flex = np.zeros((n, 5, 3))  # per finger: joints 1, 2, 3
    abd = np.zeros((n, 5, 3))
    flex[:, :4, 0] = 1.6 * (fingers + rng.normal(0.0, 0.1, (n, 4)))
    pip = np.clip(fingers + rng.normal(0.0, 0.1, (n, 4)), 0.0, 1.0)
    flex[:, :4, 1] = 1.8 * pip
    flex[:, :4, 2] = 1.4 * (0.75 * pip + 0.25 * fingers +
                            rng.normal(0.0, 0.08, (n, 4)))
    fan = u(-0.1, 0.35, (n, 1))
    abd[:, :4, 0] = (fan * _FAN + rng.normal(0.0, 0.08, (n, 4))) * (
        1.0 - 0.7 * fingers)
    flex[:, _THUMB, 0] = 0.6 * thumb + rng.normal(0.0, 0.15, n)
    abd[:, _THUMB, 0] = 0.5 * thumb - 0.1 + rng.normal(0.0, 0.2, n)
    mcp = np.clip(0.7 * thumb + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    flex[:, _THUMB, 1] = 1.0 * mcp
    flex[:, _THUMB, 2] = 1.3 * (0.5 * thumb + 0.3 * mcp +
                                rng.normal(0.0, 0.15, n))
    twist = rng.normal(0.0, 0.05, (n, _NUM_JOINTS))
    angles = np.stack([flex.reshape(n, _NUM_JOINTS),
                       abd.reshape(n, _NUM_JOINTS), twist], axis=-1)
    limits = _limits_array()
    return np.clip(angles, limits[..., 0], limits[..., 1])


def angles_to_hand_pose(angles: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Axis-angle finger rotations from anatomical angles.

    Args:
        angles (np.ndarray): ``(..., 15, 3)`` (flexion, abduction, twist),
            radians.
        axes (np.ndarray): ``(15, 3, 3)`` unit axes (rows flexion,
            abduction, twist) of :func:`hand_joint_axes`.

    Returns:
        np.ndarray: ``(..., 45)`` float64 axis-angle (radians, relative to
        the flat hand, ``mano_16`` order without the wrist):
        ``sum_k angles[..., j, k] * axes[j, k]`` per joint ``j``.
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-2:] != (_NUM_JOINTS, 3):
        raise ValueError(f'angles must be (..., 15, 3), got {angles.shape}')
    pose = np.einsum('...jk,jkc->...jc', angles, np.asarray(axes))
    return pose.reshape(angles.shape[:-2] + (3 * _NUM_JOINTS, ))


def hand_pose_to_angles(hand_pose: np.ndarray,
                        axes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`angles_to_hand_pose`.

    Args:
        hand_pose (np.ndarray): ``(..., 45)`` axis-angle, radians.
        axes (np.ndarray): ``(15, 3, 3)`` of :func:`hand_joint_axes`.

    Returns:
        np.ndarray: ``(..., 15, 3)`` float64 (flexion, abduction, twist).
    """
    pose = np.asarray(hand_pose, dtype=np.float64)
    if pose.shape[-1] != 3 * _NUM_JOINTS:
        raise ValueError(f'hand_pose must be (..., 45), got {pose.shape}')
    pose = pose.reshape(pose.shape[:-1] + (_NUM_JOINTS, 3))
    # pose_j = angles_j @ axes_j  ->  angles_j = pose_j @ inv(axes_j)
    return np.einsum('...jc,jck->...jk', pose,
                     np.linalg.inv(np.asarray(axes, dtype=np.float64)))


def sample_hand_articulations(model: Mapping[str, np.ndarray],
                              num: int,
                              seed: int,
                              is_rhand: bool = True) -> np.ndarray:
    """Random hand articulations within the finger joint limits.

    Args:
        model (Mapping[str, np.ndarray]): MANO arrays (see
            :func:`hand_joint_axes`).
        num (int): Number of poses ``N``.
        seed (int): Non-negative seed (same arguments, same values; the
            angles do not depend on the model or the hand, so a left model
            mirrored from a right one gets the mirrored poses).
        is_rhand (bool): ``model`` is a right hand. Defaults to True.

    Returns:
        np.ndarray: ``(N, 45)`` float32 axis-angle rotations of the 15
        finger joints (``mano_16`` order without the wrist), radians,
        relative to the flat hand (``MPTMANO(flat_hand_mean=True)``).
    """
    axes = hand_joint_axes(model, is_rhand)['axes']
    angles = sample_hand_angles(num, seed)
    return angles_to_hand_pose(angles, axes).astype(np.float32)


def make_hand_pose_set(model: Mapping[str, np.ndarray],
                       num_poses: int,
                       seed: int,
                       is_rhand: bool = True,
                       betas_std: float = 1.0) -> Dict[str, np.ndarray]:
    """A hand pose set in the format of
    :mod:`mpt_plugin.datasets.hand_pose_io`.

    Args:
        model (Mapping[str, np.ndarray]): MANO arrays of the set's hand.
        num_poses (int): ``N``.
        seed (int): Non-negative seed. Poses and shapes use independent
            streams, so ``betas_std`` does not change the poses.
        is_rhand (bool): The set's hand. Defaults to True.
        betas_std (float): Standard deviation of the shape coefficients
            (``N(0, betas_std)``, clipped to +-3). Defaults to 1.0.

    Returns:
        dict[str, np.ndarray]: ``hand_pose`` ``(N, 45)`` float32 (see
        :func:`sample_hand_articulations`), ``betas`` ``(N, 10)`` float32,
        ``is_rhand`` ``()`` bool, ``format`` ``()`` str
        (:data:`HAND_POSE_FORMAT`) and ``version`` ``()`` int64
        (:data:`HAND_POSE_VERSION`).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
            seed < 0):
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    betas_std = float(betas_std)
    if not (np.isfinite(betas_std) and betas_std >= 0):
        raise ValueError(f'betas_std must be >= 0, got {betas_std}')
    pose_seed, shape_seed = np.random.SeedSequence(int(seed)).generate_state(
        2)
    hand_pose = sample_hand_articulations(model, num_poses, int(pose_seed),
                                          is_rhand)
    betas = np.clip(
        np.random.default_rng(int(shape_seed)).normal(
            0.0, 1.0, (len(hand_pose), 10)) * betas_std, -3.0, 3.0)
    return dict(hand_pose=hand_pose, betas=betas.astype(np.float32),
                is_rhand=np.array(bool(is_rhand)),
                format=np.array(HAND_POSE_FORMAT),
                version=np.array(HAND_POSE_VERSION, dtype=np.int64))


def save_hand_pose_set(path: PathLike,
                       pose_set: Mapping[str, np.ndarray]) -> None:
    """Write a pose set as an uncompressed plain-array ``.npz``
    atomically (:func:`~mpt_plugin.utils.file_io.write_atomic`).

    Args:
        path (str | os.PathLike): The file (``.npz``).
        pose_set (Mapping[str, np.ndarray]): As :func:`make_hand_pose_set`
            returns; ``format`` and ``version`` default to this module's.

    Raises:
        KeyError: ``hand_pose``, ``betas`` or ``is_rhand`` is missing.
        ValueError: Wrong shapes, N mismatch or non-finite values.
    """
    for key in ('hand_pose', 'betas', 'is_rhand'):
        if key not in pose_set:
            raise KeyError(f'cannot save {os.fspath(path)!r}: pose set lacks '
                           f'{key!r}')
    hand_pose = np.asarray(pose_set['hand_pose'], dtype=np.float32)
    betas = np.asarray(pose_set['betas'], dtype=np.float32)
    if hand_pose.ndim != 2 or hand_pose.shape[1] != 45:
        raise ValueError(f"'hand_pose' must be (N, 45), got {hand_pose.shape}")
    if betas.shape != (len(hand_pose), 10):
        raise ValueError(f"'betas' must be ({len(hand_pose)}, 10), got "
                         f'{betas.shape}')
    if not (np.isfinite(hand_pose).all() and np.isfinite(betas).all()):
        raise ValueError('hand_pose and betas must be finite')
    arrays = dict(
        hand_pose=hand_pose, betas=betas,
        is_rhand=np.array(bool(np.asarray(pose_set['is_rhand']))),
        format=np.array(str(pose_set.get('format', HAND_POSE_FORMAT))),
        version=np.array(int(pose_set.get('version', HAND_POSE_VERSION)),
                         dtype=np.int64))

    def write(tmp: str) -> None:
        with open(tmp, 'wb') as fh:
            np.savez(fh, **arrays)

    write_atomic(path, write)
