"""Camera projections: weak perspective, Key2Mesh's fixed camera, pinhole.

Frames: 3D points in metres. The weak-perspective and pinhole cameras use
camera-aligned axes (x right, y DOWN, z forward, OpenCV); Key2Mesh's fixed
camera reads SMPL axes (y UP, the body faces +z) and flips y itself. 2D
frames (``*_px``, ``*_norm``) are those of :mod:`mpt_plugin.geometry.crop`.

- Weak perspective ``(s, tx, ty)`` per sample, as in METRO / Mesh Graphormer
  (``orthographic_projection``): ``x_norm = s * (X[..., :2] + (tx, ty))``,
  ``x_norm`` in ``[-1, 1]`` over the square crop (:func:`px_to_norm`'s
  frame). :func:`weak_perspective_project`,
  :func:`fit_weak_perspective_camera` (closed-form fit to 2D points),
  :func:`weak_perspective_to_translation` (the equivalent pinhole
  translation for rendering). Torch.
- :func:`project_fixed_camera`: Key2Mesh's synthetic-data camera (f = 256,
  6 m in front of the body). Torch (differentiable: the Key2Mesh loss
  re-projects predictions); numpy callers go through ``torch.from_numpy``.
- :func:`project_points`: the pinhole camera ``x_px = f X / Z + c`` of the
  rasteriser, the virtual MoCap cameras and the synthetic images. Numpy.
- :func:`camera_crop_to_image` / :func:`camera_image_to_crop`: a
  weak-perspective camera of a square crop <-> the same camera in image
  pixels (``x_px = s_px (X + t)``). Torch.
- :func:`smpl_to_camera_axes`: SMPL axes (y up, the body facing +z) ->
  camera axes (y down, facing the camera), 180 degrees about x; its own
  inverse. Numpy and torch.

Shapes: ``B`` batch, ``N`` points.
"""
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'weak_perspective_project', 'fit_weak_perspective_camera',
    'weak_perspective_to_translation', 'project_fixed_camera',
    'project_points', 'smpl_to_camera_axes', 'SMPL_TO_CAMERA_ROTATION',
    'camera_crop_to_image', 'camera_image_to_crop'
]

#: The 180-degree rotation about x between SMPL axes and camera axes
#: (:func:`smpl_to_camera_axes`), e.g. for ``rotate_smpl_root``.
SMPL_TO_CAMERA_ROTATION = np.diag([1.0, -1.0, -1.0])
_FLIP_YZ = tuple(np.diag(SMPL_TO_CAMERA_ROTATION).tolist())


def smpl_to_camera_axes(points: Union[Tensor, np.ndarray]
                        ) -> Union[Tensor, np.ndarray]:
    """Turn points 180 degrees about x: SMPL's y-up frame (the rest body
    faces +z) <-> camera-aligned axes (x right, y down, z forward, the body
    facing the camera). The map is its own inverse.

    Args:
        points: (..., 3) tensor or array, any units.

    Returns:
        The same type, shape and dtype: ``(x, -y, -z)``.
    """
    if points.shape[-1] != 3:
        raise ValueError(f'points must be (..., 3), got {tuple(points.shape)}')
    if isinstance(points, Tensor):
        return points * points.new_tensor(_FLIP_YZ)
    return points * np.asarray(_FLIP_YZ, dtype=points.dtype)


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


def project_fixed_camera(joints3d: Tensor,
                         focal: float = 256.0,
                         distance: float = 6.0) -> Tensor:
    """Key2Mesh's fixed pinhole camera.

    ``u = f X / (d - Z)``, ``v = -f Y / (d - Z)``: a camera on the +z axis
    at ``distance`` metres looking at the origin (the body faces it); image
    ``x`` points right (+X, the subject's left side), image ``y`` down.

    Args:
        joints3d (Tensor): (B, J, 3) joints in metres, SMPL axes.
        focal (float): Focal length in pixels. Defaults to 256.
        distance (float): Camera distance in metres. Defaults to 6.

    Returns:
        Tensor: (B, J, 2) image coordinates in pixels (principal point 0).
    """
    if joints3d.shape[-1] != 3:
        raise ValueError('joints3d must have shape (B, J, 3), got '
                         f'{tuple(joints3d.shape)}')
    depth = distance - joints3d[..., 2:3]
    uv = focal * joints3d[..., :2] / depth
    return torch.cat([uv[..., :1], -uv[..., 1:]], dim=-1)


def project_points(points: Union[np.ndarray, Tensor, Sequence[float]],
                   focal_length: Union[float, np.ndarray, Tensor,
                                       Sequence[float]],
                   principal_point: Union[np.ndarray, Tensor,
                                          Sequence[float]]
                   ) -> Union[np.ndarray, Tensor]:
    """Pinhole projection of camera-frame points to pixels.

    ``x_px = fx * X / Z + cx``, ``y_px = fy * Y / Z + cy``.

    Args:
        points: (..., 3) metres, camera frame (x right, y down, z forward);
            ``z`` should be > 0 (points behind the camera give meaningless
            pixels).
        focal_length: ``f`` or ``(fx, fy)`` in pixels, or an array
            broadcastable to ``(..., 2)`` (one camera per batch entry).
        principal_point: ``(cx, cy)`` in pixels (centres at integers), or
            broadcastable ``(..., 2)``.

    Returns:
        np.ndarray | Tensor: (..., 2) pixel coordinates ``*_px``: float64
        for array inputs; for a tensor ``points`` (the training device's
        batched path, differentiable) a tensor of its dtype and device, with
        ``focal_length`` and ``principal_point`` tensors broadcastable to
        ``(..., 2)`` (not checked, to avoid a device sync).
    """
    if isinstance(points, Tensor):
        if points.shape[-1] != 3:
            raise ValueError('`points` must have shape (..., 3) metres, got '
                             f'{tuple(points.shape)}')
        pts = points
        focal = torch.as_tensor(focal_length, dtype=points.dtype,
                                device=points.device)
        centre = torch.as_tensor(principal_point, dtype=points.dtype,
                                 device=points.device)
    else:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim < 1 or pts.shape[-1] != 3:
            raise ValueError('`points` must have shape (..., 3) metres, got '
                             f'{tuple(pts.shape)}')
        focal = np.asarray(focal_length, dtype=np.float64)
        if focal.ndim == 0:
            focal = np.stack([focal, focal])
        centre = np.asarray(principal_point, dtype=np.float64)
        for name, arr in (('focal_length', focal),
                          ('principal_point', centre)):
            if arr.shape[-1:] != (2, ) or not np.isfinite(arr).all():
                raise ValueError(
                    f'`{name}` must be finite (x, y) pixels (shape (2,) or '
                    f'broadcastable (..., 2)), got shape {arr.shape}')
    return pts[..., :2] / pts[..., 2:3] * focal + centre


def camera_crop_to_image(camera: Tensor, center: Tensor, side: Tensor,
                         eps: float = 1e-8) -> Tensor:
    """Weak-perspective camera of a square crop -> of the image.

    ``x_norm = s (X + t)`` with ``x_norm = 2 (x_px - c) / side`` is
    ``x_px = s_px (X + t')`` with ``s_px = s side / 2`` and
    ``t' = t + c / s_px``.

    Args:
        camera (Tensor): (B, 3) ``(s, tx, ty)``; ``t`` metres.
        center (Tensor): (B, 2) crop centre ``c``, image px.
        side (Tensor): (B,) crop side, image px.
        eps (float): lower bound on ``|s_px|``.

    Returns:
        Tensor: (B, 3) ``(s_px, tx', ty')``, px per metre and metres.
    """
    s_px = camera[:, 0] * side.to(camera) / 2.0
    s_px = torch.where(s_px.abs() < eps, torch.full_like(s_px, eps), s_px)
    trans = camera[:, 1:3] + center.to(camera) / s_px[:, None]
    return torch.cat([s_px[:, None], trans], dim=1)


def camera_image_to_crop(camera_image: Tensor, center: Tensor,
                         side: Tensor, eps: float = 1e-8) -> Tensor:
    """Inverse of :func:`camera_crop_to_image` (same shapes)."""
    s_px = camera_image[:, 0]
    s_px = torch.where(s_px.abs() < eps, torch.full_like(s_px, eps), s_px)
    scale = 2.0 * s_px / side.to(camera_image)
    trans = camera_image[:, 1:3] - center.to(camera_image) / s_px[:, None]
    return torch.cat([scale[:, None], trans], dim=1)
