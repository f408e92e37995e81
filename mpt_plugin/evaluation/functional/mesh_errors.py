"""Batched 3D pose and mesh errors (numpy, float64).

All inputs are (N, K, 3) arrays in one unit (the metrics below return the same
unit: feed millimetres to get millimetres). Vectorised over N: one batched SVD
for all Procrustes alignments.
"""
from typing import Optional

import numpy as np

__all__ = ['batch_similarity_transform', 'mpjpe', 'pa_mpjpe',
           'per_vertex_error']


def batch_similarity_transform(pred: np.ndarray,
                               gt: np.ndarray) -> np.ndarray:
    """Align each ``pred[i]`` to ``gt[i]`` by the least-squares similarity
    transform (scale, rotation without reflection, translation): the
    Procrustes alignment of PA-MPJPE (Umeyama 1991).

    Args:
        pred, gt: (N, K, 3).

    Returns:
        (N, K, 3) aligned predictions.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    var_p = (p0**2).sum(axis=(1, 2))
    cov = np.einsum('nki,nkj->nij', g0, p0)  # (N, 3, 3) = G^T P
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    s_fix = np.ones_like(s)
    s_fix[:, -1] = d
    rot = u @ (s_fix[:, :, None] * vt)  # (N, 3, 3), maps pred -> gt
    scale = (s * s_fix).sum(axis=1) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum('nij,nkj->nki', rot, p0) + mu_g


def mpjpe(pred: np.ndarray, gt: np.ndarray,
          mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-sample mean joint error (N,), joints weighted by ``mask`` (N, K)."""
    err = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)
    if mask is None:
        return err.mean(axis=1)
    mask = np.asarray(mask, np.float64)
    return (err * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-12)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray,
             mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-sample joint error after Procrustes alignment (N,)."""
    return mpjpe(batch_similarity_transform(pred, gt), gt, mask)


def per_vertex_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-sample mean vertex error (N,), no alignment."""
    return mpjpe(pred, gt)
