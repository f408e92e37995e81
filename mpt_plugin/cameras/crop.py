"""Square person crops in the heatmap frame (numpy, batched).

Frames used across the plugin:
    - ``*_px`` in the source image: pixels, x right, y down.
    - ``*_hm``: pixels of the (S, S) heatmap / crop frame with pixel centres at
      integer coordinates ``0 .. S-1`` (so the crop covers [-0.5, S-0.5]).
    - ``*_norm``: the crop mapped to [-1, 1] (METRO's normalised 2D joints,
      ``2 * kp / S - 1`` with kp measured from the crop's outer edge).
"""
from typing import Optional, Tuple

import numpy as np

__all__ = ['fit_square_crop', 'image_to_crop', 'crop_to_norm']


def fit_square_crop(joints_px: np.ndarray,
                    visible: Optional[np.ndarray] = None,
                    padding: float = 1.2) -> Tuple[np.ndarray, np.ndarray]:
    """Square box around visible joints.

    Args:
        joints_px: (B, K, 2) pixels.
        visible: (B, K) bool/float; None means all visible. A sample with no
            visible joint falls back to all its joints.
        padding: side = padding * max(box width, box height).

    Returns:
        tuple: centre (B, 2) px and side (B,) px.
    """
    if visible is None:
        visible = np.ones(joints_px.shape[:2], dtype=bool)
    visible = np.asarray(visible) > 0
    visible = np.where(visible.any(axis=1, keepdims=True), visible, True)
    big = np.finfo(np.float64).max
    lo = np.where(visible[..., None], joints_px, big).min(axis=1)
    hi = np.where(visible[..., None], joints_px, -big).max(axis=1)
    centre = (lo + hi) / 2
    side = np.maximum((hi - lo).max(axis=1), 1.0) * padding
    return centre, side


def image_to_crop(joints_px: np.ndarray, centre: np.ndarray, side: np.ndarray,
                  size: int = 224) -> np.ndarray:
    """(B, K, 2) image pixels -> (B, K, 2) crop pixels (``*_hm`` frame)."""
    return ((joints_px - centre[:, None]) / side[:, None, None] + 0.5) * size \
        - 0.5


def crop_to_norm(joints_hm: np.ndarray, size: int = 224) -> np.ndarray:
    """(…, 2) crop pixels (``*_hm``) -> normalised [-1, 1] coordinates."""
    return (joints_hm + 0.5) * (2.0 / size) - 1.0
