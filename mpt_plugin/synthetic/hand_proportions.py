"""Proportions and skeleton of the synthetic MANO-format right hand.

Step 1 of the hand generator (:mod:`mpt_plugin.synthetic.hand_model`): the
16 MANO rest joints (``mano_16`` order: wrist, index1-3, middle1-3,
pinky1-3, ring1-3, thumb1-3; parents
:data:`~mpt_plugin.body_models.conventions.MANO_PARENTS`), the five
fingertips and the finger girths of an adult hand (wrist joint to middle
fingertip about 0.185 m). Metres, flat hand: the wrist at the origin, the
fingers along +y, the back of the hand facing +z (palm towards -z), the
thumb of the right hand on the -x side.
"""
from typing import Dict, Tuple

import numpy as np

from .body_proportions import unit

__all__ = [
    'NUM_HAND_JOINTS', 'FINGERS', 'FINGER_JOINTS', 'FINGERTIP_ORDER',
    'hand_skeleton'
]

NUM_HAND_JOINTS = 16

#: Fingers in MANO's joint order and their joint ids (base to distal).
FINGERS = ('index', 'middle', 'pinky', 'ring', 'thumb')
FINGER_JOINTS: Dict[str, Tuple[int, int, int]] = {
    'index': (1, 2, 3),
    'middle': (4, 5, 6),
    'pinky': (7, 8, 9),
    'ring': (10, 11, 12),
    'thumb': (13, 14, 15),
}
#: Order of the fingertip vertex ids (FreiHAND / ``MPTMANO``).
FINGERTIP_ORDER = ('thumb', 'index', 'middle', 'ring', 'pinky')

# Base joint (x, y, z), direction and bone lengths (base -> 2nd joint ->
# 3rd joint -> tip, metres) and girth (width, thickness at the base).
_FINGER_SPECS = {
    'index': ((-0.029, 0.086, 0.0), (-0.06, 1.0, 0.0),
              (0.041, 0.025, 0.022), (0.0190, 0.0165)),
    'middle': ((-0.009, 0.090, 0.0), (-0.01, 1.0, 0.0),
               (0.045, 0.028, 0.023), (0.0195, 0.0170)),
    'ring': ((0.011, 0.086, 0.0), (0.05, 1.0, 0.0),
             (0.042, 0.027, 0.023), (0.0180, 0.0160)),
    'pinky': ((0.029, 0.077, 0.0), (0.12, 1.0, 0.0),
              (0.033, 0.020, 0.021), (0.0160, 0.0145)),
    'thumb': ((-0.024, 0.024, -0.006), (-0.52, 0.82, -0.24),
              (0.042, 0.032, 0.027), (0.0230, 0.0200)),
}

#: Wrist joint (metres); the open wrist end of the mesh lies near y = -0.01.
WRIST = np.array([0.0, 0.004, 0.0])


def hand_skeleton() -> Dict[str, np.ndarray]:
    """The rest skeleton of the right hand.

    Returns:
        dict: ``J`` ``(16, 3)`` joints (``mano_16`` order), ``tips``
        ``(5, 3)`` fingertips and ``dirs`` ``(5, 3)`` unit finger
        directions (both in :data:`FINGERS` order), ``girth`` ``(5, 2)``
        width and thickness at the finger bases (metres).
    """
    J = np.zeros((NUM_HAND_JOINTS, 3))
    J[0] = WRIST
    tips, dirs, girth = [], [], []
    for name in FINGERS:
        base, direction, lengths, size = _FINGER_SPECS[name]
        d = unit(direction)
        offsets = np.cumsum((0.0, ) + tuple(lengths))
        points = np.asarray(base) + offsets[:, None] * d
        J[list(FINGER_JOINTS[name])] = points[:3]
        tips.append(points[3])
        dirs.append(d)
        girth.append(size)
    return {'J': J, 'tips': np.stack(tips), 'dirs': np.stack(dirs),
            'girth': np.asarray(girth)}
