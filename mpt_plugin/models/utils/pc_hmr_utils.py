"""Helpers of the PC-HMR frameworks (``PCHMREstimator``).

- :func:`smpl_skinning_to_h36m`: SMPL skinning weights (V, 24) -> weights
  on the 17 H3.6M joints, to initialise the calibration neck's blend matrix.
- :func:`soft_argmax_2d`: differentiable heatmap decoding.
- :func:`to_lifter_sequence`: single frames or short sequences -> the
  lifter's receptive field (edge replication, as VideoPose3D pads).

The camera and crop maps PC-HMR uses live in :mod:`mpt_plugin.geometry`,
its joint-index constants (``H36M_PARENTS``, ``SMPL24_TO_H36M``) in
:mod:`mpt_plugin.body_models.conventions`.
"""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

from mpt_plugin.body_models.conventions import SMPL24_TO_H36M

__all__ = ['smpl_skinning_to_h36m', 'soft_argmax_2d', 'to_lifter_sequence']

_SWAP_LEGS = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


def smpl_skinning_to_h36m(lbs_weights: np.ndarray,
                          order: str = 'h36m') -> np.ndarray:
    """Moves SMPL skinning weights onto the 17 H3.6M joints.

    ``out[:, j] = sum of lbs_weights[:, k] over SMPL joints k mapped to j``
    (:data:`~mpt_plugin.body_models.conventions.SMPL24_TO_H36M`), so rows
    still sum to 1. The neck reads a weight on joint ``j`` as "moves with
    the bone(s) starting at ``j``".

    Args:
        lbs_weights (np.ndarray): (V, 24) SMPL skinning weights.
        order (str): ``'h36m'`` (left leg first, mmhuman3d/SPIN
            ``J_regressor_h36m.npy``) or ``'h36m_mmpose'`` (right leg
            first). Defaults to ``'h36m'``.

    Returns:
        np.ndarray: (V, 17) float64 weights.
    """
    weights = np.asarray(lbs_weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != 24:
        raise ValueError('lbs_weights must have shape (V, 24) (SMPL), got '
                         f'{weights.shape}')
    if order not in ('h36m', 'h36m_mmpose'):
        raise ValueError("order must be 'h36m' or 'h36m_mmpose', got "
                         f'{order!r}')
    mapping = np.asarray(SMPL24_TO_H36M)
    if order == 'h36m_mmpose':
        mapping = np.asarray(_SWAP_LEGS)[mapping]
    transfer = np.zeros((24, 17))
    transfer[np.arange(24), mapping] = 1.0
    return weights @ transfer


def soft_argmax_2d(heatmaps: Tensor, beta: float = 100.0
                   ) -> Tuple[Tensor, Tensor]:
    """Differentiable argmax of heatmaps.

    ``p = softmax(beta * h)`` over the ``H x W`` pixels, coordinates =
    expectation of the pixel indices (pixel centres at integers, x right,
    y down, MMPose's heatmap convention).

    Args:
        heatmaps (Tensor): (B, K, H, W).
        beta (float): Inverse temperature. Defaults to 100 (heatmaps with
            unit peaks, as MMPose's MSRA targets).

    Returns:
        tuple: ``coords`` (B, K, 2) heatmap pixels and ``scores`` (B, K)
        the heatmap maxima.
    """
    if heatmaps.dim() != 4:
        raise ValueError('heatmaps must have shape (B, K, H, W), got '
                         f'{tuple(heatmaps.shape)}')
    bsz, num, height, width = heatmaps.shape
    flat = heatmaps.reshape(bsz, num, -1)
    prob = torch.softmax(beta * flat, dim=-1).view(bsz, num, height, width)
    xs = torch.arange(width, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(height, dtype=prob.dtype, device=prob.device)
    x = (prob.sum(dim=2) * xs).sum(-1)
    y = (prob.sum(dim=3) * ys).sum(-1)
    return torch.stack([x, y], dim=-1), flat.amax(dim=-1)


def to_lifter_sequence(keypoints: Tensor, seq_len: int,
                       causal: bool = False) -> Tensor:
    """Single frames or sequences -> exactly ``seq_len`` frames.

    - (B, K, C): the frame is replicated ``seq_len`` times (a static
      sequence; what a video lifter sees on a single image).
    - (B, T, K, C) with ``T < seq_len``: edge frames replicated (centred,
      or all on the left when ``causal``), as VideoPose3D pads sequences.
    - ``T > seq_len``: the centred (causal: last) window of ``seq_len``.

    Args:
        keypoints (Tensor): (B, K, C) or (B, T, K, C).
        seq_len (int): Receptive field of the lifter (>= 1).
        causal (bool): Causal lifter (the current frame is the last).

    Returns:
        Tensor: (B, seq_len, K, C).
    """
    if seq_len < 1:
        raise ValueError(f'seq_len must be >= 1, got {seq_len}')
    if keypoints.dim() == 3:
        return keypoints[:, None].expand(-1, seq_len, -1, -1)
    if keypoints.dim() != 4:
        raise ValueError('keypoints must have shape (B, K, C) or '
                         f'(B, T, K, C), got {tuple(keypoints.shape)}')
    num = keypoints.shape[1]
    if num >= seq_len:
        start = num - seq_len if causal else (num - seq_len) // 2
        return keypoints[:, start:start + seq_len]
    missing = seq_len - num
    left = missing if causal else missing // 2
    right = missing - left
    idx = torch.cat([
        torch.zeros(left, dtype=torch.long),
        torch.arange(num),
        torch.full((right, ), num - 1, dtype=torch.long)
    ]).to(keypoints.device)
    return keypoints.index_select(1, idx)
