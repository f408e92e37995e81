"""Tests for ``MPTMeshMetric`` (mmhuman3d 0.11.0 evaluation protocol)."""
import numpy as np
import pytest
import torch

from mpt_plugin.evaluation.functional.mmhuman3d_metrics import (
    keypoint_3d_auc, keypoint_3d_pck, keypoint_mpjpe, vertice_pve)
from mpt_plugin.body_models.conventions import SPIN24_TO_J14
from mpt_plugin.evaluation.metrics.mesh_metric import (ALLOWED_METRICS,
                                                       MPTMeshMetric,
                                                       _consecutive_rows,
                                                       vertex_error_sums)
from mpt_plugin.registry import METRICS

H36M_TO_J14 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]
ALL = ('mpjpe', 'pa-mpjpe', 'pve', '3dpck', 'pa-3dpck', '3dauc', 'pa-3dauc')


def _samples(pred_j, gt_j, pred_v=None, gt_v=None, mask=None,
             key='joints_h36m', tensor=False):
    """Per-sample dicts ``(1, K, 3)`` as MMEngine passes them."""
    conv = torch.from_numpy if tensor else (lambda x: x)
    out = []
    for i in range(len(pred_j)):
        pred = {key: conv(pred_j[i:i + 1])}
        gt = {key: conv(gt_j[i:i + 1])}
        if pred_v is not None:
            pred['vertices'] = conv(pred_v[i:i + 1])
            gt['vertices'] = conv(gt_v[i:i + 1])
        if mask is not None:
            gt['keypoints3d_mask'] = conv(mask[i:i + 1])
        out.append(dict(pred_instances=pred, gt_instances=gt))
    return out


def _run(metric, samples, batch=3):
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


def _expected_joints(pred_mm, gt_mm, mask, pck_thr=150.):
    return {
        'MPJPE': keypoint_mpjpe(pred_mm, gt_mm, mask, 'none'),
        'PA-MPJPE': keypoint_mpjpe(pred_mm, gt_mm, mask, 'procrustes'),
        '3DPCK': keypoint_3d_pck(pred_mm, gt_mm, mask, 'none', pck_thr),
        'PA-3DPCK': keypoint_3d_pck(pred_mm, gt_mm, mask, 'procrustes',
                                    pck_thr),
        '3DAUC': keypoint_3d_auc(pred_mm, gt_mm, mask, 'none'),
        'PA-3DAUC': keypoint_3d_auc(pred_mm, gt_mm, mask, 'procrustes'),
    }


@pytest.fixture
def data17():
    rng = np.random.default_rng(0)
    n, v = 7, 50
    gt = rng.normal(scale=0.3, size=(n, 17, 3)) + rng.normal(size=(n, 1, 3))
    pred = gt + rng.normal(scale=0.06, size=gt.shape)
    gt_v = rng.normal(scale=0.4, size=(n, v, 3))
    pred_v = gt_v + rng.normal(scale=0.05, size=gt_v.shape)
    return pred.astype(np.float32), gt.astype(np.float32), pred_v, gt_v


def test_registered_and_unknown_metric():
    metric = METRICS.build(dict(type='MPTMeshMetric', metric='pa-mpjpe'))
    assert isinstance(metric, MPTMeshMetric)
    assert metric.metrics == ['pa-mpjpe']
    assert set(ALLOWED_METRICS) == set(ALL)
    with pytest.raises(KeyError, match='pa-pve'):
        MPTMeshMetric(metric=('mpjpe', 'pa-pve'))
    with pytest.raises(KeyError, match='ihmr'):
        MPTMeshMetric(metric='ihmr')


def test_17_joints_all_metrics(data17):
    pred, gt, pred_v, gt_v = data17
    metric = MPTMeshMetric(metric=ALL)
    res = _run(metric, _samples(pred, gt, pred_v, gt_v, tensor=True))
    # protocol done by hand: pelvis = joint 0 before selection, mm
    p = np.float64(pred)
    g = np.float64(gt)
    pred_mm = (p - p[:, :1])[:, H36M_TO_J14] * 1000
    gt_mm = (g - g[:, :1])[:, H36M_TO_J14] * 1000
    mask = np.ones((len(p), 14), bool)
    expected = _expected_joints(pred_mm, gt_mm, mask)
    expected['PVE'] = vertice_pve(pred_v * 1000, gt_v * 1000)
    assert set(res) == {f'mesh/{k}' for k in expected}
    for key, value in expected.items():
        np.testing.assert_allclose(res[f'mesh/{key}'], value, rtol=1e-12,
                                   err_msg=key)
    assert 0 < res['mesh/PA-MPJPE'] < res['mesh/MPJPE']
    # results are cleared after evaluate
    assert metric.results == []


def test_pelvis_taken_before_selection():
    """Only the pelvis (H36M joint 0, not in LSP-14) is off in the
    prediction, so MPJPE is the pelvis offset; centring after selection
    would give 0."""
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=0.3, size=(4, 17, 3))
    pred = gt.copy()
    pred[:, 0] += np.array([0.03, 0.04, 0.])  # 50 mm pelvis shift
    res = _run(MPTMeshMetric(metric=('mpjpe', 'pa-mpjpe'), prefix='x'),
               _samples(pred, gt))
    np.testing.assert_allclose(res['x/MPJPE'], 50., rtol=1e-9)
    # a rigid shift of all LSP joints is removed by Procrustes
    assert res['x/PA-MPJPE'] < 1e-9
    # if the pelvis were taken after selection the error would vanish
    sel_p, sel_g = pred[:, H36M_TO_J14], gt[:, H36M_TO_J14]
    after = keypoint_mpjpe((sel_p - sel_p.mean(1, keepdims=True)) * 1000,
                           (sel_g - sel_g.mean(1, keepdims=True)) * 1000,
                           np.ones((4, 14)))
    assert after < 1e-9


def test_24_joints_smpl24_rule():
    rng = np.random.default_rng(2)
    n = 6
    gt = rng.normal(scale=0.3, size=(n, 24, 3)) + 2.
    pred = gt + rng.normal(scale=0.05, size=gt.shape)
    # pred carries both keys: the GT's key (keypoints3d) must be used
    samples = _samples(pred, gt, key='keypoints3d')
    for s in samples:
        s['pred_instances']['joints_h36m'] = np.zeros((1, 17, 3))
    res = _run(MPTMeshMetric(metric=('mpjpe', 'pa-mpjpe', '3dpck')), samples)
    sel_p, sel_g = pred[:, SPIN24_TO_J14], gt[:, SPIN24_TO_J14]
    assert SPIN24_TO_J14 == list(range(13)) + [18]
    pred_mm = (sel_p - (sel_p[:, 2:3] + sel_p[:, 3:4]) / 2) * 1000
    gt_mm = (sel_g - (sel_g[:, 2:3] + sel_g[:, 3:4]) / 2) * 1000
    mask = np.ones((n, 14), bool)
    expected = _expected_joints(pred_mm, gt_mm, mask)
    for key in ('MPJPE', 'PA-MPJPE', '3DPCK'):
        np.testing.assert_allclose(res[f'mesh/{key}'], expected[key],
                                   rtol=1e-12, err_msg=key)
    # joints 13..17 and 19..23 are ignored
    pred2 = pred.copy()
    pred2[:, 13:18] += 5.
    pred2[:, 19:] -= 5.
    res2 = _run(MPTMeshMetric(metric='mpjpe'),
                _samples(pred2, gt, key='keypoints3d'))
    np.testing.assert_allclose(res2['mesh/MPJPE'], expected['MPJPE'],
                               rtol=1e-12)


@pytest.mark.parametrize('num_joints', [17, 24])
def test_masks(num_joints):
    rng = np.random.default_rng(3)
    n = 5
    gt = rng.normal(scale=0.3, size=(n, num_joints, 3))
    pred = gt + rng.normal(scale=0.08, size=gt.shape)
    mask = (rng.random((n, num_joints)) > 0.3).astype(np.float32)
    mask[:, 0] = 0  # the pelvis flag does not matter for LSP-14
    key = 'joints_h36m' if num_joints == 17 else 'keypoints3d'
    res = _run(MPTMeshMetric(metric=ALL[:2] + ALL[3:]),
               _samples(pred, gt, mask=mask, key=key), batch=2)
    if num_joints == 17:
        sel = H36M_TO_J14
        pred_mm = (pred - pred[:, :1])[:, sel] * 1000
        gt_mm = (gt - gt[:, :1])[:, sel] * 1000
    else:
        sel = SPIN24_TO_J14
        sp, sg = pred[:, sel], gt[:, sel]
        pred_mm = (sp - (sp[:, 2:3] + sp[:, 3:4]) / 2) * 1000
        gt_mm = (sg - (sg[:, 2:3] + sg[:, 3:4]) / 2) * 1000
    sel_mask = mask[:, sel] > 0
    expected = _expected_joints(pred_mm, gt_mm, sel_mask)
    for key, value in expected.items():
        np.testing.assert_allclose(res[f'mesh/{key}'], value, rtol=1e-12,
                                   err_msg=key)
    # the mask changes the result (masked joints really are dropped)
    unmasked = keypoint_mpjpe(pred_mm, gt_mm, np.ones_like(sel_mask))
    assert not np.isclose(res['mesh/MPJPE'], unmasked)


def test_pve_equals_direct_computation():
    """Mean over all vertices of all samples, batches of unequal size,
    no alignment (a global shift counts fully)."""
    rng = np.random.default_rng(4)
    n, v = 7, 300
    gt_v = rng.normal(scale=0.4, size=(n, v, 3)).astype(np.float32)
    pred_v = (gt_v + rng.normal(scale=0.05, size=gt_v.shape) +
              np.array([0.1, 0., 0.])).astype(np.float32)
    joints = np.zeros((n, 17, 3))
    metric = MPTMeshMetric(metric='pve')
    samples = _samples(joints, joints, pred_v, gt_v)
    for s in samples:  # joints are not needed for PVE alone
        del s['pred_instances']['joints_h36m']
        del s['gt_instances']['joints_h36m']
    res = _run(metric, samples, batch=3)  # batches of 3, 3, 1
    expected = vertice_pve(np.float64(pred_v) * 1000, np.float64(gt_v) * 1000)
    # vertex distances in float32 (as mmhuman3d on float32 meshes), sums in
    # float64
    np.testing.assert_allclose(res['mesh/PVE'], expected, rtol=1e-6)
    assert res['mesh/PVE'] > 90.  # the 100 mm shift is not aligned away



def test_vertex_error_sums_matches_norm():
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 100, 3, generator=gen)
    gt = torch.randn(4, 100, 3, generator=gen).double()
    sums = vertex_error_sums(pred, gt)
    assert sums.dtype == torch.float64 and sums.shape == (4, )
    expected = torch.linalg.vector_norm(pred.double() - gt, dim=-1).sum(-1)
    torch.testing.assert_close(sums, expected, rtol=1e-6, atol=0)
    assert torch.equal(pred, pred.clone())  # the inputs are not modified


def test_consecutive_rows_detects_batch_views():
    batch = torch.arange(5 * 4 * 3, dtype=torch.float32).reshape(5, 4, 3)
    views = [batch[i:i + 1] for i in range(1, 4)]
    rows = _consecutive_rows(views)
    assert rows is not None and torch.equal(rows, batch[1:4])
    assert rows.data_ptr() == batch[1].data_ptr()  # no copy
    assert _consecutive_rows([batch[i][None] for i in range(5)]) is not None
    # not one block of rows: copies, a gap, another order, two tensors
    assert _consecutive_rows([v.clone() for v in views]) is None
    assert _consecutive_rows([batch[0:1], batch[2:3]]) is None
    assert _consecutive_rows([batch[1:2], batch[0:1]]) is None
    other = batch.clone()
    assert _consecutive_rows([batch[0:1], other[1:2]]) is None
    # rows of a non-contiguous tensor
    wide = torch.zeros(3, 4, 6)[..., :3]
    assert _consecutive_rows([wide[i:i + 1] for i in range(3)]) is None


def test_pve_same_for_batch_views_and_copies():
    """The zero-copy batch path and the per-sample path agree."""
    gen = torch.Generator().manual_seed(1)
    gt_v = torch.randn(6, 200, 3, generator=gen)
    pred_v = gt_v + 0.05 * torch.randn(6, 200, 3, generator=gen)

    def samples(copy):
        def get(x, i):
            return x[i:i + 1].clone() if copy else x[i:i + 1]
        return [
            dict(pred_instances=dict(vertices=get(pred_v, i)),
                 gt_instances=dict(vertices=get(gt_v, i))) for i in range(6)
        ]

    results = []
    for copy in (False, True):
        metric = MPTMeshMetric(metric='pve')
        metric.process({}, samples(copy))
        results.append(np.array([r['pve_sum'] for r in metric.results]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    expected = torch.linalg.vector_norm(
        (pred_v - gt_v).double(), dim=-1).sum(-1).numpy() * 1000
    np.testing.assert_allclose(results[0], expected, rtol=1e-5)

def test_pve_stores_no_meshes(data17):
    pred, gt, pred_v, gt_v = data17
    metric = MPTMeshMetric(metric=ALL)
    metric.process({}, _samples(pred, gt, pred_v, gt_v)[:2])
    assert len(metric.results) == 2
    for r in metric.results:
        # pred xyz, GT xyz (mm) and the mask of the 14 joints, no mesh
        assert r['joints'].shape == (14, 7)
        assert np.ndim(r['pve_sum']) == 0 and r['pve_count'] == 50


def test_missing_keys_and_bad_shapes(data17):
    pred, gt, pred_v, gt_v = data17
    samples = _samples(pred, gt)
    with pytest.raises(KeyError, match='vertices'):
        MPTMeshMetric(metric=('mpjpe', 'pve')).process({}, samples)
    samples = _samples(pred, gt, pred_v, gt_v)
    del samples[1]['gt_instances']['joints_h36m']
    with pytest.raises(KeyError, match='gt_instances.joints_h36m'):
        MPTMeshMetric(metric='mpjpe').process({}, samples)
    with pytest.raises(KeyError, match='pred_instances'):
        MPTMeshMetric(metric='mpjpe').process(
            {}, [dict(gt_instances=samples[0]['gt_instances'])])
    # pred / gt joint counts differ
    bad = _samples(pred[:, :16], gt)
    with pytest.raises(ValueError, match='16 joints'):
        MPTMeshMetric(metric='mpjpe').process({}, bad)
    # unsupported joint count
    with pytest.raises(ValueError, match='expected 17'):
        MPTMeshMetric(metric='mpjpe').process(
            {}, _samples(pred[:, :15], gt[:, :15]))
    # mask of the wrong width
    with pytest.raises(ValueError, match='keypoints3d_mask'):
        MPTMeshMetric(metric='mpjpe').process(
            {}, _samples(pred, gt, mask=np.ones((len(pred), 24))))
