"""Square, optionally rotated person crop of an image -> mesh sample.

Frames (see also :mod:`mpt_plugin.geometry.crop`):

- original image pixels ``*_px``: x right, y down, pixel centres at
  integer coordinates;
- crop pixels: the ``S x S`` output with pixel centres at ``0 .. S-1`` (the
  crop spans ``[-0.5, S - 0.5]``); without rotation this is exactly
  :func:`mpt_plugin.geometry.crop.image_to_crop`;
- 3D: metres, camera frame, x right, y down, z forward.

An in-plane rotation by ``theta`` degrees counter-clockwise as seen in the
image (y down) acts on image offsets with ``R2 = [[cos, sin], [-sin, cos]]``
(OpenCV's ``getRotationMatrix2D`` sign). The matching 3D rotation about the
camera z axis is ``R3 = [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]``: for a
pinhole camera ``u = f X / Z + c``, ``R3`` changes ``(X, Y)`` by ``R2`` and
keeps ``Z``, so the projection moves by ``R2`` about the principal point.
"""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mpt_plugin.geometry.crop import get_crop_affine
from mpt_plugin.geometry.rotations import camera_z_rotation, rotate_smpl_root
from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTMeshAffine']


@TRANSFORMS.register_module()
class MPTMeshAffine(BaseTransform):
    """Warps the person box to an ``input_size`` square crop.

    The crop is the square of side ``bbox_scale`` px centred at
    ``bbox_center``, rotated by ``rotation`` degrees (counter-clockwise in
    the image; 0 when absent), resampled with ``cv2.warpAffine`` (bilinear,
    constant 0 border) to ``(S, S)``. At test time (no random transforms)
    this is the plain square box crop of mmhuman3d's ``MPTMeshAffine``.

    - ``keypoints2d`` (K, 2): original px -> crop px with the same map
      (:func:`get_crop_affine`). Keypoints falling outside the crop are
      kept as they are (not clipped) and their visibility is NOT changed.
    - ``keypoints3d`` (K, 3) metres, camera frame, and
      ``smpl_global_orient`` (3,) (camera frame): rotated by
      :func:`camera_z_rotation` so that they stay consistent with the
      rotated crop. The rotation is about the camera's optical axis, i.e.
      exact when the crop centre is the principal point (as in SPIN).
    - ``rotation`` (float, default 0.) and ``flip`` (bool, default False)
      are set when absent; ``input_size`` (int), ``crop_affine`` (2, 3)
      float32 (original px -> crop px) and ``img_shape`` ``(S, S)`` are
      added. ``bbox_center`` / ``bbox_scale`` are kept (meta data).

    Required keys: ``img``, ``bbox_center`` (2,) px, ``bbox_scale`` float
    px. Modified keys: ``img``, ``img_shape``, ``keypoints2d``,
    ``keypoints3d``, ``vertices`` (a GT mesh (V, 3), metres, camera frame,
    e.g. FreiHAND's: rotated like ``keypoints3d``), ``smpl_global_orient``.
    Added keys: ``input_size``, ``crop_affine``, ``rotation``, ``flip``.

    Args:
        input_size (int): Crop side ``S`` in px. Defaults to 224.
    """

    def __init__(self, input_size: int = 224) -> None:
        super().__init__()
        if int(input_size) != input_size or input_size <= 0:
            raise ValueError(
                f'input_size must be a positive int, got {input_size}')
        self.input_size = int(input_size)

    def transform(self, results: dict) -> dict:
        """Crops ``results`` in place (see the class docstring).

        Args:
            results (dict): Sample dict with ``img``, ``bbox_center`` and
                ``bbox_scale``.

        Returns:
            dict: ``results``.
        """
        for key in ('img', 'bbox_center', 'bbox_scale'):
            if key not in results:
                raise KeyError(f'MPTMeshAffine needs `{key}`; got keys '
                               f'{sorted(results)}')
        where = (f'{results.get("img_path", "<no img_path>")} (sample '
                 f'{results.get("sample_idx", "?")}): ')
        center = np.asarray(results['bbox_center'], dtype=np.float64)
        if center.shape != (2, ) or not np.isfinite(center).all():
            raise ValueError(f'{where}bbox_center must be 2 finite px, got '
                             f'{center.tolist()!r}')
        scale = np.asarray(results['bbox_scale'], dtype=np.float64)
        if scale.size != 1 or not 0 < float(scale.reshape(())) < np.inf:
            raise ValueError(f'{where}bbox_scale must be one finite float > '
                             f'0 (crop side in px), got '
                             f'{results["bbox_scale"]!r}')
        scale = float(scale.reshape(()))
        rotation = float(results.setdefault('rotation', 0.0))
        results.setdefault('flip', False)
        size = self.input_size

        affine = get_crop_affine(center, scale, rotation, size)
        results['img'] = cv2.warpAffine(
            results['img'],
            affine, (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0)
        results['img_shape'] = (size, size)

        if results.get('keypoints2d') is not None:
            kp2d = np.asarray(results['keypoints2d'], dtype=np.float64)
            if kp2d.ndim != 2 or kp2d.shape[1] != 2:
                raise ValueError('keypoints2d must have shape (K, 2) px, got '
                                 f'{kp2d.shape}')
            results['keypoints2d'] = (kp2d @ affine[:, :2].T +
                                      affine[:, 2]).astype(np.float32)

        if rotation != 0.0:
            rot3 = camera_z_rotation(rotation)
            if results.get('keypoints3d') is not None:
                kp3d = np.asarray(results['keypoints3d'], dtype=np.float64)
                if kp3d.ndim != 2 or kp3d.shape[1] != 3:
                    raise ValueError('keypoints3d must have shape (K, 3) '
                                     f'metres, got {kp3d.shape}')
                results['keypoints3d'] = (kp3d @ rot3.T).astype(np.float32)
            if results.get('vertices') is not None:
                verts = np.asarray(results['vertices'], dtype=np.float64)
                if verts.ndim != 2 or verts.shape[1] != 3:
                    raise ValueError(f'{where}vertices must have shape '
                                     f'(V, 3) metres, got {verts.shape}')
                results['vertices'] = (verts @ rot3.T).astype(np.float32)
            if results.get('smpl_global_orient') is not None:
                orient = np.asarray(
                    results['smpl_global_orient'], dtype=np.float64)
                if orient.size != 3:
                    raise ValueError('smpl_global_orient must have 3 values '
                                     f'(axis-angle), got {orient.shape}')
                results['smpl_global_orient'] = rotate_smpl_root(
                    orient.reshape(1, 3), rot3[None])[0].astype(np.float32)

        results['input_size'] = size
        results['crop_affine'] = affine.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(input_size={self.input_size})'
