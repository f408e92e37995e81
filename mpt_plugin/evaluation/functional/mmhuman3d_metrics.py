"""Vectorised re-implementation of mmhuman3d 0.11.0's evaluation metrics.

Same definitions, units and numbers as ``mmhuman3d/core/evaluation/
eval_utils.py`` (``keypoint_mpjpe``, ``keypoint_3d_pck``, ``keypoint_3d_auc``,
``vertice_pve``) and ``mesh_eval.py`` (``compute_similarity_transform``), but
without per-sample Python loops: the Procrustes alignment of all samples is
one batched SVD.

Conventions (as in mmhuman3d's ``HumanImageDataset.evaluate``):

- inputs are ``(N, K, C)`` arrays in **millimetres** (root-centred joints or
  vertices); the errors are returned in the same unit (mm);
- PCK / AUC are returned in **percent**;
- a joint error is a mean over all valid joints of all samples (not a mean of
  per-sample means), exactly as ``norm(pred - gt)[mask].mean()``;
- inputs are cast to float64. mmhuman3d keeps the input dtype, so on float32
  inputs it differs from these functions by float32 rounding only.
"""
from typing import Tuple

import numpy as np

from mpt_plugin.geometry.procrustes import similarity_transform

#: mmhuman3d's ``compute_similarity_transform``, batched (one implementation,
#: in :mod:`mpt_plugin.geometry.procrustes`).
mmh3d_similarity_transform = similarity_transform

__all__ = [
    'ALIGNMENTS', 'AUC_THRESHOLDS_MM', 'mmh3d_similarity_transform',
    'keypoint_mpjpe', 'keypoint_3d_pck', 'keypoint_3d_auc', 'vertice_pve',
    'keypoint_errors', 'mpjpe_from_errors', 'pck_from_errors',
    'auc_from_errors'
]

#: Alignment modes accepted by every metric.
ALIGNMENTS = ('none', 'scale', 'procrustes')
#: mmhuman3d's 3DAUC thresholds: 0, 5, ..., 150 mm (31 values, 0 included).
AUC_THRESHOLDS_MM = np.linspace(0., 150, 31)


def keypoint_mpjpe(pred: np.ndarray,
                   gt: np.ndarray,
                   mask: np.ndarray,
                   alignment: str = 'none') -> float:
    """Mean per-joint position error (MPJPE / PA-MPJPE), mmhuman3d 0.11.0.

    Args:
        pred (np.ndarray): Predicted joints ``(N, K, C)`` in mm.
        gt (np.ndarray): Ground-truth joints ``(N, K, C)`` in mm.
        mask (np.ndarray): Valid joints ``(N, K)`` (bool, or 0/1 numbers);
            at least one must be valid.
        alignment (str): ``'none'`` (MPJPE), ``'scale'`` (least-squares
            scale) or ``'procrustes'`` (PA-MPJPE: scale, rotation and
            translation). Default: ``'none'``.

    Returns:
        float: Mean error over all valid joints of all samples, in mm.
    """
    return mpjpe_from_errors(*keypoint_errors(pred, gt, mask, alignment))


def keypoint_3d_pck(pred: np.ndarray,
                    gt: np.ndarray,
                    mask: np.ndarray,
                    alignment: str = 'none',
                    threshold: float = 150.) -> float:
    """3D percentage of correct keypoints (3DPCK), mmhuman3d 0.11.0.

    A joint is correct if its error is strictly below ``threshold``. The
    fraction is computed in float32 and multiplied by 100 in float32, as in
    mmhuman3d.

    Args:
        pred (np.ndarray): Predicted joints ``(N, K, C)`` in mm.
        gt (np.ndarray): Ground-truth joints ``(N, K, C)`` in mm.
        mask (np.ndarray): Valid joints ``(N, K)``.
        alignment (str): ``'none'``, ``'scale'`` or ``'procrustes'``.
        threshold (float): Distance threshold in mm. Default: 150.

    Returns:
        float: Percentage (0-100) of valid joints that are correct.
    """
    return pck_from_errors(*keypoint_errors(pred, gt, mask, alignment),
                           threshold=threshold)


def keypoint_3d_auc(pred: np.ndarray,
                    gt: np.ndarray,
                    mask: np.ndarray,
                    alignment: str = 'none') -> float:
    """Area under the 3DPCK curve (3DAUC), mmhuman3d 0.11.0.

    The mean of the PCK fractions at the 31 thresholds
    ``AUC_THRESHOLDS_MM`` (0, 5, ..., 150 mm; the PCK at 0 is always 0),
    times 100 (MPI-INF-3DHP ``mpii_compute_3d_pck.m`` style).

    Args:
        pred (np.ndarray): Predicted joints ``(N, K, C)`` in mm.
        gt (np.ndarray): Ground-truth joints ``(N, K, C)`` in mm.
        mask (np.ndarray): Valid joints ``(N, K)``.
        alignment (str): ``'none'``, ``'scale'`` or ``'procrustes'``.

    Returns:
        float: AUC in percent (0-100).
    """
    return auc_from_errors(*keypoint_errors(pred, gt, mask, alignment))


def keypoint_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                    alignment: str = 'none') -> Tuple[np.ndarray, np.ndarray]:
    """Per-joint errors after mmhuman3d's alignment, for reuse.

    One alignment serves MPJPE, 3DPCK and 3DAUC (mmhuman3d aligns once per
    metric, i.e. three Procrustes passes for the three ``pa-`` metrics);
    :func:`mpjpe_from_errors`, :func:`pck_from_errors` and
    :func:`auc_from_errors` then give the same numbers as
    :func:`keypoint_mpjpe`, :func:`keypoint_3d_pck` and
    :func:`keypoint_3d_auc`.

    Args:
        pred (np.ndarray): Predicted joints ``(N, K, C)`` in mm.
        gt (np.ndarray): Ground-truth joints ``(N, K, C)`` in mm.
        mask (np.ndarray): Valid joints ``(N, K)``; at least one valid.
        alignment (str): ``'none'``, ``'scale'`` or ``'procrustes'``.

    Returns:
        tuple: errors ``(N, K)`` float64 in mm and the bool mask ``(N, K)``.
    """
    pred, gt = _check_pair(pred, gt, 'pred', 'gt')
    mask = _check_mask(mask, pred.shape[:2])
    pred = _align(pred, gt, alignment)
    return _norm(pred - gt), mask


def mpjpe_from_errors(err: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the valid errors (mm), see :func:`keypoint_mpjpe`."""
    return float(err[mask].mean())


def pck_from_errors(err: np.ndarray,
                    mask: np.ndarray,
                    threshold: float = 150.) -> float:
    """3DPCK in percent from errors, see :func:`keypoint_3d_pck`."""
    frac = _float32_fraction((err[mask] < threshold).sum(), mask.sum())
    return float(frac * np.float32(100))


def auc_from_errors(err: np.ndarray, mask: np.ndarray) -> float:
    """3DAUC in percent from errors, see :func:`keypoint_3d_auc`."""
    valid = np.sort(err[mask])
    # number of errors strictly below each threshold
    counts = np.searchsorted(valid, AUC_THRESHOLDS_MM, side='left')
    fracs = _float32_fraction(counts, valid.size).astype(np.float64)
    return float(fracs.mean() * 100)


def vertice_pve(pred: np.ndarray,
                gt: np.ndarray,
                alignment: str = 'none') -> float:
    """Per-vertex error (PVE), mmhuman3d 0.11.0.

    No mask and no root alignment: mmhuman3d poses both meshes with zero
    translation and compares them directly (``alignment='none'``).

    Args:
        pred (np.ndarray): Predicted vertices ``(N, V, 3)`` in mm.
        gt (np.ndarray): Ground-truth vertices ``(N, V, 3)`` in mm.
        alignment (str): ``'none'``, ``'scale'`` or ``'procrustes'``.
            Default: ``'none'``.

    Returns:
        float: Mean vertex error over all vertices and samples, in mm.
    """
    pred, gt = _check_pair(pred, gt, 'pred', 'gt')
    pred = _align(pred, gt, alignment)
    return float(_norm(pred - gt).mean())


# ---------------------------------------------------------------- helpers
def _check_pair(pred: np.ndarray, gt: np.ndarray, name_a: str,
                name_b: str) -> Tuple[np.ndarray, np.ndarray]:
    """Cast to float64 and check both are ``(N, K, C)`` of equal shape."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(f'{name_a} and {name_b} must both be (N, K, C) '
                         f'with equal shapes, got {pred.shape} and '
                         f'{gt.shape}')
    return pred, gt


def _check_mask(mask: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    """Boolean ``(N, K)`` mask with at least one valid joint."""
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f'mask must have shape (N, K) = {shape}, got '
                         f'{mask.shape}')
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError('mask has no valid joint (mmhuman3d asserts '
                         'mask.any())')
    return mask


def _align(pred: np.ndarray, gt: np.ndarray, alignment: str) -> np.ndarray:
    """Apply mmhuman3d's alignment of ``pred`` (N, K, C) onto ``gt``."""
    if alignment == 'none':
        return pred
    if alignment == 'procrustes':
        return mmh3d_similarity_transform(pred, gt)
    if alignment == 'scale':
        flat_pred = pred.reshape(len(pred), -1)
        flat_gt = gt.reshape(len(gt), -1)
        pred_dot_pred = np.einsum('ij,ij->i', flat_pred, flat_pred)
        pred_dot_gt = np.einsum('ij,ij->i', flat_pred, flat_gt)
        with np.errstate(divide='ignore', invalid='ignore'):
            scale = pred_dot_gt / pred_dot_pred
        return pred * scale[:, None, None]
    raise ValueError(f'Invalid value for alignment: {alignment!r}, expected '
                     f'one of {ALIGNMENTS}')


def _norm(diff: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis (faster than ``linalg.norm``)."""
    return np.sqrt(np.einsum('...c,...c->...', diff, diff))


def _float32_fraction(count, total: int) -> np.ndarray:
    """``count / total`` rounded like numpy's float32 ``mean`` of 0/1s.

    ``np.float32`` array ``.mean()`` sums 0/1 values exactly (counts below
    2**24) and divides once; float64 division then rounding to float32 gives
    the same correctly rounded result.
    """
    return (np.asarray(count, np.float64) / total).astype(np.float32)
