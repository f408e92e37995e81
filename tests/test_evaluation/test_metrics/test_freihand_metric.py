"""Tests for ``MPTFreiHANDMetric`` (FreiHAND's official evaluation).

The reference evaluates sample by sample as the official ``eval.py`` does,
written from its published formulas: scipy's ``orthogonal_procrustes`` on
scale-normalised centred points, brute-force nearest neighbours
(``cdist``), per-keypoint errors and PCK curves averaged over samples, then
over keypoints."""
import json

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from mpt_plugin.evaluation.metrics.freihand_metric import (FREIHAND_METRICS,
                                                           MPTFreiHANDMetric)
from mpt_plugin.registry import METRICS

ALL_KEYS = ('MPJPE', 'PA-MPJPE', 'MPVPE', 'PA-MPVPE', 'AUC-J', 'PA-AUC-J',
            'AUC-V', 'PA-AUC-V', 'F@5mm', 'F@15mm', 'PA-F@5mm', 'PA-F@15mm')


# ------------------------------------------------------------- reference
def _align(gt, pred):
    gt_mean, pred_mean = gt.mean(0), pred.mean(0)
    gt_c, pred_c = gt - gt_mean, pred - pred_mean
    gt_norm = np.linalg.norm(gt_c) + 1e-8
    pred_norm = np.linalg.norm(pred_c) + 1e-8
    rot, scale = orthogonal_procrustes(gt_c / gt_norm, pred_c / pred_norm)
    return (pred_c / pred_norm) @ rot.T * scale * gt_norm + gt_mean


def _fscore(gt, pred, threshold):
    dist = cdist(gt, pred)
    a = np.mean(dist.min(axis=1) < threshold)
    b = np.mean(dist.min(axis=0) < threshold)
    return 2 * a * b / (a + b) if a + b > 0 else 0.


def _mean_and_auc(errors, val_max=0.05, steps=100):
    """Per keypoint over samples, then over keypoints (``EvalUtil``)."""
    thresholds = np.linspace(0., val_max, steps)
    norm = np.trapezoid(np.ones_like(thresholds), thresholds)
    means = [errors[:, k].mean() for k in range(errors.shape[1])]
    # PCK curve of keypoint k: mean over samples of d <= t, per threshold
    aucs = [
        np.trapezoid(np.mean(errors[:, k, None] <= thresholds, axis=0),
                     thresholds) / norm for k in range(errors.shape[1])
    ]
    return np.mean(means), np.mean(aucs)


def reference(pred_j, gt_j, pred_v, gt_v, f_threshs=(0.005, 0.015),
              auc_max=0.05):
    """The official evaluation loop; errors in mm, AUC and F fractions."""
    rows = {key: [] for key in ('j', 'j_al', 'v', 'v_al')}
    f_raw, f_al = [], []
    for xyz, verts, xyz_p, verts_p in zip(gt_j, gt_v, pred_j, pred_v):
        xyz_al = _align(xyz, xyz_p)
        verts_al = _align(verts, verts_p)
        rows['j'].append(np.linalg.norm(xyz - xyz_p, axis=1))
        rows['j_al'].append(np.linalg.norm(xyz - xyz_al, axis=1))
        rows['v'].append(np.linalg.norm(verts - verts_p, axis=1))
        rows['v_al'].append(np.linalg.norm(verts - verts_al, axis=1))
        f_raw.append([_fscore(verts, verts_p, t) for t in f_threshs])
        f_al.append([_fscore(verts, verts_al, t) for t in f_threshs])
    out = {}
    for key, (err_name, auc_name) in dict(
            j=('MPJPE', 'AUC-J'), j_al=('PA-MPJPE', 'PA-AUC-J'),
            v=('MPVPE', 'AUC-V'), v_al=('PA-MPVPE', 'PA-AUC-V')).items():
        mean, auc = _mean_and_auc(np.array(rows[key]), auc_max)
        out[err_name], out[auc_name] = mean * 1000, auc
    for t, f, fa in zip(f_threshs, np.mean(f_raw, 0), np.mean(f_al, 0)):
        out[f'F@{t * 1000:g}mm'], out[f'PA-F@{t * 1000:g}mm'] = f, fa
    return out


# ------------------------------------------------------------------ data
def _random_case(seed, n=9):
    """Camera-frame hands: noisy, moved/rotated/scaled, mirrored and a
    degenerate (zero-variance) prediction; float32 like model outputs."""
    rng = np.random.default_rng(seed)
    centre = np.array([0., 0., 0.7]) + rng.normal(scale=0.05, size=(n, 1, 3))
    gt_j = centre + rng.normal(scale=0.04, size=(n, 21, 3))
    gt_v = centre + rng.normal(scale=0.04, size=(n, 778, 3))
    pred_j = gt_j + rng.normal(scale=0.01, size=gt_j.shape)
    pred_v = gt_v + rng.normal(scale=0.004, size=gt_v.shape)
    for i, mirror in ((n - 4, False), (n - 3, True), (n - 2, True)):
        rot = Rotation.random(random_state=rng).as_matrix()
        if mirror:
            rot = rot @ np.diag([-1., 1., 1.])
        scale, shift = rng.uniform(0.8, 1.2), rng.normal(scale=0.02, size=3)
        src_j = gt_j[i] if i == n - 2 else pred_j[i]  # one noise-free
        src_v = gt_v[i] if i == n - 2 else pred_v[i]
        pred_j[i] = (src_j - centre[i]) @ rot.T * scale + centre[i] + shift
        pred_v[i] = (src_v - centre[i]) @ rot.T * scale + centre[i] + shift
    pred_j[n - 1] = pred_j[n - 1].mean(0)  # zero variance
    pred_v[n - 1] = pred_v[n - 1].mean(0)
    return [a.astype(np.float32) for a in (pred_j, gt_j, pred_v, gt_v)]


def _samples(pred_j, gt_j, pred_v, gt_v, key='joints_freihand',
             tensor=True, leading=True):
    conv = torch.tensor if tensor else np.array  # copies
    cut = (lambda a, i: a[i:i + 1]) if leading else (lambda a, i: a[i])
    out = []
    for i in range(len(pred_j)):
        pred = {key: conv(cut(pred_j, i)), 'vertices': conv(cut(pred_v, i))}
        gt = {} if gt_j is None else {
            key: conv(cut(gt_j, i)), 'vertices': conv(cut(gt_v, i))}
        out.append(dict(pred_instances=pred, gt_instances=gt))
    return out


def _run(metric, samples, batch=4):
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


def _as64(*arrays):
    return [a.astype(np.float64) for a in arrays]


# ----------------------------------------------------------------- tests
def test_registered_and_options():
    metric = METRICS.build(dict(type='MPTFreiHANDMetric'))
    assert isinstance(metric, MPTFreiHANDMetric)
    assert metric.metrics == list(FREIHAND_METRICS)
    with pytest.raises(KeyError, match='pa-pve'):
        MPTFreiHANDMetric(metrics=('mpjpe', 'pa-pve'))
    with pytest.raises(ValueError, match='nothing to compute'):
        MPTFreiHANDMetric(metrics=())
    with pytest.raises(ValueError, match='fscore_thresholds'):
        MPTFreiHANDMetric(fscore_thresholds=(0.005, 0.))
    with pytest.raises(ValueError, match='duplicate'):
        MPTFreiHANDMetric(fscore_thresholds=(0.005, 0.005))


@pytest.mark.parametrize('seed', [0, 1])
def test_equals_official_reference(seed):
    pred_j, gt_j, pred_v, gt_v = _random_case(seed)
    res = _run(MPTFreiHANDMetric(), _samples(pred_j, gt_j, pred_v, gt_v))
    expected = reference(*_as64(pred_j, gt_j, pred_v, gt_v))
    assert set(res) == {f'freihand/{k}' for k in ALL_KEYS}
    for key in ALL_KEYS:
        assert abs(res[f'freihand/{key}'] - expected[key]) < 1e-6, key
    # the cases are not trivial: errors in mm, F-scores strictly inside
    assert 1 < res['freihand/PA-MPJPE'] < res['freihand/MPJPE']
    assert 0 < res['freihand/F@5mm'] < res['freihand/PA-F@15mm'] < 1
    assert 0 < res['freihand/PA-AUC-V'] < 1


def test_mirrored_prediction_is_perfect_after_alignment():
    _, gt_j, _, gt_v = _random_case(2)
    mirror = np.diag([-1., 1., 1.]).astype(np.float32)
    res = _run(MPTFreiHANDMetric(),
               _samples(gt_j @ mirror, gt_j, gt_v @ mirror, gt_v))
    assert res['freihand/PA-MPJPE'] < 1e-3  # mm
    assert res['freihand/PA-MPVPE'] < 1e-3
    assert res['freihand/PA-F@5mm'] == pytest.approx(1.)
    assert res['freihand/PA-AUC-J'] == pytest.approx(1 - 0.5 / 99)
    assert res['freihand/MPJPE'] > 10


def test_metric_subset_other_thresholds_and_inputs():
    pred_j, gt_j, pred_v, gt_v = _random_case(3)
    # keypoints3d fallback, numpy arrays, (K, 3) without the leading 1;
    # only joints asked: no vertices needed
    samples = _samples(pred_j, gt_j, pred_v, gt_v, key='keypoints3d',
                       tensor=False, leading=False)
    for s in samples:
        del s['pred_instances']['vertices'], s['gt_instances']['vertices']
    res = _run(MPTFreiHANDMetric(metrics=['pa-mpjpe', 'pa-auc-j'],
                                 auc_max=0.02, prefix='hand'), samples)
    expected = reference(*_as64(pred_j, gt_j, pred_v, gt_v), auc_max=0.02)
    assert set(res) == {'hand/PA-MPJPE', 'hand/PA-AUC-J'}
    assert abs(res['hand/PA-MPJPE'] - expected['PA-MPJPE']) < 1e-6
    assert abs(res['hand/PA-AUC-J'] - expected['PA-AUC-J']) < 1e-6
    # other F-score thresholds, named in mm
    res = _run(MPTFreiHANDMetric(metrics='f-score',
                                 fscore_thresholds=(0.0025, 0.01)),
               _samples(pred_j, gt_j, pred_v, gt_v))
    expected = reference(*_as64(pred_j, gt_j, pred_v, gt_v),
                         f_threshs=(0.0025, 0.01))
    assert set(res) == {'freihand/F@2.5mm', 'freihand/F@10mm'}
    assert abs(res['freihand/F@2.5mm'] - expected['F@2.5mm']) < 1e-6
    assert abs(res['freihand/F@10mm'] - expected['F@10mm']) < 1e-6


def test_split_over_processes_gives_the_same_numbers():
    """What MMEngine gathers from two ranks equals one rank."""
    pred_j, gt_j, pred_v, gt_v = _random_case(4)
    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    single = MPTFreiHANDMetric()
    single.process({}, samples)
    ranks = [MPTFreiHANDMetric(), MPTFreiHANDMetric()]
    ranks[0].process({}, samples[0::2])
    ranks[1].process({}, samples[1::2])
    gathered = [r for pair in zip(ranks[0].results, ranks[1].results)
                for r in pair] + ranks[0].results[len(ranks[1].results):]
    one = single.compute_metrics(single.results)
    two = single.compute_metrics(gathered)
    for key in one:
        assert one[key] == pytest.approx(two[key], rel=1e-12, abs=1e-12)


def test_pred_json_round_trip(tmp_path):
    pred_j, gt_j, pred_v, gt_v = _random_case(5)
    path = tmp_path / 'sub' / 'pred.json'
    res = _run(MPTFreiHANDMetric(pred_json=str(path)),
               _samples(pred_j, gt_j, pred_v, gt_v))
    with open(path) as f:
        content = json.load(f)
    assert isinstance(content, list) and len(content) == 2
    xyz, verts = (np.array(c) for c in content)
    assert xyz.shape == (9, 21, 3) and verts.shape == (9, 778, 3)
    np.testing.assert_array_equal(xyz, pred_j.astype(np.float64))
    np.testing.assert_array_equal(verts, pred_v.astype(np.float64))
    assert sorted(p.name for p in path.parent.iterdir()) == ['pred.json']
    # scoring the written file gives the metric's numbers
    expected = reference(xyz, *_as64(gt_j), verts, *_as64(gt_v))
    for key in ALL_KEYS:
        assert abs(res[f'freihand/{key}'] - expected[key]) < 1e-6, key
    # prediction only (no GT, no metric): the file is all there is
    path2 = tmp_path / 'pred_only.json'
    res = _run(MPTFreiHANDMetric(metrics=(), pred_json=path2),
               _samples(pred_j, None, pred_v, None))
    assert res == {}
    assert json.loads(path2.read_text()) == content


def test_bad_inputs_name_sample_key_and_shape():
    pred_j, gt_j, pred_v, gt_v = _random_case(6, n=3)
    metric = MPTFreiHANDMetric()

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    samples[2]['pred_instances']['vertices'] = torch.zeros(1, 700, 3)
    with pytest.raises(ValueError,
                       match=r'pred_instances\.vertices of sample 2 must be '
                       r'\(1, 778, 3\) in metres, got \(1, 700, 3\)'):
        metric.process({}, samples)

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    samples[1]['gt_instances']['joints_freihand'] = torch.zeros(1, 16, 3)
    with pytest.raises(ValueError,
                       match=r'gt_instances\.joints_freihand of sample 1 '
                       r'must be \(1, 21, 3\)'):
        metric.process({}, samples)

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    samples[0]['pred_instances']['joints_freihand'][0, 5, 1] = float('nan')
    with pytest.raises(ValueError, match=r'pred_instances\.joints_freihand '
                       'of sample 0 has NaN or inf'):
        metric.process({}, samples)

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    samples[1]['gt_instances']['vertices'][0, 0, 0] = float('inf')
    with pytest.raises(ValueError, match=r'gt_instances\.vertices of '
                       'sample 1 has NaN or inf'):
        metric.process({}, samples)

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    del samples[1]['pred_instances']['vertices']
    with pytest.raises(KeyError, match=r'sample 1 has no pred_instances\.'
                       'vertices'):
        metric.process({}, samples)

    samples = _samples(pred_j, gt_j, pred_v, gt_v)
    del samples[0]['gt_instances']
    with pytest.raises(KeyError, match="needs 'gt_instances'"):
        metric.process({}, samples)
    assert metric.results == []
    with pytest.raises(ValueError, match='no sample was processed'):
        metric.compute_metrics([])
