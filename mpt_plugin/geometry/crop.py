"""2D frames of a person crop and the maps between them.

Frames used across the plugin:

- ``*_px``: pixels of the source image, x right, y down, pixel centres at
  integer coordinates.
- ``*_hm``: pixels of the (S, S) crop / heatmap frame with pixel centres at
  integer coordinates ``0 .. S-1``, so the crop covers ``[-0.5, S-0.5]``.
  :func:`get_crop_affine` (``MPTMeshAffine``'s warp, optionally rotated) and
  :func:`image_to_crop` (axis-aligned, batched) map ``*_px`` into it.
- ``*_norm``: the crop mapped to ``[-1, 1]``. Two maps from crop pixels are
  in use, half a pixel apart:

  - :func:`crop_to_norm`: ``(x + 0.5) * 2 / S - 1``, the crop edges
    ``-0.5`` and ``S - 0.5`` go to -1 and +1 (MPT's normalised 2D joints,
    ``2 * kp / S - 1`` with ``kp`` measured from the crop's outer edge);
  - :func:`px_to_norm` / :func:`norm_to_px`: ``2 * x / S - 1``, METRO's
    ``j2d_processing``, which treats the crop as ``[0, S]``; the
    weak-perspective camera of :mod:`mpt_plugin.geometry.cameras` and
    PC-HMR's :func:`crop_norm_to_image` / :func:`image_to_crop_norm` use it.
- :func:`screen_normalize`: VideoPose3D's image-size normalisation of
  ``*_px`` (no crop).

The numpy functions serve the data pipeline, the torch ones the models
(differentiable); :func:`crop_to_norm` is plain arithmetic and takes either.
"""
from typing import Union

import numpy as np
import torch
from torch import Tensor

from .rotations import camera_z_rotation

__all__ = [
    'fit_square_crop', 'image_to_crop', 'crop_to_norm', 'norm_to_crop',
    'get_crop_affine', 'px_to_norm', 'norm_to_px', 'crop_norm_to_image', 'image_to_crop_norm',
    'screen_normalize'
]


def fit_square_crop(joints_px: Union[np.ndarray, Tensor],
                    visible: Union[np.ndarray, Tensor, None] = None,
                    padding: float = 1.2) -> tuple:
    """Square box around visible joints (numpy or torch, batched).

    Args:
        joints_px: (B, K, 2) pixels, an array or a tensor.
        visible: (B, K) bool/float of the same kind; None means all
            visible. A sample with no visible joint falls back to all its
            joints.
        padding: side = padding * max(box width, box height, 1 px).

    Returns:
        tuple: centre (B, 2) px and side (B,) px, of the input's kind.
    """
    if isinstance(joints_px, Tensor):
        vis = (torch.ones(joints_px.shape[:2], dtype=torch.bool,
                          device=joints_px.device)
               if visible is None else torch.as_tensor(visible) > 0)
        vis = vis | ~vis.any(dim=1, keepdim=True)
        inf = torch.finfo(joints_px.dtype).max
        lo = joints_px.masked_fill(~vis[..., None], inf).amin(dim=1)
        hi = joints_px.masked_fill(~vis[..., None], -inf).amax(dim=1)
        side = (hi - lo).amax(dim=1).clamp(min=1.0) * padding
        return (lo + hi) / 2, side
    joints_px = np.asarray(joints_px)
    vis = (np.ones(joints_px.shape[:2], dtype=bool)
           if visible is None else np.asarray(visible) > 0)
    vis = vis | ~vis.any(axis=1, keepdims=True)
    big = np.finfo(np.float64).max
    lo = np.where(vis[..., None], joints_px, big).min(axis=1)
    hi = np.where(vis[..., None], joints_px, -big).max(axis=1)
    side = np.maximum((hi - lo).max(axis=1), 1.0) * padding
    return (lo + hi) / 2, side


def image_to_crop(joints_px, centre, side, size: int = 224):
    """(B, K, 2) image pixels -> (B, K, 2) crop pixels (``*_hm`` frame).

    Plain arithmetic: arrays or tensors (centre (B, 2), side (B,) px)."""
    return ((joints_px - centre[:, None]) / side[:, None, None] + 0.5) * size \
        - 0.5


def crop_to_norm(joints_hm: Union[np.ndarray, Tensor],
                 size: int = 224) -> Union[np.ndarray, Tensor]:
    """(…, 2) crop pixels (``*_hm``) -> normalised [-1, 1] coordinates."""
    return (joints_hm + 0.5) * (2.0 / size) - 1.0


def norm_to_crop(joints_norm: Union[np.ndarray, Tensor],
                 size: int = 224) -> Union[np.ndarray, Tensor]:
    """Inverse of :func:`crop_to_norm`: (…, 2) normalised [-1, 1] -> crop
    pixels (pixel centres at ``0 .. size-1``, the frame
    ``[-0.5, size - 0.5)``)."""
    return (joints_norm + 1.0) * (size / 2.0) - 0.5


def get_crop_affine(center: np.ndarray, scale: float, rotation: float,
                    input_size: int) -> np.ndarray:
    """Affine map from original pixels to crop pixels.

    ``crop = (S / scale) * R2 (p - center) + (S - 1) / 2``: ``center`` goes
    to the crop centre, the square of side ``scale`` around it (rotated by
    ``rotation`` counter-clockwise in the image, ``R2`` the top-left block
    of :func:`~.rotations.camera_z_rotation`) fills ``[-0.5, S - 0.5]``.
    Without rotation this is :func:`image_to_crop`.

    Args:
        center (np.ndarray): (2,) crop centre, original px.
        scale (float): Side of the square crop, original px (> 0).
        rotation (float): Degrees, counter-clockwise in the image.
        input_size (int): Output side ``S`` in px.

    Returns:
        np.ndarray: (2, 3) float64 ``A``; ``crop_px = A[:, :2] @ p + A[:, 2]``
        (the matrix ``cv2.warpAffine`` takes).
    """
    center = np.asarray(center, dtype=np.float64).reshape(2)
    lin = camera_z_rotation(rotation)[:2, :2] * (input_size / float(scale))
    shift = (input_size - 1) / 2.0 - lin @ center
    return np.concatenate([lin, shift[:, None]], axis=1)


def px_to_norm(points_px: Tensor, size: Union[int, float]) -> Tensor:
    """Convert crop pixel coordinates to normalised ``[-1, 1]`` ones.

    Args:
        points_px (Tensor): (..., 2) pixel coordinates in a square crop of
            ``size`` pixels.
        size (int | float): crop side length in pixels (e.g. 224).

    Returns:
        Tensor: (..., 2) normalised coordinates ``2 * x_px / size - 1``.
    """
    if size <= 0:
        raise ValueError(f'size must be positive, got {size}')
    return 2.0 * points_px / float(size) - 1.0


def norm_to_px(points_norm: Tensor, size: Union[int, float]) -> Tensor:
    """Inverse of :func:`px_to_norm`.

    Args:
        points_norm (Tensor): (..., 2) normalised crop coordinates.
        size (int | float): crop side length in pixels.

    Returns:
        Tensor: (..., 2) pixel coordinates ``(x_norm + 1) * size / 2``.
    """
    if size <= 0:
        raise ValueError(f'size must be positive, got {size}')
    return (points_norm + 1.0) * (float(size) / 2.0)


def crop_norm_to_image(points_norm: Tensor, crop_affine: Tensor,
                       input_size: float) -> Tensor:
    """Crop-normalised 2D points -> pixels of the original image.

    Inverts the crop map ``crop_px = A[:, :2] p + A[:, 2]`` of
    ``MPTMeshAffine`` (its ``crop_affine`` metainfo) after
    :func:`norm_to_px`; linear, so differentiable.

    Args:
        points_norm (Tensor): (B, ..., 2) crop-normalised (``[-1, 1]``).
        crop_affine (Tensor): (B, 2, 3) original px -> crop px.
        input_size (float): Crop side ``S`` in px.

    Returns:
        Tensor: (B, ..., 2) original image pixels.
    """
    crop_px = norm_to_px(points_norm, input_size)
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
    return px_to_norm(crop_px, input_size).reshape(shape)


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
