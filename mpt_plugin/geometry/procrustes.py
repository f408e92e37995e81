"""The one Procrustes (similarity) alignment of the package.

Used by the metrics (mmhuman3d's PA-MPJPE, :mod:`mpt_plugin.evaluation`) and
by test-time augmentation (aligning the predictions of transformed inputs
onto one another before averaging, as the released hand code does).
FreiHAND's own evaluation aligns differently (scale-normalised, reflections
allowed): :mod:`mpt_plugin.evaluation.functional.freihand_metrics`.
"""
import numpy as np

__all__ = ['similarity_transform']


def similarity_transform(pred: np.ndarray,
                               gt: np.ndarray,
                               min_variance: float = 0.0) -> np.ndarray:
    """Batched ``compute_similarity_transform`` of mmhuman3d (from HMR).

    For every sample: remove the means, ``K = X1 X2^T`` (3x3),
    ``U, S, V^T = svd(K)``, ``R = V Z U^T`` with ``Z = diag(1, 1,
    sign(det(U V^T)))`` (no reflection), ``s = trace(R K) / |X1|^2``,
    ``t = mu2 - s R mu1`` (evaluated as ``s R (x - mu1) + mu2``): the
    least-squares similarity transform (Umeyama 1991).

    Args:
        pred (np.ndarray): Source points ``(N, K, 3)``.
        gt (np.ndarray): Target points ``(N, K, 3)``, same unit.
        min_variance (float): Lower bound on ``|X1|^2``. The default 0
            keeps mmhuman3d's behaviour: a degenerate ``pred`` (all points
            equal) gives the same ``nan``/``inf`` as mmhuman3d. A positive
            bound maps it onto ``gt``'s centroid instead
            (``pa_mpjpe``'s default).

    Returns:
        np.ndarray: ``(N, K, 3)`` float64, ``pred`` mapped onto ``gt``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError('pred and gt must both be (N, K, C) with equal '
                         f'shapes, got {pred.shape} and {gt.shape}')
    if pred.shape[-1] != 3:
        raise ValueError('procrustes alignment needs 3D points (N, K, 3), '
                         f'got {pred.shape}')
    # means as one matmul each (much faster than ``mean(axis=1)``)
    weights = np.full(pred.shape[1], 1. / pred.shape[1])
    mu1 = (weights @ pred)[:, None]  # (N, 1, 3)
    mu2 = (weights @ gt)[:, None]
    x1 = pred - mu1
    x2 = gt - mu2
    var1 = np.einsum('ij,ij->i', x1.reshape(len(x1), -1),
                     x1.reshape(len(x1), -1))  # (N,) = |X1|^2
    if min_variance > 0:
        var1 = np.maximum(var1, min_variance)
    k_mat = np.swapaxes(x1, 1, 2) @ x2  # (N, 3, 3) = X1 X2^T
    u, sing, vh = np.linalg.svd(k_mat)
    # Z[2, 2] = sign(det(U V^T)) = sign(det(U) det(V^T))
    z_last = np.sign(_det3(u) * _det3(vh))
    with np.errstate(divide='ignore', invalid='ignore'):
        # trace(R K) = trace(Z S)
        scale = (sing[:, 0] + sing[:, 1] + z_last * sing[:, 2]) / var1
    # aligned rows: s * R x1 + mu2 with R^T = U Z V^T, i.e. x1 @ (s U Z V^T)
    u = u * np.stack([scale, scale, scale * z_last], axis=-1)[:, None]
    return x1 @ (u @ vh) + mu2


def _det3(mat: np.ndarray) -> np.ndarray:
    """Determinants of a stack of 3x3 matrices ``(N, 3, 3)`` -> ``(N,)``."""
    return (mat[:, 0, 0] *
            (mat[:, 1, 1] * mat[:, 2, 2] - mat[:, 1, 2] * mat[:, 2, 1]) -
            mat[:, 0, 1] *
            (mat[:, 1, 0] * mat[:, 2, 2] - mat[:, 1, 2] * mat[:, 2, 0]) +
            mat[:, 0, 2] *
            (mat[:, 1, 0] * mat[:, 2, 1] - mat[:, 1, 1] * mat[:, 2, 0]))
