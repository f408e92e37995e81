"""Keypoint conventions: joint names, name-based mappings and flips.

Joint names follow mmhuman3d's snake_case names (``core/conventions/
keypoints_mapping``), so a convention here maps by name onto mmhuman3d's
190-joint ``human_data`` layout. Conventions (``J`` joints each):

- ``smpl_24`` (alias ``smpl``): the 24 SMPL kinematic joints, pelvis first,
  as produced by the SMPL ``J_regressor`` (mmhuman3d calls this list
  ``smpl``). NOTE: mmhuman3d's own ``smpl_24`` is a different list (SPIN's
  24: LSP-14 + extras regressed by ``J_regressor_extra``), called
  ``spin_24`` here.
- ``smpl_45``: ``smpl_24`` + the 21 landmarks smplx selects from mesh
  vertices (``smplx/vertex_ids.py``, SMPL-H topology): nose, eyes, ears, toes,
  heels, fingertips. This is ``MPTSMPL``'s ``joints`` output on a 6890-vertex
  mesh.
- ``h36m``: the 17 Human3.6M joints in mmhuman3d/SPIN order (LEFT leg
  first); rows of SPIN's/mmhuman3d's ``J_regressor_h36m.npy``.
- ``h36m_mmpose``: the same joints with the RIGHT leg first (MMPose's and
  the Human3.6M dataset's order); rows of METRO/Graphormer's
  ``J_regressor_h36m_correct.npy``.
- ``coco``: the 17 COCO keypoints in MMPose order.
- ``openpose_coco18``: OpenPose's BODY_COCO 18-joint output (nose, neck,
  right arm, left arm, right leg, left leg, eyes, ears). Names carry
  mmhuman3d's ``_openpose`` suffix, as its ``openpose_25`` does, because
  detector joints are not the SMPL joints; map them from ``smpl_45`` with
  ``approximate=True``.
- ``lsp``: the 14 LSP joints (mmhuman3d's evaluation joint set).
- ``human_data``: mmhuman3d's 190-joint ``human_data`` layout, the joint
  axis of every ``keypoints2d``/``keypoints3d`` array stored in a HumanData
  ``.npz`` (0-143 SMPL-X joints and landmarks, 144-152 SPIN's
  ``J_regressor_extra`` joints, 153-177 OpenPose BODY_25, 178-184
  MPI-INF-3DHP extras, 185-189 H36M head/headtop, PoseTrack head bottom
  and the SMPL hands).
- ``mpii``: the 16 MPII joints (mmhuman3d's names: hips, pelvis, thorax and
  neck are the ``*_extra`` joints).
- ``openpose_25``: OpenPose BODY_25 (``*_openpose`` names).
- ``spin_24``: SPIN's 24 joints (LSP-14, then pelvis, thorax, spine, jaw
  and head ``*_extra`` joints, nose, eyes, ears); mmhuman3d calls this list
  ``smpl_24``.
- ``smpl_49``: SPIN's 49 joints, ``openpose_25 + spin_24``.
- ``smpl_54``: ``smpl_45`` + the 9 ``*_extra`` joints of SPIN's
  ``J_regressor_extra``.
- ``mmh3d_coco`` / ``mmh3d_lsp``: mmhuman3d's own ``coco``/``lsp`` lists,
  which name the hips (and LSP's neck) ``*_extra`` where ``coco``/``lsp``
  above use the SMPL names. :data:`MMHUMAN3D_CONVENTIONS` maps every
  mmhuman3d convention name to the one here with the identical name list.

One hand (mmhuman3d's names: ``right_wrist``, ``right_index_1..3``, the
fingertips ``right_thumb``...; the ``*_left`` variants name the same joints
of the left hand, so both map onto ``human_data`` by name):

- ``mano_16``: MANO's 16 kinematic joints (wrist, index, middle, pinky,
  ring, thumb; parents :data:`MANO_PARENTS`).
- ``mano_21``: ``mano_16`` + the five fingertip vertices (thumb, index,
  middle, ring, pinky); mmhuman3d's ``mano``.
- ``hand_21``: the common 21-joint order of FreiHAND, manopth and MMPose's
  FreiHAND / OneHand10K / COCO-WholeBody-Hand / Panoptic datasets: wrist,
  then thumb, index, middle, ring, pinky from base to tip
  (``mano_21[MANO21_TO_HAND21]``). This is ``MPTMANO``'s ``joints``.
- ``rhd_21`` / ``interhand_21`` / ``interhand_42``: MMPose's RHD and
  InterHand2.6M orders (tips first; InterHand's wrist last, both hands right
  first in ``interhand_42``). :data:`MMPOSE_HAND_CONVENTIONS` maps MMPose's
  hand dataset names to these.

Where the name mapping comes from:

- Exact matches share a name (``coco`` ``left_hip`` <- SMPL joint 1
  ``left_hip``, ``coco`` ``nose``/eyes/ears <- the ``smpl_45`` vertex
  landmarks 24..28).
- ``approximate=True`` also matches the groups of
  :data:`APPROXIMATE_EQUIVALENTS` (after mmhuman3d's
  ``APPROXIMATE_MAPPING_LIST``): e.g. ``pelvis ~ pelvis_extra ~
  pelvis_openpose``, ``neck ~ neck_extra ~ neck_openpose``,
  ``left_hip ~ left_hip_extra ~ left_hip_openpose`` and every OpenPose joint
  with its plain name. So ``smpl_45 -> openpose_coco18`` takes the OpenPose
  neck from SMPL's neck joint 12 and the hips from SMPL's hip joints (1, 2),
  which is Key2Mesh's ``SMPL_TO_COCO = [24, 12, 17, 19, 21, 16, 18, 20, 2, 5,
  8, 1, 4, 7, 25, 26, 27, 28]``; ``h36m -> lsp`` gives mmhuman3d's
  :data:`H36M_TO_J14`.
- With a source ``mask`` and ``approximate=True``, :func:`convert_keypoints`
  takes the first member of a group that is both present in the source and
  valid in the mask, so e.g. ``human_data -> h36m`` fills ``pelvis_extra``
  from ``pelvis`` in a file that only has the SMPL joints. mmhuman3d's
  ``convert_kps`` ignores the mask when it picks a stand-in; without a
  mask, or with ``approximate=False``, both give the same result.

The joint-index constants the methods index with (:data:`H36M_TO_J14`,
:data:`SPIN24_TO_J14`, :data:`SMPL45_TO_OPENPOSE18`,
:data:`COCO17_TO_OPENPOSE18` with :func:`coco17_to_openpose18`,
:data:`SMPL_PARENTS`, :data:`H36M_PARENTS`, :data:`SMPL24_TO_H36M`,
:data:`MANO_PARENTS`, :data:`MANO21_TO_HAND21`) live here and nowhere
else.
"""
from functools import lru_cache
from typing import Dict, List, Optional, Tuple, TypeVar, Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'KEYPOINT_CONVENTIONS', 'APPROXIMATE_EQUIVALENTS', 'H36M_TO_J14',
    'MMHUMAN3D_CONVENTIONS', 'NUM_HUMAN_DATA_JOINTS', 'get_keypoint_names',
    'get_keypoint_num', 'get_mapping',
    'convert_keypoints', 'get_flip_indices', 'h36m_regressor_order',
    'SMPL45_TO_OPENPOSE18', 'COCO17_TO_OPENPOSE18', 'coco17_to_openpose18',
    'SPIN24_TO_J14', 'SMPL_PARENTS', 'H36M_PARENTS', 'SMPL24_TO_H36M',
    'MMPOSE_HAND_CONVENTIONS', 'MANO_PARENTS', 'MANO21_TO_HAND21'
]

SMPL_24 = [
    'pelvis', 'left_hip', 'right_hip', 'spine_1', 'left_knee', 'right_knee',
    'spine_2', 'left_ankle', 'right_ankle', 'spine_3', 'left_foot',
    'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hand', 'right_hand'
]

# The 21 smplx vertex-selected landmarks, in smplx's VertexJointSelector
# order (face, feet, then fingertips: left hand, right hand).
SMPL_45 = SMPL_24 + [
    'nose', 'right_eye', 'left_eye', 'right_ear', 'left_ear', 'left_bigtoe',
    'left_smalltoe', 'left_heel', 'right_bigtoe', 'right_smalltoe',
    'right_heel', 'left_thumb', 'left_index', 'left_middle', 'left_ring',
    'left_pinky', 'right_thumb', 'right_index', 'right_middle', 'right_ring',
    'right_pinky'
]

H36M = [
    'pelvis_extra', 'left_hip_extra', 'left_knee', 'left_ankle',
    'right_hip_extra', 'right_knee', 'right_ankle', 'spine_extra',
    'neck_extra', 'head_extra', 'headtop', 'left_shoulder', 'left_elbow',
    'left_wrist', 'right_shoulder', 'right_elbow', 'right_wrist'
]

H36M_MMPOSE = [
    'pelvis_extra', 'right_hip_extra', 'right_knee', 'right_ankle',
    'left_hip_extra', 'left_knee', 'left_ankle', 'spine_extra', 'neck_extra',
    'head_extra', 'headtop', 'left_shoulder', 'left_elbow', 'left_wrist',
    'right_shoulder', 'right_elbow', 'right_wrist'
]

COCO = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
    'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee',
    'left_ankle', 'right_ankle'
]

OPENPOSE_COCO18 = [
    'nose_openpose', 'neck_openpose', 'right_shoulder_openpose',
    'right_elbow_openpose', 'right_wrist_openpose', 'left_shoulder_openpose',
    'left_elbow_openpose', 'left_wrist_openpose', 'right_hip_openpose',
    'right_knee_openpose', 'right_ankle_openpose', 'left_hip_openpose',
    'left_knee_openpose', 'left_ankle_openpose', 'right_eye_openpose',
    'left_eye_openpose', 'right_ear_openpose', 'left_ear_openpose'
]

LSP = [
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee',
    'left_ankle', 'right_wrist', 'right_elbow', 'right_shoulder',
    'left_shoulder', 'left_elbow', 'left_wrist', 'neck', 'headtop'
]

#: mmhuman3d's 190-joint ``human_data`` layout (names and order of mmhuman3d
#: 0.11.0 ``core/conventions/keypoints_mapping/human_data.py``).
HUMAN_DATA = [
    # 0-21: the SMPL-X body joints (SMPL order up to the wrists)
    'pelvis', 'left_hip', 'right_hip', 'spine_1', 'left_knee', 'right_knee',
    'spine_2', 'left_ankle', 'right_ankle', 'spine_3', 'left_foot',
    'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist',
    # 22-24: jaw, eyeballs
    'jaw', 'left_eyeball', 'right_eyeball',
    # 25-54: finger joints (left then right hand)
    'left_index_1', 'left_index_2', 'left_index_3', 'left_middle_1',
    'left_middle_2', 'left_middle_3', 'left_pinky_1', 'left_pinky_2',
    'left_pinky_3', 'left_ring_1', 'left_ring_2', 'left_ring_3',
    'left_thumb_1', 'left_thumb_2', 'left_thumb_3', 'right_index_1',
    'right_index_2', 'right_index_3', 'right_middle_1', 'right_middle_2',
    'right_middle_3', 'right_pinky_1', 'right_pinky_2', 'right_pinky_3',
    'right_ring_1', 'right_ring_2', 'right_ring_3', 'right_thumb_1',
    'right_thumb_2', 'right_thumb_3',
    # 55-75: smplx vertex landmarks (face, feet, fingertips)
    'nose', 'right_eye', 'left_eye', 'right_ear', 'left_ear', 'left_bigtoe',
    'left_smalltoe', 'left_heel', 'right_bigtoe', 'right_smalltoe',
    'right_heel', 'left_thumb', 'left_index', 'left_middle', 'left_ring',
    'left_pinky', 'right_thumb', 'right_index', 'right_middle', 'right_ring',
    'right_pinky',
    # 76-143: face landmarks (eyebrows, nose, eyes, mouth, lips, contour)
    'right_eyebrow_1', 'right_eyebrow_2', 'right_eyebrow_3', 'right_eyebrow_4',
    'right_eyebrow_5', 'left_eyebrow_5', 'left_eyebrow_4', 'left_eyebrow_3',
    'left_eyebrow_2', 'left_eyebrow_1', 'nosebridge_1', 'nosebridge_2',
    'nosebridge_3', 'nosebridge_4', 'right_nose_2', 'right_nose_1',
    'nose_middle', 'left_nose_1', 'left_nose_2', 'right_eye_1', 'right_eye_2',
    'right_eye_3', 'right_eye_4', 'right_eye_5', 'right_eye_6', 'left_eye_4',
    'left_eye_3', 'left_eye_2', 'left_eye_1', 'left_eye_6', 'left_eye_5',
    'right_mouth_1', 'right_mouth_2', 'right_mouth_3', 'mouth_top',
    'left_mouth_3', 'left_mouth_2', 'left_mouth_1', 'left_mouth_5',
    'left_mouth_4', 'mouth_bottom', 'right_mouth_4', 'right_mouth_5',
    'right_lip_1', 'right_lip_2', 'lip_top', 'left_lip_2', 'left_lip_1',
    'left_lip_3', 'lip_bottom', 'right_lip_3', 'right_contour_1',
    'right_contour_2', 'right_contour_3', 'right_contour_4', 'right_contour_5',
    'right_contour_6', 'right_contour_7', 'right_contour_8', 'contour_middle',
    'left_contour_8', 'left_contour_7', 'left_contour_6', 'left_contour_5',
    'left_contour_4', 'left_contour_3', 'left_contour_2', 'left_contour_1',
    # 144-152: SPIN J_regressor_extra joints
    'right_hip_extra', 'left_hip_extra', 'neck_extra', 'headtop',
    'pelvis_extra', 'thorax_extra', 'spine_extra', 'jaw_extra', 'head_extra',
    # 153-177: OpenPose BODY_25
    'nose_openpose', 'neck_openpose', 'right_shoulder_openpose',
    'right_elbow_openpose', 'right_wrist_openpose', 'left_shoulder_openpose',
    'left_elbow_openpose', 'left_wrist_openpose', 'pelvis_openpose',
    'right_hip_openpose', 'right_knee_openpose', 'right_ankle_openpose',
    'left_hip_openpose', 'left_knee_openpose', 'left_ankle_openpose',
    'right_eye_openpose', 'left_eye_openpose', 'right_ear_openpose',
    'left_ear_openpose', 'left_bigtoe_openpose', 'left_smalltoe_openpose',
    'left_heel_openpose', 'right_bigtoe_openpose', 'right_smalltoe_openpose',
    'right_heel_openpose',
    # 178-184: MPI-INF-3DHP extras
    'spine_4_3dhp', 'left_clavicle_3dhp', 'right_clavicle_3dhp',
    'left_hand_3dhp', 'right_hand_3dhp', 'left_toe_3dhp', 'right_toe_3dhp',
    # 185-189: H36M GT head/headtop, PoseTrack head bottom, SMPL hands
    'head_h36m', 'headtop_h36m', 'head_bottom_pt', 'left_hand', 'right_hand',
]

#: Number of joints of the ``human_data`` layout.
NUM_HUMAN_DATA_JOINTS = 190

#: OpenPose BODY_25, ``human_data`` indices 153..177.
OPENPOSE_25 = HUMAN_DATA[153:178]

#: SPIN's ``J_regressor_extra`` joints, ``human_data`` indices 144..152.
SPIN_EXTRA_9 = HUMAN_DATA[144:153]

MPII = [
    'right_ankle', 'right_knee', 'right_hip_extra', 'left_hip_extra',
    'left_knee', 'left_ankle', 'pelvis_extra', 'thorax_extra', 'neck_extra',
    'headtop', 'right_wrist', 'right_elbow', 'right_shoulder',
    'left_shoulder', 'left_elbow', 'left_wrist'
]

# mmhuman3d's own lists; they differ from COCO/LSP above only in the
# *_extra names of the hips (and LSP's neck).
MMH3D_LSP = [
    'right_ankle', 'right_knee', 'right_hip_extra', 'left_hip_extra',
    'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
    'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist',
    'neck_extra', 'headtop'
]

MMH3D_COCO = COCO[:11] + ['left_hip_extra', 'right_hip_extra'] + COCO[13:]

SPIN_24 = MMH3D_LSP + [
    'pelvis_extra', 'thorax_extra', 'spine_extra', 'jaw_extra', 'head_extra',
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear'
]

SMPL_49 = OPENPOSE_25 + SPIN_24

SMPL_54 = SMPL_45 + SPIN_EXTRA_9

# --- one hand (right-hand names, as mmhuman3d's ``mano``/``freihand``) ----
_FINGERS_MANO = ('index', 'middle', 'pinky', 'ring', 'thumb')
_FINGERS = ('thumb', 'index', 'middle', 'ring', 'pinky')

#: MANO's 16 kinematic joints (rows of its ``J_regressor``): wrist, then
#: index, middle, pinky, ring, thumb, three joints each, base first.
MANO_16 = ['right_wrist'] + [
    f'right_{finger}_{i}' for finger in _FINGERS_MANO for i in (1, 2, 3)
]

#: ``mano_16`` + the five fingertip vertices (thumb, index, middle, ring,
#: pinky): mmhuman3d's ``mano``/``mano_right`` and manopth's order before
#: its reordering.
MANO_21 = MANO_16 + [f'right_{finger}' for finger in _FINGERS]

#: The common 21-joint hand order of FreiHAND, manopth and MMPose's
#: FreiHAND/OneHand10K/COCO-WholeBody-Hand/Panoptic datasets: wrist, then
#: thumb, index, middle, ring, pinky, each from its base joint to the tip
#: (mmhuman3d's ``mano_right_reorder``).
HAND_21 = ['right_wrist'] + [
    f'right_{finger}{suffix}' for finger in _FINGERS
    for suffix in ('_1', '_2', '_3', '')
]

#: MMPose's RHD order: wrist, then each finger from the tip to its base.
RHD_21 = ['right_wrist'] + [
    f'right_{finger}{suffix}' for finger in _FINGERS
    for suffix in ('', '_3', '_2', '_1')
]

#: MMPose's InterHand2.6M order of one hand: each finger from the tip to
#: its base, the wrist last.
INTERHAND_21 = RHD_21[1:] + ['right_wrist']


def _left(names: List[str]) -> List[str]:
    """The same joints of the left hand (``right_`` -> ``left_``)."""
    return ['left_' + n[len('right_'):] for n in names]

#: Joint names of every convention, by convention name.
KEYPOINT_CONVENTIONS: Dict[str, Tuple[str, ...]] = {
    'smpl_24': tuple(SMPL_24),
    'smpl': tuple(SMPL_24),
    'smpl_45': tuple(SMPL_45),
    'h36m': tuple(H36M),
    'h36m_mmpose': tuple(H36M_MMPOSE),
    'coco': tuple(COCO),
    'openpose_coco18': tuple(OPENPOSE_COCO18),
    'lsp': tuple(LSP),
    'human_data': tuple(HUMAN_DATA),
    'mpii': tuple(MPII),
    'openpose_25': tuple(OPENPOSE_25),
    'spin_24': tuple(SPIN_24),
    'smpl_49': tuple(SMPL_49),
    'smpl_54': tuple(SMPL_54),
    'mmh3d_coco': tuple(MMH3D_COCO),
    'mmh3d_lsp': tuple(MMH3D_LSP),
    'mano_16': tuple(MANO_16),
    'mano_16_left': tuple(_left(MANO_16)),
    'mano_21': tuple(MANO_21),
    'mano_21_left': tuple(_left(MANO_21)),
    'hand_21': tuple(HAND_21),
    'hand_21_left': tuple(_left(HAND_21)),
    'rhd_21': tuple(RHD_21),
    'interhand_21': tuple(INTERHAND_21),
    'interhand_42': tuple(INTERHAND_21 + _left(INTERHAND_21)),
}

#: mmhuman3d convention name -> the convention here with the identical
#: joint-name list. Note mmhuman3d's ``smpl_24`` is SPIN's 24 (``spin_24``
#: here) while ``smpl_24`` here is mmhuman3d's ``smpl``.
MMHUMAN3D_CONVENTIONS: Dict[str, str] = {
    'human_data': 'human_data',
    'smpl': 'smpl_24',
    'smpl_45': 'smpl_45',
    'smpl_49': 'smpl_49',
    'smpl_54': 'smpl_54',
    'smpl_24': 'spin_24',
    'h36m': 'h36m',
    'h36m_mmpose': 'h36m_mmpose',
    'coco': 'mmh3d_coco',
    'lsp': 'mmh3d_lsp',
    'mpii': 'mpii',
    'openpose_25': 'openpose_25',
    'mano': 'mano_21',
    'mano_right': 'mano_21',
    'mano_left': 'mano_21_left',
    'mano_right_reorder': 'hand_21',
    'mano_left_reorder': 'hand_21_left',
}

#: MMPose hand dataset (``dataset_name`` of its ``metainfo``) -> the
#: convention here with its keypoint order (MMPose's ``thumb1..4``,
#: ``forefinger1..4``, ... are ``thumb_1..3`` + ``thumb`` (the tip),
#: ``index_1..3`` + ``index``, ...). All single-hand datasets but RHD and
#: InterHand share the ``hand_21`` order.
MMPOSE_HAND_CONVENTIONS: Dict[str, str] = {
    'freihand': 'hand_21',
    'onehand10k': 'hand_21',
    'coco_wholebody_hand': 'hand_21',
    'panoptic_hand2d': 'hand_21',
    'rhd2d': 'rhd_21',
    'interhand2d': 'interhand_21',
    'interhand3d': 'interhand_42',
}

#: Groups of names that may stand in for each other with
#: ``approximate=True`` (mmhuman3d's APPROXIMATE_MAPPING_LIST). A joint
#: without an exact match takes the first other member of its group that
#: is present in the source (and valid in the mask, see
#: :func:`convert_keypoints`).
APPROXIMATE_EQUIVALENTS: Tuple[Tuple[str, ...], ...] = (
    ('pelvis', 'pelvis_openpose', 'pelvis_extra'),
    ('left_hip', 'left_hip_openpose', 'left_hip_extra'),
    ('right_hip', 'right_hip_openpose', 'right_hip_extra'),
    ('neck', 'neck_openpose', 'neck_extra'),
    ('jaw', 'jaw_extra'),
    ('head_extra', 'head_h36m'),
    ('headtop', 'headtop_h36m'),
    ('left_hand', 'left_hand_3dhp'),
    ('right_hand', 'right_hand_3dhp'),
    ('nose', 'nose_openpose'),
    ('right_shoulder', 'right_shoulder_openpose'),
    ('right_elbow', 'right_elbow_openpose'),
    ('right_wrist', 'right_wrist_openpose'),
    ('left_shoulder', 'left_shoulder_openpose'),
    ('left_elbow', 'left_elbow_openpose'),
    ('left_wrist', 'left_wrist_openpose'),
    ('right_knee', 'right_knee_openpose'),
    ('right_ankle', 'right_ankle_openpose'),
    ('left_knee', 'left_knee_openpose'),
    ('left_ankle', 'left_ankle_openpose'),
    ('right_eye', 'right_eye_openpose'),
    ('left_eye', 'left_eye_openpose'),
    ('right_ear', 'right_ear_openpose'),
    ('left_ear', 'left_ear_openpose'),
    ('left_bigtoe', 'left_bigtoe_openpose'),
    ('left_smalltoe', 'left_smalltoe_openpose'),
    ('left_heel', 'left_heel_openpose'),
    ('right_bigtoe', 'right_bigtoe_openpose'),
    ('right_smalltoe', 'right_smalltoe_openpose'),
    ('right_heel', 'right_heel_openpose'),
)

_APPROX_MAP: Dict[str, Tuple[str, ...]] = {}
for _group in APPROXIMATE_EQUIVALENTS:
    for _name in _group:
        _APPROX_MAP[_name] = tuple(n for n in _group if n != _name)

#: mmhuman3d's evaluation selection ``h36m`` (17) -> ``lsp`` (14): R ankle,
#: R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow, R shoulder,
#: L shoulder, L elbow, L wrist, neck, headtop. Equals
#: ``get_mapping('h36m', 'lsp', approximate=True)[1]``.
H36M_TO_J14 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]


def get_keypoint_names(convention: str) -> List[str]:
    """Returns the joint names of ``convention`` in order.

    Args:
        convention (str): A key of :data:`KEYPOINT_CONVENTIONS`.

    Returns:
        list[str]: ``J`` names (a fresh list).

    Raises:
        KeyError: Unknown convention.
    """
    if convention not in KEYPOINT_CONVENTIONS:
        raise KeyError(f'unknown keypoint convention {convention!r}; '
                       f'known: {sorted(KEYPOINT_CONVENTIONS)}')
    return list(KEYPOINT_CONVENTIONS[convention])


def get_keypoint_num(convention: str) -> int:
    """Returns the number of joints ``J`` of ``convention``."""
    return len(get_keypoint_names(convention))


@lru_cache(maxsize=None)
def _candidates(src: str, dst: str,
                approximate: bool) -> Tuple[Tuple[int, ...], ...]:
    """Per ``dst`` joint, the ``src`` indices that may provide it, best
    first: the exact name, then (``approximate``) the other members of its
    :data:`APPROXIMATE_EQUIVALENTS` group in group order."""
    src_index = {name: i for i, name in enumerate(get_keypoint_names(src))}
    out = []
    for name in get_keypoint_names(dst):
        cands = [src_index[name]] if name in src_index else []
        if approximate:
            cands += [
                src_index[alt] for alt in _APPROX_MAP.get(name, ())
                if alt in src_index
            ]
        out.append(tuple(cands))
    return tuple(out)


@lru_cache(maxsize=None)
def _mapping(src: str, dst: str,
             approximate: bool) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    dst_idx, src_idx = [], []
    for d, cands in enumerate(_candidates(src, dst, approximate)):
        if cands:
            dst_idx.append(d)
            src_idx.append(cands[0])
    return tuple(dst_idx), tuple(src_idx)


def _masked_mapping(src: str, dst: str,
                    valid: np.ndarray) -> Tuple[List[int], List[int]]:
    """Approximate mapping preferring candidates with ``valid[src] != 0``;
    a joint without a valid candidate keeps its first candidate."""
    dst_idx, src_idx = [], []
    for d, cands in enumerate(_candidates(src, dst, True)):
        if cands:
            dst_idx.append(d)
            src_idx.append(next((c for c in cands if valid[c]), cands[0]))
    return dst_idx, src_idx


def get_mapping(
        src: str,
        dst: str,
        approximate: bool = False,
        src_mask: Optional[Union[np.ndarray, torch.Tensor]] = None
) -> Tuple[List[int], List[int]]:
    """Joint correspondences from ``src`` to ``dst`` by name.

    ``out[..., dst_idx, :] = kps[..., src_idx, :]`` converts keypoints.

    Args:
        src (str): Source convention.
        dst (str): Destination convention.
        approximate (bool): Also match the equivalence groups of
            :data:`APPROXIMATE_EQUIVALENTS` when a name has no exact match.
            Defaults to False.
        src_mask (np.ndarray | torch.Tensor, optional): ``(J_src,)``
            validity of the source joints. Only used with ``approximate``:
            each ``dst`` joint then takes the first of its exact match and
            its group members that is valid (non-zero) in ``src_mask``,
            falling back to the unmasked choice when none is.
            Defaults to None.

    Returns:
        tuple[list[int], list[int]]: ``(dst_idx, src_idx)``, increasing in
        ``dst_idx``; ``dst`` joints without a match are absent.

    Raises:
        ValueError: ``src_mask`` does not have shape ``(J_src,)``.
    """
    if approximate and src_mask is not None:
        num_src = get_keypoint_num(src)
        if tuple(src_mask.shape) != (num_src, ):
            raise ValueError(f'mask expected shape ({num_src},) for '
                             f'convention {src!r}, got '
                             f'{tuple(src_mask.shape)}')
        valid = (src_mask.detach().cpu().numpy() if torch.is_tensor(src_mask)
                 else np.asarray(src_mask)) != 0
        return _masked_mapping(src, dst, valid)
    dst_idx, src_idx = _mapping(src, dst, bool(approximate))
    return list(dst_idx), list(src_idx)


ArrayT = TypeVar('ArrayT', np.ndarray, torch.Tensor)


def convert_keypoints(
        keypoints: ArrayT,
        src: str,
        dst: str,
        mask: Optional[Union[np.ndarray, torch.Tensor]] = None,
        approximate: bool = False) -> Tuple[ArrayT, ArrayT]:
    """Converts keypoints between conventions by joint name.

    Args:
        keypoints (np.ndarray | torch.Tensor): ``(..., J_src, C)`` in any
            unit (metres, pixels...); the unit is kept.
        src (str): Convention of ``keypoints``.
        dst (str): Wanted convention.
        mask (np.ndarray | torch.Tensor, optional): ``(J_src,)`` validity of
            the source joints. Defaults to all ones.
        approximate (bool): Allow approximate equivalents (see
            :func:`get_mapping`; with a ``mask``, stand-ins are chosen
            among the valid source joints). Defaults to False.

    Returns:
        tuple: ``(out, out_mask)``: ``out`` ``(..., J_dst, C)`` of the input's
        type, dtype and device, zero at unmatched joints; ``out_mask``
        ``(J_dst,)`` is ``mask[src_idx]`` at matched joints and 0 elsewhere
        (dtype of ``mask``, or uint8 when no mask is given), same library as
        ``keypoints``.

    Raises:
        TypeError: ``keypoints`` is neither a numpy array nor a tensor.
        ValueError: Shapes do not match the conventions.
    """
    src_names = get_keypoint_names(src)
    num_dst = get_keypoint_num(dst)
    is_torch = torch.is_tensor(keypoints)
    if not is_torch and not isinstance(keypoints, np.ndarray):
        raise TypeError('keypoints must be a numpy array or a torch tensor, '
                        f'got {type(keypoints).__name__}')
    if keypoints.ndim < 2 or keypoints.shape[-2] != len(src_names):
        raise ValueError(
            f'keypoints expected shape (..., {len(src_names)}, C) for '
            f'convention {src!r}, got {tuple(keypoints.shape)}')
    if mask is not None and tuple(mask.shape) != (len(src_names), ):
        raise ValueError(f'mask expected shape ({len(src_names)},) for '
                         f'convention {src!r}, got {tuple(mask.shape)}')
    dst_idx, src_idx = get_mapping(src, dst, approximate, src_mask=mask)
    out_shape = tuple(keypoints.shape[:-2]) + (num_dst, keypoints.shape[-1])

    if is_torch:
        device = keypoints.device
        d_idx = torch.as_tensor(dst_idx, dtype=torch.long, device=device)
        s_idx = torch.as_tensor(src_idx, dtype=torch.long, device=device)
        out = keypoints.new_zeros(out_shape)
        out[..., d_idx, :] = keypoints[..., s_idx, :]
        if mask is None:
            src_mask = torch.ones(
                len(src_names), dtype=torch.uint8, device=device)
        else:
            src_mask = torch.as_tensor(mask, device=device)
        out_mask = src_mask.new_zeros(num_dst)
        out_mask[d_idx] = src_mask[s_idx]
        return out, out_mask

    d_idx = np.asarray(dst_idx, dtype=np.int64)
    s_idx = np.asarray(src_idx, dtype=np.int64)
    out = np.zeros(out_shape, dtype=keypoints.dtype)
    out[..., d_idx, :] = keypoints[..., s_idx, :]
    src_mask = (np.ones(len(src_names), dtype=np.uint8)
                if mask is None else np.asarray(mask))
    out_mask = np.zeros(num_dst, dtype=src_mask.dtype)
    out_mask[d_idx] = src_mask[s_idx]
    return out, out_mask


def _mirror_name(name: str) -> str:
    if name.startswith('left_'):
        return 'right_' + name[len('left_'):]
    if name.startswith('right_'):
        return 'left_' + name[len('right_'):]
    return name


def get_flip_indices(convention: str) -> List[int]:
    """Indices that swap left and right joints of ``convention``.

    ``flipped[..., j, :] = kps[..., flip_indices[j], :]`` (after mirroring
    the x coordinate) gives the keypoints of the mirrored body.

    A single-side convention (one hand: ``hand_21``, ``mano_16_left``...)
    keeps its order: the mirror image of a right hand is a left hand with
    the same joints in the same order (MMPose's hand datasets have no flip
    pairs either).

    Args:
        convention (str): Convention name.

    Returns:
        list[int]: ``J`` indices; unpaired (central) joints, and every
        joint of a single-side convention, map to themselves.

    Raises:
        ValueError: A ``left_*``/``right_*`` joint of a two-sided
            convention has no counterpart.
    """
    names = get_keypoint_names(convention)
    sides = {n.split('_', 1)[0] for n in names
             if n.startswith(('left_', 'right_'))}
    if len(sides) < 2:
        return list(range(len(names)))
    index = {n: i for i, n in enumerate(names)}
    flip = []
    for name in names:
        mirrored = _mirror_name(name)
        if mirrored not in index:
            raise ValueError(f'joint {name!r} of convention {convention!r} '
                             f'has no mirrored joint {mirrored!r}')
        flip.append(index[mirrored])
    return flip


def h36m_regressor_order(j_regressor: np.ndarray,
                         v_template: np.ndarray) -> str:
    """Tells which leg order a 17-joint H36M regressor has.

    The subject's left side is at +x on the SMPL template, so the regressor
    whose row 1 (first hip) lands at larger x than row 4 (second hip) lists
    the left leg first (``'h36m'``, SPIN/mmhuman3d
    ``J_regressor_h36m.npy``); otherwise the right leg comes first
    (``'h36m_mmpose'``, METRO's ``J_regressor_h36m_correct.npy``).

    Args:
        j_regressor (np.ndarray): ``(17, V)`` regressor.
        v_template (np.ndarray): ``(V, 3)`` rest-pose template in metres,
            left side at +x.

    Returns:
        str: ``'h36m'`` or ``'h36m_mmpose'``.

    Raises:
        ValueError: Wrong shapes, or both hip rows at the same x.
    """
    j_regressor = np.asarray(j_regressor, dtype=np.float64)
    v_template = np.asarray(v_template, dtype=np.float64)
    if j_regressor.ndim != 2 or j_regressor.shape[0] != 17:
        raise ValueError('j_regressor expected shape (17, V), got '
                         f'{j_regressor.shape}')
    if v_template.shape != (j_regressor.shape[1], 3):
        raise ValueError(f'v_template expected shape '
                         f'({j_regressor.shape[1]}, 3), got '
                         f'{v_template.shape}')
    hips_x = j_regressor[[1, 4]] @ v_template[:, 0]
    if np.isclose(hips_x[0], hips_x[1], rtol=0, atol=1e-6):
        raise ValueError('cannot tell the leg order: regressor rows 1 and 4 '
                         f'land at the same x ({hips_x[0]:.6f} m)')
    return 'h36m' if hips_x[0] > hips_x[1] else 'h36m_mmpose'


# ---------------------------------------------------------------------------
# Joint-index constants of the methods (what heads, losses, datasets and
# metrics index with); defined once here.
# ---------------------------------------------------------------------------
#: OpenPose-18 joints taken from the ``smpl_45`` joints (Key2Mesh's
#: ``SMPL_TO_COCO``): nose, neck (SMPL 12), arms, SMPL hips, legs, face.
SMPL45_TO_OPENPOSE18: List[int] = get_mapping('smpl_45',
                                              'openpose_coco18',
                                              approximate=True)[1]

#: mmhuman3d's ``smpl_24`` (SPIN's 24 joints, ``spin_24`` here) -> LSP-14:
#: the 13 LSP joints ``0..12`` plus ``head_extra`` (18), i.e. SPIN's
#: ``constants.J24_TO_J14``.
SPIN24_TO_J14 = list(range(13)) + [18]

#: Parent of each of the 24 SMPL joints (``smpl_24`` order; -1 for the
#: pelvis): SMPL's kinematic tree, row 0 of the official ``kintree_table``
#: (which stores the root's parent as 4294967295).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16,
                17, 18, 19, 20, 21)

#: Parent of each H3.6M joint (pelvis, 3 + 3 leg joints, spine, thorax,
#: neck/nose, head, 3 + 3 arm joints): legs hang from the pelvis, the spine
#: from the pelvis, head and shoulders from the thorax (joint 8). Either leg
#: order (``h36m`` / ``h36m_mmpose``): the tree is symmetric.
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

#: Parent of each of the 16 MANO joints (``mano_16`` order; -1 for the
#: wrist): every finger's base hangs from the wrist, each further joint
#: from the previous one of its finger. Row 0 of the official
#: ``kintree_table`` (root stored as 4294967295).
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

#: ``mano_21`` (16 kinematic joints + 5 fingertips) -> ``hand_21``
#: (FreiHAND/MMPose order): ``hand_21 = mano_21[MANO21_TO_HAND21]``,
#: manopth's ``[0, 13, 14, 15, 16, 1, 2, 3, 17, ...]`` reordering. Equals
#: ``get_mapping('mano_21', 'hand_21')[1]``.
MANO21_TO_HAND21 = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12,
                    19, 7, 8, 9, 20)

#: For every SMPL joint, the H3.6M joint (LEFT-leg-first ``'h36m'`` order
#: of mmhuman3d's regressor) whose bones move like it: pelvis and spine1 ->
#: pelvis; spine2 -> spine; spine3, neck, collars -> thorax; head -> head;
#: feet -> ankles; hands -> wrists; limbs -> the same limb joint.
SMPL24_TO_H36M = (0, 1, 4, 0, 2, 5, 7, 3, 6, 8, 3, 6, 8, 8, 8, 9, 11, 14, 12,
                  15, 13, 16, 13, 16)

#: Source COCO-17 (MMPose order) index of every OpenPose BODY_COCO-18 joint
#: (nose, neck, RSho, REl, RWr, LSho, LEl, LWr, RHip, RKnee, RAnk, LHip,
#: LKnee, LAnk, REye, LEye, REar, LEar); -1 is the neck, which COCO lacks and
#: which is synthesised as the midpoint of the shoulders
#: (:func:`coco17_to_openpose18`).
COCO17_TO_OPENPOSE18 = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1,
                        4, 3)


def coco17_to_openpose18(
        keypoints: Tensor,
        mask: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
    """Reorders COCO-17 (MMPose) keypoints to OpenPose COCO-18.

    The neck is the midpoint of the two shoulders and is valid only when
    both shoulders are. Where it is invalid (``mask`` given) the neck is set
    to ``0.5``, the value
    :func:`~mpt_plugin.geometry.keypoints.normalize_keypoints_2d` gives
    dropped joints. The midpoint commutes with the normalisation (an isotropic
    affine map; the neck lies inside the shoulders' bbox), so this may be
    applied before or after normalising.

    Args:
        keypoints (Tensor): (B, 17, C) COCO-17 keypoints (any unit, any
            number of coordinates ``C``).
        mask (Tensor, optional): (B, 17) bool (or 0/1) validity.

    Returns:
        tuple:
        - keypoints (Tensor): (B, 18, C) OpenPose-18 keypoints.
        - mask (Tensor | None): (B, 18) bool validity, None if not given.
    """
    if keypoints.ndim != 3 or keypoints.shape[1] != 17:
        raise ValueError('COCO-17 keypoints must have shape (B, 17, C), got '
                         f'{tuple(keypoints.shape)}')
    idx = torch.tensor([max(i, 0) for i in COCO17_TO_OPENPOSE18],
                       device=keypoints.device)
    out = keypoints.index_select(1, idx)
    neck = 0.5 * (keypoints[:, 5] + keypoints[:, 6])  # (B, C)
    out_mask = None
    if mask is not None:
        if tuple(mask.shape) != tuple(keypoints.shape[:2]):
            raise ValueError('mask must have shape (B, 17), got '
                             f'{tuple(mask.shape)}')
        mask = mask.bool()
        neck_ok = mask[:, 5] & mask[:, 6]  # (B,)
        neck = torch.where(neck_ok[:, None], neck, torch.full_like(neck, 0.5))
        out_mask = mask.index_select(1, idx).clone()
        out_mask[:, 1] = neck_ok
    out = torch.cat([out[:, :1], neck[:, None], out[:, 2:]], dim=1)
    return out, out_mask
