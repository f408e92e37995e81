"""Synthetic human images with HumanData annotations (mmhuman3d layout).

:func:`render_synthetic_human_data` renders the synthetic SMPL-format body
(``tools/make_synthetic_assets.py``) in random plausible poses, shapes,
genders, clothing colours, lights, camera distances and viewpoints over
random textured backgrounds, and writes:

- images ``{data_prefix}/datasets/{dataset_name}/{image_path}`` with paths
  shaped like the real datasets' (see :data:`PATH_STYLES`);
- a HumanData ``.npz`` ``{data_prefix}/preprocessed_datasets/{ann_file}`` in
  mmhuman3d 0.11.0's dump layout: keypoints in the 190-joint ``human_data``
  convention, compressed by ``keypoints*_mask``; ``smpl``/``meta``/``misc``
  dicts as 0-d object arrays; ``__key_strict__``, ``__data_len__`` and
  ``__keypoints_compressed__`` entries.

Ground truth is exact for the rendered picture:

- Camera: pinhole at the origin, camera frame x right, y down, z forward
  (metres); ``x_px = f * X / Z + cx`` with pixel centres at integer
  coordinates (OpenCV / MMPose); ``misc['focal_length']`` (N, 2) and
  ``misc['principal_point']`` (N, 2) px.
- SMPL: ``global_orient`` is the root orientation in the camera frame and
  ``smpl(betas, body_pose, global_orient, transl)`` of the sample's gender
  (``meta['gender']`` 'm'/'f') reproduces the rendered mesh in metres.
- 3D joints: the 17 ``h36m`` joints (``J_regressor_h36m`` of the mesh), plus
  for the training layouts the ``smpl_45`` joints at the ``human_data``
  indices not taken by an ``h36m`` joint; stored root-centred on the H36M
  pelvis like mmhuman3d's H36M converter. ``misc['root_cam']`` (N, 3)
  metres is that pelvis in the camera frame, so ``project(keypoints3d +
  root_cam) == keypoints2d``.
- 2D joints: the projection of the 3D joints; conf 1 inside the image, 0
  outside.
- Boxes ``bbox_xywh`` (N, 5) px with conf 1: the tight silhouette box x0.9
  (``'mask'``, H36M) or the box of the in-image 2D joints x1.2
  (``'keypoints'``, 3DPW and the others), scaled about their centres.

Layouts (:data:`LAYOUTS`):

- ``'h36m_p2'``: like ``h36m_valid_protocol2.npz``: ``keypoints2d`` and
  ``keypoints3d`` of the 17 ``h36m`` joints, mask boxes, no ``smpl``.
- ``'pw3d'``: like ``pw3d_test.npz``: ``smpl`` (with ``transl``),
  ``meta['gender']``, keypoint boxes, no keypoints.
- ``'train_full'``: keypoints2d, keypoints3d, smpl, gender, ``has_smpl``.
- ``'train_2d'``: ``keypoints2d`` only (like COCO / MPII).

Runs are resumable: every batch's annotations go to a hidden parts folder
next to the ``.npz`` (with the run's parameters), images are written
atomically, and a re-run with the same arguments skips finished batches.
The ``.npz`` is written last (atomically) and the parts folder removed.
Sample ``i`` depends only on ``(seed, i)`` and the arguments (not on
``num_samples``): the same seed gives the same images and arrays.
"""
import functools
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from mpt_plugin.body_models.conventions import (NUM_HUMAN_DATA_JOINTS,
                                                convert_keypoints,
                                                h36m_regressor_order)
from mpt_plugin.body_models.gendered_smpl import MPTGenderedSMPL
from mpt_plugin.datasets.human_data_io import save_human_data
from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.geometry.rotations import (euler_to_axis_angle, rot_x, rot_y,
                                           rot_z)
from mpt_plugin.utils.file_io import write_atomic
from mpt_plugin.visualization.rasterizer import render_mesh

from .amass_motion import clamp_to_joint_limits

__all__ = [
    'LAYOUTS', 'PATH_STYLES', 'LayoutSpec', 'GENERATOR_VERSION',
    'render_synthetic_human_data', 'sample_body_pose', 'random_background',
    'synthetic_image_paths', 'dump_human_data'
]

PathLike = Union[str, os.PathLike]

#: Bumped whenever the generated images or arrays change.
GENERATOR_VERSION = '1.0.0'


@dataclass(frozen=True)
class LayoutSpec:
    """Which HumanData keys a layout writes.

    Attributes:
        keypoints2d: write ``keypoints2d`` (+ mask).
        keypoints3d: write ``keypoints3d`` (+ mask), root-centred.
        smpl: write ``smpl`` (and ``meta['gender']``).
        has_smpl: write the ``has_smpl`` (N,) flags.
        joint_set: ``'h36m'`` (17 joints) or ``'h36m+smpl45'``.
        bbox_mode: ``'mask'`` (silhouette box) or ``'keypoints'``.
        bbox_scale: box scale about its centre.
    """
    keypoints2d: bool
    keypoints3d: bool
    smpl: bool
    has_smpl: bool
    joint_set: str
    bbox_mode: str
    bbox_scale: float


#: The layouts of :func:`render_synthetic_human_data`.
LAYOUTS: Dict[str, LayoutSpec] = {
    'h36m_p2': LayoutSpec(True, True, False, False, 'h36m', 'mask', 0.9),
    'pw3d': LayoutSpec(False, False, True, False, 'h36m+smpl45', 'keypoints',
                       1.2),
    'train_full': LayoutSpec(True, True, True, True, 'h36m+smpl45',
                             'keypoints', 1.2),
    'train_2d': LayoutSpec(True, False, False, False, 'h36m+smpl45',
                           'keypoints', 1.2),
}

#: Image-path styles (relative to ``{data_prefix}/datasets/{name}/``),
#: chosen from the dataset name; anything else gets ``'generic'``.
PATH_STYLES = ('h36m', 'pw3d', 'coco', 'mpii', 'muco', 'up3d', 'generic')

#: mmhuman3d ``config`` string per dataset name.
_CONFIG_NAMES = {
    'h36m': 'h36m', 'pw3d': 'pw3d', 'coco': 'coco', 'mpii': 'mpii',
    'muco': 'muco3dhp', 'up3d': 'up3d'
}

_H36M_ACTIONS = ('Directions', 'Discussion', 'Eating', 'Greeting', 'Phoning',
                 'Photo', 'Posing', 'Purchases', 'Sitting', 'SittingDown',
                 'Smoking', 'Waiting', 'WalkDog', 'Walking', 'WalkTogether')
_H36M_CAMERAS = ('54138969', '55011271', '58860488', '60457274')
_PW3D_TEST_SEQS = ('downtown_arguing_00', 'downtown_bar_00',
                   'downtown_bus_00', 'downtown_cafe_00', 'downtown_car_00',
                   'downtown_crossStreets_00', 'downtown_downstairs_00',
                   'downtown_enterShop_00', 'downtown_rampAndStairs_00',
                   'downtown_runForBus_00', 'downtown_sitOnStairs_00',
                   'downtown_walkBridge_01', 'downtown_walking_00',
                   'flat_guitar_01', 'office_phoneCall_00',
                   'outdoors_fencing_01')
_PW3D_TRAIN_SEQS = ('courtyard_arguing_00', 'courtyard_backpack_00',
                    'courtyard_basketball_00',
                    'courtyard_bodyScannerMotions_00',
                    'courtyard_box_00', 'courtyard_capoeira_00',
                    'courtyard_captureSelfies_00', 'courtyard_dancing_01',
                    'courtyard_giveDirections_00', 'courtyard_golf_00',
                    'courtyard_goodNews_00', 'courtyard_jacket_00')
_FRAMES_PER_SEQUENCE = 8

# SMPL joint groups for clothing colours (by skinning-weight argmax).
_SKIN_JOINTS = (12, 15, 20, 21, 22, 23)
_FOREARM_JOINTS = (18, 19)
_SHIN_JOINTS = (4, 5)
_SHOE_JOINTS = (7, 8, 10, 11)
_PANTS_JOINTS = (0, 1, 2)
_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.89, 0.67, 0.53],
                        [0.78, 0.57, 0.44], [0.60, 0.42, 0.31],
                        [0.42, 0.29, 0.21]])


# ---------------------------------------------------------------------------
# Random scene parameters
# ---------------------------------------------------------------------------
def sample_body_pose(rng: np.random.Generator) -> np.ndarray:
    """One random plausible SMPL body pose.

    Arms lowered by a random amount from the T-pose and swung, elbows and
    knees flexed one way only, hips flexed/abducted, spine, neck and head
    mildly bent and twisted, plus small noise on every joint; drawn as
    intrinsic XYZ Euler angles in the SMPL joint frames (sign facts of
    :mod:`mpt_plugin.synthetic.amass_motion`) and clamped to its joint
    limits.

    Args:
        rng: random generator.

    Returns:
        np.ndarray: (23, 3) float64 axis-angle (radians), joints 1..23.
    """
    e = rng.normal(0.0, 0.06, (24, 3))
    e[0] = 0.0
    for side, sgn in ((0, 1.0), (1, -1.0)):
        hip, knee, ankle = (1, 4, 7) if side == 0 else (2, 5, 8)
        sh, elbow, wrist = (16, 18, 20) if side == 0 else (17, 19, 21)
        e[hip, 0] += rng.uniform(-1.1, 0.3)  # -x = thigh forward
        e[hip, 1] += sgn * rng.uniform(-0.3, 0.3)
        e[hip, 2] += sgn * rng.uniform(-0.1, 0.45)  # abduction
        e[knee, 0] += rng.uniform(0.0, 1.0)**1.5 * 1.8  # flexion
        e[ankle, 0] += rng.uniform(-0.3, 0.3)
        e[sh, 2] += -sgn * rng.uniform(0.1, 1.45)  # lower the arm
        e[sh, 0] += rng.uniform(-1.3, 0.5)  # -x = arm forward
        e[sh, 1] += sgn * rng.uniform(-0.5, 0.5)
        e[elbow, 1] += -sgn * rng.uniform(0.0, 1.0)**1.3 * 2.0  # flexion
        e[wrist] += rng.uniform(-0.3, 0.3, 3)
    for j in (3, 6, 9):
        e[j] += [rng.uniform(-0.1, 0.25), rng.uniform(-0.2, 0.2),
                 rng.uniform(-0.1, 0.1)]
    for j in (12, 15):
        e[j] += [rng.uniform(-0.2, 0.3), rng.uniform(-0.4, 0.4),
                 rng.uniform(-0.15, 0.15)]
    e = clamp_to_joint_limits(e)
    return euler_to_axis_angle(e[1:])


def _sample_scene(rng: np.random.Generator, width: int,
                  height: int) -> Dict[str, np.ndarray]:
    """Per-sample random parameters (body, camera, appearance seeds)."""
    # Root orientation in the camera frame: SMPL (y up, facing +z) turned
    # 180 deg about x faces the camera upright; then a random heading
    # about the body's vertical axis, a small lean, the camera elevation
    # and roll.
    yaw = rng.uniform(-np.pi, np.pi)
    lean = rot_x(rng.normal(0.0, 0.08)) @ rot_z(rng.normal(0.0, 0.05))
    elevation = rng.uniform(-0.15, 0.45)
    roll = rng.normal(0.0, 0.04)
    root = (rot_z(roll) @ rot_x(elevation) @ rot_x(np.pi) @ rot_y(yaw)
            @ lean)
    focal = rng.uniform(1.0, 1.6) * max(width, height)
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    centre = centre + rng.uniform(-0.02, 0.02, 2) * np.array([width, height])
    return dict(
        body_pose=sample_body_pose(rng),
        global_orient=Rotation.from_matrix(root).as_rotvec(),
        betas=np.clip(rng.normal(0.0, 1.0, 10), -2.5, 2.5),
        gender=np.int64(rng.integers(0, 2)),  # 0 male, 1 female
        focal=np.array([focal, focal]),
        principal_point=centre,
        fill=np.float64(rng.uniform(0.45, 0.8)),
        offset=rng.uniform(-1.0, 1.0, 2),
        appearance_seed=np.int64(rng.integers(0, 2**62)),
    )


def random_background(rng: np.random.Generator, height: int,
                      width: int) -> np.ndarray:
    """Random textured background: a two-colour gradient at a random angle,
    low-frequency colour noise, optional stripes and fine grain.

    Args:
        rng: random generator.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    f32 = np.float32
    xx = (np.arange(width, dtype=f32) / max(width - 1, 1))[None, :]
    yy = (np.arange(height, dtype=f32) / max(height - 1, 1))[:, None]
    c0, c1 = rng.uniform(0.0, 1.0, (2, 3)).astype(f32)
    ang = rng.uniform(0, 2 * np.pi)
    t = (f32(np.cos(ang)) * (xx - 0.5) + f32(np.sin(ang)) *
         (yy - 0.5)) / f32(1.42) + f32(0.5)
    img = c0 + t[..., None] * (c1 - c0)
    grid = int(rng.integers(3, 12))
    noise = rng.standard_normal((grid, grid, 3), dtype=f32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    img += f32(rng.uniform(0.05, 0.25)) * noise
    if rng.uniform() < 0.4:  # stripes / floor-tile like pattern
        freq = rng.uniform(4.0, 20.0)
        a2 = rng.uniform(0, np.pi)
        phase = f32(2 * np.pi * freq) * (f32(np.cos(a2)) * xx +
                                         f32(np.sin(a2)) * yy)
        img += f32(rng.uniform(0.04, 0.15)) * np.sign(np.sin(phase))[...,
                                                                   None]
    img += rng.standard_normal(img.shape, dtype=f32) * f32(0.015)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _face_parts(lbs_weights: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) SMPL joint that drives each face most (first vertex)."""
    return lbs_weights.argmax(axis=1)[faces[:, 0]]


def _clothing_colors(rng: np.random.Generator,
                     face_part: np.ndarray) -> np.ndarray:
    """(F, 3) RGB in [0, 1]: skin, shirt, trousers and shoes, with random
    short sleeves / shorts and a little per-face texture."""
    skin = _SKIN_TONES[rng.integers(0, len(_SKIN_TONES))] * rng.uniform(
        0.92, 1.05)
    hsv = np.stack([rng.uniform(0, 180, 3), rng.uniform(40, 220, 3),
                    rng.uniform(50, 240, 3)], axis=1).astype(np.uint8)
    shirt, pants, shoes = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0] / 255.
    shoes = shoes * 0.5
    colors = np.empty((len(face_part), 3))
    colors[:] = shirt
    colors[np.isin(face_part, _PANTS_JOINTS)] = pants
    colors[np.isin(face_part, _SHIN_JOINTS)] = (
        skin if rng.uniform() < 0.25 else pants)
    colors[np.isin(face_part, _FOREARM_JOINTS)] = (
        skin if rng.uniform() < 0.5 else shirt)
    colors[np.isin(face_part, _SKIN_JOINTS)] = skin
    colors[np.isin(face_part, _SHOE_JOINTS)] = shoes
    colors *= rng.uniform(0.93, 1.07, (len(face_part), 1))
    return np.clip(colors, 0.0, 1.0)


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------
def _path_style(dataset_name: str) -> str:
    return dataset_name if dataset_name in PATH_STYLES else 'generic'


def synthetic_image_paths(dataset_name: str,
                          indices: Sequence[int],
                          split: str = 'train',
                          image_ext: Optional[str] = None) -> List[str]:
    """Image paths shaped like the real dataset's.

    Args:
        dataset_name: ``'h36m'``, ``'pw3d'``, ``'coco'``, ``'mpii'``,
            ``'muco'``, ``'up3d'`` or anything else (``images/%06d.jpg``).
        indices: sample indices.
        split: ``'train'`` or ``'test'``/``'valid'`` (subjects S9/S11 and
            camera 60457274 for H36M; the 3DPW test sequences).
        image_ext: file extension without the dot; None keeps the dataset's
            (``png`` for UP-3D, ``jpg`` otherwise).

    Returns:
        list[str]: relative paths, e.g.
        ``S9/images/S9_Directions.60457274/S9_Directions.60457274_000001.jpg``
        or ``imageFiles/downtown_bar_00/image_00005.jpg``.
    """
    style = _path_style(dataset_name)
    ext = image_ext or ('png' if style == 'up3d' else 'jpg')
    test = split != 'train'
    paths = []
    for i in map(int, indices):
        seq, frame = divmod(i, _FRAMES_PER_SEQUENCE)
        if style == 'h36m':
            subjects = ('S9', 'S11') if test else ('S1', 'S5', 'S6', 'S7',
                                                   'S8')
            cams = _H36M_CAMERAS[3:] if test else _H36M_CAMERAS
            subj = subjects[seq % len(subjects)]
            rest = seq // len(subjects)
            action = _H36M_ACTIONS[rest % len(_H36M_ACTIONS)]
            rest //= len(_H36M_ACTIONS)
            cam = cams[rest % len(cams)]
            take = rest // len(cams)
            if take:
                action = f'{action}_{take}'
            name = f'{subj}_{action}.{cam}'
            paths.append(f'{subj}/images/{name}/{name}_{5 * frame + 1:06d}.'
                         f'{ext}')
        elif style == 'pw3d':
            seqs = _PW3D_TEST_SEQS if test else _PW3D_TRAIN_SEQS
            name = seqs[seq % len(seqs)]
            take = seq // len(seqs)
            if take:
                name = f'{name[:-3]}_{take + 10:02d}'
            paths.append(f'imageFiles/{name}/image_{frame:05d}.{ext}')
        elif style == 'coco':
            paths.append(f'train2014/COCO_train2014_{i + 1:012d}.{ext}')
        elif style == 'mpii':
            paths.append(f'images/{i + 1:09d}.{ext}')
        elif style == 'muco':
            paths.append(f'augmented_set/{i:06d}.{ext}')
        elif style == 'up3d':
            paths.append(f'trainval/{i:05d}_image.{ext}')
        else:
            paths.append(f'images/{i:06d}.{ext}')
    return paths


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def dump_human_data(path: PathLike, human_data: Dict[str, object],
                    keypoints_compressed: bool = True) -> str:
    """Write a dict as mmhuman3d's ``HumanData.dump`` does, atomically.

    :func:`mpt_plugin.datasets.human_data_io.save_human_data` of the items
    plus ``__keypoints_compressed__``, written to a temporary file and
    renamed.

    Args:
        path: output ``.npz``.
        human_data: HumanData keys (``image_path`` required).
        keypoints_compressed: whether ``keypoints*`` hold only the columns
            where their mask is 1.

    Returns:
        str: ``path``.
    """
    path = os.fspath(path)
    if 'image_path' not in human_data:
        raise KeyError(f'cannot dump {path!r}: HumanData needs image_path')
    flagged = dict(human_data,
                   __keypoints_compressed__=bool(keypoints_compressed))
    write_atomic(path, lambda tmp: save_human_data(
        tmp, flagged, compress_keypoints=bool(keypoints_compressed)))
    return path


def _scaled_box(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray,
                y1: np.ndarray, scale: float) -> np.ndarray:
    """(N, 5) xywh + conf of boxes scaled about their centres."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = (x1 - x0) * scale, (y1 - y0) * scale
    return np.stack([cx - w / 2, cy - h / 2, w, h, np.ones_like(w)], axis=1)


def _mask_box(mask: np.ndarray) -> Tuple[float, float, float, float]:
    """Tight (x0, y0, x1, y1) pixel-index box of a (H, W) mask."""
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return np.nan, np.nan, np.nan, np.nan
    return cols[0], rows[0], cols[-1], rows[-1]


@functools.lru_cache(maxsize=2)
def _load_body_model(body_model_dir: str, joints_regressor: str):
    """Gendered SMPL (float64) + faces, face parts and regressor order;
    cached so that several files of one run load the models once."""
    smpl = MPTGenderedSMPL(body_model_dir, joints_regressor=joints_regressor,
                           dtype=torch.float64)
    neutral = smpl.neutral
    faces = np.asarray(neutral.faces, dtype=np.int64)
    face_part = _face_parts(neutral.lbs_weights.numpy(), faces)
    order = h36m_regressor_order(neutral.joints_regressor.numpy(),
                                 neutral.v_template.numpy())
    return smpl, faces, face_part, order


class _Generator:
    """Body model, joint regressor and the per-batch posing."""

    def __init__(self, body_model_dir: PathLike,
                 joints_regressor: Optional[PathLike], width: int,
                 height: int) -> None:
        body_model_dir = osp.abspath(os.fspath(body_model_dir))
        if not osp.isdir(body_model_dir):
            raise FileNotFoundError(
                f'body_model_dir {body_model_dir!r} is not a folder holding '
                'SMPL_{NEUTRAL,MALE,FEMALE}.npz (run tools/'
                'make_synthetic_assets.py --out DIR, then use DIR/'
                'body_models)')
        if joints_regressor is None:
            joints_regressor = osp.join(body_model_dir, 'J_regressor_h36m.npy')
        joints_regressor = osp.abspath(os.fspath(joints_regressor))
        if not osp.isfile(joints_regressor):
            raise FileNotFoundError(
                f'joints_regressor {joints_regressor!r} not found (a (17, V) '
                'J_regressor_h36m.npy)')
        (self.smpl, self.faces, self.face_part,
         self.regressor_order) = _load_body_model(body_model_dir,
                                                  joints_regressor)
        self.width, self.height = width, height

    def forward(self, params: Dict[str, np.ndarray]
                ) -> Dict[str, np.ndarray]:
        """Posed mesh and joints in the camera frame for a batch.

        Returns:
            dict: ``vertices`` (B, V, 3), ``h36m`` (B, 17, 3), ``smpl_45``
            (B, 45, 3) metres (camera frame) and ``transl`` (B, 3).
        """
        f64 = torch.float64
        with torch.no_grad():
            out = self.smpl(
                betas=torch.as_tensor(params['betas'], dtype=f64),
                body_pose=torch.as_tensor(
                    params['body_pose'], dtype=f64).reshape(-1, 69),
                global_orient=torch.as_tensor(
                    params['global_orient'], dtype=f64),
                gender=torch.as_tensor(params['gender']))
        verts = out['vertices'].numpy()
        h36m = out['joints_regressed'].numpy()
        if self.regressor_order != 'h36m':
            h36m, _ = convert_keypoints(h36m, self.regressor_order, 'h36m')
        smpl45 = out['joints'].numpy()
        # Place the body: depth so that it fills `fill` of the image, its
        # box centre at a random position that keeps it inside.
        lo, hi = verts.min(axis=1), verts.max(axis=1)
        mid = (lo + hi) / 2
        f = params['focal']
        pp = params['principal_point']
        size = np.array([self.width, self.height], dtype=np.float64)
        ext = hi[:, :2] - lo[:, :2]
        depth = (f * ext / size).max(axis=1) / params['fill']
        fill_xy = f * ext / depth[:, None] / size
        room = np.clip(1.0 - fill_xy, 0.0, None) / 2 * size * 0.8
        target = size / 2 - 0.5 + params['offset'] * room
        transl = np.concatenate(
            [(target - pp) * depth[:, None] / f - mid[:, :2],
             (depth - mid[:, 2])[:, None]], axis=1)
        shift = transl[:, None]
        return dict(vertices=verts + shift, h36m=h36m + shift,
                    smpl_45=smpl45 + shift, transl=transl)


def _human_data_joints(h36m: np.ndarray, smpl45: np.ndarray,
                       joint_set: str) -> Tuple[np.ndarray, np.ndarray]:
    """(B, 190, 3) ``human_data`` joints and their (190,) uint8 mask;
    ``h36m`` joints win where both conventions name the same joint."""
    if joint_set == 'h36m':
        return convert_keypoints(h36m, 'h36m', 'human_data')
    full, mask = convert_keypoints(smpl45, 'smpl_45', 'human_data')
    h_full, h_mask = convert_keypoints(h36m, 'h36m', 'human_data')
    sel = h_mask.astype(bool)
    full[:, sel] = h_full[:, sel]
    return full, np.maximum(mask, h_mask)


def _render_batch(gen: _Generator, params: Dict[str, np.ndarray],
                  indices: np.ndarray, layout: LayoutSpec,
                  image_files: List[str], write_images: np.ndarray,
                  image_ext: str) -> Dict[str, np.ndarray]:
    """Render (and write) one batch; return its annotation arrays."""
    width, height = gen.width, gen.height
    geo = gen.forward(params)
    joints3d, mask = _human_data_joints(geo['h36m'], geo['smpl_45'],
                                        layout.joint_set)
    box_joints = np.concatenate([geo['h36m'], geo['smpl_45']], axis=1)
    num = len(indices)
    kp2d = np.zeros((num, NUM_HUMAN_DATA_JOINTS, 3))
    sel = mask.astype(bool)
    kp2d[:, sel, :2] = project_points(
        joints3d[:, sel], params['focal'][:, None],
        params['principal_point'][:, None])
    inside = ((kp2d[..., 0] >= -0.5) & (kp2d[..., 0] < width - 0.5) &
              (kp2d[..., 1] >= -0.5) & (kp2d[..., 1] < height - 0.5))
    kp2d[..., 2] = inside & sel
    box_px = project_points(box_joints, params['focal'][:, None],
                            params['principal_point'][:, None])
    box_in = ((box_px[..., 0] >= -0.5) & (box_px[..., 0] < width - 0.5) &
              (box_px[..., 1] >= -0.5) & (box_px[..., 1] < height - 0.5))
    root = geo['h36m'][:, 0]
    kp3d = np.zeros((num, NUM_HUMAN_DATA_JOINTS, 4))
    kp3d[:, sel, :3] = joints3d[:, sel] - root[:, None]
    kp3d[:, sel, 3] = 1.0

    mask_boxes = np.full((num, 4), np.nan)
    for b in range(num):
        rng = np.random.default_rng(int(params['appearance_seed'][b]))
        colors = _clothing_colors(rng, gen.face_part)
        light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.3),
                          -rng.uniform(0.5, 1.5)])
        need_image = bool(write_images[b])
        background = (random_background(rng, height, width)
                      if need_image else (0.0, 0.0, 0.0))
        out = render_mesh(
            geo['vertices'][b], gen.faces, params['focal'][b],
            (height, width), params['principal_point'][b], color=colors,
            background=background, light_dir=light,
            ambient=rng.uniform(0.25, 0.5))
        mask_boxes[b] = _mask_box(out.mask)
        if need_image:
            bgr = np.ascontiguousarray(out.image[..., ::-1])
            params_enc = ([cv2.IMWRITE_JPEG_QUALITY, 95]
                          if image_ext in ('jpg', 'jpeg') else [])
            ok, buf = cv2.imencode(f'.{image_ext}', bgr, params_enc)
            if not ok:
                raise RuntimeError(f'could not encode {image_files[b]}')

            def write(tmp: str, data=buf) -> None:
                with open(tmp, 'wb') as fh:
                    fh.write(data.tobytes())

            write_atomic(image_files[b], write)

    if layout.bbox_mode == 'mask':
        bbox = _scaled_box(mask_boxes[:, 0], mask_boxes[:, 1],
                           mask_boxes[:, 2], mask_boxes[:, 3],
                           layout.bbox_scale)
    else:
        x = np.where(box_in, box_px[..., 0], np.nan)
        y = np.where(box_in, box_px[..., 1], np.nan)
        bbox = _scaled_box(np.nanmin(x, 1), np.nanmin(y, 1),
                           np.nanmax(x, 1), np.nanmax(y, 1),
                           layout.bbox_scale)
    return dict(
        index=np.asarray(indices, dtype=np.int64),
        keypoints2d=kp2d.astype(np.float32),
        keypoints3d=kp3d.astype(np.float32),
        mask=mask.astype(np.uint8),
        bbox_xywh=bbox.astype(np.float32),
        body_pose=params['body_pose'].astype(np.float32),
        global_orient=params['global_orient'].astype(np.float32),
        betas=params['betas'].astype(np.float32),
        transl=geo['transl'].astype(np.float32),
        gender=params['gender'].astype(np.int64),
        focal_length=params['focal'].astype(np.float32),
        principal_point=params['principal_point'].astype(np.float32),
        root_cam=root.astype(np.float32),
    )


def _assemble(parts: Dict[str, np.ndarray], mask: np.ndarray,
              layout: LayoutSpec, image_paths: List[str], config: str,
              width: int, height: int) -> Dict[str, object]:
    """HumanData dict (compressed keypoints) from the concatenated parts
    and the (190,) keypoint mask."""
    cols = np.nonzero(mask)[0]
    hd: Dict[str, object] = {
        'image_path': np.array(image_paths),
        'bbox_xywh': parts['bbox_xywh'],
        'config': str(config),
    }
    if layout.keypoints2d:
        hd['keypoints2d'] = parts['keypoints2d'][:, cols]
        hd['keypoints2d_mask'] = mask.copy()
    if layout.keypoints3d:
        hd['keypoints3d'] = parts['keypoints3d'][:, cols]
        hd['keypoints3d_mask'] = mask.copy()
    if layout.smpl:
        hd['smpl'] = {
            'body_pose': parts['body_pose'],
            'global_orient': parts['global_orient'],
            'betas': parts['betas'],
            'transl': parts['transl'],
        }
        hd['meta'] = {
            'gender': np.array(['m', 'f'])[parts['gender']],
        }
    if layout.has_smpl:
        hd['has_smpl'] = np.ones(len(image_paths), dtype=np.float32)
    hd['misc'] = {
        'focal_length': parts['focal_length'],
        'principal_point': parts['principal_point'],
        'root_cam': parts['root_cam'],
        'image_size': np.array([height, width], dtype=np.int64),
        'generator': f'mpt_plugin synthetic_human_images {GENERATOR_VERSION}',
    }
    return hd


def render_synthetic_human_data(data_prefix: PathLike,
                                dataset_name: str,
                                ann_file: str,
                                num_samples: int,
                                body_model_dir: PathLike,
                                joints_regressor: Optional[PathLike] = None,
                                layout: str = 'train_full',
                                seed: int = 0,
                                image_size: Tuple[int, int] = (256, 256),
                                split: Optional[str] = None,
                                config: Optional[str] = None,
                                image_ext: Optional[str] = None,
                                batch_size: int = 16,
                                overwrite: bool = False,
                                quiet: bool = False) -> str:
    """Render synthetic people and write images + a HumanData ``.npz``.

    Args:
        data_prefix: root holding ``datasets/`` and
            ``preprocessed_datasets/`` (mmhuman3d's ``data_prefix``).
        dataset_name: image folder name under ``datasets/`` (also picks the
            path style, see :func:`synthetic_image_paths`).
        ann_file: ``.npz`` file name under ``preprocessed_datasets/``.
        num_samples: number of images (>= 1).
        body_model_dir: folder with ``SMPL_{NEUTRAL,MALE,FEMALE}.npz``.
        joints_regressor: (17, V) ``J_regressor_h36m.npy``; None uses
            ``{body_model_dir}/J_regressor_h36m.npy``.
        layout: a key of :data:`LAYOUTS`.
        seed: random seed; sample ``i`` depends only on ``(seed, i)``.
        image_size: (height, width) in pixels.
        split: ``'train'`` or ``'test'``; None: ``'test'`` when ``ann_file``
            contains ``test``/``valid`` or the layout is ``'h36m_p2'``.
        config: HumanData ``config``; None maps the dataset name
            (``h36m``, ``pw3d``, ``coco``, ``mpii``, ``muco`` ->
            ``muco3dhp``, ``up3d``; else the name itself).
        image_ext: image extension (``jpg``/``png``); None = per dataset.
        batch_size: samples posed per body-model call and per resume part.
        overwrite: re-render even when ``ann_file`` exists.
        quiet: no progress bar.

    Returns:
        str: path of the written (or existing) ``.npz``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; expected one of '
                         f'{sorted(LAYOUTS)}')
    if isinstance(num_samples, bool) or int(num_samples) != num_samples or \
            num_samples < 1:
        raise ValueError(f'num_samples must be an int >= 1, got '
                         f'{num_samples!r}')
    num_samples = int(num_samples)
    height, width = (int(s) for s in image_size)
    if height < 16 or width < 16:
        raise ValueError(f'image_size must be (H, W) >= 16 px, got '
                         f'{image_size!r}')
    if int(seed) < 0 or int(batch_size) < 1:
        raise ValueError(f'seed must be >= 0 and batch_size >= 1, got '
                         f'{seed!r}, {batch_size!r}')
    if not ann_file.endswith('.npz'):
        raise ValueError(f'ann_file must be a .npz name, got {ann_file!r}')
    spec = LAYOUTS[layout]
    if split is None:
        split = ('test' if layout == 'h36m_p2' or 'test' in ann_file
                 or 'valid' in ann_file else 'train')
    if config is None:
        config = _CONFIG_NAMES.get(dataset_name, dataset_name)
    image_ext = (image_ext or
                 ('png' if _path_style(dataset_name) == 'up3d' else 'jpg'))
    image_ext = image_ext.lstrip('.').lower()

    data_prefix = os.fspath(data_prefix)
    ann_path = osp.join(data_prefix, 'preprocessed_datasets', ann_file)
    img_root = osp.join(data_prefix, 'datasets', dataset_name)
    if osp.exists(ann_path) and not overwrite:
        if not quiet:
            print(f'[synthetic_human_images] exists, skipped: {ann_path}')
        return ann_path

    image_paths = synthetic_image_paths(dataset_name, range(num_samples),
                                        split, image_ext)
    image_files = [osp.join(img_root, p) for p in image_paths]
    run_params = dict(
        generator=GENERATOR_VERSION, dataset_name=dataset_name,
        ann_file=ann_file, num_samples=num_samples, layout=layout,
        seed=int(seed), image_size=[height, width], split=split,
        config=config, image_ext=image_ext, batch_size=int(batch_size),
        body_model_dir=osp.abspath(os.fspath(body_model_dir)),
        joints_regressor=(None if joints_regressor is None else osp.abspath(
            os.fspath(joints_regressor))))
    parts_dir = osp.join(osp.dirname(ann_path), f'.{ann_file}.parts')
    params_file = osp.join(parts_dir, 'params.json')
    trusted = False
    if osp.isdir(parts_dir) and not overwrite:
        try:
            with open(params_file, encoding='utf-8') as fh:
                trusted = json.load(fh) == run_params
        except (OSError, ValueError):
            trusted = False
    if not trusted:
        # Parts and images of another run (or none): start afresh.
        shutil.rmtree(parts_dir, ignore_errors=True)
        os.makedirs(parts_dir)
        text = json.dumps(run_params)

        def write_params(tmp: str) -> None:
            with open(tmp, 'w', encoding='utf-8') as fh:
                fh.write(text)

        write_atomic(params_file, write_params)

    gen = _Generator(body_model_dir, joints_regressor, width, height)
    starts = list(range(0, num_samples, int(batch_size)))
    part_files = [osp.join(parts_dir, f'part_{s:07d}.npz') for s in starts]
    with tqdm(total=num_samples, disable=quiet, unit='img',
              desc=f'{dataset_name}/{ann_file}') as bar:
        for start, part_file in zip(starts, part_files):
            stop = min(start + int(batch_size), num_samples)
            exists = np.array([
                trusted and osp.isfile(image_files[i])
                for i in range(start, stop)
            ])
            if trusted and osp.isfile(part_file) and exists.all():
                bar.update(stop - start)
                continue
            scenes = [
                _sample_scene(np.random.default_rng([int(seed), i]), width,
                              height) for i in range(start, stop)
            ]
            params = {k: np.stack([s[k] for s in scenes]) for k in scenes[0]}
            arrays = _render_batch(gen, params, np.arange(start, stop), spec,
                                   image_files[start:stop], ~exists,
                                   image_ext)
            write_atomic(part_file,
                          lambda tmp, a=arrays: np.savez(tmp, **a))
            bar.update(stop - start)

    parts = [dict(np.load(p)) for p in part_files]
    mask = parts[0].pop('mask')
    if any(not np.array_equal(p.pop('mask'), mask) for p in parts[1:]):
        raise RuntimeError(f'{parts_dir}: parts disagree on the keypoint '
                           'mask; delete the folder and rerun')
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if not np.array_equal(merged['index'], np.arange(num_samples)):
        raise RuntimeError(f'{parts_dir}: parts do not cover 0..'
                           f'{num_samples - 1}; delete the folder and rerun')
    human_data = _assemble(merged, mask, spec, image_paths, config, width,
                           height)
    dump_human_data(ann_path, human_data)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return ann_path
