"""Packs an image -> mesh sample that carries a 2D keypoint window."""
from typing import Optional, Sequence

import numpy as np
import torch

from mpt_plugin.registry import TRANSFORMS
from .pack_mesh_inputs import MPTPackMeshInputs

__all__ = ['MPTPackMeshSequenceInputs']

#: metainfo the video lifter path needs besides the parent's defaults
_SEQUENCE_META = ('sequence_name', )


@TRANSFORMS.register_module()
class MPTPackMeshSequenceInputs(MPTPackMeshInputs):
    """:class:`MPTPackMeshInputs` plus the window of a sequence sample.

    Adds to ``gt_instances`` (torch, leading dim 1):

    - ``keypoints2d_seq`` (1, T, K, 2) float32 px of the original images
      (after :class:`MPTMeshSequenceAlign`), centre frame ``T // 2``;
    - ``keypoints2d_seq_visible`` (1, T, K) float32 (ones when absent);
    - ``seq_frame_ids`` (1, T) int64 (-1 when absent);

    and ``sequence_name`` to the metainfo (``ori_shape``, the image size
    the lifter input is normalised by, is a default meta key).

    Required keys: the parent's and ``keypoints2d_seq`` (T, K, 2).

    Args:
        meta_keys (Sequence[str], optional): The parent's list (default)
            plus ``sequence_name``.
        num_keypoints (int, optional): See :class:`MPTPackMeshInputs`.
    """

    def __init__(self,
                 meta_keys: Optional[Sequence[str]] = None,
                 num_keypoints: Optional[int] = None) -> None:
        if meta_keys is None:
            super().__init__(num_keypoints=num_keypoints)
            meta_keys = tuple(self.meta_keys) + _SEQUENCE_META
        super().__init__(meta_keys=meta_keys, num_keypoints=num_keypoints)

    def transform(self, results: dict) -> dict:
        """Packs ``results`` (see the class docstring)."""
        if results.get('keypoints2d_seq') is None:
            raise KeyError('MPTPackMeshSequenceInputs needs `keypoints2d_seq` '
                           '(T, K, 2) (MPTHumanDataSequenceDataset); got keys '
                           f'{sorted(results)}')
        seq = np.asarray(results['keypoints2d_seq'], dtype=np.float32)
        if seq.ndim != 3 or seq.shape[-1] != 2:
            raise ValueError('keypoints2d_seq must have shape (T, K, 2), got '
                             f'{seq.shape}')
        vis = results.get('keypoints2d_seq_visible')
        vis = (np.ones(seq.shape[:2], np.float32)
               if vis is None else np.asarray(vis, dtype=np.float32))
        if vis.shape != seq.shape[:2]:
            raise ValueError('keypoints2d_seq_visible must have shape '
                             f'{seq.shape[:2]}, got {vis.shape}')
        ids = results.get('seq_frame_ids')
        ids = (np.full(seq.shape[0], -1, np.int64)
               if ids is None else np.asarray(ids, dtype=np.int64))
        if ids.shape != seq.shape[:1]:
            raise ValueError(f'seq_frame_ids must have shape {seq.shape[:1]}'
                             f', got {ids.shape}')
        packed = super().transform(results)
        gt = packed['data_samples'].gt_instances
        gt.keypoints2d_seq = torch.from_numpy(seq[None].copy())
        gt.keypoints2d_seq_visible = torch.from_numpy(vis[None].copy())
        gt.seq_frame_ids = torch.from_numpy(ids[None].copy())
        return packed
