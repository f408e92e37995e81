"""Gives a 2D keypoint sequence the centre frame's flip and rotation.

Frames: ``keypoints2d_seq`` are pixels of each frame's ORIGINAL image (all
frames of a sequence share the image size and camera), pixel centres at
integer coordinates, x right, y down.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from mpt_plugin.body_models.conventions import (get_flip_indices,
                                                get_keypoint_num)
from mpt_plugin.geometry.rotations import camera_z_rotation
from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTMeshSequenceAlign']


@TRANSFORMS.register_module()
class MPTMeshSequenceAlign(BaseTransform):
    """Applies the centre frame's augmentation to ``keypoints2d_seq``.

    :class:`MPTMeshRandomFlip` and :class:`MPTMeshAffine` (with the rotation of
    :class:`MPTMeshRandomScaleRotation`) change the centre frame's image and
    labels only; the lifter's 2D window must see the same mirrored /
    rotated scene as its 3D target. With ``W x H`` the original image
    (``ori_shape``):

    - ``flip``: ``x -> W - 1 - x`` on every frame, then left/right joints
      swapped (``get_flip_indices(convention)``), as
      :class:`MPTMeshRandomFlip` does for ``keypoints2d``;
    - ``rotation`` (degrees, counter-clockwise in the image): every frame
      rotated by ``R2`` (:func:`camera_z_rotation`) about the image centre
      ``((W - 1) / 2, (H - 1) / 2)``, which is what the 3D rotation
      ``MPTMeshAffine`` applies to ``keypoints3d`` (about the optical axis)
      does to the projections when the principal point is the image
      centre (the same assumption as ``MPTMeshAffine``'s).

    The crop itself (scale, box) is not applied: the lifter reads original
    image pixels (normalised the way its codec was trained, in the model).

    Place it after :class:`MPTMeshAffine` and before the packer.

    Required keys: ``keypoints2d_seq`` (T, K, 2) px, ``ori_shape``
    ``(H, W)``. Optional: ``flip`` (bool), ``rotation`` (float),
    ``keypoints2d_seq_visible`` (T, K). Modified keys: ``keypoints2d_seq``,
    ``keypoints2d_seq_visible``.

    Args:
        convention (str): Keypoint convention of the sequence. Defaults to
            ``'h36m'``.
    """

    def __init__(self, convention: str = 'h36m') -> None:
        super().__init__()
        self.convention = convention
        self.flip_indices = np.asarray(get_flip_indices(convention),
                                       dtype=np.int64)
        self.num_keypoints = get_keypoint_num(convention)

    def transform(self, results: dict) -> dict:
        """Aligns ``results`` in place (see the class docstring).

        Args:
            results (dict): Sample dict after :class:`MPTMeshAffine`.

        Returns:
            dict: ``results``.
        """
        for key in ('keypoints2d_seq', 'ori_shape'):
            if key not in results:
                raise KeyError(f'MPTMeshSequenceAlign needs `{key}` '
                               '(MPTHumanDataSequenceDataset + LoadImage); got '
                               f'keys {sorted(results)}')
        seq = np.asarray(results['keypoints2d_seq'], dtype=np.float64)
        num = self.num_keypoints
        if seq.ndim != 3 or seq.shape[1:] != (num, 2):
            raise ValueError(f'keypoints2d_seq must have shape (T, {num}, 2)'
                             f' (convention {self.convention!r}), got '
                             f'{seq.shape}')
        height, width = (float(v) for v in results['ori_shape'][:2])
        if bool(results.get('flip', False)):
            seq = seq.copy()
            seq[..., 0] = (width - 1) - seq[..., 0]
            seq = seq[:, self.flip_indices]
            vis = results.get('keypoints2d_seq_visible')
            if vis is not None:
                vis = np.asarray(vis, dtype=np.float32)
                if vis.shape != seq.shape[:2]:
                    raise ValueError('keypoints2d_seq_visible must have '
                                     f'shape {seq.shape[:2]}, got '
                                     f'{vis.shape}')
                results['keypoints2d_seq_visible'] = vis[:, self.flip_indices]
        rotation = float(results.get('rotation', 0.0))
        if rotation != 0.0:
            centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
            rot2 = camera_z_rotation(rotation)[:2, :2]
            seq = (seq - centre) @ rot2.T + centre
        results['keypoints2d_seq'] = seq.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(convention={self.convention!r})'
