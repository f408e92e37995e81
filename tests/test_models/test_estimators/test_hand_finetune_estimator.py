"""MPT hand fine-tuning on images: pose maps -> two-level head, targets from
the GT mesh, and the released code's test-time augmentation."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.models.estimators.hand_finetune_estimator import (
    RELEASED_TTA, MPTHandFinetuneEstimator)
from mpt_plugin.registry import MODELS

SIZE = 64


def _model(assets, tta=None):
    init_default_scope('mmpose')
    bm = assets / 'body_models'
    hand_model = dict(model_path=str(bm))
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='MPTHandFinetuneEstimator',
        data_preprocessor=dict(type='MPTMeshDataPreprocessor',
                               hand_model=hand_model,
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='MPTHRNetPoseFeatureMaps', arch='hrnetv2_w18',
                      head_type='topdown', num_keypoints=21,
                      output_size=32, freeze=False),
        head=dict(type='MPTMeshTransformerHead', in_channels=21,
                  input_size=32, num_joints=21, num_vertices=(195, 778),
                  embed_dims=(32, 16, 8), hidden_dims=(32, 16, 8),
                  num_layers=1, num_heads=2, attn_drop_rate=0.0,
                  mvm_ratio=0.0,
                  loss=dict(type='MPTMeshLoss',
                            vertex_level_weights=(0.5, 0.5),
                            joints_criterion='mse', coord_reduction='mean',
                            joints_root_indices=(0, ))),
        hand_model=hand_model, mesh_sampler=str(bm / 'mano_downsampling.npz'),
        test_cfg=None if tta is None else dict(tta=tta)))


def _batch(bsz=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(bsz):
        kp3d = torch.randn(1, 21, 3, generator=g) * 0.03
        kp3d[..., 2] += 0.5
        verts = torch.randn(1, 778, 3, generator=g) * 0.03
        verts[..., 2] += 0.5
        samples.append(PoseDataSample(gt_instances=InstanceData(
            keypoints2d=torch.rand(1, 21, 2, generator=g) * SIZE,
            keypoints2d_visible=torch.ones(1, 21),
            keypoints3d=kp3d, keypoints3d_visible=torch.ones(1, 21),
            vertices=verts, has_mesh=torch.ones(1))))
    images = torch.randint(0, 255, (bsz, 3, SIZE, SIZE), generator=g,
                           dtype=torch.uint8)
    return dict(inputs=list(images), data_samples=samples)


def test_targets_loss_and_predictions(synthetic_assets):
    model = _model(synthetic_assets)
    data = model.data_preprocessor(_batch(), training=True)
    gt = data['data_samples'][0].gt_instances
    # wrist-centred targets from the packed GT, camera axes kept
    torch.testing.assert_close(gt.joints_3d[0, 0], torch.zeros(3))
    losses = model(**data, mode='loss')
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    # fine-tuned end to end: the pose network gets gradients too
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(seed=1), training=False)
        out = model(**data, mode='predict')
    pred = out[0].pred_instances
    assert pred.vertices.shape == (1, 778, 3)
    assert pred.joints_freihand.shape == (1, 21, 3)
    assert out[0].gt_instances.joints_freihand.shape == (1, 21, 3)


def test_variant_grid_zooms_and_turns():
    x = torch.arange(16.).view(1, 1, 4, 4)
    turned = F.grid_sample(x, MPTHandFinetuneEstimator._variant_grid(
        1.0, 90.0, x, 1), align_corners=False)
    # content turned 90 degrees clockwise as displayed (y down)
    torch.testing.assert_close(turned, torch.rot90(x, -1, (2, 3)))
    same = F.grid_sample(x, MPTHandFinetuneEstimator._variant_grid(
        1.0, 0.0, x, 1), align_corners=False)
    torch.testing.assert_close(same, x)
    zoom = F.grid_sample(torch.arange(64.).view(1, 1, 8, 8),
                         MPTHandFinetuneEstimator._variant_grid(
                             0.5, 0.0, x, 1), align_corners=False)
    assert zoom.shape == (1, 1, 4, 4)
    # a half-side crop about the centre reads the central 4 x 4 pixels
    # (bilinear at their centres' positions)
    assert 18 <= zoom.min() and zoom.max() <= 45


def test_tta_reference_only_equals_plain_prediction(synthetic_assets):
    plain = _model(synthetic_assets).eval()
    tta = _model(synthetic_assets,
                 tta=dict(scales=(1.0, ), rotations=(0, ))).eval()
    tta.load_state_dict(plain.state_dict())
    data = plain.data_preprocessor(_batch(), training=False)
    with torch.no_grad():
        a = plain(**data, mode='predict')
        b = tta(**data, mode='predict')
    for sa, sb in zip(a, b):
        torch.testing.assert_close(sa.pred_instances.vertices,
                                   sb.pred_instances.vertices, atol=1e-5,
                                   rtol=0)


def test_tta_grid_averages_aligned_variants(synthetic_assets):
    model = _model(synthetic_assets, tta=dict(
        scales=(0.9, 1.0), rotations=(-20, 0, 20), batch_variants=4)).eval()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    out = model.predict_tta(inputs)
    assert out['vertices'].shape == (2, 778, 3)
    assert out['joints'].shape == (2, 21, 3)
    plain = model.head.predict(model.extract_feat(inputs))
    torch.testing.assert_close(out['camera'], plain['camera'])
    # the average of the aligned variants stays close to the reference
    # (every variant is mapped onto it by a similarity transform)
    err = (out['vertices'] - plain['vertices']).norm(dim=-1).mean()
    spread = (plain['vertices'] -
              plain['vertices'].mean(1, keepdim=True)).norm(dim=-1).mean()
    assert err < spread
    assert len(RELEASED_TTA['scales']) * len(RELEASED_TTA['rotations']) == 95
    with pytest.raises(ValueError, match='scale 1 and rotation 0'):
        _model(synthetic_assets, tta=dict(scales=(0.9, ), rotations=(0, )))
    with pytest.raises(ValueError, match='positive scales'):
        _model(synthetic_assets, tta=dict(scales=(), rotations=(0, )))
