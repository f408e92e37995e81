"""Geometry helpers of the PC-HMR frameworks (``PCHMREstimator``).

- :data:`H36M_PARENTS`: kinematic tree of the 17 H3.6M regressor joints
  (either leg order: the tree is symmetric).
- :func:`smpl_skinning_to_h36m`: SMPL skinning weights (V, 24) -> weights
  on the 17 H3.6M joints, to initialise the calibration neck's blend matrix.
- :func:`soft_argmax_2d`: differentiable heatmap decoding.
- :func:`fit_weak_perspective_camera`: closed-form ``(s, tx, ty)`` for mesh
  streams without a camera.
- :func:`to_lifter_sequence`: single frames or short sequences -> the
  lifter's receptive field (edge replication, as VideoPose3D pads).
- :func:`crop_norm_to_image` / :func:`image_to_crop_norm`: the crop frame
  <-> original image pixels through ``MeshAffine``'s ``crop_affine``.
- :func:`screen_normalize`: VideoPose3D's / ``VideoPoseLifting``'s 2D
  input normalisation by the image size.

Frames: 3D points in metres, camera-aligned axes (x right, y down, z
forward); 2D points ``*_norm`` in the crop-normalised frame of
:mod:`mpt_plugin.models.utils.camera` (``[-1, 1]`` spans the crop).
"""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'H36M_PARENTS', 'SMPL24_TO_H36M', 'smpl_skinning_to_h36m',
    'soft_argmax_2d', 'fit_weak_perspective_camera', 'to_lifter_sequence',
    'crop_norm_to_image', 'image_to_crop_norm', 'screen_normalize'
]

#: Parent of each H3.6M joint (pelvis, 3 + 3 leg joints, spine, thorax,
#: neck/nose, head, 3 + 3 arm joints): legs hang from the pelvis, the spine
#: from the pelvis, head and shoulders from the thorax (joint 8).
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

#: For every SMPL joint, the H3.6M joint (LEFT-leg-first ``'h36m'`` order
#: of mmhuman3d's regressor) whose bones move like it: pelvis and spine1 ->
#: pelvis; spine2 -> spine; spine3, neck, collars -> thorax; head -> head;
#: feet -> ankles; hands -> wrists; limbs -> the same limb joint.
SMPL24_TO_H36M = (0, 1, 4, 0, 2, 5, 7, 3, 6, 8, 3, 6, 8, 8, 8, 9, 11, 14, 12,
                  15, 13, 16, 13, 16)

_SWAP_LEGS = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


def smpl_skinning_to_h36m(lbs_weights: np.ndarray,
                          order: str = 'h36m') -> np.ndarray:
    """Moves SMPL skinning weights onto the 17 H3.6M joints.

    ``out[:, j] = sum of lbs_weights[:, k] over SMPL joints k mapped to j``
    (:data:`SMPL24_TO_H36M`), so rows still sum to 1. The neck reads a
    weight on joint ``j`` as "moves with the bone(s) starting at ``j``".

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


def fit_weak_perspective_camera(points3d: Tensor,
                                points2d_norm: Tensor,
                                weights: Optional[Tensor] = None,
                                min_scale: float = 1e-3) -> Tensor:
    """Least-squares weak-perspective camera ``x_norm = s (X_xy + t)``.

    Minimises ``sum_k w_k |s X_k + u - x_k|^2`` over ``s`` and ``u = s t``
    in closed form (weighted means and one scalar ratio); differentiable.

    Args:
        points3d (Tensor): (B, K, 3) metres, camera-aligned axes.
        points2d_norm (Tensor): (B, K, 2) crop-normalised coordinates.
        weights (Tensor, optional): (B, K) non-negative; default ones.
        min_scale (float): Lower bound of ``s`` (a degenerate fit, e.g.
            fewer than two weighted joints, gives ``s = min_scale``).

    Returns:
        Tensor: (B, 3) camera ``(s, tx, ty)``.
    """
    if points3d.dim() != 3 or points3d.shape[-1] != 3 or \
            points2d_norm.shape != points3d.shape[:2] + (2, ):
        raise ValueError(
            'points3d must be (B, K, 3) and points2d_norm (B, K, 2), got '
            f'{tuple(points3d.shape)} and {tuple(points2d_norm.shape)}')
    if weights is None:
        weights = points3d.new_ones(points3d.shape[:2])
    w = weights.to(points3d.dtype)[..., None]  # (B, K, 1)
    total = w.sum(1, keepdim=True).clamp_min(1e-12)
    xyz = points3d[..., :2]
    mean3 = (w * xyz).sum(1, keepdim=True) / total
    mean2 = (w * points2d_norm).sum(1, keepdim=True) / total
    d3 = xyz - mean3
    d2 = points2d_norm - mean2
    num = (w * d3 * d2).sum((1, 2))
    den = (w * d3 * d3).sum((1, 2)).clamp_min(1e-12)
    scale = (num / den).clamp_min(min_scale)  # (B,)
    trans = mean2[:, 0] / scale[:, None] - mean3[:, 0]
    return torch.cat([scale[:, None], trans], dim=1)


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


def crop_norm_to_image(points_norm: Tensor, crop_affine: Tensor,
                       input_size: float) -> Tensor:
    """Crop-normalised 2D points -> pixels of the original image.

    Inverts the crop map ``crop_px = A[:, :2] p + A[:, 2]`` of
    ``MeshAffine`` (its ``crop_affine`` metainfo) after
    ``crop_px = (x_norm + 1) S / 2``; linear, so differentiable.

    Args:
        points_norm (Tensor): (B, ..., 2) crop-normalised (``[-1, 1]``).
        crop_affine (Tensor): (B, 2, 3) original px -> crop px.
        input_size (float): Crop side ``S`` in px.

    Returns:
        Tensor: (B, ..., 2) original image pixels.
    """
    crop_px = (points_norm + 1.0) * (float(input_size) / 2.0)
    lin = crop_affine[:, :2, :2].to(points_norm)
    shift = crop_affine[:, :2, 2].to(points_norm)
    inv = torch.linalg.inv(lin)  # (B, 2, 2)
    shape = crop_px.shape
    flat = crop_px.reshape(shape[0], -1, 2) - shift[:, None]
    return torch.einsum('bij,bnj->bni', inv, flat).reshape(shape)


def image_to_crop_norm(points_px: Tensor, crop_affine: Tensor,
                       input_size: float) -> Tensor:
    """Inverse of :func:`crop_norm_to_image`.

    Args:
        points_px (Tensor): (B, ..., 2) original image pixels.
        crop_affine (Tensor): (B, 2, 3) original px -> crop px.
        input_size (float): Crop side ``S`` in px.

    Returns:
        Tensor: (B, ..., 2) crop-normalised coordinates.
    """
    lin = crop_affine[:, :2, :2].to(points_px)
    shift = crop_affine[:, :2, 2].to(points_px)
    shape = points_px.shape
    flat = points_px.reshape(shape[0], -1, 2)
    crop_px = torch.einsum('bij,bnj->bni', lin, flat) + shift[:, None]
    return (2.0 * crop_px / float(input_size) - 1.0).reshape(shape)


def screen_normalize(points_px: Tensor, image_wh: Tensor) -> Tensor:
    """VideoPose3D's ``normalize_screen_coordinates`` (MMPose's
    ``VideoPoseLifting.encode``): ``(x - (w / 2, h / 2)) / (w / 2)``, so x
    spans ``[-1, 1]`` over the image width and y keeps the aspect ratio.

    Args:
        points_px (Tensor): (B, ..., 2) image pixels.
        image_wh (Tensor): (B, 2) image width and height in px.

    Returns:
        Tensor: (B, ..., 2) normalised coordinates.
    """
    wh = image_wh.to(points_px).reshape(
        (image_wh.shape[0], ) + (1, ) * (points_px.dim() - 2) + (2, ))
    return (points_px - wh / 2.0) / (wh[..., :1] / 2.0)
