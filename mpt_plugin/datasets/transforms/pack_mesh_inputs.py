"""Packs a cropped image -> mesh sample into ``inputs`` + ``PoseDataSample``.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTPackMeshInputs']

#: ``results`` key -> per-sample shape of the packed float32 field.
_SMPL_FIELDS = (('smpl_global_orient', (3, )), ('smpl_body_pose', (69, )),
                ('smpl_betas', (10, )))


@TRANSFORMS.register_module()
class MPTPackMeshInputs(BaseTransform):
    """Packs the sample as ``dict(inputs, data_samples)``.

    - ``inputs``: ``(3, S, S)`` uint8 BGR tensor (from ``img`` (S, S, 3)
      uint8; normalisation and BGR -> RGB happen in the model's data
      preprocessor).
    - ``data_samples``: a ``PoseDataSample`` whose ``gt_instances``
      (``InstanceData``, torch tensors, leading dim 1) hold

      - ``keypoints2d`` (1, K, 2) float32 crop px, ``keypoints2d_visible``
        (1, K) float32;
      - ``keypoints3d`` (1, K, 3) float32 metres (camera frame),
        ``keypoints3d_visible`` (1, K) float32;
      - ``smpl_global_orient`` (1, 3), ``smpl_body_pose`` (1, 69),
        ``smpl_betas`` (1, 10), ``has_smpl`` (1,) float32;
      - ``gender`` (1,) int64 (-1 neutral/unknown, 0 male, 1 female);
      - only when ``results`` holds a GT mesh ``vertices`` (V, 3) (metres,
        camera frame; FreiHAND): ``vertices`` (1, V, 3) float32 and
        ``has_mesh`` (1,) float32 (``results['has_mesh']``, default 1).

      and whose metainfo holds the ``meta_keys`` present in ``results``.

    Every sample gets every field, so samples of a mixed dataset batch
    alike: a missing ``keypoints2d`` / ``keypoints3d`` is filled with zeros
    and zero visibility (a missing visibility of present keypoints is all
    ones); missing SMPL parameters are zeros and then ``has_smpl`` is 0; a
    missing ``has_smpl`` is 1 when all three SMPL fields are present, else
    0; a missing ``gender`` is -1. ``K`` comes from ``num_keypoints``, or
    from whichever keypoints are present.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo when
            present. Defaults to the contract's list (``img_path``,
            ``sample_idx``, ``dataset_name``, ``bbox_center``, ``bbox_scale``,
            ``rotation``, ``flip``, ``input_size``, ``ori_shape``,
            ``crop_affine``).
        num_keypoints (int, optional): Expected ``K``; required to pack a
            sample that has neither ``keypoints2d`` nor ``keypoints3d``.
            Defaults to None (inferred).
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'sample_idx',
                                             'dataset_name', 'bbox_center',
                                             'bbox_scale', 'rotation', 'flip',
                                             'input_size', 'ori_shape',
                                             'crop_affine'),
                 num_keypoints: Optional[int] = None) -> None:
        super().__init__()
        self.meta_keys = tuple(meta_keys)
        if num_keypoints is not None and int(num_keypoints) <= 0:
            raise ValueError(
                f'num_keypoints must be positive, got {num_keypoints}')
        self.num_keypoints = (None
                              if num_keypoints is None else int(num_keypoints))

    def _infer_num_keypoints(self, results: dict) -> int:
        if self.num_keypoints is not None:
            return self.num_keypoints
        for key in ('keypoints2d', 'keypoints3d'):
            if results.get(key) is not None:
                return int(np.asarray(results[key]).shape[0])
        raise KeyError('MPTPackMeshInputs: the sample has neither `keypoints2d` '
                       'nor `keypoints3d`; set num_keypoints to pack zeros '
                       f'(keys: {sorted(results)})')

    @staticmethod
    def _keypoints(results: dict, key: str, num: int,
                   dims: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(K, dims)`` keypoints and ``(K,)`` visibility, zeros if absent."""
        if results.get(key) is None:
            return (np.zeros((num, dims),
                             np.float32), np.zeros(num, np.float32))
        kps = np.asarray(results[key], dtype=np.float32)
        if kps.shape != (num, dims):
            raise ValueError(f'MPTPackMeshInputs: {key} must have shape '
                             f'({num}, {dims}), got {kps.shape}')
        vis_key = f'{key}_visible'
        if results.get(vis_key) is None:
            vis = np.ones(num, np.float32)
        else:
            vis = np.asarray(results[vis_key], dtype=np.float32)
            if vis.shape != (num, ):
                raise ValueError(f'MPTPackMeshInputs: {vis_key} must have shape '
                                 f'({num},), got {vis.shape}')
        return kps, vis

    def transform(self, results: dict) -> dict:
        """Packs ``results``.

        Args:
            results (dict): Sample dict after :class:`MPTMeshAffine`.

        Returns:
            dict: ``inputs`` (Tensor (3, S, S) uint8) and ``data_samples``
            (PoseDataSample).
        """
        if 'img' not in results:
            raise KeyError(
                f'MPTPackMeshInputs needs `img`; got keys {sorted(results)}')
        img = np.asarray(results['img'])
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError('MPTPackMeshInputs: img must be (S, S, 3) uint8 '
                             f'BGR, got {img.shape} {img.dtype}')
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

        num = self._infer_num_keypoints(results)
        fields = {}
        for key, dims in (('keypoints2d', 2), ('keypoints3d', 3)):
            kps, vis = self._keypoints(results, key, num, dims)
            fields[key] = kps
            fields[f'{key}_visible'] = vis
        all_smpl = True
        for key, shape in _SMPL_FIELDS:
            if results.get(key) is None:
                all_smpl = False
                fields[key] = np.zeros(shape, np.float32)
                continue
            value = np.asarray(results[key], dtype=np.float32)
            if value.size != shape[0]:
                raise ValueError(f'MPTPackMeshInputs: {key} must have '
                                 f'{shape[0]} values, got {value.shape}')
            fields[key] = value.reshape(shape)
        if results.get('has_smpl') is None:
            has_smpl = float(all_smpl)
        else:
            has_smpl = float(np.asarray(results['has_smpl']).reshape(()))
            if not all_smpl:
                has_smpl = 0.0
        fields['has_smpl'] = np.array(has_smpl, np.float32)
        gender = results.get('gender')
        fields['gender'] = np.array(-1 if gender is None else int(gender),
                                    np.int64)

        if results.get('vertices') is not None:
            verts = np.asarray(results['vertices'], dtype=np.float32)
            if verts.ndim != 2 or verts.shape[1] != 3:
                raise ValueError('MPTPackMeshInputs: vertices must have '
                                 f'shape (V, 3), got {verts.shape}')
            fields['vertices'] = verts
            fields['has_mesh'] = np.array(
                float(np.asarray(results.get('has_mesh', 1.0)).reshape(())),
                np.float32)

        gt_instances = InstanceData()
        for key, value in fields.items():
            gt_instances.set_field(torch.from_numpy(value[None]), key)
        data_sample = PoseDataSample(gt_instances=gt_instances)
        data_sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(meta_keys={self.meta_keys}, '
                f'num_keypoints={self.num_keypoints})')
