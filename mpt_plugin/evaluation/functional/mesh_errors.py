"""Batched 3D pose and mesh errors (numpy, float64).

All inputs are (N, K, 3) arrays in one unit (the metrics below return the same
unit: feed millimetres to get millimetres). Vectorised over N: one batched SVD
for all Procrustes alignments.
"""
from typing import Optional

import numpy as np

from .mmhuman3d_metrics import mmh3d_similarity_transform

__all__ = ['mpjpe', 'pa_mpjpe', 'per_vertex_error']


def mpjpe(pred: np.ndarray, gt: np.ndarray,
          mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-sample mean joint error (N,), joints weighted by ``mask`` (N, K)."""
    err = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)
    if mask is None:
        return err.mean(axis=1)
    mask = np.asarray(mask, np.float64)
    return (err * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-12)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray,
             mask: Optional[np.ndarray] = None,
             min_variance: float = 1e-12) -> np.ndarray:
    """Per-sample joint error after Procrustes alignment (N,).

    The alignment is :func:`~.mmhuman3d_metrics.mmh3d_similarity_transform`
    with the prediction's variance bounded below by ``min_variance``, so
    that a degenerate prediction (all points equal, e.g. an untrained
    model) gives a finite error instead of mmhuman3d's ``nan`` (0 restores
    that).
    """
    aligned = mmh3d_similarity_transform(pred, gt, min_variance=min_variance)
    return mpjpe(aligned, gt, mask)


def per_vertex_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-sample mean vertex error (N,), no alignment."""
    return mpjpe(pred, gt)
