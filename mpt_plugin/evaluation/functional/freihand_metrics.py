"""FreiHAND's official evaluation (``eval.py`` of lmb-freiburg/freihand),
vectorised.

The official script evaluates one sample at a time with scipy, open3d and
an ``EvalUtil`` class; the functions here give the same numbers on a batch
of samples at once (one batched SVD for all alignments, batched nearest
neighbours). Per sample, in **metres** as the official files:

- **alignment** (:func:`freihand_align`, the script's ``align_w_scale``):
  centre the prediction and the GT on their means, divide each by its
  Frobenius norm plus ``1e-8``, solve the orthogonal Procrustes problem
  ``R, s = orthogonal_procrustes(gt_n, pred_n)`` (``R = U V^T`` and ``s`` =
  the sum of the singular values of ``gt_n^T pred_n``) and map the
  prediction to ``pred_n R^T s |gt_c| + mean(gt)``. ``R`` may be a
  reflection (no determinant correction), and the scale is ``s`` itself,
  not the least-squares ``s / |pred_n|^2``. Joints and mesh are aligned
  separately.
- **errors** (:func:`freihand_point_errors`): Euclidean distance per point;
  the script averages per keypoint over samples, then over keypoints,
  which with every point counted equals the mean of the per-sample means.
- **PCK / AUC** (:func:`freihand_pck_counts`, :func:`freihand_auc`):
  thresholds ``linspace(0, 0.05, 100)`` m, a point is correct when
  ``error <= threshold``; the AUC is the trapezoidal area under the PCK
  curve divided by the area under 1 (i.e. by ``0.05``), a fraction in
  ``[0, 1]``.
- **F-score** (:func:`freihand_fscore`): nearest-neighbour distances from
  every predicted vertex to the GT vertices and from every GT vertex to the
  predicted ones; precision and recall are the fractions below the
  threshold (strict ``<``), ``F = 2 P R / (P + R)`` and 0 when
  ``P + R = 0``. At 5 mm and 15 mm in the benchmark, averaged over samples.

Why not :func:`~.mmhuman3d_metrics.mmh3d_similarity_transform`: mmhuman3d's
(HMR's) Procrustes forbids reflections (``Z = diag(1, 1, sign det)``) and
uses the least-squares scale without normalising the point sets. A mirrored
prediction therefore aligns to (near) zero error under FreiHAND's formula
but not under mmhuman3d's, and the two differ slightly even for proper
rotations (FreiHAND's ``1e-8`` terms and scale). Published FreiHAND numbers
use this formula, so it is kept as a separate function.

All functions take ``(N, K, 3)`` arrays, cast to float64, and reject
non-finite values with a ``ValueError`` (the official script would give
``nan`` or fail inside the SVD).
"""
from typing import Sequence, Tuple

import numpy as np

__all__ = [
    'FREIHAND_AUC_MAX', 'FREIHAND_AUC_STEPS', 'FREIHAND_FSCORE_THRESHOLDS',
    'DEFAULT_BLOCK_BYTES', 'freihand_align', 'freihand_point_errors',
    'freihand_pck_thresholds', 'freihand_pck_counts', 'freihand_auc',
    'freihand_nn_distances', 'freihand_fscore'
]

#: Upper end of the official PCK curve, metres (``get_measures(0, 0.05,
#: 100)``).
FREIHAND_AUC_MAX = 0.05
#: Number of thresholds of the official PCK curve (0 included).
FREIHAND_AUC_STEPS = 100
#: F-score thresholds of the benchmark, metres (5 mm and 15 mm).
FREIHAND_FSCORE_THRESHOLDS = (0.005, 0.015)
#: Default memory budget of one ``(chunk, P, Q)`` float64 distance block.
DEFAULT_BLOCK_BYTES = 32 * 2**20


def freihand_align(pred: np.ndarray, gt: np.ndarray,
                   eps: float = 1e-8) -> np.ndarray:
    """FreiHAND's ``align_w_scale``: ``pred`` aligned onto ``gt``, batched.

    For each sample: ``p = pred - mean(pred)``, ``g = gt - mean(gt)``,
    ``p_n = p / (|p| + eps)``, ``g_n = g / (|g| + eps)`` (Frobenius norms),
    ``U S V^T = svd(g_n^T p_n)``, ``R = U V^T`` (``det R = -1`` allowed),
    ``s = sum(S)``; result ``p_n R^T s (|g| + eps) + mean(gt)``.

    A degenerate prediction (all points equal) has ``p_n = 0`` and ``s =
    0``: every point maps to ``mean(gt)`` (finite, as in the official
    script). A degenerate GT gives ``mean(gt)`` likewise.

    Args:
        pred (np.ndarray): Predicted points ``(N, K, 3)``, metres.
        gt (np.ndarray): GT points ``(N, K, 3)``, metres.
        eps (float): Added to both norms, in the input unit (the official
            ``1e-8`` assumes metres). Default: 1e-8.

    Returns:
        np.ndarray: ``(N, K, 3)`` float64, the aligned prediction.
    """
    pred, gt = _check_points(pred, gt, same_shape=True)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p = pred - mu_p
    g = gt - mu_g
    norm_p = np.sqrt(np.einsum('nkc,nkc->n', p, p)) + eps  # (N,)
    norm_g = np.sqrt(np.einsum('nkc,nkc->n', g, g)) + eps
    p /= norm_p[:, None, None]
    g /= norm_g[:, None, None]
    # scipy's orthogonal_procrustes(A=g_n, B=p_n): svd(A^T B) = U S V^T,
    # R = U V^T minimises |A R - B|, scale = sum(S)
    u, sing, vh = np.linalg.svd(np.swapaxes(g, 1, 2) @ p)
    rot_t = np.swapaxes(u @ vh, 1, 2)  # R^T
    scale = sing.sum(axis=1) * norm_g  # s * |g|
    return (p @ rot_t) * scale[:, None, None] + mu_g


def freihand_point_errors(pred: np.ndarray, gt: np.ndarray,
                          align: bool = False) -> np.ndarray:
    """Per-point Euclidean errors, optionally after :func:`freihand_align`.

    Args:
        pred (np.ndarray): Predicted points ``(N, K, 3)``, metres.
        gt (np.ndarray): GT points ``(N, K, 3)``, metres.
        align (bool): Align ``pred`` onto ``gt`` first (the "aligned" /
            PA errors). Default: False.

    Returns:
        np.ndarray: ``(N, K)`` float64 errors in the input unit.
    """
    pred, gt = _check_points(pred, gt, same_shape=True)
    if align:
        pred = freihand_align(pred, gt)
    diff = pred - gt
    return np.sqrt(np.einsum('nkc,nkc->nk', diff, diff))


def freihand_pck_thresholds(max_threshold: float = FREIHAND_AUC_MAX,
                            steps: int = FREIHAND_AUC_STEPS) -> np.ndarray:
    """The official PCK thresholds ``linspace(0, max_threshold, steps)``.

    Args:
        max_threshold (float): Last threshold, metres (> 0). Default: 0.05.
        steps (int): Number of thresholds (>= 2). Default: 100.

    Returns:
        np.ndarray: ``(steps,)`` float64 thresholds in metres.
    """
    if not max_threshold > 0 or not np.isfinite(max_threshold):
        raise ValueError('max_threshold must be a positive number, got '
                         f'{max_threshold!r}')
    if int(steps) != steps or steps < 2:
        raise ValueError(f'steps must be an integer >= 2, got {steps!r}')
    return np.linspace(0., float(max_threshold), int(steps))


def freihand_pck_counts(errors: np.ndarray,
                        thresholds: np.ndarray) -> np.ndarray:
    """Per sample, how many points have ``error <= threshold``.

    Summed over samples and divided by the number of points, this is the
    official PCK curve (``EvalUtil._get_pck`` averaged over keypoints);
    per-sample counts let a distributed metric add them up.

    Args:
        errors (np.ndarray): ``(N, K)`` point errors.
        thresholds (np.ndarray): ``(T,)`` thresholds, same unit.

    Returns:
        np.ndarray: ``(N, T)`` int64 counts.
    """
    errors = np.asarray(errors, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if errors.ndim != 2 or thresholds.ndim != 1:
        raise ValueError('errors must be (N, K) and thresholds (T,), got '
                         f'{errors.shape} and {thresholds.shape}')
    counts = np.empty((len(errors), len(thresholds)), np.int64)
    # one pass per threshold keeps memory at O(N K) (T is 100)
    for t, threshold in enumerate(thresholds):
        counts[:, t] = np.count_nonzero(errors <= threshold, axis=1)
    return counts


def freihand_auc(pck: np.ndarray, thresholds: np.ndarray) -> float:
    """Normalised area under a PCK curve, as ``EvalUtil.get_measures``.

    ``trapz(pck, thresholds) / trapz(ones, thresholds)``. The official
    script takes this per keypoint and averages over keypoints; the
    trapezoidal rule is linear, so the AUC of the keypoint-averaged curve
    is the same number.

    Args:
        pck (np.ndarray): ``(T,)`` fractions of correct points.
        thresholds (np.ndarray): ``(T,)`` increasing thresholds, ``T >= 2``.

    Returns:
        float: AUC as a fraction in ``[0, 1]``.
    """
    pck = np.asarray(pck, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if pck.shape != thresholds.shape or pck.ndim != 1 or len(pck) < 2:
        raise ValueError('pck and thresholds must both be (T,) with T >= 2,'
                         f' got {pck.shape} and {thresholds.shape}')
    widths = np.diff(thresholds)
    area = np.sum(widths * (pck[1:] + pck[:-1]) / 2)
    return float(area / np.sum(widths))  # trapz of ones = sum of widths


def freihand_nn_distances(
        pred: np.ndarray,
        gt: np.ndarray,
        max_block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour distances between two point sets, both ways.

    Brute force on the ``(P, Q)`` squared-distance matrix ``|a|^2 + |b|^2 -
    2 a.b`` (both sets first centred on the GT mean, so that the
    cancellation error stays far below a micrometre), computed for a chunk
    of samples at a time.

    Memory: the chunk is ``max(1, max_block_bytes // (8 P Q))`` samples,
    so the one ``(chunk, P, Q)`` float64 block (about 4.8 MB per sample
    for 778 MANO vertices; 6 samples with the 32 MiB default) bounds the
    extra memory, plus ``O(chunk (P + Q))``; with ``P Q`` above the budget
    the block is one sample.

    Args:
        pred (np.ndarray): ``(N, P, 3)`` predicted points.
        gt (np.ndarray): ``(N, Q, 3)`` GT points (same ``N``; ``Q`` may
            differ from ``P``).
        max_block_bytes (int): Budget of one distance block. Default:
            32 MiB.

    Returns:
        tuple: ``(N, P)`` distance of each predicted point to its nearest
        GT point, and ``(N, Q)`` of each GT point to its nearest predicted
        point, float64 in the input unit.
    """
    pred, gt = _check_points(pred, gt, same_shape=False)
    n, p_num, q_num = len(pred), pred.shape[1], gt.shape[1]
    chunk = max(1, int(max_block_bytes) // (8 * p_num * q_num))
    d_pred = np.empty((n, p_num))
    d_gt = np.empty((n, q_num))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        centre = gt[part].mean(axis=1, keepdims=True)
        a = pred[part] - centre
        b = gt[part] - centre
        sq = a @ np.swapaxes(b, 1, 2)  # (c, P, Q), the one large block
        sq *= -2.
        sq += np.einsum('npc,npc->np', a, a)[:, :, None]
        sq += np.einsum('nqc,nqc->nq', b, b)[:, None, :]
        d_pred[part] = sq.min(axis=2)
        d_gt[part] = sq.min(axis=1)
        del sq
    # rounding can make an exact-zero squared distance slightly negative
    np.maximum(d_pred, 0., out=d_pred)
    np.maximum(d_gt, 0., out=d_gt)
    return np.sqrt(d_pred), np.sqrt(d_gt)


def freihand_fscore(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: Sequence[float] = FREIHAND_FSCORE_THRESHOLDS,
    max_block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F-score of two point sets at each threshold (``calculate_fscore``).

    Precision is the fraction of predicted points whose nearest GT point is
    closer than the threshold (strict ``<``), recall the fraction of GT
    points whose nearest predicted point is; ``F = 2 P R / (P + R)``, 0 when
    ``P + R = 0``. (The official script's variable names swap precision and
    recall; F is symmetric in them, so the numbers agree.)

    Args:
        pred (np.ndarray): ``(N, P, 3)`` predicted vertices, metres.
        gt (np.ndarray): ``(N, Q, 3)`` GT vertices, metres.
        thresholds (Sequence[float]): Distance thresholds, metres.
            Default: ``(0.005, 0.015)``.
        max_block_bytes (int): Memory budget, see
            :func:`freihand_nn_distances`.

    Returns:
        tuple: ``(fscore, precision, recall)``, each ``(N, T)`` float64.
    """
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if thr.size == 0 or not np.all(np.isfinite(thr)) or np.any(thr <= 0):
        raise ValueError('thresholds must be positive numbers, got '
                         f'{thresholds!r}')
    d_pred, d_gt = freihand_nn_distances(pred, gt, max_block_bytes)
    precision = np.stack([np.mean(d_pred < t, axis=1) for t in thr], -1)
    recall = np.stack([np.mean(d_gt < t, axis=1) for t in thr], -1)
    total = precision + recall
    with np.errstate(divide='ignore', invalid='ignore'):
        fscore = np.where(total > 0, 2 * precision * recall / total, 0.)
    return fscore, precision, recall


# ---------------------------------------------------------------- helpers
def _check_points(pred: np.ndarray, gt: np.ndarray,
                  same_shape: bool) -> Tuple[np.ndarray, np.ndarray]:
    """float64 ``(N, K, 3)`` pair, non-empty and finite."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    for name, arr in (('pred', pred), ('gt', gt)):
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[1] == 0:
            raise ValueError(f'{name} must be (N, K, 3) with K >= 1, got '
                             f'{arr.shape}')
    if same_shape and pred.shape != gt.shape:
        raise ValueError('pred and gt must have equal (N, K, 3) shapes, got '
                         f'{pred.shape} and {gt.shape}')
    if len(pred) != len(gt):
        raise ValueError('pred and gt must have the same number of samples,'
                         f' got {pred.shape} and {gt.shape}')
    for name, arr in (('pred', pred), ('gt', gt)):
        finite = np.isfinite(arr).reshape(len(arr), -1).all(axis=1)
        if not finite.all():
            raise ValueError(f'{name} has NaN or inf values (first in sample'
                             f' {int(np.argmin(finite))})')
    return pred, gt
