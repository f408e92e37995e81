"""Key2Mesh pre-training pairs synthesised on the fly from AMASS.

Key2Mesh (paper sec. 3.2) pre-trains on (2D keypoints, SMPL) pairs made
from AMASS SMPL parameters: a random global rotation is left-multiplied onto
the root (Euler angles uniform in x in [-20, 20] deg, y in [0, 360) deg,
z in [-20, 20] deg, ``R = Rz Ry Rx``, y up), the untranslated body is posed,
its OpenPose-18 joints are projected by a fixed camera, jittered, randomly
occluded and normalised.

The work is split in two:

- :class:`Key2MeshAMASSPairsDataset` (CPU loader) reads the AMASS tree once,
  keeps only the sparsely sampled frames' SMPL parameters in memory
  (82 float32 per frame: 328 bytes, about 0.66 GB for 2 M frames) and, per
  item, draws the random root rotation and returns the rotated parameters.
- :class:`mpt_plugin.models.data_preprocessors.Key2MeshPairsPreprocessor`
  (training device) runs the body model once per batch and makes the
  keypoints, jitter, occlusion and ground truth.

For a *target domain* (domain adaptation, e.g. detector-like keypoints)
the dataset can instead synthesise the 2D keypoints itself, on the CPU,
with options the training preprocessor does not have (``keypoints2d=``):
a different 2D joint definition, a systematic per-joint pixel offset,
heavier jitter and occlusion, applied at evaluation too (deterministic per
index with ``test_mode=True``), and ``return_3d=False`` to hand out no 3D
label at all (the adaptation input), while an evaluation copy keeps them.
The body model runs once at construction: the OpenPose-18 joints of every
kept frame in its stored orientation; item ``i``'s random root rotation
``R`` then only rotates them about the pelvis ``J0``
(``R (j - J0) + J0``, exact for untranslated SMPL), so items stay cheap.
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from torch.utils.data import Dataset

from mpt_plugin.body_models.conventions import SMPL45_TO_OPENPOSE18
from mpt_plugin.geometry.cameras import project_fixed_camera
from mpt_plugin.geometry.rotations import (euler_xyz_to_rotmat,
                                          rotate_smpl_root)
from mpt_plugin.registry import DATASETS, MODELS
from .amass_io import (AMASSFormatError, read_amass_sequence,
                       split_amass_sequences, zup_to_yup_root)
from .mocap_mesh_cache import select_frames

__all__ = ['Key2MeshAMASSPairsDataset', 'KEYPOINTS2D_DEFAULTS']

#: Defaults of the ``keypoints2d`` option of
#: :class:`Key2MeshAMASSPairsDataset` (Key2Mesh's camera and noise, no
#: systematic shift).
KEYPOINTS2D_DEFAULTS = dict(
    body_model=None,
    focal=256.0,
    distance=6.0,
    jitter_std=1.0,
    round_jitter=True,
    occlusion_prob=0.2,
    bias_px=None,
    joint_blend=None,
    chunk_size=512)


def _check_range(name: str, value: Sequence[float]) -> Tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f'{name} must be finite (low, high) degrees with '
                         f'low <= high, got {tuple(value)}')
    return lo, hi


@DATASETS.register_module()
class Key2MeshAMASSPairsDataset(Dataset):
    """AMASS SMPL parameters with a random root rotation (Key2Mesh C.2).

    On construction every motion file under ``data_root`` is read once
    (bad files are reported and skipped, or raise with
    ``on_bad_file='raise'``), frames are chosen sparsely with
    :func:`select_frames`, the root is rotated from AMASS's z-up world into
    SMPL's y-up frame (:func:`zup_to_yup_root`) and only ``pose`` (72,) and
    ``betas`` (10,) of the chosen frames are kept (float32, in memory). The
    translation and gender are dropped: Key2Mesh poses the untranslated
    neutral body.

    Item ``i`` is frame ``i`` with the random rotation
    ``R = Rz(z) Ry(y) Rx(x)`` left-multiplied onto its root, angles uniform
    in ``rot_x_range`` x ``rot_y_range`` x ``rot_z_range`` (degrees). As the
    yaw sits between the two tilts, the vertical axis tilts by up to
    |x| + |z| (40 deg with the defaults), not 20 deg. The random numbers
    come from a ``numpy.random.Generator``:

    - ``test_mode=True``: seeded by ``(seed, i)``, so every item is the
      same whatever the order, worker or epoch;
    - otherwise: one generator per process, seeded by ``(seed,
      torch.initial_seed(), rank)`` and re-seeded whenever
      ``torch.initial_seed()`` changes. PyTorch gives every data-loader
      worker its own seed, drawn anew each epoch (unless workers persist,
      in which case their generators simply continue), and MMEngine seeds
      the main process, so runs are reproducible for a fixed seed.

    Args:
        data_root (str): AMASS tree (``DATASET/SUBJECT/NAME_poses.npz``).
        split (str): ``'all'``, ``'train'`` or ``'val'``: sequence-level
            split by a hash of the file path (as
            :class:`MPTMoCapHeatmapDataset`). Defaults to ``'all'``.
        val_fraction (float): Share of sequences in ``'val'``. Defaults to
            0.1.
        sequences (Sequence[str], optional): Explicit subset (paths
            relative to ``data_root``); overrides ``split``.
        sample_fps (float, optional): Keep about this many frames per
            second of motion (see :func:`select_frames`).
        num_samples (int, optional): Keep about this many frames in total.
            Exclusive with ``sample_fps``; neither keeps every frame.
        hand_pose (str): SMPL hand joints, ``'zero'`` (LGD / Key2Mesh) or
            ``'index1'``. Defaults to ``'zero'``.
        on_bad_file (str): ``'skip'`` (bad files are left out, listed with
            their reasons in :attr:`bad_files` and counted in the log) or
            ``'raise'`` (the first :class:`AMASSFormatError`). A file is bad
            as a whole when it cannot be read or any value it is built
            from is NaN/inf in float32 or physically absurd (see
            :mod:`~mpt_plugin.datasets.amass_io`, "Bad values"). Defaults to
            ``'skip'``.
        rot_x_range (Sequence[float]): Tilt about x, degrees. Defaults to
            ``(-20, 20)``.
        rot_y_range (Sequence[float]): Yaw about the vertical y axis,
            degrees. Defaults to ``(0, 360)``.
        rot_z_range (Sequence[float]): Tilt about z, degrees. Defaults to
            ``(-20, 20)``.
        rotate (bool): Apply the random rotation at all (False: the
            y-up AMASS orientation as is). Defaults to True.
        test_mode (bool): Deterministic per-index rotations. Defaults to
            False.
        seed (int): Base seed of the rotations. Defaults to 0.
        verbose (bool): Log a summary. Defaults to True.
        keypoints2d (dict, optional): Synthesise the 2D keypoints here
            (see the module doc) instead of in the preprocessor. Keys
            (defaults :data:`KEYPOINTS2D_DEFAULTS`): ``body_model`` (dict,
            required: an ``MPTSMPL`` config returning ``smpl_45`` joints),
            ``focal`` (px) and ``distance`` (m) of the fixed camera,
            ``jitter_std`` (px, Gaussian per coordinate) and
            ``round_jitter`` (integer pixels, as Key2Mesh),
            ``occlusion_prob`` (per-joint drop, confidence 0),
            ``bias_px`` ((2,) or (18, 2) pixels added to every sample: a
            systematic detector offset), ``joint_blend`` (list of
            ``(joint, other, weight)``: OpenPose-18 joint ``joint`` becomes
            ``(1 - weight) * joint + weight * other`` in 3D, a different
            joint definition) and ``chunk_size`` (frames per body-model
            call at construction). Defaults to None (SMPL items).
        return_3d (bool): With ``keypoints2d``, also return the labels
            (SMPL parameters, 3D joints, rotation, frame). False keeps only
            ``sample_index``: nothing a label-free adaptation may not see.
            Defaults to True.

    Each item is ``dict(inputs, data_samples)``:

    - ``inputs``: dict of ``pose_aa`` (72,) float32 SMPL axis-angle,
      radians, root rotated (y up, body facing +z before the rotation's
      yaw), and ``betas`` (10,) float32.
    - ``data_samples``: dict of ``sample_index`` () int64, ``rot_euler_deg``
      (3,) float32 ``(x, y, z)`` degrees drawn for this item,
      ``sequence_index`` and ``frame_index`` () int64 (into
      :attr:`sequences` and that file's frames).

    With ``keypoints2d``:

    - ``inputs``: dict of ``keypoints2d_px`` (18, 2) float32 OpenPose-18
      pixels of the fixed camera (principal point 0, x right, y down),
      shifted and jittered, and ``keypoints2d_conf`` (18,) float32 (0 for
      occluded joints): what :class:`Key2MeshDataPreprocessor` takes.
    - ``data_samples``: ``sample_index``; with ``return_3d`` also the
      fields above plus ``pose_aa`` (72,) (root rotated), ``betas`` (10,),
      ``has_smpl`` () bool and ``keypoints3d`` (18, 3) float32 metres, the
      true (unblended) OpenPose-18 joints, untranslated SMPL.
    """

    METAINFO = dict(dataset_name='key2mesh_amass_pairs', num_keypoints=18,
                    keypoint_convention='openpose_coco18')

    def __init__(self,
                 data_root: str,
                 split: str = 'all',
                 val_fraction: float = 0.1,
                 sequences: Optional[Sequence[str]] = None,
                 sample_fps: Optional[float] = None,
                 num_samples: Optional[int] = None,
                 hand_pose: str = 'zero',
                 on_bad_file: str = 'skip',
                 rot_x_range: Sequence[float] = (-20., 20.),
                 rot_y_range: Sequence[float] = (0., 360.),
                 rot_z_range: Sequence[float] = (-20., 20.),
                 rotate: bool = True,
                 test_mode: bool = False,
                 seed: int = 0,
                 verbose: bool = True,
                 keypoints2d: Optional[dict] = None,
                 return_3d: bool = True) -> None:
        if split not in ('train', 'val', 'all'):
            raise ValueError(f"split must be 'train', 'val' or 'all', got "
                             f'{split!r}')
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f'val_fraction must be in [0, 1), got '
                             f'{val_fraction}')
        if on_bad_file not in ('skip', 'raise'):
            raise ValueError(f"on_bad_file must be 'skip' or 'raise', got "
                             f'{on_bad_file!r}')
        if sample_fps is not None and num_samples is not None:
            raise ValueError('give sample_fps or num_samples, not both '
                             f'(got {sample_fps} and {num_samples})')
        self.data_root = data_root
        self.split = split
        self.rot_ranges = np.array([
            _check_range('rot_x_range', rot_x_range),
            _check_range('rot_y_range', rot_y_range),
            _check_range('rot_z_range', rot_z_range)
        ])  # (3, 2) degrees
        self.rotate = bool(rotate)
        self.test_mode = bool(test_mode)
        self.seed = int(seed)
        self._rng: Optional[np.random.Generator] = None
        self._rng_key: Optional[int] = None

        paths = self._select_paths(data_root, split, val_fraction, sequences)
        poses, betas, frames, good, bad = self._load(
            paths, sample_fps, num_samples, hand_pose, on_bad_file)
        self.sequences: List[str] = good
        self.bad_files: List[Tuple[str, str]] = bad
        self.poses = poses  # (N, 72) float32, y up
        self.betas = betas  # (N, 10) float32
        self.frames = frames  # (N, 2) int64 [sequence, frame]
        self.return_3d = bool(return_3d)
        self.keypoints2d_cfg: Optional[dict] = None
        if keypoints2d is not None:
            self._setup_keypoints2d(keypoints2d)
        elif not self.return_3d:
            raise ValueError('return_3d=False needs keypoints2d=dict(...): '
                             'SMPL-parameter items are labels themselves')
        if verbose and get_dist_info()[0] == 0:
            print_log(
                f'Key2MeshAMASSPairsDataset: {len(self)} frames from '
                f'{len(good)} sequences of {data_root} ({len(bad)} bad '
                'files skipped)',
                logger='current')

    @staticmethod
    def _select_paths(data_root: str, split: str, val_fraction: float,
                      sequences: Optional[Sequence[str]]) -> List[str]:
        if sequences is not None:
            paths = [osp.join(data_root, s) for s in sequences]
            missing = [p for p in paths if not osp.isfile(p)]
            if missing:
                raise FileNotFoundError(
                    f'{data_root}: {len(missing)} listed sequence(s) not '
                    f'found, e.g. {missing[0]}')
            return paths
        return [
            osp.join(data_root, r)
            for r in split_amass_sequences(data_root, split, val_fraction)
        ]

    @staticmethod
    def _load(paths: List[str], sample_fps: Optional[float],
              num_samples: Optional[int], hand_pose: str,
              on_bad_file: str) -> tuple:
        """Read the sequences and keep the selected frames' parameters.

        With ``num_samples`` the selection needs every length first, so the
        files are read twice; otherwise once.
        """
        good, bad, lengths, rates, kept = [], [], [], [], []
        for path in paths:
            try:
                seq = read_amass_sequence(path, hand_pose=hand_pose)
            except (AMASSFormatError, FileNotFoundError) as err:
                # FileNotFoundError: removed since the tree was walked
                if on_bad_file == 'raise':
                    raise
                bad.append((path, str(err)))
                continue
            good.append(path)
            lengths.append(seq.num_frames)
            rates.append(seq.fps)
            if num_samples is None:
                idx = select_frames([seq.num_frames], [seq.fps],
                                    sample_fps=sample_fps)[0]
                kept.append((seq.poses[idx], seq.betas, idx))
        if bad:
            first = '\n  '.join(reason for _, reason in bad[:5])
            print_log(f'skipped {len(bad)} of {len(paths)} AMASS files:\n  '
                      f'{first}', logger='current', level=logging.WARNING)
        if not good:
            raise ValueError(f'no usable AMASS sequence among {len(paths)} '
                             f'files ({len(bad)} bad)')
        if num_samples is not None:
            frames = select_frames(lengths, rates, num_samples=num_samples)
            for path, idx in zip(good, frames):
                seq = read_amass_sequence(path, hand_pose=hand_pose)
                kept.append((seq.poses[idx], seq.betas, idx))
        sizes = [len(k[2]) for k in kept]
        if sum(sizes) == 0:
            raise ValueError('frame sampling selected no frame')
        poses, _ = zup_to_yup_root(np.concatenate([k[0] for k in kept]))
        betas = np.concatenate(
            [np.repeat(k[1][None], len(k[2]), axis=0) for k in kept])
        frames = np.stack([
            np.repeat(np.arange(len(kept)), sizes),
            np.concatenate([k[2] for k in kept])
        ], axis=1).astype(np.int64)
        return (poses.astype(np.float32), betas.astype(np.float32), frames,
                good, bad)

    def _setup_keypoints2d(self, cfg: dict) -> None:
        """Checks the ``keypoints2d`` options and poses every frame once."""
        unknown = sorted(set(cfg) - set(KEYPOINTS2D_DEFAULTS))
        if unknown:
            raise KeyError(f'keypoints2d: unknown option(s) {unknown}, '
                           f'expected some of {sorted(KEYPOINTS2D_DEFAULTS)}')
        cfg = dict(KEYPOINTS2D_DEFAULTS, **cfg)
        if cfg['body_model'] is None:
            raise KeyError('keypoints2d needs body_model=dict(type='
                           "'MPTSMPL', model_path=..., gender='neutral')")
        if not 0.0 <= float(cfg['occlusion_prob']) <= 1.0:
            raise ValueError('keypoints2d.occlusion_prob must be in [0, 1], '
                             f"got {cfg['occlusion_prob']}")
        if not float(cfg['jitter_std']) >= 0.0:
            raise ValueError('keypoints2d.jitter_std must be >= 0, got '
                             f"{cfg['jitter_std']}")
        bias = np.zeros((18, 2), np.float64)
        if cfg['bias_px'] is not None:
            given = np.asarray(cfg['bias_px'], dtype=np.float64)
            if given.shape not in ((2, ), (18, 2)):
                raise ValueError('keypoints2d.bias_px must have shape (2,) or '
                                 f'(18, 2) pixels, got {given.shape}')
            bias = bias + given
        self._kp_bias = bias
        joints, pelvis = self._pose_frames(cfg['body_model'],
                                           int(cfg['chunk_size']))
        true_joints = joints.copy()
        for item in cfg['joint_blend'] or ():
            joint, other, weight = int(item[0]), int(item[1]), float(item[2])
            if not (0 <= joint < 18 and 0 <= other < 18):
                raise ValueError('keypoints2d.joint_blend: joint indices must '
                                 f'be OpenPose-18 indices, got {tuple(item)}')
            joints[:, joint] = ((1.0 - weight) * true_joints[:, joint] +
                                weight * true_joints[:, other])
        self._kp_joints = joints.astype(np.float32)  # (N, 18, 3) detector
        self._kp_true = true_joints.astype(np.float32)  # (N, 18, 3)
        self._kp_pelvis = pelvis.astype(np.float32)  # (N, 3)
        self.keypoints2d_cfg = cfg

    def _pose_frames(self, body_model_cfg: dict, chunk: int) -> tuple:
        """OpenPose-18 joints (N, 18, 3) and pelvis (N, 3), metres, of the
        stored (unrotated, y-up) frames."""
        cfg = dict(body_model_cfg)
        cfg.setdefault('type', 'MPTSMPL')
        model = MODELS.build(cfg)
        if getattr(model, 'joint_convention', None) != 'smpl_45':
            raise ValueError('keypoints2d.body_model must return the '
                             "'smpl_45' joints (SMPL topology), got "
                             f"{getattr(model, 'joint_convention', None)!r}")
        joints, pelvis = [], []
        with torch.no_grad():
            for start in range(0, len(self), max(chunk, 1)):
                pose = torch.from_numpy(self.poses[start:start + chunk])
                out = model(betas=torch.from_numpy(
                    self.betas[start:start + chunk]),
                            global_orient=pose[:, :3],
                            body_pose=pose[:, 3:])['joints']
                joints.append(out[:, SMPL45_TO_OPENPOSE18].double().numpy())
                pelvis.append(out[:, 0].double().numpy())
        return np.concatenate(joints), np.concatenate(pelvis)

    def _keypoints_item(self, idx: int, rotmat: np.ndarray,
                        rng: Optional[np.random.Generator]) -> tuple:
        """(18, 2) pixels, (18,) confidence, (18, 3) true joints (metres)
        of item ``idx`` rotated by ``rotmat`` (3, 3)."""
        cfg = self.keypoints2d_cfg
        pelvis = self._kp_pelvis[idx].astype(np.float64)
        det = (self._kp_joints[idx] - pelvis) @ rotmat.T + pelvis
        true = (self._kp_true[idx] - pelvis) @ rotmat.T + pelvis
        px = project_fixed_camera(torch.from_numpy(det), cfg['focal'],
                                  cfg['distance']).numpy() + self._kp_bias
        conf = np.ones(18)
        if rng is not None and cfg['jitter_std'] > 0:
            noise = rng.standard_normal((18, 2)) * cfg['jitter_std']
            px = px + (np.round(noise) if cfg['round_jitter'] else noise)
        if rng is not None and cfg['occlusion_prob'] > 0:
            conf = (rng.random(18) >= cfg['occlusion_prob']).astype(
                np.float64)
        return px, conf, true

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_samples=len(self),
                    num_sequences=len(self.sequences),
                    rot_ranges_deg=self.rot_ranges.tolist())

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    def _generator(self, idx: int) -> np.random.Generator:
        """The random generator for item ``idx`` (see the class doc)."""
        if self.test_mode:
            return np.random.default_rng([self.seed, idx])
        key = int(torch.initial_seed())
        if self._rng is None or self._rng_key != key:
            rank = get_dist_info()[0]
            self._rng = np.random.default_rng([self.seed, key, rank])
            self._rng_key = key
        return self._rng

    def sample_rotation(self, idx: int) -> np.ndarray:
        """(3,) float64 Euler angles ``(x, y, z)`` in degrees for item
        ``idx`` (zeros with ``rotate=False``)."""
        if not self.rotate:
            return np.zeros(3)
        u = self._generator(idx).random(3)
        lo, hi = self.rot_ranges[:, 0], self.rot_ranges[:, 1]
        return lo + u * (hi - lo)

    def __getitem__(self, idx: int) -> Dict[str, dict]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        idx = int(idx) % len(self)
        euler = self.sample_rotation(idx)
        rotmat = euler_xyz_to_rotmat(euler[None])
        pose = self.poses[idx:idx + 1]
        if self.rotate:
            pose = rotate_smpl_root(pose, rotmat)
        labels = dict(
            sample_index=torch.tensor(idx, dtype=torch.int64),
            rot_euler_deg=torch.from_numpy(euler.astype(np.float32)),
            sequence_index=torch.tensor(self.frames[idx, 0]),
            frame_index=torch.tensor(self.frames[idx, 1]))
        params = dict(pose_aa=torch.from_numpy(pose[0].astype(np.float32)),
                      betas=torch.from_numpy(self.betas[idx].copy()))
        if self.keypoints2d_cfg is None:
            return dict(inputs=params, data_samples=labels)
        # after the rotation: the same generator gives the noise
        rng = self._generator(idx) if self.keypoints2d_cfg['jitter_std'] \
            or self.keypoints2d_cfg['occlusion_prob'] else None
        px, conf, true = self._keypoints_item(idx, rotmat[0], rng)
        inputs = dict(keypoints2d_px=torch.from_numpy(px.astype(np.float32)),
                      keypoints2d_conf=torch.from_numpy(
                          conf.astype(np.float32)))
        if not self.return_3d:
            return dict(inputs=inputs,
                        data_samples=dict(sample_index=labels['sample_index']))
        labels.update(params,
                      has_smpl=torch.tensor(True),
                      keypoints3d=torch.from_numpy(true.astype(np.float32)))
        return dict(inputs=inputs, data_samples=labels)
