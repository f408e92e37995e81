"""Random horizontal flip of an image -> mesh sample (before the crop).

Frames: ``keypoints2d`` are pixels of the ORIGINAL image with pixel centres
at integer coordinates (the image spans ``[-0.5, W - 0.5]``), so mirroring
is ``x -> W - 1 - x``; ``keypoints3d`` are metres in the camera frame
(x right, y down, z forward) and are mirrored by ``X -> -X``.
"""
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mpt_plugin.body_models.conventions import (get_flip_indices,
                                                get_keypoint_num)
from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTMeshRandomFlip', 'flip_smpl_pose', 'SMPL_FLIP_INDICES']

#: Left <-> right permutation of the 24 SMPL joints (``smpl_24`` names).
SMPL_FLIP_INDICES: List[int] = get_flip_indices('smpl_24')


def flip_smpl_pose(pose: np.ndarray) -> np.ndarray:
    """Mirrors SMPL axis-angle poses across the body's sagittal plane.

    The mirror ``M = diag(-1, 1, 1)`` maps a rotation ``R`` to ``M R M``,
    whose axis-angle is ``(x, -y, -z)``; left and right joints trade places
    (:data:`SMPL_FLIP_INDICES`). Joint 0 (the global orientation) is
    mirrored in place, so a camera-frame global orientation stays
    consistent with camera-frame points mirrored by ``X -> -X``.

    Args:
        pose (np.ndarray): ``(..., 72)`` or ``(..., 24, 3)`` axis-angle,
            radians, global orientation first.

    Returns:
        np.ndarray: Mirrored poses, same shape and dtype.

    Raises:
        ValueError: Not 24 joints.
    """
    pose = np.asarray(pose)
    shape = pose.shape
    if not (shape[-2:] == (24, 3) or (len(shape) >= 1 and shape[-1] == 72)):
        raise ValueError('SMPL pose must have shape (..., 72) or '
                         f'(..., 24, 3), got {shape}')
    joints = pose.reshape(shape[:-1] + (24, 3) if shape[-1] == 72 else shape)
    out = joints[..., SMPL_FLIP_INDICES, :] * np.array([1, -1, -1],
                                                       dtype=pose.dtype)
    return out.reshape(shape)


def _get_keypoints(results: dict, key: str, dims: int,
                   num: int) -> Optional[np.ndarray]:
    """``results[key]`` as a ``(num, dims)`` float32 array (None if absent)."""
    if key not in results or results[key] is None:
        return None
    arr = np.asarray(results[key], dtype=np.float32)
    if arr.shape != (num, dims):
        raise ValueError(f'{key} must have shape ({num}, {dims}) for the '
                         f'flip convention, got {arr.shape}')
    return arr


@TRANSFORMS.register_module()
class MPTMeshRandomFlip(BaseTransform):
    """Horizontally flips the image and all labels with probability ``prob``.

    Runs on the ORIGINAL image, before :class:`MPTMeshAffine`. With ``W`` the
    image width:

    - ``img`` (H, W, C) is mirrored left <-> right;
    - ``keypoints2d`` (K, 2) px: ``x -> W - 1 - x`` then left/right joints
      swapped with ``get_flip_indices(convention)``;
      ``keypoints2d_visible`` / ``keypoints3d_visible`` (K,) permuted alike;
    - ``keypoints3d`` (K, 3) metres, camera frame: ``X -> -X`` plus the swap
      (exactly the mirrored scene when the principal point is at
      ``x = (W - 1) / 2``, SPIN's assumption otherwise);
    - ``smpl_global_orient`` (3,) and ``smpl_body_pose`` (69,): mirrored by
      :func:`flip_smpl_pose` (the body and its orientation together);
    - ``bbox_center`` (2,) px: ``x -> W - 1 - x``; ``bbox_xywh`` (4,) px:
      ``x -> W - 1 - x - w`` (same box, mirrored);
    - ``flip`` (bool) is toggled (``False`` -> ``True``; a second flip
      restores ``False``); it is set to ``False`` when no flip happens and
      the key was absent.

    Absent optional keys are skipped. ``smpl_betas`` are unchanged.

    Randomness comes from numpy's global RNG (``np.random``), which
    MMEngine seeds (``randomness=dict(seed=...)`` and its data loader
    ``worker_init_fn``), so seeded runs are reproducible.

    Required keys: ``img``. Modified keys: ``img``, ``keypoints2d``,
    ``keypoints2d_visible``, ``keypoints3d``, ``keypoints3d_visible``,
    ``smpl_global_orient``, ``smpl_body_pose``, ``bbox_center``,
    ``bbox_xywh``. Added keys: ``flip``.

    Args:
        prob (float): Flip probability in ``[0, 1]``. Defaults to 0.5.
        convention (str): Keypoint convention of ``keypoints2d`` and
            ``keypoints3d`` (see :mod:`mpt_plugin.body_models.conventions`).
            Defaults to ``'h36m'``.
    """

    def __init__(self, prob: float = 0.5, convention: str = 'h36m') -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = float(prob)
        self.convention = convention
        self.flip_indices = np.asarray(
            get_flip_indices(convention), dtype=np.int64)
        self.num_keypoints = get_keypoint_num(convention)

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Flips ``results`` in place (see the class docstring).

        Args:
            results (dict): Sample dict with a loaded ``img``.

        Returns:
            dict: ``results``.
        """
        if not self._do_flip():
            results.setdefault('flip', False)
            return results
        if 'img' not in results:
            raise KeyError('MPTMeshRandomFlip needs a loaded `img` (run '
                           'LoadImage first); got keys '
                           f'{sorted(results)}')
        img = results['img']
        width = img.shape[1]
        results['img'] = np.ascontiguousarray(img[:, ::-1])
        idx, num = self.flip_indices, self.num_keypoints

        kp2d = _get_keypoints(results, 'keypoints2d', 2, num)
        if kp2d is not None:
            kp2d = kp2d.copy()
            kp2d[:, 0] = (width - 1) - kp2d[:, 0]
            results['keypoints2d'] = kp2d[idx]
        kp3d = _get_keypoints(results, 'keypoints3d', 3, num)
        if kp3d is not None:
            results['keypoints3d'] = kp3d[idx] * np.array([-1, 1, 1],
                                                          dtype=np.float32)
        for key in ('keypoints2d_visible', 'keypoints3d_visible'):
            if results.get(key) is not None:
                vis = np.asarray(results[key], dtype=np.float32)
                if vis.shape != (num, ):
                    raise ValueError(f'{key} must have shape ({num},) for '
                                     f'convention {self.convention!r}, got '
                                     f'{vis.shape}')
                results[key] = vis[idx]

        self._flip_smpl(results)

        if results.get('bbox_center') is not None:
            center = np.array(results['bbox_center'], dtype=np.float32)
            if center.shape != (2, ):
                raise ValueError('bbox_center must have shape (2,), got '
                                 f'{center.shape}')
            center[0] = (width - 1) - center[0]
            results['bbox_center'] = center
        if results.get('bbox_xywh') is not None:
            box = np.array(results['bbox_xywh'], dtype=np.float32)
            if box.shape[-1] < 4:
                raise ValueError('bbox_xywh must have >= 4 columns, got '
                                 f'{box.shape}')
            box[..., 0] = (width - 1) - box[..., 0] - box[..., 2]
            results['bbox_xywh'] = box
        results['flip'] = not bool(results.get('flip', False))
        return results

    @staticmethod
    def _flip_smpl(results: dict) -> None:
        """Mirrors ``smpl_global_orient`` (3,) + ``smpl_body_pose`` (69,)."""
        has_go = results.get('smpl_global_orient') is not None
        has_bp = results.get('smpl_body_pose') is not None
        if not (has_go or has_bp):
            return
        go = np.zeros(3, dtype=np.float32)
        bp = np.zeros(69, dtype=np.float32)
        if has_go:
            go = np.asarray(results['smpl_global_orient'], dtype=np.float32)
            if go.size != 3:
                raise ValueError('smpl_global_orient must have 3 values, got '
                                 f'shape {go.shape}')
        if has_bp:
            bp = np.asarray(results['smpl_body_pose'], dtype=np.float32)
            if bp.size != 69:
                raise ValueError('smpl_body_pose must have 69 values (23, 3),'
                                 f' got shape {bp.shape}')
        pose = flip_smpl_pose(np.concatenate([go.reshape(3), bp.reshape(69)]))
        if has_go:
            results['smpl_global_orient'] = pose[:3]
        if has_bp:
            results['smpl_body_pose'] = pose[3:]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'convention={self.convention!r})')
