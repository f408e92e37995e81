"""Weak-perspective camera helpers for the mesh regression transformer.

The model predicts a weak-perspective camera ``(s, tx, ty)`` per sample, as
in METRO / Mesh Graphormer (``orthographic_projection``): a 3D point ``X``
(metres, camera-aligned axes: x right, y down, z forward) maps to normalised
crop coordinates

    ``x_norm = s * (X[..., :2] + (tx, ty))``

where ``x_norm`` lies in ``[-1, 1]`` over the square crop (``-1`` = left/top
edge, ``+1`` = right/bottom edge). The pixel/normalised conversion matches
METRO's ``j2d_processing``: ``x_norm = 2 * x_px / size - 1``.

Shapes: ``B`` batch, ``N`` points.
"""
from typing import Union

import torch
from torch import Tensor

__all__ = [
    'weak_perspective_project', 'px_to_norm', 'norm_to_px',
    'weak_perspective_to_translation'
]


def _check_camera(camera: Tensor, batch_size: int) -> None:
    if camera.dim() != 2 or camera.shape[-1] != 3:
        raise ValueError('camera must have shape (B, 3) = (s, tx, ty), got '
                         f'{tuple(camera.shape)}')
    if camera.shape[0] != batch_size:
        raise ValueError(f'camera batch size {camera.shape[0]} does not '
                         f'match the points batch size {batch_size}')


def weak_perspective_project(points: Tensor, camera: Tensor) -> Tensor:
    """Project 3D points with a weak-perspective camera.

    Args:
        points (Tensor): (B, N, 3) points in metres (camera-aligned axes).
        camera (Tensor): (B, 3) camera ``(s, tx, ty)``; ``s`` is in
            normalised units per metre, ``(tx, ty)`` in metres.

    Returns:
        Tensor: (B, N, 2) normalised crop coordinates (``*_norm``), where
        ``[-1, 1]`` spans the crop.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError('points must have shape (B, N, 3), got '
                         f'{tuple(points.shape)}')
    _check_camera(camera, points.shape[0])
    scale = camera[:, None, :1]  # (B, 1, 1)
    trans = camera[:, None, 1:]  # (B, 1, 2)
    return scale * (points[..., :2] + trans)


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


def weak_perspective_to_translation(camera: Tensor,
                                    focal_length: float = 1000.0,
                                    img_size: float = 224.0,
                                    eps: float = 1e-9) -> Tensor:
    """Turn ``(s, tx, ty)`` into a perspective camera translation.

    Used to render the mesh with a pinhole camera of ``focal_length`` pixels
    looking at a ``img_size`` crop (METRO's renderer convention):
    ``t = (tx, ty, 2 * f / (img_size * s))``.

    Args:
        camera (Tensor): (B, 3) weak-perspective camera ``(s, tx, ty)``.
        focal_length (float): focal length in pixels. Defaults to 1000.
        img_size (float): crop side in pixels. Defaults to 224.
        eps (float): lower bound on ``|s|`` to avoid division by zero.

    Returns:
        Tensor: (B, 3) translation in metres to add to the mesh.
    """
    _check_camera(camera, camera.shape[0])
    s = camera[:, 0]
    s = torch.where(s.abs() < eps, torch.full_like(s, eps), s)
    tz = 2.0 * focal_length / (img_size * s)
    return torch.stack([camera[:, 1], camera[:, 2], tz], dim=-1)
