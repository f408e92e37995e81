"""MoCap meshes seen by virtual cameras: the MPT pre-training data."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_dist_info
from torch.utils.data import Dataset

from mpt_plugin.body_models.conventions import H36M_TO_J14, get_mapping
from mpt_plugin.geometry.crop import (crop_to_norm, fit_square_crop,
                                      image_to_crop)
from mpt_plugin.geometry.virtual_cameras import (H36M_S1_CAMERAS,
                                                 build_virtual_cameras)
from mpt_plugin.registry import DATASETS
from .amass_io import split_amass_sequences
from .mocap_mesh_cache import MoCapMeshCache

__all__ = ['MPTMoCapHeatmapDataset']


@DATASETS.register_module()
class MPTMoCapHeatmapDataset(Dataset):
    """AMASS meshes x virtual cameras -> 2D joints for MPT pre-training
    (paper section 3.1, appendices A and B).

    Frames are sampled sparsely from an AMASS tree, posed once by the body
    model into a memory-mapped :class:`MoCapMeshCache` (rebuilt when its
    inputs change) and centred on the pelvis at the origin. Sample ``i`` is
    mesh ``i // num_views`` seen by virtual camera ``i % num_views``: its 17
    COCO joints are projected by that camera, a square crop is fitted around
    them and they are mapped into the ``heatmap_size`` frame. The loader
    carries only these joints and a few indices (a few hundred bytes per
    sample); heatmaps or their tokens are synthesised on the training device,
    and the ground-truth mesh is gathered from the cache by the model
    (:class:`MPTPretrainEstimator`).

    Args:
        data_root: AMASS tree (``DATASET/SUBJECT/NAME_poses.npz``).
        body_model: ``dict(model_path=..., joints_regressor=<H3.6M 17-joint
            regressor .npy>, gender='neutral' | 'file')``.
        cache_root: where caches live. Defaults to ``<data_root>/../cache``.
        split: 'train', 'val' or 'all' (sequence-level split by a hash of the
            file path, so held-out motions are never seen in training).
        val_fraction: share of sequences in 'val'.
        sample_fps / num_samples: sparse frame sampling (see
            :func:`select_frames`): about ``sample_fps`` frames per second of
            motion, or about ``num_samples`` meshes in total.
        num_views: 1, 2, 4 (H3.6M S1 cameras) or 8 (with 4 interpolated).
        camera_file: H3.6M camera JSON; the shipped S1 file by default.
        heatmap_size: side of the square heatmap frame in pixels.
        crop_padding: crop side = padding x the joints' bounding-box side.
        on_bad_file: 'skip' (report and count in :attr:`num_bad_files`;
            a file with any NaN/inf or absurd value is bad as a whole, see
            :mod:`~mpt_plugin.datasets.amass_io`) or 'raise'. A damaged
            cache (truncated arrays, broken ``meta.json``, no completion
            marker) is rebuilt by rank 0; see :class:`MoCapMeshCache`.
        cache_dtype: 'float32' or 'float16' vertices.
        cache_batch_size / cache_device: body-model batching when building.
        max_meshes: optional cap (first meshes of the cache) for quick runs.

    Each item is ``dict(inputs, data_samples)``:
        - ``inputs``: (17, 3) float32 ``[x_hm, y_hm, visibility]``, COCO
          order, pixels of the heatmap frame (pixel centres at 0..S-1).
        - ``data_samples``: dict with ``mesh_index`` and ``view_index``
          (int64), ``cam_R`` (3, 3) float32 world-to-camera rotation (row
          vectors: ``x_cam = x_world @ cam_R``), ``joints2d_norm`` (14, 2)
          float32 LSP joints in [-1, 1] crop coordinates, ``cache_dir``.
    """

    METAINFO = dict(dataset_name='mocap_heatmaps', num_keypoints=17,
                    keypoint_convention='coco', gt_joint_convention='lsp')

    def __init__(self,
                 data_root: str,
                 body_model: dict,
                 cache_root: Optional[str] = None,
                 split: str = 'train',
                 val_fraction: float = 0.1,
                 sample_fps: Optional[float] = None,
                 num_samples: Optional[int] = None,
                 num_views: int = 4,
                 camera_file: str = H36M_S1_CAMERAS,
                 heatmap_size: int = 224,
                 crop_padding: float = 1.2,
                 on_bad_file: str = 'skip',
                 cache_dtype: str = 'float32',
                 cache_batch_size: int = 512,
                 cache_device: str = 'cpu',
                 max_meshes: Optional[int] = None,
                 sequences: Optional[Sequence[str]] = None,
                 verbose: bool = True):
        self.data_root = data_root
        self.split = split
        self.num_views = int(num_views)
        self.heatmap_size = int(heatmap_size)
        self.crop_padding = float(crop_padding)
        self.cameras = build_virtual_cameras(camera_file, num_views)

        if sequences is None:
            sequences = split_amass_sequences(data_root, split, val_fraction)
        rank, _ = get_dist_info()
        cache = MoCapMeshCache.get_or_build(
            data_root,
            cache_root or osp.join(osp.dirname(osp.abspath(data_root)),
                                   'cache'),
            body_model, sample_fps=sample_fps, num_samples=num_samples,
            sequences=sequences, on_bad_file=on_bad_file, dtype=cache_dtype,
            batch_size=cache_batch_size, device=cache_device,
            verbose=verbose and rank == 0, wait_for_other_rank=rank != 0)
        self.cache_dir = cache.cache_dir
        self.num_meshes = len(cache) if max_meshes is None else min(
            len(cache), int(max_meshes))
        self.num_bad_files = len(cache.meta['bad_files'])
        dst_idx, src_idx = get_mapping('smpl_45', 'coco')
        if len(dst_idx) != 17:
            raise RuntimeError('smpl_45 -> coco mapping is incomplete')
        order = np.argsort(dst_idx)
        self._coco_from_smpl45 = np.asarray(src_idx)[order]
        self._lsp_from_h36m = np.asarray(H36M_TO_J14)
        self._cam_R = self.cameras.R.astype(np.float32)

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_views=self.num_views,
                    heatmap_size=self.heatmap_size, cache_dir=self.cache_dir,
                    num_meshes=self.num_meshes)

    @property
    def cache(self) -> MoCapMeshCache:
        # opened lazily in every process (data-loader workers included);
        # the memory maps themselves are never pickled
        return MoCapMeshCache.open(self.cache_dir)

    def __len__(self) -> int:
        return self.num_meshes * self.num_views

    def project(self, mesh_index: np.ndarray, view_index: np.ndarray):
        """Project meshes through cameras, batched.

        Args:
            mesh_index, view_index: (B,) int arrays.

        Returns:
            tuple: COCO joints (B, 17, 2) in heatmap pixels and LSP joints
            (B, 14, 2) normalised to [-1, 1] in the same crop.
        """
        cache = self.cache
        coco = cache.joints_smpl45[mesh_index][:, self._coco_from_smpl45]
        lsp = cache.joints_h36m[mesh_index][:, self._lsp_from_h36m]
        pts = np.concatenate([coco, lsp], axis=1).astype(np.float64)
        px = self.cameras.project(
            self.cameras.world_to_camera(pts, view_index), view_index)
        centre, side = fit_square_crop(px[:, :17], padding=self.crop_padding)
        hm = image_to_crop(px, centre, side, self.heatmap_size)
        return hm[:, :17], crop_to_norm(hm[:, 17:], self.heatmap_size)

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        mesh, view = divmod(int(idx), self.num_views)
        coco_hm, lsp_norm = self.project(np.array([mesh]), np.array([view]))
        inputs = np.concatenate(
            [coco_hm[0], np.ones((17, 1))], axis=1).astype(np.float32)
        return dict(
            inputs=torch.from_numpy(inputs),
            data_samples=dict(
                mesh_index=torch.tensor(mesh, dtype=torch.int64),
                view_index=torch.tensor(view, dtype=torch.int64),
                cam_R=torch.from_numpy(self._cam_R[view]),
                joints2d_norm=torch.from_numpy(
                    lsp_norm[0].astype(np.float32)),
                cache_dir=self.cache_dir))
