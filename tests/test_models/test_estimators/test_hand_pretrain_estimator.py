"""MPT hand pre-training: MANO hands posed on the device -> 21 heatmap joints
-> two-level head -> hand losses and FreiHAND-metric predictions."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mpt_plugin.body_models import MPTMANO, MeshSampler
from mpt_plugin.evaluation.metrics import MPTFreiHANDMetric
from mpt_plugin.registry import MODELS

HEATMAP = 64


def _model(assets, **head_kwargs):
    init_default_scope('mmpose')
    bm = assets / 'body_models'
    hand_model = dict(model_path=str(bm), is_rhand=True)
    head = dict(
        type='MPTMeshTransformerHead', in_channels=21, input_size=HEATMAP,
        num_joints=21, num_vertices=(195, 778), embed_dims=(32, 16, 8),
        hidden_dims=(32, 16, 8), num_layers=1, num_heads=2,
        attn_drop_rate=0.0, mvm_ratio=0.0,
        loss=dict(type='MPTMeshLoss', vertex_level_weights=(0.5, 0.5),
                  joints_criterion='mse', coord_reduction='mean',
                  joints_root_indices=(0, )))
    head.update(head_kwargs)
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='MPTHandPretrainEstimator',
        data_preprocessor=dict(type='MPTMoCapDataPreprocessor',
                               num_joints=21, heatmap_size=HEATMAP,
                               hand_model=hand_model),
        head=head, hand_model=hand_model,
        mesh_sampler=str(bm / 'mano_downsampling.npz')))


def _batch(bsz=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(bsz, generator=g) * 2 * np.pi
    rot = torch.zeros(bsz, 3, 3)
    rot[:, 0, 0] = torch.cos(angle)
    rot[:, 0, 2] = torch.sin(angle)
    rot[:, 1, 1] = 1
    rot[:, 2, 0] = -torch.sin(angle)
    rot[:, 2, 2] = torch.cos(angle)
    # world-to-camera rotation about y; camera 0.6 m away along its axis
    forward = rot[:, :, 2]
    return dict(
        inputs=dict(hand_pose=torch.randn(bsz, 45, generator=g) * 0.3,
                    betas=torch.randn(bsz, 10, generator=g)),
        data_samples=dict(cam_R=rot, cam_T=-0.6 * forward,
                          cam_f=torch.full((bsz, 2), 373.35),
                          cam_c=torch.full((bsz, 2), 128.0)))


def test_targets_are_wrist_centred_camera_hands(synthetic_assets):
    model = _model(synthetic_assets)
    data = model.data_preprocessor(_batch(), training=False)
    samples = data['data_samples']
    joints = samples['joints_3d']
    assert joints.shape == (4, 21, 3) and samples['vertices'].shape == (
        4, 778, 3)
    torch.testing.assert_close(joints[:, 0], torch.zeros(4, 3))
    # the targets' joints are the model's regressor on the targets' mesh
    torch.testing.assert_close(
        torch.einsum('jv,bvc->bjc', model.joint_regressor,
                     samples['vertices']), joints, atol=1e-6, rtol=0)
    # the network's 21 heatmap joints fill the crop (padding 1.2)
    px = data['inputs']['joints_px']
    assert px.shape == (4, 21, 2)
    assert (px > -0.5).all() and (px < HEATMAP - 0.5).all()
    norm = samples['joints_2d_norm']
    assert norm.abs().max() <= 1.0
    # the weak-perspective projection of the 3D joints (x right, y down)
    # has the same layout as the 2D target up to scale and shift
    centred_3d = joints[..., :2] - joints[..., :2].mean(1, keepdim=True)
    centred_2d = norm - norm.mean(1, keepdim=True)
    cos = (centred_3d * centred_2d).sum((1, 2)) / (
        centred_3d.norm(dim=(1, 2)) * centred_2d.norm(dim=(1, 2)))
    assert (cos > 0.95).all()


def test_template_loss_and_predictions(synthetic_assets):
    model = _model(synthetic_assets)
    head = model.head
    bm = synthetic_assets / 'body_models'
    mean_hand = MPTMANO(str(bm), flat_hand_mean=False)()['vertices'][0]
    wrist = model.joint_regressor[0] @ mean_hand
    sampler = MeshSampler.from_file(str(bm / 'mano_downsampling.npz'))
    torch.testing.assert_close(
        head.template_vertices,
        sampler.downsample((mean_hand - wrist)[None], 0, 1)[0])
    assert head.template_joints.shape == (21, 3)
    torch.testing.assert_close(head.template_joints[0], torch.zeros(3))
    # the upsampling layer starts as the sampler's U (778 x 195)
    torch.testing.assert_close(head.upsample_full.weight,
                               sampler.dense_upsampling_matrices()[0])

    data = model.data_preprocessor(_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_vertices', 'loss_joints', 'loss_joints_reg',
                           'loss_joints_proj'}
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert head.query_proj.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(seed=1), training=False)
        results = model(**data, mode='predict')
    assert len(results) == 4
    pred, gt = results[0].pred_instances, results[0].gt_instances
    assert pred.vertices.shape == (1, 778, 3)
    assert pred.joints_freihand.shape == (1, 21, 3)
    assert gt.joints_freihand.shape == (1, 21, 3)
    metric = MPTFreiHANDMetric(metrics=('pa-mpjpe', 'pa-mpvpe'))
    metric.dataset_meta = {}
    metric.process({}, [r.to_dict() for r in results])
    out = metric.compute_metrics(metric.results)
    assert all(np.isfinite(v) and v > 0 for v in out.values())


def test_configuration_errors(synthetic_assets):
    bm = synthetic_assets / 'body_models'
    with pytest.raises(ValueError, match='num_joints'):
        MODELS.build(dict(type='MPTMoCapDataPreprocessor', num_joints=17,
                          hand_model=dict(model_path=str(bm))))
    with pytest.raises(ValueError, match='not both'):
        MODELS.build(dict(type='MPTMoCapDataPreprocessor', num_joints=21,
                          hand_model=dict(model_path=str(bm)),
                          body_model=dict(model_path=str(bm))))
    with pytest.raises(ValueError, match='two mesh levels'):
        _model(synthetic_assets, num_vertices=(195, 400, 778))
    model = _model(synthetic_assets)
    with pytest.raises(KeyError, match='hand_model'):
        model(inputs=dict(joints_px=torch.zeros(1, 21, 2)),
              data_samples=dict(), mode='loss')


def test_hand_layer_is_not_kept_as_a_submodule(synthetic_assets):
    """The MANO layer builds the template and the regressor once; the
    estimator keeps its faces, not the layer."""
    model = _model(synthetic_assets)
    # (the data preprocessor poses the GT hands with its own layer)
    assert [name for name, m in model.named_modules()
            if isinstance(m, MPTMANO)] == ['data_preprocessor.targets.'
                                            'body_model']
    assert model.faces.shape == (1538, 3)
    assert not any(k.startswith('_mano') for k in model.state_dict())
