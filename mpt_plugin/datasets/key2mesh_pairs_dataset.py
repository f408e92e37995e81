"""Key2Mesh pre-training pairs synthesised on the fly from AMASS.

Key2Mesh (models_spec C.2) pre-trains on (2D keypoints, SMPL) pairs made
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
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from mpt_plugin.registry import DATASETS
from .amass_io import (AMASSFormatError, read_amass_sequence,
                       split_amass_sequences, zup_to_yup_root)
from .mocap_mesh_cache import select_frames

__all__ = [
    'Key2MeshAMASSPairsDataset', 'euler_xyz_to_rotmat', 'rotate_smpl_root'
]


def euler_xyz_to_rotmat(angles_deg: np.ndarray) -> np.ndarray:
    """Key2Mesh's ``euler_to_rot(x, y, z) = Rz @ Ry @ Rx``, batched.

    Args:
        angles_deg (np.ndarray): (N, 3) angles ``(x, y, z)`` in degrees
            about the x, y (vertical) and z axes.

    Returns:
        np.ndarray: (N, 3, 3) float64 rotation matrices.
    """
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    if angles.ndim != 2 or angles.shape[1] != 3:
        raise ValueError('angles_deg must have shape (N, 3) [x, y, z], got '
                         f'{angles.shape}')
    c, s = np.cos(angles), np.sin(angles)  # (N, 3)
    n = angles.shape[0]
    one, zero = np.ones(n), np.zeros(n)
    rx = np.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0],
                   c[:, 0]], axis=1).reshape(n, 3, 3)
    ry = np.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero,
                   c[:, 1]], axis=1).reshape(n, 3, 3)
    rz = np.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero,
                   zero, one], axis=1).reshape(n, 3, 3)
    return rz @ ry @ rx


def rotate_smpl_root(poses: np.ndarray, rotmat: np.ndarray) -> np.ndarray:
    """Left-multiplies rotations onto the SMPL root orientation.

    Args:
        poses (np.ndarray): (N, 72) SMPL axis-angle poses, radians, root in
            ``[:, :3]``.
        rotmat (np.ndarray): (N, 3, 3) world rotations.

    Returns:
        np.ndarray: (N, 72) float64 poses with root ``rotmat @ R_root``; the
        other joints are unchanged.
    """
    poses = np.array(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] < 3:
        raise ValueError(f'poses must have shape (N, 72), got {poses.shape}')
    rotmat = np.asarray(rotmat, dtype=np.float64)
    if rotmat.shape != (poses.shape[0], 3, 3):
        raise ValueError(f'rotmat must have shape ({poses.shape[0]}, 3, 3), '
                         f'got {rotmat.shape}')
    root = Rotation.from_rotvec(poses[:, :3]).as_matrix()
    poses[:, :3] = Rotation.from_matrix(rotmat @ root).as_rotvec()
    return poses


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
        on_bad_file (str): ``'skip'`` or ``'raise'``. Defaults to
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

    Each item is ``dict(inputs, data_samples)``:

    - ``inputs``: dict of ``pose_aa`` (72,) float32 SMPL axis-angle,
      radians, root rotated (y up, body facing +z before the rotation's
      yaw), and ``betas`` (10,) float32.
    - ``data_samples``: dict of ``sample_index`` () int64, ``rot_euler_deg``
      (3,) float32 ``(x, y, z)`` degrees drawn for this item,
      ``sequence_index`` and ``frame_index`` () int64 (into
      :attr:`sequences` and that file's frames).
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
                 verbose: bool = True) -> None:
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
            except AMASSFormatError as err:
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
        pose = self.poses[idx:idx + 1]
        if self.rotate:
            pose = rotate_smpl_root(pose, euler_xyz_to_rotmat(euler[None]))
        return dict(
            inputs=dict(
                pose_aa=torch.from_numpy(pose[0].astype(np.float32)),
                betas=torch.from_numpy(self.betas[idx].copy())),
            data_samples=dict(
                sample_index=torch.tensor(idx, dtype=torch.int64),
                rot_euler_deg=torch.from_numpy(euler.astype(np.float32)),
                sequence_index=torch.tensor(self.frames[idx, 0]),
                frame_index=torch.tensor(self.frames[idx, 1])))
