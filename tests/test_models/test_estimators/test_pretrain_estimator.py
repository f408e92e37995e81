import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from torch.utils.data import default_collate

from mpt_plugin.datasets import MPTMoCapHeatmapDataset
from mpt_plugin.registry import MODELS

TINY_HEAD = dict(type='MPTMeshTransformerHead', input_size=112,
                 embed_dims=(32, 16, 8), hidden_dims=(32, 16, 8),
                 num_layers=1, num_heads=2, attn_drop_rate=0.0)


@pytest.fixture(scope='module')
def setup(synthetic_assets, tmp_path_factory):
    init_default_scope('mmpose')
    bm_dir = osp.join(synthetic_assets, 'body_models')
    body_model = dict(model_path=bm_dir,
                      joints_regressor=osp.join(bm_dir,
                                                'J_regressor_h36m.npy'))
    ds = MPTMoCapHeatmapDataset(
        data_root=osp.join(synthetic_assets, 'amass'),
        cache_root=str(tmp_path_factory.mktemp('cache')), sample_fps=5,
        verbose=False)
    cfg = dict(type='MPTPretrainEstimator',
               data_preprocessor=dict(
                   type='MPTMoCapDataPreprocessor', heatmap_size=112,
                   body_model=body_model,
                   mhm=dict(type='MPTMaskedHeatmapModeling', seed=0)),
               head=TINY_HEAD, body_model=body_model,
               mesh_sampler=osp.join(bm_dir, 'mesh_downsampling.npz'))
    return ds, cfg


def test_ground_truth_frame(setup):
    ds, cfg = setup
    model = MODELS.build(cfg)
    batch = default_collate([ds[i] for i in range(8)])
    data = model.data_preprocessor(batch, False)
    gt = model.gather_gt(data['data_samples'])
    assert gt['vertices'].shape == (8, 6890, 3)
    assert gt['vertices_mid'].shape == (8, 1723, 3)
    assert gt['vertices_coarse'].shape == (8, 431, 3)
    assert gt['joints_3d'].shape == (8, 14, 3)
    assert torch.allclose(gt['joints_h36m'][:, 0], torch.zeros(8, 3),
                          atol=1e-6)
    # camera frame: y points down, so the head is above (smaller y than)
    # the ankles for these upright bodies
    head_y = gt['joints_3d'][:, 13, 1]
    ankle_y = gt['joints_3d'][:, [0, 5], 1].mean(1)
    assert torch.all(head_y < ankle_y - 0.8)
    # the same mesh seen by two cameras: same shape, rotated
    v4, v5 = gt['vertices'][4], gt['vertices'][5]
    assert not torch.allclose(v4, v5)

    def dist(v):
        return (v[:50, None] - v[None, :50]).norm(dim=-1)

    assert torch.allclose(dist(v4), dist(v5), atol=1e-5)
    # template: rest pose rotated into the camera-like frame
    assert bool(model.head.template_initialized)
    # batches without the preprocessor's targets are refused, saying why
    with pytest.raises(KeyError, match='body_model'):
        model.gather_gt(batch['data_samples'])


def test_loss_decreases_and_predict(setup):
    torch.manual_seed(0)
    ds, cfg = setup
    model = MODELS.build(cfg)
    model.init_weights()
    batch = default_collate([ds[i] for i in range(16)])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        assert set(losses) == {'loss_vertices', 'loss_joints',
                               'loss_joints_reg', 'loss_joints_proj'}
        total = sum(losses.values())
        assert torch.isfinite(total)
        first = float(total) if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert float(total) < 0.7 * first
    model.eval()
    with torch.no_grad():
        out = model.test_step(batch)
    assert len(out) == 16
    pred = out[0].pred_instances
    assert pred.vertices.shape == (1, 6890, 3)
    assert pred.joints.shape == (1, 14, 3)
    assert pred.joints_h36m.shape == (1, 17, 3)
    assert pred.camera.shape == (1, 3)
    assert out[0].gt_instances.vertices.shape == (1, 6890, 3)


def test_checkpoint_excludes_assets(setup):
    _, cfg = setup
    model = MODELS.build(cfg)
    keys = model.state_dict().keys()
    # nor the data preprocessor's three SMPL models (posing on the device)
    assert not any(k.startswith(('joint_regressor', 'mesh_sampler',
                                 'data_preprocessor')) for k in keys)
    assert any(k.startswith('head.') for k in keys)


def test_metric_from_predictions(setup):
    from mpt_plugin.evaluation.metrics import MPTMoCapMeshMetric
    ds, cfg = setup
    model = MODELS.build(cfg).eval()
    batch = default_collate([ds[i] for i in range(4)])
    with torch.no_grad():
        out = model.test_step(batch)
    metric = MPTMoCapMeshMetric()
    samples = [o.to_dict() for o in out]
    metric.process(batch, samples)
    res = metric.compute_metrics(metric.results)
    assert set(res) == {'mpjpe', 'pa_mpjpe', 'pve'}
    assert all(np.isfinite(v) and v > 0 for v in res.values())
    # perfect predictions give zero error
    for s in samples:
        s['pred_instances']['vertices'] = s['gt_instances']['vertices']
        s['pred_instances']['joints_h36m'] = s['gt_instances']['joints_h36m']
    metric.results.clear()
    metric.process(batch, samples)
    zero = metric.compute_metrics(metric.results)
    assert all(abs(v) < 1e-6 for v in zero.values())
    assert res['pa_mpjpe'] <= res['mpjpe'] + 1e-6
