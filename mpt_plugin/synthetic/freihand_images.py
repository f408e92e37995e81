"""Synthetic hands rendered into FreiHAND's official folder layout.

:func:`write_synthetic_freihand` renders the synthetic MANO-format right
hand (``tools/make_synthetic_assets.py --hands``) in random plausible poses,
shapes, orientations and cameras and writes, under ``root``, the files of
FreiHAND (Zimmermann et al., ICCV 2019) as released, for ``N`` training and
``M`` evaluation samples::

    training/rgb/%08d.jpg      N x 4 versions, 224 x 224 RGB JPEG, file id
                               = id + N * version
    training/mask/%08d.jpg     N silhouettes (0 / 255), one per sample
    training_K.json            (N, 3, 3) intrinsics, px
    training_mano.json         (N, 1, 61) pose 48, shape 10, uv_root 2,
                               scale 1 (see below)
    training_xyz.json          (N, 21, 3) joints, metres, camera frame
    training_verts.json        (N, 778, 3) vertices, metres, camera frame
    training_scale.json        (N,) |xyz[9] - xyz[10]|, metres
    evaluation/rgb/%08d.jpg    M images, one version
    evaluation_{K,mano,xyz,verts,scale}.json
    synthetic_freihand.json    this generator's manifest (not official)

Each annotation file is one JSON array with one row per sample, numbers as
plain JSON floats (rounded to 1e-8), exactly the nesting of the official
files (``mano`` rows are ``[[61 numbers]]``).

Ground truth, exact for the rendered picture:

- Camera: pinhole at the origin, camera frame x right, y down, z forward
  (metres); ``uv = (K @ xyz)[:2] / z`` with pixel centres at integer
  coordinates (the rasteriser's convention,
  :mod:`mpt_plugin.visualization.rasterizer`). ``fx = fy`` in
  ``[450, 650] * S / 224`` px (``S`` the image side), principal point
  within 1.5 px of ``(S / 2, S / 2)``.
- ``mano`` pose: global orientation (3, axis-angle, camera frame) + hand
  pose (45, axis-angle) relative to MANO's ``hands_mean``, as given to
  ``MPTMANO(flat_hand_mean=False)``; shape: 10 betas. The translation is
  not stored (as in the official files): ``verts = MANO(pose, shape) + t``
  for one ``t`` per sample, recoverable from ``verts``.
- ``xyz``: ``MPTMANO(joints_from='mesh')``'s joints, FreiHAND's definition:
  ``J_regressor`` on the posed mesh plus the fingertip vertices 744, 320,
  443, 555, 672, in the ``hand_21`` order (wrist, thumb 1-4, index 1-4,
  middle 1-4, ring 1-4, pinky 1-4).
- ``uv_root`` and the ``mano`` scale follow the official code
  (``utils/model.py`` of lmb-freiburg/freihand: ``split_theta``,
  ``recover_root``, ``pose_by_root`` with ``root_id=9``): ``uv_root`` is the
  projection of ``xyz[9]`` (middle-finger MCP), and the scale is
  ``focal / xyz[9].z`` with ``focal = (fx + fy) / 2``, so that
  ``((uv_root - pp) / scale, focal / scale) == xyz[9]``. It is *not* the
  bone length of ``{split}_scale.json``.
- Every vertex projects inside the central box of side ``180 * S / 224``
  px (the released hand code's crop); samples that do not fit are drawn
  again.

What is synthetic: the hand model (a stand-in for the licensed MANO), the
poses, shapes, cameras, lights, skin tones and backgrounds. Training
version 0 is a hand on a green screen (uniform green with slight noise);
versions 1-3 show the same hand and camera over random textured backgrounds
with a slightly different skin tint (the real versions are the green screen
replaced by other backgrounds and colourisations). Evaluation images show
the hand over textured backgrounds (the real ones are recorded without a
green screen). Images are flat-shaded (Lambert) renders, anti-aliased by 2x
supersampling, written with OpenCV (BGR order on disk, RGB when read back
as RGB).

Interruption safety: every image and annotation file is written atomically
(:func:`~mpt_plugin.utils.file_io.write_atomic`). A run first removes this
generator's earlier annotation files and then its manifest, writes the
images, then the annotation files (``{split}_K.json``, required by the
readers, last), and the manifest last of all: the annotation files and the
manifest are present only when the run completed. To protect real data, a
folder holding ``training_K.json`` or ``evaluation_K.json`` but no
manifest of this generator is refused.

Determinism: sample ``i`` of a split depends only on ``(seed, split, i)``
and the image size; the same arguments give the same files on one machine.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple, Union

import cv2
import numpy as np
import torch

from mpt_plugin.body_models.io import load_body_model_file
from mpt_plugin.body_models.mano import MPTMANO, resolve_mano_model_file
from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.geometry.rotations import quaternion_to_axis_angle
from mpt_plugin.utils.file_io import write_atomic
from mpt_plugin.visualization.rasterizer import (compose_image, face_normals,
                                                 lambert_shade,
                                                 rasterize_triangles)

__all__ = [
    'FREIHAND_GENERATOR_VERSION', 'MANIFEST_NAME', 'ROOT_KEYPOINT',
    'write_synthetic_freihand', 'sample_hand', 'green_screen',
    'textured_background'
]

PathLike = Union[str, os.PathLike]

#: Bumped whenever the generated images or arrays change.
FREIHAND_GENERATOR_VERSION = '1.0.0'
#: The manifest written last (marks a complete run of this generator).
MANIFEST_NAME = 'synthetic_freihand.json'
#: Keypoint of ``uv_root`` and the ``mano`` scale (official ``root_id``).
ROOT_KEYPOINT = 9
#: Side of the released code's central crop of a 224 px image.
_CROP = 180.0
_REFERENCE_SIZE = 224.0
#: Image versions per split (green screen + 3 backgrounds; evaluation 1).
_VERSIONS = {'training': 4, 'evaluation': 1}
_SPLIT_CODES = {'training': 1, 'evaluation': 2}
_KEYS = ('verts', 'xyz', 'mano', 'scale', 'K')  # write order, K last
_MAX_ATTEMPTS = 200
_SUPERSAMPLE = 2
_DECIMALS = 8
_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.91, 0.71, 0.58],
                        [0.82, 0.60, 0.47], [0.66, 0.46, 0.34],
                        [0.47, 0.33, 0.24]])


# ---------------------------------------------------------------------------
# Random hands and cameras
# ---------------------------------------------------------------------------
def sample_hand(rng: np.random.Generator,
                hands_components: np.ndarray) -> Dict[str, np.ndarray]:
    """One random plausible hand: pose, shape and orientation.

    The hand pose is a PCA-like perturbation of the mean hand: coefficients
    ``N(0, 0.7 * 0.8^k)`` on the first 10 rows of ``hands_components``
    plus ``N(0, 0.08)`` on every axis-angle component.

    Args:
        rng: Random generator.
        hands_components: ``(C, 45)`` MANO PCA basis (rows).

    Returns:
        dict: ``global_orient`` (3,) axis-angle of a uniformly random
        rotation, ``hand_pose`` (45,) axis-angle relative to
        ``hands_mean``, ``betas`` (10,) ``N(0, 1)`` clipped to [-2.5, 2.5];
        float64.
    """
    quat = rng.normal(size=4)
    quat /= max(np.linalg.norm(quat), 1e-12)
    num = min(10, len(hands_components))
    coeffs = rng.normal(size=num) * 0.7 * 0.8**np.arange(num)
    hand_pose = coeffs @ hands_components[:num] + rng.normal(0.0, 0.08, 45)
    return dict(
        # quat is (x, y, z, w); the package's helper takes (w, x, y, z)
        global_orient=quaternion_to_axis_angle(torch.from_numpy(
            np.roll(quat, 1))).numpy(),
        hand_pose=hand_pose,
        betas=np.clip(rng.normal(size=10), -2.5, 2.5))


def _sample_camera(rng: np.random.Generator, size: int) -> Dict[str, object]:
    """Intrinsics (fx = fy), depth of the root keypoint and a small offset
    of the projected hand from the image centre."""
    ratio = size / _REFERENCE_SIZE
    focal = rng.uniform(450.0, 650.0) * ratio
    centre = size / 2.0 + rng.uniform(-1.5, 1.5, 2) * ratio
    return dict(focal=focal, principal_point=centre,
                depth=rng.uniform(0.45, 0.75),
                offset=rng.uniform(-8.0, 8.0, 2) * ratio)


def _place(verts: np.ndarray, joints: np.ndarray, cam: Dict[str, object],
           size: int) -> Tuple[np.ndarray, bool]:
    """Translation that puts ``joints[ROOT_KEYPOINT]`` at depth
    ``cam['depth']`` and centres the projected mesh on the image centre +
    ``cam['offset']``; and whether every vertex then projects inside the
    central crop box (with a 1 px margin)."""
    focal, pp = cam['focal'], cam['principal_point']
    target = size / 2.0 + cam['offset']
    root = joints[ROOT_KEYPOINT]
    depth = cam['depth']
    transl = np.array([*((target - pp) * depth / focal - root[:2]),
                       depth - root[2]])
    uv = project_points(verts + transl, focal, pp)
    mid = (uv.min(axis=0) + uv.max(axis=0)) / 2
    transl[:2] += (target - mid) * depth / focal
    moved = verts + transl
    if moved[:, 2].min() <= 0.05:
        return transl, False
    uv = project_points(moved, focal, pp)
    half = _CROP * size / _REFERENCE_SIZE / 2 - 1.0
    inside = (np.abs(uv - size / 2.0) <= half).all()
    return transl, bool(inside)


# ---------------------------------------------------------------------------
# Backgrounds and appearance
# ---------------------------------------------------------------------------
def green_screen(rng: np.random.Generator, size: int) -> np.ndarray:
    """A green screen: one green with a faint shading gradient and pixel
    noise.

    Args:
        rng: Random generator.
        size: Image side, px.

    Returns:
        np.ndarray: ``(size, size, 3)`` float64 RGB in [0, 1].
    """
    base = np.array([rng.uniform(0.05, 0.2), rng.uniform(0.55, 0.75),
                     rng.uniform(0.1, 0.3)])
    ramp = np.linspace(-1.0, 1.0, size)
    angle = rng.uniform(0, 2 * np.pi)
    shade = 1.0 + rng.uniform(0.0, 0.08) * (
        np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
    img = base * shade[..., None] + rng.normal(0.0, 0.015, (size, size, 3))
    return np.clip(img, 0.0, 1.0)


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cluttered background: a colour gradient, smooth colour noise, a
    few random filled rectangles and ellipses (blurred), and fine grain.

    Args:
        rng: Random generator.
        size: Image side, px.

    Returns:
        np.ndarray: ``(size, size, 3)`` float64 RGB in [0, 1].
    """
    ramp = np.linspace(0.0, 1.0, size)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + 0.7 * (np.cos(angle) * (ramp[None, :] - 0.5) +
                             np.sin(angle) * (ramp[:, None] - 0.5)), 0, 1)
    c0, c1 = rng.uniform(0.0, 1.0, (2, 3))
    img = c0 + t[..., None] * (c1 - c0)
    cells = int(rng.integers(2, 9))
    noise = cv2.resize(rng.normal(size=(cells, cells, 3)), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    img = img + rng.uniform(0.05, 0.2) * noise
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(float(c) for c in rng.uniform(0.0, 1.0, 3))
        x0, y0 = (int(v) for v in rng.integers(-size // 4, size, 2))
        w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
        if rng.uniform() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), colour, -1)
        else:
            cv2.ellipse(img, (x0, y0), (w // 2, h // 2),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    img = img + rng.normal(0.0, 0.02, img.shape)
    return np.clip(img, 0.0, 1.0)


def _appearance(rng: np.random.Generator, num_faces: int,
                num_versions: int) -> Dict[str, object]:
    """Skin colour per face and version, light and ambient of a sample."""
    skin = _SKIN_TONES[rng.integers(0, len(_SKIN_TONES))] * rng.uniform(
        0.94, 1.04)
    texture = rng.uniform(0.95, 1.03, (num_faces, 1))
    tints = [np.ones(3)] + [rng.uniform(0.88, 1.12, 3)
                            for _ in range(num_versions - 1)]
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.5),
                      -rng.uniform(0.6, 1.5)])
    return dict(colors=[np.clip(skin * tint * texture, 0.0, 1.0)
                        for tint in tints],
                light=light, ambient=rng.uniform(0.3, 0.5))


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def _render_versions(verts: np.ndarray, faces: np.ndarray, focal: float,
                     pp: np.ndarray, size: int, look: Dict[str, object],
                     backgrounds: List[np.ndarray]
                     ) -> Tuple[List[np.ndarray], np.ndarray]:
    """Rasterise once, compose every version: (H, W, 3) uint8 RGB images
    and the (H, W) bool silhouette."""
    ss = _SUPERSAMPLE
    uv = project_points(verts, focal * ss, ss * (pp + 0.5) - 0.5)
    # The mesh is open at the wrist: draw every face (no culling), lit
    # two-sided, so the inside of the wrist is never see-through.
    face_id, _ = rasterize_triangles(uv[faces], verts[faces][:, :, 2],
                                     (size * ss, size * ss),
                                     perspective_correct=True)
    normals = face_normals(verts, faces)
    unit = normals / np.maximum(np.linalg.norm(normals, axis=1),
                                1e-300)[:, None]
    shade = lambert_shade(unit, look['light'], look['ambient'],
                          two_sided=True)[:, None]
    images = []
    for colors, bg in zip(look['colors'], backgrounds):
        bg_ss = np.repeat(np.repeat(bg, ss, axis=0), ss, axis=1)
        img = compose_image(face_id, np.clip(shade * colors, 0.0, 1.0),
                            bg_ss)
        img = img.reshape(size, ss, size, ss, 3).mean(axis=(1, 3))
        images.append(np.round(img * 255.0).astype(np.uint8))
    mask = (face_id >= 0).reshape(size, ss, size, ss).mean(axis=(1, 3))
    return images, mask >= 0.5


def _write_jpeg(path: str, image: np.ndarray, quality: int) -> None:
    """Atomic JPEG write of an RGB (H, W, 3) or grey (H, W) uint8 image."""
    data = np.ascontiguousarray(image[..., ::-1] if image.ndim == 3 else
                                image)
    ok, buf = cv2.imencode('.jpg', data, [cv2.IMWRITE_JPEG_QUALITY,
                                          int(quality)])
    if not ok:
        raise RuntimeError(f'could not encode {path}')

    def write(tmp: str) -> None:
        with open(tmp, 'wb') as fh:
            fh.write(buf.tobytes())

    write_atomic(path, write)


def _write_json(path: str, value) -> None:
    text = json.dumps(value)

    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as fh:
            fh.write(text)

    write_atomic(path, write)


def _rows(array: np.ndarray) -> list:
    """Float array -> nested lists of Python floats rounded to 1e-8 (and no
    negative zeros)."""
    return (np.round(np.asarray(array, np.float64), _DECIMALS) +
            0.0).tolist()


class _HandSampler:
    """Poses the MANO-format hand and places it in front of the camera."""

    def __init__(self, mano_model_path: PathLike) -> None:
        model_file = resolve_mano_model_file(mano_model_path, True)
        self.mano = MPTMANO(model_file, is_rhand=True, flat_hand_mean=False,
                            joints_from='mesh', dtype=torch.float64)
        data = load_body_model_file(model_file, model_type='mano')
        self.components = np.asarray(data['hands_components'], np.float64)
        self.faces = np.asarray(self.mano.faces, np.int64)

    def __call__(self, rng: np.random.Generator,
                 size: int) -> Dict[str, np.ndarray]:
        for _ in range(_MAX_ATTEMPTS):
            hand = sample_hand(rng, self.components)
            cam = _sample_camera(rng, size)
            with torch.no_grad():
                out = self.mano(
                    betas=torch.as_tensor(hand['betas'][None]),
                    global_orient=torch.as_tensor(
                        hand['global_orient'][None]),
                    hand_pose=torch.as_tensor(hand['hand_pose'][None]))
            verts = out['vertices'][0].numpy()
            joints = out['joints'][0].numpy()
            transl, fits = _place(verts, joints, cam, size)
            if fits:
                return dict(hand, **cam, transl=transl,
                            verts=verts + transl, xyz=joints + transl)
        raise RuntimeError(f'no hand fitted the central crop box in '
                           f'{_MAX_ATTEMPTS} draws')


def _annotations(sample: Dict[str, np.ndarray]) -> Dict[str, object]:
    """One sample's rows of the five annotation files."""
    focal, pp = sample['focal'], sample['principal_point']
    K = np.array([[focal, 0.0, pp[0]], [0.0, focal, pp[1]], [0, 0, 1.0]])
    xyz = sample['xyz']
    root = xyz[ROOT_KEYPOINT]
    uv_root = project_points(root, focal, pp)
    mano = np.concatenate([sample['global_orient'], sample['hand_pose'],
                           sample['betas'], uv_root, [focal / root[2]]])
    return dict(K=_rows(K), mano=_rows(mano[None]), xyz=_rows(xyz),
                verts=_rows(sample['verts']),
                scale=float(np.round(np.linalg.norm(xyz[9] - xyz[10]),
                                     _DECIMALS)))


def _check_root(root: str) -> None:
    """Refuse to write over annotations that this generator did not
    write (for instance the real FreiHAND)."""
    theirs = [f'{split}_K.json' for split in _VERSIONS
              if osp.isfile(osp.join(root, f'{split}_K.json'))]
    if theirs and not osp.isfile(osp.join(root, MANIFEST_NAME)):
        raise FileExistsError(
            f'{root} holds FreiHAND annotations {theirs} not written by this '
            f'generator (no {MANIFEST_NAME}); refusing to overwrite them')


def write_synthetic_freihand(root: PathLike,
                             mano_model_path: PathLike,
                             num_training: int = 8,
                             num_evaluation: int = 4,
                             seed: int = 0,
                             image_size: int = 224,
                             quality: int = 90,
                             verbose: bool = False) -> dict:
    """Write a synthetic FreiHAND folder (see the module docstring).

    Args:
        root: Output folder (FreiHAND's ``data_root``); created if needed.
        mano_model_path: ``MANO_RIGHT.{npz,pkl}`` or a folder holding it
            (``tools/make_synthetic_assets.py --hands`` writes
            ``data/synthetic/body_models/MANO_RIGHT.npz``).
        num_training: ``N`` training samples (>= 1), ``4 N`` images.
        num_evaluation: ``M`` evaluation samples (>= 1), ``M`` images.
        seed: Non-negative seed; sample ``i`` of a split depends only on
            ``(seed, split, i)`` and ``image_size``.
        image_size: Image side, px (224 as released; >= 32). Intrinsics and
            the crop box scale with it.
        quality: JPEG quality (1-100).
        verbose: Print one line per split.

    Returns:
        dict: ``root``; ``num_training``, ``num_evaluation``;
        ``training_images`` (``4 N``), ``evaluation_images`` (``M``),
        ``training_masks`` (``N``); ``annotation_files`` (the ten JSON
        paths); ``manifest`` (its path).

    Raises:
        ValueError: Bad counts, seed, size or quality.
        FileExistsError: ``root`` holds annotations not written by this
            generator.
        FileNotFoundError: No right-hand MANO file at ``mano_model_path``.
    """
    counts = {'training': num_training, 'evaluation': num_evaluation}
    for name, value in (('num_training', num_training),
                        ('num_evaluation', num_evaluation),
                        ('seed', seed), ('image_size', image_size),
                        ('quality', quality)):
        if isinstance(value, bool) or not isinstance(value,
                                                     (int, np.integer)):
            raise ValueError(f'{name} must be an int, got {value!r}')
    if min(num_training, num_evaluation) < 1:
        raise ValueError(f'num_training and num_evaluation must be >= 1, '
                         f'got {num_training}, {num_evaluation}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if image_size < 32:
        raise ValueError(f'image_size must be >= 32 px, got {image_size}')
    if not 1 <= quality <= 100:
        raise ValueError(f'quality must be in [1, 100], got {quality}')
    size = int(image_size)
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    _check_root(root)
    sampler = _HandSampler(mano_model_path)  # fails early without a model

    # Mark the folder incomplete: annotations first, then the manifest.
    ann_files = [osp.join(root, f'{split}_{key}.json')
                 for split in _VERSIONS for key in _KEYS]
    for path in ann_files + [osp.join(root, MANIFEST_NAME)]:
        if osp.isfile(path):
            os.remove(path)

    result: dict = dict(root=root, num_training=int(num_training),
                        num_evaluation=int(num_evaluation))
    for split, num in counts.items():
        num = int(num)
        versions = _VERSIONS[split]
        rows: Dict[str, list] = {key: [] for key in _KEYS}
        for i in range(num):
            code = _SPLIT_CODES[split]
            sample = sampler(np.random.default_rng([int(seed), code, i, 0]),
                             size)
            look_rng = np.random.default_rng([int(seed), code, i, 1])
            look = _appearance(look_rng, len(sampler.faces), versions)
            backgrounds = [green_screen(look_rng, size)
                           if split == 'training' and v == 0 else
                           textured_background(look_rng, size)
                           for v in range(versions)]
            images, mask = _render_versions(
                sample['verts'], sampler.faces, sample['focal'],
                sample['principal_point'], size, look, backgrounds)
            for v, image in enumerate(images):
                _write_jpeg(osp.join(root, split, 'rgb',
                                     f'{i + num * v:08d}.jpg'), image,
                            quality)
            if split == 'training':
                _write_jpeg(osp.join(root, split, 'mask', f'{i:08d}.jpg'),
                            mask.astype(np.uint8) * 255, quality)
            for key, value in _annotations(sample).items():
                rows[key].append(value)
        for key in _KEYS:  # K last: the readers require it
            _write_json(osp.join(root, f'{split}_{key}.json'), rows[key])
        result[f'{split}_images'] = num * versions
        if verbose:
            print(f'[synthetic_freihand] {split}: {num} samples, '
                  f'{num * versions} images in {osp.join(root, split)}',
                  flush=True)
    result['training_masks'] = int(num_training)
    manifest = osp.join(root, MANIFEST_NAME)
    _write_json(manifest, dict(
        generator=f'mpt_plugin synthetic_freihand '
        f'{FREIHAND_GENERATOR_VERSION}',
        synthetic=True, seed=int(seed), num_training=int(num_training),
        num_evaluation=int(num_evaluation), image_size=size,
        quality=int(quality), mano_model=osp.basename(
            resolve_mano_model_file(mano_model_path, True))))
    result['annotation_files'] = ann_files
    result['manifest'] = manifest
    return result
