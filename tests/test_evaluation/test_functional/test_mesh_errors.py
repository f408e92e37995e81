import numpy as np
from scipy.spatial.transform import Rotation

from mpt_plugin.evaluation.functional import (mmh3d_similarity_transform,
                                              mpjpe, pa_mpjpe,
                                              per_vertex_error)


def batch_similarity_transform(pred, gt):
    """The alignment pa_mpjpe applies (variance bounded by 1e-12)."""
    return mmh3d_similarity_transform(pred, gt, min_variance=1e-12)


def _random_similarity(rng, n):
    rot = Rotation.random(n, random_state=rng).as_matrix()
    scale = rng.uniform(0.5, 2.0, size=n)
    trans = rng.normal(size=(n, 1, 3))
    return rot, scale, trans


def test_similarity_transform_recovers_exact_transform():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(8, 14, 3))
    rot, scale, trans = _random_similarity(rng, 8)
    pred = scale[:, None, None] * np.einsum('nij,nkj->nki', rot, gt) + trans
    aligned = batch_similarity_transform(pred, gt)
    assert np.allclose(aligned, gt, atol=1e-10)
    assert np.allclose(pa_mpjpe(pred, gt), 0, atol=1e-10)
    assert mpjpe(pred, gt).min() > 0.1


def test_similarity_transform_is_optimal_and_proper():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(4, 14, 3))
    pred = gt + 0.3 * rng.normal(size=gt.shape)
    aligned = batch_similarity_transform(pred, gt)
    base = ((aligned - gt)**2).sum(axis=(1, 2))
    # any perturbation of the optimal similarity transform is worse
    for _ in range(20):
        small = Rotation.from_rotvec(0.01 * rng.normal(size=(4, 3))).as_matrix()
        c = aligned.mean(axis=1, keepdims=True)
        worse = np.einsum('nij,nkj->nki', small, aligned - c) * 1.01 + c
        assert np.all(((worse - gt)**2).sum(axis=(1, 2)) >= base)
    # a mirrored prediction is not "aligned" by a reflection
    mirrored = gt * np.array([-1, 1, 1])
    assert np.all(pa_mpjpe(mirrored, gt) > 1e-3)


def test_mpjpe_mask_and_pve():
    pred = np.zeros((2, 3, 3))
    gt = np.zeros((2, 3, 3))
    gt[:, 0, 0] = 3.0
    gt[:, 1, 1] = 4.0
    assert np.allclose(mpjpe(pred, gt), [7 / 3, 7 / 3])
    mask = np.array([[1, 0, 0], [0, 1, 1]])
    assert np.allclose(mpjpe(pred, gt, mask), [3.0, 2.0])
    assert np.allclose(per_vertex_error(pred, gt), mpjpe(pred, gt))


def test_degenerate_prediction_maps_to_gt_centroid():
    """A collapsed prediction (all points equal) gets a finite PA-MPJPE:
    it is mapped onto gt's centroid, where mmhuman3d's alignment (no
    variance bound) gives nan."""
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(3, 14, 3))
    pred = np.zeros_like(gt)
    pred[1] = gt[1] + 0.1  # one regular sample between degenerate ones
    aligned = batch_similarity_transform(pred, gt)
    assert np.isfinite(aligned).all()
    centroid = gt.mean(axis=1, keepdims=True)
    assert np.allclose(aligned[[0, 2]], np.broadcast_to(centroid[[0, 2]],
                                                        (2, 14, 3)))
    assert np.allclose(aligned[1], gt[1])
    with np.errstate(divide='ignore', invalid='ignore'):
        raw = mmh3d_similarity_transform(pred, gt)
    assert np.isnan(raw[[0, 2]]).all()
    assert np.allclose(raw[1], aligned[1])
    # pa_mpjpe: finite by default, mmhuman3d's nan with min_variance=0
    assert np.isfinite(pa_mpjpe(pred, gt)).all()
    with np.errstate(divide='ignore', invalid='ignore'):
        assert np.isnan(pa_mpjpe(pred, gt, min_variance=0.0)[[0, 2]]).all()
