"""MoCap bodies seen by virtual cameras: the MPT pre-training data."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_dist_info
from torch.utils.data import Dataset

from mpt_plugin.geometry.virtual_cameras import (H36M_S1_CAMERAS,
                                                 build_virtual_cameras)
from mpt_plugin.registry import DATASETS
from .amass_io import split_amass_sequences
from .mocap_smpl_store import MoCapSMPLStore

__all__ = ['MPTMoCapHeatmapDataset']

#: Arguments of the posed-mesh cache (before the SMPL store) and where
#: their job went.
_MOVED = dict(
    body_model='the data preprocessor (MPTMoCapDataPreprocessor('
    'body_model=...)) poses the bodies on the training device',
    cache_dtype='the store keeps SMPL parameters (float32), no vertices',
    cache_batch_size='nothing is posed when the store is built',
    cache_device='nothing is posed when the store is built',
    heatmap_size='MPTMoCapDataPreprocessor(heatmap_size=...)',
    crop_padding='MPTMoCapDataPreprocessor(crop_padding=...)')


@DATASETS.register_module()
class MPTMoCapHeatmapDataset(Dataset):
    """AMASS bodies x virtual cameras for MPT pre-training (paper section
    3.1, appendices A and B).

    Frames are sampled sparsely from an AMASS tree into the memory-mapped
    :class:`MoCapSMPLStore` (SMPL parameters only, built once per input
    fingerprint and shared by every epoch, worker and rank). Sample ``i`` is
    body ``i // num_views`` seen by virtual camera ``i % num_views``. The
    loader carries the body's SMPL parameters and that camera (about 400
    bytes per sample); the data preprocessor
    (:class:`~mpt_plugin.models.data_preprocessors.MPTMoCapDataPreprocessor`
    with ``body_model``) poses the batch with the subject's gendered SMPL on
    the training device, centres each body on its H3.6M pelvis at the
    world origin, projects its 17 COCO joints through the camera, fits the
    square crop around them and builds the heatmap-frame joints and every
    ground-truth target.

    Args:
        data_root: AMASS tree (``DATASET/SUBJECT/NAME_poses.npz``).
        cache_root: where stores live. Defaults to ``<data_root>/../cache``.
        split: 'train', 'val' or 'all' (sequence-level split by a hash of the
            file path, so held-out motions are never seen in training).
        val_fraction: share of sequences in 'val'.
        sample_fps / num_samples: sparse frame sampling (see
            :func:`~.mocap_smpl_store.select_frames`): about ``sample_fps``
            frames per second of motion, or about ``num_samples`` meshes in
            total.
        num_views: 1, 2, 4 (H3.6M S1 cameras) or 8 (with 4 interpolated).
        camera_file: H3.6M camera JSON; the shipped S1 file by default.
        on_bad_file: 'skip' (report and count in :attr:`num_bad_files`;
            a file with any NaN/inf or absurd value is bad as a whole, see
            :mod:`~mpt_plugin.datasets.amass_io`) or 'raise'. A damaged
            store is rebuilt by rank 0; see :class:`MoCapSMPLStore`.
        hand_pose: SMPL hand joints, 'zero' or 'index1' (see
            :func:`~.amass_io.read_amass_sequence`).
        max_meshes: optional cap (first bodies of the store) for quick runs.
        sequences: explicit subset (paths relative to ``data_root``);
            overrides ``split``.
        verbose: print the store's build progress (rank 0).

    Each item is ``dict(inputs, data_samples)``:
        - ``inputs``: dict of ``pose_aa`` (72,) float32 SMPL axis-angle,
          radians, root orientation in AMASS's z-up world (the cameras'
          world); ``betas`` (10,) float32; ``gender`` () int64 code
          (-1 neutral, 0 male, 1 female: the subject's).
        - ``data_samples``: dict of ``mesh_index`` and ``view_index`` ()
          int64, and the camera: ``cam_R`` (3, 3) float32 world-to-camera
          rotation (row vectors: ``x_cam = (x_world - cam_T) @ cam_R``),
          ``cam_T`` (3,) camera centre (metres, world), ``cam_f`` (2,) and
          ``cam_c`` (2,) focal length and principal point (pixels).
    """

    METAINFO = dict(dataset_name='mocap_heatmaps', num_keypoints=17,
                    keypoint_convention='coco', gt_joint_convention='lsp')

    def __init__(self,
                 data_root: str,
                 cache_root: Optional[str] = None,
                 split: str = 'train',
                 val_fraction: float = 0.1,
                 sample_fps: Optional[float] = None,
                 num_samples: Optional[int] = None,
                 num_views: int = 4,
                 camera_file: str = H36M_S1_CAMERAS,
                 on_bad_file: str = 'skip',
                 hand_pose: str = 'zero',
                 max_meshes: Optional[int] = None,
                 sequences: Optional[Sequence[str]] = None,
                 verbose: bool = True,
                 **moved):
        if moved:
            raise TypeError(
                'MPTMoCapHeatmapDataset: argument(s) of the former posed-mesh '
                'cache: ' + '; '.join(
                    f'{k}: {_MOVED.get(k, "unknown argument")}'
                    for k in sorted(moved)))
        self.data_root = data_root
        self.split = split
        self.num_views = int(num_views)
        self.cameras = build_virtual_cameras(camera_file, num_views)

        if sequences is None:
            sequences = split_amass_sequences(data_root, split, val_fraction)
        rank, _ = get_dist_info()
        store = MoCapSMPLStore.get_or_build(
            data_root,
            cache_root or osp.join(osp.dirname(osp.abspath(data_root)),
                                   'cache'),
            sample_fps=sample_fps, num_samples=num_samples,
            sequences=sequences, on_bad_file=on_bad_file,
            hand_pose=hand_pose, verbose=verbose and rank == 0,
            wait_for_other_rank=rank != 0)
        self.store = store  # pickles as its folder name
        self.num_meshes = len(store) if max_meshes is None else min(
            len(store), int(max_meshes))
        self.num_bad_files = len(store.bad_files)
        cams = self.cameras
        self._camera = dict(
            cam_R=cams.R.astype(np.float32), cam_T=cams.T.astype(np.float32),
            cam_f=cams.f.astype(np.float32), cam_c=cams.c.astype(np.float32))

    @property
    def store_dir(self) -> str:
        """The store's folder (``smpl_<fingerprint>``)."""
        return self.store.store_dir

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_views=self.num_views,
                    store_dir=self.store_dir, num_meshes=self.num_meshes)

    def __len__(self) -> int:
        return self.num_meshes * self.num_views

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        mesh, view = divmod(int(idx), self.num_views)
        store = self.store
        seq = int(store.frames[mesh, 0])
        samples = dict(mesh_index=torch.tensor(mesh, dtype=torch.int64),
                       view_index=torch.tensor(view, dtype=torch.int64))
        for key, value in self._camera.items():
            samples[key] = torch.from_numpy(value[view])
        return dict(
            inputs=dict(pose_aa=torch.from_numpy(np.array(store.pose[mesh])),
                        betas=torch.from_numpy(store.betas[seq]),
                        gender=torch.tensor(int(store.gender[seq]))),
            data_samples=samples)
