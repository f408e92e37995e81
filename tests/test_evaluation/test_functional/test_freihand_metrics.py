"""Tests for ``freihand_metrics`` against a per-sample reference written from
FreiHAND's published evaluation (``eval.py`` of lmb-freiburg/freihand):
scipy's ``orthogonal_procrustes`` on scale-normalised centred points, brute
force nearest neighbours with ``cdist``, and the ``EvalUtil`` PCK/AUC
definition (per keypoint, ``<=``, trapezoidal area normalised by the area
under 1)."""
import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from mpt_plugin.evaluation.functional import (
    FREIHAND_AUC_MAX, FREIHAND_AUC_STEPS, FREIHAND_FSCORE_THRESHOLDS,
    freihand_align, freihand_auc, freihand_fscore, freihand_nn_distances,
    freihand_pck_counts, freihand_pck_thresholds, freihand_point_errors,
    mmh3d_similarity_transform)

MIRROR = np.diag([-1., 1., 1.])


# ------------------------------------------------------------- reference
def ref_align(gt, pred):
    """One sample: centre, divide by Frobenius norm + 1e-8, scipy's
    orthogonal Procrustes from the GT to the prediction, map the
    prediction back with the transposed rotation, the Procrustes scale and
    the GT's norm and mean."""
    gt_mean, pred_mean = gt.mean(axis=0), pred.mean(axis=0)
    gt_c, pred_c = gt - gt_mean, pred - pred_mean
    gt_norm = np.linalg.norm(gt_c) + 1e-8
    pred_norm = np.linalg.norm(pred_c) + 1e-8
    rot, scale = orthogonal_procrustes(gt_c / gt_norm, pred_c / pred_norm)
    return (pred_c / pred_norm).dot(rot.T) * scale * gt_norm + gt_mean


def ref_fscore(gt, pred, threshold):
    """One sample: brute-force nearest neighbours both ways, fractions
    strictly below the threshold, F = 2PR/(P+R) or 0."""
    dist = cdist(gt, pred)
    gt_to_pred = dist.min(axis=1)
    pred_to_gt = dist.min(axis=0)
    recall = float(np.sum(gt_to_pred < threshold)) / len(gt_to_pred)
    precision = float(np.sum(pred_to_gt < threshold)) / len(pred_to_gt)
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall), precision, \
            recall
    return 0., precision, recall


def ref_measures(errors, val_max=0.05, steps=100):
    """``EvalUtil.get_measures`` on ``(N, K)`` errors: per keypoint mean
    over samples and normalised trapezoidal AUC of ``d <= t``, then the
    means over keypoints."""
    thresholds = np.linspace(0., val_max, steps)
    norm = np.trapezoid(np.ones_like(thresholds), thresholds)
    means, aucs = [], []
    for k in range(errors.shape[1]):
        data = errors[:, k]
        means.append(np.mean(data))
        curve = [np.mean((data <= t).astype(float)) for t in thresholds]
        aucs.append(np.trapezoid(curve, thresholds) / norm)
    return np.mean(means), np.mean(aucs)


# ------------------------------------------------------------------ data
def _hands(rng, n, k, spread=0.04):
    """``(N, K, 3)`` camera-frame point sets around 0.7 m depth."""
    centre = np.array([0., 0., 0.7]) + rng.normal(scale=0.05, size=(n, 1, 3))
    return centre + rng.normal(scale=spread, size=(n, k, 3))


def _similar(rng, points, mirror=False):
    """A random similarity (optionally with a reflection) of each set."""
    out = np.empty_like(points)
    for i, p in enumerate(points):
        rot = Rotation.random(random_state=rng).as_matrix()
        if mirror:
            rot = rot @ MIRROR
        out[i] = rng.uniform(0.5, 2.) * p @ rot.T + rng.normal(size=3)
    return out


@pytest.fixture
def pairs():
    rng = np.random.default_rng(0)
    gt = _hands(rng, 8, 21)
    noisy = gt + rng.normal(scale=0.008, size=gt.shape)
    pred = np.concatenate([
        noisy[:4],
        _similar(rng, noisy[4:6]),  # rotated, scaled, moved
        _similar(rng, noisy[6:], mirror=True),  # mirrored
    ])
    return pred, gt


# ----------------------------------------------------------------- tests
def test_align_matches_scipy_reference(pairs):
    pred, gt = pairs
    aligned = freihand_align(pred, gt)
    expected = np.stack([ref_align(g, p) for g, p in zip(gt, pred)])
    np.testing.assert_allclose(aligned, expected, rtol=0, atol=1e-12)
    assert aligned.dtype == np.float64
    # float32 input: cast first, same numbers
    np.testing.assert_allclose(
        freihand_align(pred.astype(np.float32), gt.astype(np.float32)),
        np.stack([ref_align(g, p) for g, p in zip(
            gt.astype(np.float32).astype(np.float64),
            pred.astype(np.float32).astype(np.float64))]),
        rtol=0, atol=1e-12)


def test_mirrored_prediction_aligns_to_zero_unlike_mmhuman3d():
    rng = np.random.default_rng(1)
    gt = _hands(rng, 5, 21)
    mirrored = _similar(rng, gt, mirror=True)
    err = freihand_point_errors(mirrored, gt, align=True)
    assert err.max() < 1e-7  # metres; only the 1e-8 terms remain
    # mmhuman3d's Procrustes forbids the reflection: centimetres remain
    mmh3d = np.linalg.norm(mmh3d_similarity_transform(mirrored, gt) - gt,
                           axis=-1)
    assert mmh3d.mean(axis=1).min() > 5e-3
    # a proper similarity aligns to zero under both
    moved = _similar(rng, gt)
    assert freihand_point_errors(moved, gt, align=True).max() < 1e-7


def test_degenerate_inputs_are_finite():
    rng = np.random.default_rng(2)
    gt = _hands(rng, 3, 21)
    flat = np.repeat(rng.normal(size=(3, 1, 3)), 21, axis=1)
    # a zero-variance prediction maps onto the GT centroid
    aligned = freihand_align(flat, gt)
    np.testing.assert_allclose(aligned,
                               np.broadcast_to(gt.mean(1, keepdims=True),
                                               gt.shape), atol=1e-12)
    np.testing.assert_allclose(
        aligned, np.stack([ref_align(g, p) for g, p in zip(gt, flat)]),
        atol=1e-12)
    # a zero-variance GT: the prediction collapses onto it, error 0
    np.testing.assert_allclose(freihand_point_errors(gt, flat, align=True),
                               0., atol=1e-12)


def test_point_errors(pairs):
    pred, gt = pairs
    np.testing.assert_allclose(freihand_point_errors(pred, gt),
                               np.linalg.norm(pred - gt, axis=-1), atol=0)
    expected = np.stack([
        np.linalg.norm(ref_align(g, p) - g, axis=-1)
        for g, p in zip(gt, pred)
    ])
    np.testing.assert_allclose(freihand_point_errors(pred, gt, align=True),
                               expected, rtol=0, atol=1e-12)


def test_pck_counts_and_auc_match_evalutil(pairs):
    pred, gt = pairs
    thresholds = freihand_pck_thresholds()
    np.testing.assert_array_equal(thresholds, np.linspace(0, 0.05, 100))
    assert (FREIHAND_AUC_MAX, FREIHAND_AUC_STEPS) == (0.05, 100)
    for align in (False, True):
        err = freihand_point_errors(pred, gt, align=align)
        counts = freihand_pck_counts(err, thresholds)
        assert counts.shape == (len(err), 100) and counts.dtype == np.int64
        pck = counts.sum(0) / err.size
        mean, auc = ref_measures(err)
        assert abs(freihand_auc(pck, thresholds) - auc) < 1e-12
        assert abs(err.mean(axis=1).mean() - mean) < 1e-12
    # an error exactly on a threshold counts (<=)
    exact = np.array([[0., thresholds[10], thresholds[10] + 1e-9]])
    np.testing.assert_array_equal(
        freihand_pck_counts(exact, thresholds)[0, [0, 9, 10, 11]],
        [1, 1, 2, 3])
    # all correct -> 1 - the first step (the PCK at 0 is 0)
    assert freihand_auc(np.r_[0., np.ones(99)], thresholds) == \
        pytest.approx(1 - 0.5 / 99)


@pytest.mark.parametrize('block', [1, 10**9])
def test_nn_distances_match_cdist(block):
    rng = np.random.default_rng(3)
    pred = _hands(rng, 5, 50)
    gt = _hands(rng, 5, 37)
    d_pred, d_gt = freihand_nn_distances(pred, gt, max_block_bytes=block)
    for i in range(5):
        dist = cdist(pred[i], gt[i])
        np.testing.assert_allclose(d_pred[i], dist.min(1), atol=1e-12)
        np.testing.assert_allclose(d_gt[i], dist.min(0), atol=1e-12)
    # identical sets: exact zeros, no sqrt of a negative rounding error
    same = freihand_nn_distances(gt, gt)
    assert np.all(np.isfinite(same[0])) and same[0].max() < 1e-8


def test_fscore_matches_reference():
    rng = np.random.default_rng(4)
    gt = _hands(rng, 6, 778)
    pred = gt + rng.normal(scale=0.004, size=gt.shape)
    pred[4] = _similar(rng, gt[4:5], mirror=True)[0]  # noise-free
    pred[5] += 1.  # far away: P = R = 0 -> F = 0
    thresholds = (0.002, *FREIHAND_FSCORE_THRESHOLDS)
    fscore, precision, recall = freihand_fscore(pred, gt, thresholds,
                                                max_block_bytes=2**23)
    assert fscore.shape == (6, 3)
    for i in range(6):
        for j, t in enumerate(thresholds):
            f, p, r = ref_fscore(gt[i], pred[i], t)
            assert abs(fscore[i, j] - f) < 1e-12
            assert abs(precision[i, j] - p) < 1e-12
            assert abs(recall[i, j] - r) < 1e-12
    assert 0 < fscore[:4, 0].mean() < fscore[:4, 1].mean() < 1
    np.testing.assert_array_equal(fscore[5], 0.)
    # aligned mesh of the mirrored prediction: F = 1 at every threshold
    aligned = freihand_align(pred[4:5], gt[4:5])
    np.testing.assert_allclose(freihand_fscore(aligned, gt[4:5])[0], 1.)


def test_bad_inputs_raise():
    rng = np.random.default_rng(5)
    gt = _hands(rng, 2, 21)
    with pytest.raises(ValueError, match=r'equal \(N, K, 3\) shapes'):
        freihand_align(gt[:, :20], gt)
    with pytest.raises(ValueError, match=r'pred must be \(N, K, 3\)'):
        freihand_point_errors(gt[..., :2], gt[..., :2])
    with pytest.raises(ValueError, match='same number of samples'):
        freihand_fscore(gt[:1], gt)
    bad = gt.copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match='pred has NaN or inf values '
                       r'\(first in sample 1\)'):
        freihand_align(bad, gt)
    with pytest.raises(ValueError, match='gt has NaN'):
        freihand_fscore(gt, bad)
    with pytest.raises(ValueError, match='thresholds must be positive'):
        freihand_fscore(gt, gt, thresholds=(0.005, -1.))
    with pytest.raises(ValueError, match='steps must be'):
        freihand_pck_thresholds(0.05, 1)
    with pytest.raises(ValueError, match='max_threshold'):
        freihand_pck_thresholds(0., 100)
    with pytest.raises(ValueError, match=r'errors must be \(N, K\)'):
        freihand_pck_counts(np.zeros(3), np.zeros(3))
