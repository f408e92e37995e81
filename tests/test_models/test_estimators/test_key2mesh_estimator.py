"""Tests for Key2MeshEstimator."""
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from mpt_plugin.datasets.key2mesh_amass_pairs_dataset import \
    Key2MeshAMASSPairsDataset
from mpt_plugin.evaluation.metrics.mesh_metric import MPTMeshMetric
from mpt_plugin.models.estimators.domain_adaptation_protocol import (
    DomainAdaptationProtocol, critic_features)
from mpt_plugin.models.estimators.key2mesh_estimator import \
    Key2MeshEstimator
from mpt_plugin.registry import MODELS


def _cfg(paths, **kwargs):
    cfg = dict(
        type='Key2MeshEstimator',
        regressor=dict(type='Key2MeshRegressor', hidden_dim=32, dropout=0.0,
                       body_model=paths['body_model']),
        joint_regressor=paths['regressor'],
        data_preprocessor=dict(type='Key2MeshDataPreprocessor',
                               body_model=paths['body_model']))
    cfg.update(kwargs)
    return cfg


@pytest.fixture(scope='module')
def estimator(paths):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(_cfg(paths)).eval()


@pytest.fixture(scope='module')
def params_batch(paths):
    ds = Key2MeshAMASSPairsDataset(paths['amass'], num_samples=12,
                                   test_mode=True, verbose=False)
    return pseudo_collate([ds[i] for i in range(4)])


@pytest.fixture(scope='module')
def keypoint_batch(paths):
    ds = Key2MeshAMASSPairsDataset(
        paths['amass'], num_samples=12, test_mode=True, verbose=False,
        keypoints2d=dict(body_model=paths['body_model'], jitter_std=2.0,
                         occlusion_prob=0.3))
    return pseudo_collate([ds[i] for i in range(4)])


def test_loss_and_predict(estimator, params_batch):
    data = estimator.data_preprocessor(params_batch, True)
    assert data['inputs'].shape == (4, 18, 2)
    estimator.train()
    losses = estimator(**data, mode='loss')
    estimator.eval()
    assert set(losses) == {'loss_pose', 'loss_betas', 'loss_keypoints2d',
                           'loss_keypoints3d'}
    assert all(math.isfinite(float(v)) and float(v) > 0
               for v in losses.values())
    sum(losses.values()).backward()
    assert estimator.regressor.feature_extractor.stem[0].weight.grad \
        is not None

    preds = estimator.val_step(params_batch)
    assert len(preds) == 4
    pred, gt = preds[0].pred_instances, preds[0].gt_instances
    assert pred.vertices.shape == gt.vertices.shape == (1, 6890, 3)
    assert pred.joints_h36m.shape == gt.joints_h36m.shape == (1, 17, 3)
    torch.testing.assert_close(gt.joints_h36m[0, 0], torch.zeros(3))
    torch.testing.assert_close(pred.joints_h36m[0, 0], torch.zeros(3))
    # the GT is the body model on the labelled parameters
    pose = torch.stack(params_batch['inputs']['pose_aa'])[:1]
    betas = torch.stack(params_batch['inputs']['betas'])[:1]
    verts = estimator.regressor.body_model(
        betas=betas, global_orient=pose[:, :3],
        body_pose=pose[:, 3:])['vertices']
    torch.testing.assert_close(gt.vertices, verts, atol=1e-5, rtol=0)

    metric = MPTMeshMetric(metric=('mpjpe', 'pa-mpjpe', 'pve'))
    metric.process(params_batch, [p.to_dict() for p in preds])
    res = metric.compute_metrics(metric.results)
    assert all(math.isfinite(v) and v > 0 for v in res.values())


def test_predict_without_labels_and_camera_frame(paths, estimator,
                                                 keypoint_batch):
    batch = dict(inputs=keypoint_batch['inputs'])
    preds = estimator.val_step(batch)
    assert 'gt_instances' not in preds[0]
    with DefaultScope.overwrite_default_scope('mmpose'):
        cam = MODELS.build(_cfg(paths, output_frame='camera')).eval()
    cam.load_state_dict(estimator.state_dict())
    a = estimator.val_step(keypoint_batch)[0]
    b = cam.val_step(keypoint_batch)[0]
    flip = torch.tensor([1.0, -1.0, -1.0])
    torch.testing.assert_close(b.pred_instances.vertices,
                               a.pred_instances.vertices * flip)
    # the GT (AMASS labels: SMPL axes, made camera axes by the
    # preprocessor) follows the output frame: errors do not depend on it
    torch.testing.assert_close(b.gt_instances.joints_h36m,
                               a.gt_instances.joints_h36m * flip)
    torch.testing.assert_close(b.gt_instances.vertices,
                               a.gt_instances.vertices * flip)
    # Key2MeshKeypointsDataset layout: labels under eval_gt, H3.6M joints
    kp3d = torch.randn(4, 17, 3)
    nested = dict(inputs=keypoint_batch['inputs'],
                  data_samples=dict(eval_gt=dict(
                      keypoints3d=list(kp3d),
                      keypoints3d_mask=list(torch.ones(4, 17).bool()))))
    c = cam.val_step(nested)[1]
    torch.testing.assert_close(c.gt_instances.joints_h36m[0],
                               kp3d[1] - kp3d[1, :1])
    assert c.gt_instances.keypoints3d_mask.shape == (1, 17)
    with pytest.raises(ValueError, match='output_frame'):
        Key2MeshEstimator(**{
            k: v
            for k, v in _cfg(paths, output_frame='world').items()
            if k != 'type'
        })


def test_protocol(estimator, keypoint_batch):
    assert isinstance(estimator, DomainAdaptationProtocol)
    assert estimator.da_encoder is estimator.regressor.feature_extractor
    data = estimator.data_preprocessor(keypoint_batch, True)
    feats = estimator(**data, mode='da_features')
    assert feats.shape == (4, 32)
    other = estimator(**data, mode='da_features',
                      encoder=torch.nn.Identity())
    assert other.shape == (4, 36)  # the flattened keypoints
    out = estimator(feats, mode='da_forward_from_features')
    assert out['vertices'].shape == (4, 6890, 3)
    assert out['keypoints3d'].shape == (4, 18, 3)
    ref = estimator(**data, mode='tensor')
    torch.testing.assert_close(out['keypoints3d'], ref['keypoints3d'])

    losses = estimator(**data, mode='da_target_loss', feats=feats)
    assert set(losses) == {'loss_reprojection'}
    assert float(losses['loss_reprojection']) > 0

    # label-free: NaN labels change nothing
    nan_data = dict(inputs=data['inputs'],
                    data_samples=dict(data['data_samples']))
    for key in ('pose_aa', 'betas', 'keypoints3d'):
        nan_data['data_samples'][key] = torch.full_like(
            data['data_samples'][key], float('nan'))
    again = estimator(**nan_data, mode='da_target_loss', feats=feats)
    torch.testing.assert_close(again['loss_reprojection'],
                               losses['loss_reprojection'])
    src = estimator(**data, mode='da_source_loss', feats=feats)
    assert 'loss_keypoints3d' in src
    with pytest.raises(ValueError, match='domain-adaptation mode'):
        estimator.da_forward('da_unknown', data['inputs'])
    with pytest.raises(ValueError, match="mode must be"):
        estimator(**data, mode='features')

    tokens = torch.randn(2, 3, 4)
    assert critic_features(tokens).shape == (2, 12)
    torch.testing.assert_close(critic_features(tokens, 'mean'),
                               tokens.mean(1))
    with pytest.raises(ValueError, match='reduce'):
        critic_features(tokens, 'max')
