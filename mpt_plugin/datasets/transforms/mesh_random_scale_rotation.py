"""SPIN-style random crop scale and in-plane rotation (drawn, not applied).

:class:`MPTMeshRandomScaleRotation` only draws the parameters; the warp, the
keypoint transform and the 3D rotation happen in :class:`MPTMeshAffine`.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTMeshRandomScaleRotation']


@TRANSFORMS.register_module()
class MPTMeshRandomScaleRotation(BaseTransform):
    """Random crop-size multiplier and in-plane rotation (SPIN/METRO).

    - rotation (degrees, counter-clockwise in the image):
      ``clip(N(0, 1) * rot_factor, -2 * rot_factor, 2 * rot_factor)``, then
      set to 0 with probability ``rot_prob`` (SPIN's 0.6);
    - scale multiplier: ``clip(N(0, 1) * scale_factor + 1,
      1 - scale_factor, 1 + scale_factor)``, multiplied onto ``bbox_scale``
      (the side in px of the square crop; > 1 zooms out).

    The drawn rotation is added to ``results['rotation']`` (0 when absent),
    so the key always holds the total in-plane rotation.

    Randomness comes from numpy's global RNG (``np.random``), which
    MMEngine seeds (``randomness=dict(seed=...)`` and its data loader
    ``worker_init_fn``), so seeded runs are reproducible.

    Required keys: ``bbox_scale`` (float px). Modified keys: ``bbox_scale``.
    Added keys: ``rotation`` (float, degrees).

    Args:
        rot_factor (float): Standard deviation of the rotation in degrees
            (>= 0). Defaults to 30.
        scale_factor (float): Standard deviation of the scale multiplier,
            in ``[0, 1)``. Defaults to 0.25.
        rot_prob (float): Probability in ``[0, 1]`` that the rotation is
            zeroed. Defaults to 0.6.
    """

    def __init__(self,
                 rot_factor: float = 30.,
                 scale_factor: float = 0.25,
                 rot_prob: float = 0.6) -> None:
        super().__init__()
        if not rot_factor >= 0:
            raise ValueError(f'rot_factor must be >= 0, got {rot_factor}')
        if not 0 <= scale_factor < 1:
            raise ValueError(
                f'scale_factor must be in [0, 1), got {scale_factor}')
        if not 0 <= rot_prob <= 1:
            raise ValueError(f'rot_prob must be in [0, 1], got {rot_prob}')
        self.rot_factor = float(rot_factor)
        self.scale_factor = float(scale_factor)
        self.rot_prob = float(rot_prob)

    @cache_randomness
    def _draw(self) -> Tuple[float, float]:
        """Returns ``(rotation_deg, scale_multiplier)``."""
        rf, sf = self.rot_factor, self.scale_factor
        rot = float(np.clip(np.random.randn() * rf, -2 * rf, 2 * rf))
        if np.random.rand() < self.rot_prob:
            rot = 0.0
        scale = float(np.clip(np.random.randn() * sf + 1, 1 - sf, 1 + sf))
        return rot, scale

    def transform(self, results: dict) -> dict:
        """Draws and stores the rotation and scales ``bbox_scale``.

        Args:
            results (dict): Sample dict with ``bbox_scale``.

        Returns:
            dict: ``results``.
        """
        if 'bbox_scale' not in results:
            raise KeyError('MPTMeshRandomScaleRotation needs `bbox_scale` (side '
                           f'of the square crop in px); got keys '
                           f'{sorted(results)}')
        bbox_scale = np.asarray(results['bbox_scale'], dtype=np.float64)
        if bbox_scale.size != 1:
            raise ValueError('bbox_scale must be a single float (side of the '
                             f'square crop in px), got shape '
                             f'{bbox_scale.shape}')
        rot, scale = self._draw()
        results['bbox_scale'] = float(bbox_scale.reshape(())) * scale
        results['rotation'] = float(results.get('rotation', 0.0)) + rot
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(rot_factor={self.rot_factor}, '
                f'scale_factor={self.scale_factor}, '
                f'rot_prob={self.rot_prob})')
