"""Scale and shift jitter of the virtual crop of MoCap pre-training samples.

Every MoCap sample is cropped tightly around its projected joints
(``MPTMoCapHeatmapDataset``: square box = ``crop_padding`` x the joints'
bounding box), so in pre-training every body spans the same share of the
heatmap frame and sits at its centre, while fine-tuning and test crops come
from dataset boxes that vary in scale and position (and are further scaled
by ``MPTMeshRandomScaleRotation``). This step re-crops each sample on the
device: the crop side is multiplied by ``m`` and its centre moved by ``t``
(a fraction of the side, per axis). In normalised crop coordinates
(``[-1, 1]``, ``crop_to_norm``) a point ``n`` becomes ``n / m - 2 t``; in
heatmap pixels (pixel centres at ``0 .. S-1``) the same map is applied
about the frame centre. Joints that leave the frame become invisible
(weight 0), as a real crop would cut them off. The 2D targets of the
re-projection loss (``joints2d_norm``) move with the crop.

The paper does not jitter pre-training crops; this is our addition
(``MPTMoCapDataPreprocessor(crop_jitter=...)``, off by default), measured in
docs/benchmarks.md.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mpt_plugin.geometry.crop import crop_to_norm, norm_to_crop
from mpt_plugin.registry import MODELS

__all__ = ['MPTCropJitter']


@MODELS.register_module()
class MPTCropJitter(nn.Module):
    """Random re-cropping of heatmap-frame joints, batched on the device.

    Args:
        scale_factor (float): crop-side multiplier ``m = clip(1 + N(0, 1) *
            scale_factor, 1 - scale_factor, 1 + scale_factor)``, the
            distribution ``MPTMeshRandomScaleRotation`` uses for fine-tuning
            crops (``m > 1``: a larger crop, a smaller body). Defaults to
            0.25.
        shift_factor (float): crop-centre shift ``t ~ U(-shift_factor,
            shift_factor)`` per axis, in units of the crop side.
            Defaults to 0.1.
    """

    def __init__(self, scale_factor: float = 0.25,
                 shift_factor: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= scale_factor < 1.0:
            raise ValueError(
                f'scale_factor must be in [0, 1), got {scale_factor}')
        if not 0.0 <= shift_factor <= 0.5:
            raise ValueError(
                f'shift_factor must be in [0, 0.5], got {shift_factor}')
        self.scale_factor = float(scale_factor)
        self.shift_factor = float(shift_factor)

    def extra_repr(self) -> str:
        return (f'scale_factor={self.scale_factor}, '
                f'shift_factor={self.shift_factor}')

    def sample(self, batch_size: int, device: torch.device,
               dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor]:
        """Draw ``m`` (B,) and ``t`` (B, 2) from torch's global RNG."""
        sf = self.scale_factor
        m = (1 + sf * torch.randn(batch_size, device=device,
                                  dtype=dtype)).clamp(1 - sf, 1 + sf)
        t = (torch.rand(batch_size, 2, device=device, dtype=dtype) * 2 -
             1) * self.shift_factor
        return m, t

    @staticmethod
    def recrop(joints_px: Tensor, weights: Tensor, size: int, m: Tensor,
              t: Tensor, joints_norm: Optional[Tensor] = None):
        """Re-crop with given ``m`` (B,) and ``t`` (B, 2).

        Args:
            joints_px (Tensor): (B, K, 2) heatmap pixels (centres at
                ``0 .. size-1``).
            weights (Tensor): (B, K) Gaussian amplitudes.
            size (int): heatmap side ``S``.
            m (Tensor): (B,) crop-side multipliers.
            t (Tensor): (B, 2) crop-centre shifts (fraction of the side).
            joints_norm (Tensor, optional): (B, J, 2) normalised crop
                coordinates of the 2D targets.

        Returns:
            tuple: joints_px (B, K, 2), weights (B, K) (0 where a joint left
            the frame ``[-0.5, S - 0.5)``), joints_norm (B, J, 2) or None.
        """
        scale = (1.0 / m)[:, None, None]
        offset = (-2.0 * t)[:, None, :]
        new_px = norm_to_crop(crop_to_norm(joints_px, size) * scale + offset,
                              size)
        inside = ((new_px >= -0.5) & (new_px < size - 0.5)).all(dim=-1)
        new_w = torch.where(inside, weights, torch.zeros_like(weights))
        new_norm = None if joints_norm is None else \
            joints_norm * scale + offset
        return new_px, new_w, new_norm

    def forward(self, joints_px: Tensor, weights: Tensor, size: int,
                joints_norm: Optional[Tensor] = None):
        """Random re-crop of a batch; see :meth:`recrop` for shapes."""
        m, t = self.sample(joints_px.shape[0], joints_px.device,
                           joints_px.dtype)
        return self.recrop(joints_px, weights, size, m, t, joints_norm)
