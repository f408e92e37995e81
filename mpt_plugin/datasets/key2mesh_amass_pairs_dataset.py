"""Key2Mesh pre-training pairs synthesised on the fly from AMASS.

Key2Mesh (paper sec. 3.2) pre-trains on (2D keypoints, SMPL) pairs made
from AMASS SMPL parameters: a random global rotation is left-multiplied onto
the root (Euler angles uniform in x in [-20, 20] deg, y in [0, 360) deg,
z in [-20, 20] deg, ``R = Rz Ry Rx``, y up), the untranslated body is posed,
its OpenPose-18 joints are projected by a fixed camera, jittered, randomly
occluded and normalised.

The work is split in two:

- :class:`Key2MeshAMASSPairsDataset` (CPU loader) reads the sparsely
  sampled frames' SMPL parameters from the one MoCap source every method
  shares, the memory-mapped :class:`~.mocap_smpl_store.MoCapSMPLStore`
  (built from the AMASS tree once, by rank 0, under ``cache_root``; opening
  it again reads no motion file). It keeps no copy of the poses in memory:
  per item it reads one stored frame (296 bytes, root in AMASS's z-up
  world), draws the random root rotation ``R`` and returns the parameters
  with the root rotated by ``R @ AMASS_TO_YUP`` in one step.
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
The body model runs once at construction, over the store in chunks: the
OpenPose-18 joints of every kept frame in its y-up orientation (kept in
memory, 18 x 3 x 2 + 3 float32 per frame); item ``i``'s random root rotation
``R`` then only rotates them about the pelvis ``J0``
(``R (j - J0) + J0``, exact for untranslated SMPL), so items stay cheap.
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from torch.utils.data import Dataset

from mpt_plugin.body_models.conventions import SMPL45_TO_OPENPOSE18
from mpt_plugin.geometry.keypoints import synthesize_keypoints_2d
from mpt_plugin.geometry.rotations import (euler_xyz_to_rotmat,
                                          rotate_smpl_root)
from mpt_plugin.registry import DATASETS, MODELS
from .amass_io import AMASS_TO_YUP, split_amass_sequences
from .mocap_smpl_store import MoCapSMPLStore

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


class _StoreColumn:
    """Read-only, array-like view of one per-frame quantity that is computed
    from the store on access (nothing is held in memory).

    Indexing (an int, a slice or an index array for the rows, optionally
    followed by column indices) returns a new float32 array; ``np.asarray``
    reads every row (small stores and tests only).
    """

    def __init__(self, read: Callable, num_rows: int, width: int) -> None:
        self._read = read  # row index -> float32 (width,) or (B, width)
        self.shape = (int(num_rows), int(width))
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key,
                                                                        ())
        if isinstance(rows, (int, np.integer)) and not \
                -self.shape[0] <= rows < self.shape[0]:
            raise IndexError(f'row {rows} out of range for {self.shape[0]}')
        return self._read(rows)[(Ellipsis, ) + tuple(rest)]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


@DATASETS.register_module()
class Key2MeshAMASSPairsDataset(Dataset):
    """AMASS SMPL parameters with a random root rotation (Key2Mesh C.2).

    Data source: the frames come from the MoCap SMPL store
    (:class:`~mpt_plugin.datasets.mocap_smpl_store.MoCapSMPLStore`) of the
    chosen sequences and sampling under ``cache_root``: the first
    construction (rank 0; other ranks wait for it) reads every motion file
    once (bad files are reported and skipped, or raise with
    ``on_bad_file='raise'``) and keeps the frames chosen sparsely by
    :func:`~mpt_plugin.datasets.mocap_smpl_store.select_frames`; every later
    construction with the same files and sampling, whatever the other
    options, opens the same store folder and reads no motion file. MPT
    (:class:`MPTMoCapHeatmapDataset`) samples the same store.

    Memory: the dataset holds no copy of the poses. The store is memory
    mapped (296 bytes per frame on disk; pages are shared by the data-loader
    workers, which re-open it by folder name) and item ``i`` reads frame
    ``i``: ``pose`` (72,) with its root still in AMASS's z-up world, and its
    sequence's ``betas`` (10,). The root is turned into SMPL's y-up frame
    (``AMASS_TO_YUP``, -90 deg about x, as
    :func:`~mpt_plugin.datasets.amass_io.zup_to_yup_root`) and
    randomly rotated in one product, ``R @ AMASS_TO_YUP``. The translation
    is not stored and the gender the store records (for MPT's gendered
    bodies) is ignored: Key2Mesh and LGD pose the untranslated NEUTRAL
    body.

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
            relative to ``data_root``); overrides ``split``. Missing files
            raise FileNotFoundError. The kept sequences are in the tree's
            (sorted) order, not the list's.
        sample_fps (float, optional): Keep about this many frames per
            second of motion (see
            :func:`~mpt_plugin.datasets.mocap_smpl_store.select_frames`).
        num_samples (int, optional): Keep about this many frames in total.
            Exclusive with ``sample_fps``; neither keeps every frame.
        hand_pose (str): SMPL hand joints, ``'zero'`` (LGD / Key2Mesh) or
            ``'index1'``. Defaults to ``'zero'``.
        on_bad_file (str): ``'skip'`` (bad files are left out, listed with
            their reasons in :attr:`bad_files` and counted in the log) or
            ``'raise'`` (the first :class:`AMASSFormatError`, also when an
            existing store lists bad files). A file is bad
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
        cache_root (str, optional): Folder of the MoCap SMPL stores
            (``smpl_<fingerprint>/``), shared with MPT. Defaults to
            ``<data_root>/../cache`` (``data/cache`` for ``data/amass``).

    Each item is ``dict(inputs, data_samples)``:

    - ``inputs``: dict of ``pose_aa`` (72,) float32 SMPL axis-angle,
      radians, root rotated (y up, body facing +z before the rotation's
      yaw), and ``betas`` (10,) float32.
    - ``data_samples``: dict of ``sample_index`` () int64, ``rot_euler_deg``
      (3,) float32 ``(x, y, z)`` degrees drawn for this item,
      ``sequence_index`` and ``frame_index`` () int64 (into
      :attr:`sequences` and that file's frames).

    Attributes:
        store (MoCapSMPLStore): the memory-mapped source.
        sequences (list[str]): paths of the sequences in use (bad files
            left out).
        bad_files (list[tuple[str, str]]): ``(path, reason)`` of the files
            left out.
        frames: (N, 2) int32 memory map ``[sequence index, frame index]``.
        poses, betas: array-like (N, 72) / (N, 10) float32 views of the
            unrotated y-up poses and the shapes, read from the store on
            access (see :meth:`params`); ``np.asarray`` reads all rows.

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
                 return_3d: bool = True,
                 cache_root: Optional[str] = None) -> None:
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

        rank = get_dist_info()[0]
        self.cache_root = cache_root or osp.join(
            osp.dirname(osp.abspath(data_root)), 'cache')
        self.store = MoCapSMPLStore.get_or_build(
            data_root, self.cache_root, sample_fps=sample_fps,
            num_samples=num_samples,
            sequences=self._select_sequences(data_root, split, val_fraction,
                                             sequences),
            on_bad_file=on_bad_file, hand_pose=hand_pose,
            verbose=verbose and rank == 0, wait_for_other_rank=rank != 0)
        self.sequences: List[str] = self.store.sequence_paths()
        self.bad_files: List[Tuple[str, str]] = [
            (path, reason) for path, reason in self.store.bad_files
        ]
        self.return_3d = bool(return_3d)
        self.keypoints2d_cfg: Optional[dict] = None
        if keypoints2d is not None:
            self._setup_keypoints2d(keypoints2d)
        elif not self.return_3d:
            raise ValueError('return_3d=False needs keypoints2d=dict(...): '
                             'SMPL-parameter items are labels themselves')
        if verbose and rank == 0:
            print_log(
                f'Key2MeshAMASSPairsDataset: {len(self)} frames from '
                f'{len(self.sequences)} sequences of {data_root} '
                f'({len(self.bad_files)} bad files skipped), store '
                f'{self.store.store_dir}',
                logger='current')

    @staticmethod
    def _select_sequences(data_root: str, split: str, val_fraction: float,
                          sequences: Optional[Sequence[str]]
                          ) -> Optional[List[str]]:
        """Paths relative to ``data_root`` for the store (None: all)."""
        if sequences is not None:
            missing = [
                osp.join(data_root, s) for s in sequences
                if not osp.isfile(osp.join(data_root, s))
            ]
            if missing:
                raise FileNotFoundError(
                    f'{data_root}: {len(missing)} listed sequence(s) not '
                    f'found, e.g. {missing[0]}')
            return list(sequences)
        if split == 'all':
            return None  # the whole tree (the same store as every file)
        return split_amass_sequences(data_root, split, val_fraction)

    # ------------------------------------------------------------------
    # stored frames
    # ------------------------------------------------------------------
    @property
    def frames(self) -> np.ndarray:
        """(N, 2) int32 memory map: sequence index, frame index."""
        return self.store.frames

    @property
    def poses(self) -> _StoreColumn:
        """(N, 72) float32 array-like: unrotated poses, y-up root."""
        return _StoreColumn(lambda i: self.params(i)['pose_aa'], len(self),
                            72)

    @property
    def betas(self) -> _StoreColumn:
        """(N, 10) float32 array-like: each frame's sequence's shape."""
        return _StoreColumn(
            lambda i: np.asarray(
                self.store.arrays['betas'][np.asarray(
                    self.store.frames[i], np.int64)[..., 0]], np.float32),
            len(self), 10)

    def params(self, index: Union[int, slice, np.ndarray],
               rotmat: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """SMPL parameters of stored frames, root turned y up.

        Args:
            index: an int, a slice or an index array.
            rotmat: optional (3, 3) or (B, 3, 3) rotation left-multiplied
                onto the y-up root (applied as ``rotmat @ AMASS_TO_YUP`` on
                the stored z-up root, one conversion).

        Returns:
            dict: ``pose_aa`` (72,) or (B, 72) float32, ``betas`` (10,) or
            (B, 10) float32, ``sequence_index`` and ``frame_index`` int64.
            No gender: Key2Mesh poses the neutral body.
        """
        out = self.store.params(index)
        rot = AMASS_TO_YUP if rotmat is None else np.asarray(
            rotmat, np.float64) @ AMASS_TO_YUP
        return dict(pose_aa=rotate_smpl_root(out['pose_aa'],
                                             rot).astype(np.float32),
                    betas=out['betas'],
                    sequence_index=out['sequence_index'],
                    frame_index=out['frame_index'])

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
        stored frames, unrotated but y up: the store is read ``chunk``
        frames at a time, each chunk's root converted to y up."""
        cfg = dict(body_model_cfg)
        cfg.setdefault('type', 'MPTSMPL')
        model = MODELS.build(cfg)
        if getattr(model, 'joint_convention', None) != 'smpl_45':
            raise ValueError('keypoints2d.body_model must return the '
                             "'smpl_45' joints (SMPL topology), got "
                             f"{getattr(model, 'joint_convention', None)!r}")
        joints, pelvis = [], []
        chunk = max(chunk, 1)
        with torch.no_grad():
            for start in range(0, len(self), chunk):
                params = self.params(slice(start, start + chunk))
                pose = torch.from_numpy(params['pose_aa'])
                out = model(betas=torch.from_numpy(params['betas']),
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
        normal = uniform = None  # drawn in this order, when used
        if rng is not None and cfg['jitter_std'] > 0:
            normal = torch.from_numpy(rng.standard_normal((18, 2)))
        if rng is not None and cfg['occlusion_prob'] > 0:
            uniform = torch.from_numpy(rng.random(18))
        _, px, conf = synthesize_keypoints_2d(
            torch.from_numpy(det), cfg['focal'], cfg['distance'], normal,
            uniform, cfg['jitter_std'], cfg['round_jitter'],
            cfg['occlusion_prob'], torch.from_numpy(self._kp_bias))
        return px.numpy(), conf.numpy(), true

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_samples=len(self),
                    num_sequences=len(self.sequences),
                    rot_ranges_deg=self.rot_ranges.tolist())

    def __len__(self) -> int:
        return len(self.store)

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
        # one root rotation: y up, then the random one (identity when off)
        stored = self.params(idx, rotmat[0] if self.rotate else None)
        labels = dict(
            sample_index=torch.tensor(idx, dtype=torch.int64),
            rot_euler_deg=torch.from_numpy(euler.astype(np.float32)),
            sequence_index=torch.tensor(int(stored['sequence_index']),
                                        dtype=torch.int64),
            frame_index=torch.tensor(int(stored['frame_index']),
                                     dtype=torch.int64))
        params = dict(pose_aa=torch.from_numpy(stored['pose_aa']),
                      betas=torch.from_numpy(stored['betas']))
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
