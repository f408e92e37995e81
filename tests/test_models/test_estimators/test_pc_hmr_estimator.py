"""PCHMREstimator: serial / parallel PC-HMR with tiny streams."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.codecs import ImagePoseLifting, VideoPoseLifting
from mmpose.structures import PoseDataSample
from torch import nn

from mpt_plugin.body_models.conventions import H36M_PARENTS
from mpt_plugin.evaluation.metrics.mesh_metric import MPTMeshMetric
from mpt_plugin.geometry.cameras import fit_weak_perspective_camera
from mpt_plugin.geometry.crop import (crop_norm_to_image, get_crop_affine,
                                      px_to_norm)
from mpt_plugin.models.estimators.pc_hmr_estimator import PCHMREstimator
from mpt_plugin.models.utils.pc_hmr_utils import (smpl_skinning_to_h36m,
                                                  soft_argmax_2d,
                                                  to_lifter_sequence)
from mpt_plugin.models.utils.mesh_targets import attach_targets
from mpt_plugin.registry import MODELS

NV = 48  # vertices of the tiny meshes
S = 32  # crop side (pixels) of the tiny images


@MODELS.register_module(force=True)
class PCHMRTestTinyStream(BaseModule):
    """Tiny mesh stream: (B, 12) features or (B, 3, S, S) images -> mesh,
    camera, params and 2D keypoints (the interface of the real streams)."""

    def __init__(self, num_vertices=NV, nan_camera=False, collapse=False):
        super().__init__()
        self.fc = nn.Linear(12, num_vertices * 3 + 3)
        self.kp = nn.Linear(12, 34)
        self.num_vertices = num_vertices
        self.param_dim = 3
        self.nan_camera = nan_camera
        self.collapse = collapse

    def forward(self, inputs, data_samples=None):
        if inputs.dim() == 4:
            inputs = F.adaptive_avg_pool2d(inputs, 2).flatten(1)
        out = self.fc(inputs)
        verts = 0.3 * out[:, :-3].view(-1, self.num_vertices, 3)
        if self.collapse:  # every vertex at one point: zero-length bones
            verts = verts.mean(1, keepdim=True).expand_as(verts)
        cam = torch.cat([1.0 + out[:, -3:-2].abs(), out[:, -2:]], 1)
        if self.nan_camera:
            cam = cam * float('nan')
        return dict(vertices=verts, camera=cam, params=cam,
                    keypoints2d_norm=torch.tanh(self.kp(inputs)).view(
                        -1, 17, 2))


@MODELS.register_module(force=True)
class PCHMRTestTinyBackbone(BaseModule):
    """(B, 3, S, S) -> ((B, 8, S/4, S/4), ) for a tiny top-down model."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=4, padding=1)

    def forward(self, x):
        return (torch.relu(self.conv(x)), )


def _regressor(seed=0):
    rng = np.random.default_rng(seed)
    reg = rng.random((17, NV))
    return reg / reg.sum(1, keepdims=True)


def _lifter(kind='video', kernels=(3, 3)):
    if kind == 'video':
        return dict(
            type='PoseLifter',
            backbone=dict(type='TCN', in_channels=34, stem_channels=16,
                          num_blocks=len(kernels) - 1, kernel_sizes=kernels,
                          dropout=0.0, use_stride_conv=True),
            head=dict(type='TemporalRegressionHead', in_channels=16,
                      num_joints=17, loss=dict(type='MPJPELoss'),
                      decoder=dict(type='VideoPoseLifting', num_keypoints=17,
                                   zero_center=True, root_index=0,
                                   remove_root=False)))
    rng = np.random.default_rng(1)
    return dict(
        type='PoseLifter',
        backbone=dict(type='TCN', in_channels=34, stem_channels=16,
                      num_blocks=2, kernel_sizes=(1, 1, 1), dropout=0.0),
        head=dict(type='TemporalRegressionHead', in_channels=16,
                  num_joints=16, loss=dict(type='MSELoss'),
                  decoder=dict(
                      type='ImagePoseLifting', num_keypoints=17,
                      root_index=0, remove_root=True,
                      keypoints_mean=(S / 2 + rng.random((17, 2))).tolist(),
                      keypoints_std=(S / 4 + rng.random((17, 2))).tolist(),
                      target_mean=(0.1 * rng.random((16, 3))).tolist(),
                      target_std=(0.2 + rng.random((16, 3))).tolist())))


def _tiny_2d_estimator():
    return dict(
        type='TopdownPoseEstimator',
        backbone=dict(type='PCHMRTestTinyBackbone'),
        head=dict(type='HeatmapHead', in_channels=8, out_channels=17,
                  deconv_out_channels=None,
                  loss=dict(type='KeypointMSELoss'),
                  decoder=dict(type='MSRAHeatmap', input_size=(S, S),
                               heatmap_size=(S // 4, S // 4), sigma=2)))


def _model(framework='serial', lifter='video', stream=None, **kwargs):
    init_default_scope('mmpose')
    torch.manual_seed(0)
    # the tiny batches have no camera image: the crop is the lifter's image
    kwargs.setdefault('lifter_input_frame', 'crop')
    model = PCHMREstimator(
        mesh_stream=stream or dict(type='PCHMRTestTinyStream'),
        pose_lifter=_lifter(lifter), framework=framework,
        joints_regressor=_regressor(), input_size=S, **kwargs)
    model.init_weights()
    return model


def _with_targets(samples):
    """Attach the 3D-joint targets ``MPTMeshDataPreprocessor`` builds from
    ``keypoints3d`` (these samples have no SMPL: no mesh target)."""
    kp = torch.cat([s.gt_instances.keypoints3d for s in samples])
    vis = torch.cat([s.gt_instances.keypoints3d_visible for s in samples])
    attach_targets(samples, dict(
        joints_h36m=torch.nan_to_num(kp - kp[:, :1]),
        joints_h36m_weights=vis * (vis[:, :1] > 0)))
    return samples


def _pose_samples(bsz, seed=0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(bsz):
        sample = PoseDataSample(metainfo=dict(img_path=f'img_{i}.jpg'))
        sample.gt_instances = InstanceData(
            keypoints3d=torch.randn(1, 17, 3, generator=gen) * 0.3 +
            torch.tensor([0.0, 0.0, 4.0]),
            keypoints3d_visible=torch.ones(1, 17))
        samples.append(sample)
    return _with_targets(samples)


def _grad_norms(model):
    norms = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            key = name.split('.')[0]
            norms[key] = norms.get(key, 0.0) + float(param.grad.abs().sum())
    return norms


@pytest.mark.parametrize('framework,lifter', [('serial', 'video'),
                                              ('serial', 'image'),
                                              ('parallel', 'video'),
                                              ('parallel', 'image')])
def test_losses_finite_and_gradients_reach_every_module(framework, lifter):
    model = _model(framework, lifter)
    model.train()
    x = torch.randn(4, 12)
    gt_verts = 0.3 * torch.randn(4, NV, 3)
    losses = model(x, dict(vertices=gt_verts), mode='loss')
    assert set(losses) == {'loss_vertices', 'loss_joints', 'loss_pose',
                           'mpjpe_lifter'}
    for value in losses.values():
        assert value.dim() == 0 and torch.isfinite(value)
    assert losses['loss_vertices'] > 0
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    norms = _grad_norms(model)
    for module in ('mesh_stream', 'pose_lifter', 'neck'):
        assert norms.get(module, 0.0) > 0, module
    assert model.lifter_seq_len == (9 if lifter == 'video' else 1)


def test_parallel_with_topdown_2d_estimator():
    model = _model('parallel', pose_estimator_2d=_tiny_2d_estimator())
    images = torch.randn(2, 3, S, S)
    out = model(images, None, mode='tensor')
    assert out['keypoints2d_norm'].shape == (2, 17, 2)
    assert out['keypoints2d_norm'].abs().max() <= 1.0
    losses = model(images, _pose_samples(2), mode='loss')
    # no SMPL in the samples and no body model: no mesh supervision
    assert losses['loss_vertices'] == 0
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    norms = _grad_norms(model)
    for module in ('mesh_stream', 'pose_lifter', 'neck',
                   'pose_estimator_2d'):
        assert norms.get(module, 0.0) > 0, module


def test_lifter_io_matches_mmpose_codecs():
    """Input normalisation, label encoding and decoding are the codecs'."""
    rng = np.random.default_rng(3)
    kp_px = rng.uniform(0, S, (1, 17, 2)).astype(np.float32)
    kp_norm = px_to_norm(torch.from_numpy(kp_px), S)
    target = rng.normal(0, 0.3, (1, 17, 3)).astype(np.float32)
    target -= target[:, :1]
    for kind, codec_cls in (('video', VideoPoseLifting),
                            ('image', ImagePoseLifting)):
        model = _model('serial', kind)
        cfg = dict(_lifter(kind)['head']['decoder'])
        cfg.pop('type')
        codec = codec_cls(**cfg)
        extra = dict(camera_param=dict(w=S, h=S)) if kind == 'video' else {}
        enc = codec.encode(kp_px, lifting_target=target, **extra)
        x = model.encode_lifter_input(
            *model.lifter_input_pixels(kp_norm))
        seq = to_lifter_sequence(x, 1)
        ours = seq.permute(0, 2, 3, 1).reshape(1, 34, 1)
        assert np.allclose(ours[0].numpy(), enc['keypoint_labels'],
                           atol=1e-5)
        label, weight = model.encode_lifter_target(
            torch.from_numpy(target), torch.ones(1, 17))
        assert np.allclose(label.numpy(), enc['lifting_target_label'],
                           atol=1e-5)
        assert weight.shape == (1, 16 if kind == 'image' else 17)
        decoded, _ = codec.decode(enc['lifting_target_label'],
                                  target_root=np.zeros((1, 3), np.float32))
        ours = model.decode_lifter_output(label)
        assert np.allclose(ours.numpy(), decoded, atol=1e-5)


def test_receptive_field_and_single_frame_replication():
    model = PCHMREstimator(
        mesh_stream=dict(type='PCHMRTestTinyStream'),
        pose_lifter=_lifter('video', kernels=(3, 3, 3, 3, 3)),
        joints_regressor=_regressor(), input_size=S)
    assert model.lifter_seq_len == 243
    model.eval()
    kp = torch.rand(2, 17, 2) * 2 - 1
    with torch.no_grad():
        single = model.lift(kp)
        as_seq = model.lift(kp[:, None])  # T = 1: edge replication
        static = model.lift(kp[:, None].expand(-1, 243, -1, -1))
    assert single.shape == (2, 17, 3)
    assert torch.allclose(single, as_seq) and torch.allclose(single, static)
    seq = torch.arange(5.0).view(1, 5, 1, 1)
    assert to_lifter_sequence(seq, 9)[0, :, 0, 0].tolist() == \
        [0, 0, 0, 1, 2, 3, 4, 4, 4]
    assert to_lifter_sequence(seq, 7, causal=True)[0, :, 0, 0].tolist() == \
        [0, 0, 0, 1, 2, 3, 4]
    assert to_lifter_sequence(seq, 3)[0, :, 0, 0].tolist() == [1, 2, 3]


def test_paramwise_learning_rates():
    model = _model('parallel', pose_estimator_2d=_tiny_2d_estimator())
    optim = build_optim_wrapper(
        model,
        dict(optimizer=dict(type='Adam', lr=1e-3),
             paramwise_cfg=dict(custom_keys={
                 'mesh_stream': dict(lr_mult=0.01),
                 'pose_lifter': dict(lr_mult=0.01),
                 'pose_estimator_2d': dict(lr_mult=0.01),
                 'neck': dict(lr_mult=1.0)
             })))
    ids = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in optim.optimizer.param_groups:
        for param in group['params']:
            name = ids[id(param)]
            seen.add(name)
            expected = 1e-3 if name.startswith('neck.') else 1e-5
            assert group['lr'] == pytest.approx(expected), name
    assert seen == set(ids.values())
    assert {'neck.A', 'neck.W'} <= seen


def test_predict_outputs_and_mesh_metric():
    model = _model('serial')
    model.eval()
    samples = _pose_samples(3)
    with torch.no_grad():
        results = model(torch.randn(3, 12), samples, mode='predict')
    assert len(results) == 3 and results[0] is samples[0]
    pred = results[0].pred_instances
    assert pred.vertices.shape == (1, NV, 3)
    assert pred.vertices_uncalibrated.shape == (1, NV, 3)
    assert pred.joints_h36m.shape == (1, 17, 3)
    assert pred.joints_target.shape == (1, 17, 3)
    assert pred.camera.shape == (1, 3)
    assert torch.allclose(pred.joints_h36m[:, 0], torch.zeros(1, 3),
                          atol=1e-6)  # pelvis-centred
    reg = torch.as_tensor(_regressor(), dtype=torch.float32)
    assert torch.allclose(reg @ pred.vertices[0], pred.joints_h36m[0],
                          atol=1e-5)
    gt = results[0].gt_instances
    assert torch.allclose(gt.joints_h36m[0],
                          gt.keypoints3d[0] - gt.keypoints3d[0, :1])
    assert gt.keypoints3d_mask.shape == (1, 17)
    metric = MPTMeshMetric(metric=('mpjpe', 'pa-mpjpe'))
    metric.process(None, [r.to_dict() for r in results])
    values = metric.compute_metrics(metric.results)
    assert np.isfinite(values['MPJPE']) and values['MPJPE'] > 0
    # stream-format batches get new samples with the stream's GT
    with torch.no_grad():
        out = model(torch.randn(2, 12),
                    dict(vertices=torch.randn(2, NV, 3)), mode='predict')
    assert out[0].gt_instances.vertices.shape == (1, NV, 3)
    assert torch.allclose(out[0].gt_instances.joints_h36m[0, 0],
                          torch.zeros(3), atol=1e-6)


def test_degenerate_inputs():
    model = _model('serial')
    samples = _pose_samples(2)
    # an invisible NaN joint is ignored (weight 0, no NaN gradient; a
    # visible one is refused by the target builder, test_image_targets)
    samples[1].gt_instances.keypoints3d[0, 5, 1] = float('nan')
    samples[1].gt_instances.keypoints3d_visible[0, 5] = 0
    _with_targets(samples)
    losses = model(torch.randn(2, 12), samples, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)
    # NaN 2D input -> NaN target joints: a clear error
    bad = _model('serial', stream=dict(type='PCHMRTestTinyStream',
                                       nan_camera=True))
    with pytest.raises(ValueError, match='non-finite target joints'):
        bad(torch.randn(2, 12), _pose_samples(2), mode='loss')
    # collapsed mesh (zero-length source bones): the neck's fallback
    # (identity rotation, no stretch) keeps everything finite
    flat = _model('serial', stream=dict(type='PCHMRTestTinyStream',
                                        collapse=True))
    out = flat(torch.randn(2, 12), None, mode='tensor')
    assert torch.isfinite(out['vertices']).all()
    losses = flat(torch.randn(2, 12), _pose_samples(2), mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(torch.isfinite(p.grad).all() for p in flat.parameters()
               if p.grad is not None)


def test_bad_configs():
    with pytest.raises(ValueError, match='framework'):
        _model('cascade')
    with pytest.raises(ValueError, match='parallel framework'):
        _model('serial', pose_estimator_2d=_tiny_2d_estimator())
    with pytest.raises(KeyError, match='loss_weights'):
        _model('serial', loss_weights=dict(mesh=1.0))
    with pytest.raises(ValueError, match=r'\(17, V\)'):
        PCHMREstimator(mesh_stream=dict(type='PCHMRTestTinyStream'),
                       pose_lifter=_lifter(),
                       joints_regressor=np.ones((14, NV)))
    with pytest.raises(KeyError, match='regressor'):
        PCHMREstimator(mesh_stream=dict(type='PCHMRTestTinyStream'),
                       pose_lifter=_lifter())
    model = _model('parallel')
    with pytest.raises(KeyError, match=r'no targets in the batch .*MPTMeshDataPreprocessor for image samples'):
        model(torch.randn(2, 12), None, mode='loss')


def test_geometry_helpers():
    # soft-argmax of a sharp peak at (x=5, y=2)
    heat = torch.zeros(1, 1, 8, 8)
    heat[0, 0, 2, 5] = 1.0
    coords, scores = soft_argmax_2d(heat, beta=100.0)
    assert torch.allclose(coords, torch.tensor([[[5.0, 2.0]]]), atol=1e-3)
    assert scores.item() == 1.0
    # exact weak-perspective camera from a noiseless projection
    pts = torch.randn(3, 17, 3)
    cam = torch.tensor([[1.2, 0.1, -0.2], [0.8, 0.0, 0.3], [2.0, -0.5, 0.]])
    proj = cam[:, None, :1] * (pts[..., :2] + cam[:, None, 1:])
    weights = torch.ones(3, 17)
    weights[:, 3] = 0
    proj[:, 3] += 10.0  # an outlier with zero weight is ignored
    assert torch.allclose(fit_weak_perspective_camera(pts, proj, weights),
                          cam, atol=1e-4)
    # SMPL skinning -> H3.6M joints keeps rows summing to 1 and swaps legs
    skin = np.random.default_rng(0).dirichlet(np.ones(24), size=10)
    left = smpl_skinning_to_h36m(skin, 'h36m')
    right = smpl_skinning_to_h36m(skin, 'h36m_mmpose')
    assert np.allclose(left.sum(1), 1.0)
    assert np.allclose(left[:, 1], skin[:, 1]) and \
        np.allclose(right[:, 4], skin[:, 1])  # SMPL left hip
    assert len(H36M_PARENTS) == 17 and H36M_PARENTS[0] == -1


# ----------------------------------------------------------- video / image
IMG_W, IMG_H = 1000, 1002  # a Human3.6M camera image


def _image_samples(bsz, seq_len=None, seed=0):
    """Image samples as MPTMeshAffine + PackMesh(Sequence)Inputs make them:
    ``crop_affine`` / ``ori_shape`` metainfo, optional 2D windows in
    original-image px."""
    rng = np.random.default_rng(seed)
    samples = _pose_samples(bsz, seed)
    for sample in samples:
        centre = rng.uniform(300, 700, 2)
        affine = get_crop_affine(centre, rng.uniform(200, 400),
                                 rng.uniform(-30, 30), S)
        sample.set_metainfo(dict(crop_affine=affine.astype(np.float32),
                                 ori_shape=(IMG_H, IMG_W)))
        if seq_len is not None:
            seq = rng.uniform(0, IMG_W, (1, seq_len, 17, 2))
            sample.gt_instances.keypoints2d_seq = torch.tensor(
                seq, dtype=torch.float32)
    return samples


def test_image_frame_input_is_what_the_stock_codecs_feed():
    """lifter_input_frame='image': crop 2D -> original px -> codec."""
    samples = _image_samples(2)
    rng = np.random.default_rng(5)
    kp_img = rng.uniform(0, IMG_W, (2, 17, 2)).astype(np.float32)
    affine = np.stack([s.metainfo['crop_affine'] for s in samples])
    crop_px = np.einsum('bij,bkj->bki', affine[:, :, :2], kp_img) + \
        affine[:, None, :, 2]
    kp_norm = px_to_norm(torch.from_numpy(crop_px), S)
    for kind, codec_cls in (('video', VideoPoseLifting),
                            ('image', ImagePoseLifting)):
        model = _model('parallel', kind, lifter_input_frame='image')
        px, wh = model.lifter_input_pixels(kp_norm, samples)
        assert torch.allclose(px, torch.from_numpy(kp_img), atol=1e-2)
        assert wh.tolist() == [[IMG_W, IMG_H]] * 2
        cfg = dict(_lifter(kind)['head']['decoder'])
        cfg.pop('type')
        codec = codec_cls(**cfg)
        ours = model.encode_lifter_input(px, wh)
        for i in range(2):
            extra = (dict(camera_param=dict(w=IMG_W, h=IMG_H))
                     if kind == 'video' else {})
            enc = codec.encode(kp_img[i:i + 1],
                               lifting_target=np.ones((1, 17, 3)), **extra)
            theirs = enc['keypoint_labels'].reshape(17, 2)
            assert np.allclose(ours[i].numpy(), theirs, atol=1e-4)
    # image normalisation is by the image, not the crop
    model = _model('parallel', 'video', lifter_input_frame='image')
    by_image = model.encode_lifter_input(*model.lifter_input_pixels(
        kp_norm, samples))
    assert not torch.allclose(by_image, kp_norm, atol=1e-2)
    with pytest.raises(KeyError, match="lifter_input_frame='image' needs "
                       'image samples'):
        model.lifter_input_pixels(kp_norm, _pose_samples(2))
    with pytest.raises(ValueError, match='lifter_input_frame must be one'):
        _model(lifter_input_frame='screen')


def test_video_path_lifts_the_real_window():
    """The lifter reads the T frames of the window, normalised by the image
    size as VideoPoseLifting encodes a sequence."""
    model = _model('parallel', 'video', lifter_input_frame='image')
    assert model.lifter_seq_len == 9
    model.eval()
    samples = _image_samples(2, seq_len=9)
    x = torch.randn(2, 12)
    with torch.no_grad():
        out = model(x, samples, mode='tensor')
    assert out['lifter_input'].shape == (2, 9, 17, 2)
    codec = VideoPoseLifting(num_keypoints=17, zero_center=True)
    for i in range(2):
        seq = samples[i].gt_instances.keypoints2d_seq[0].numpy()
        enc = codec.encode(seq, lifting_target=np.ones((1, 17, 3)),
                           camera_param=dict(w=IMG_W, h=IMG_H))
        ours = out['lifter_input'][i].permute(1, 2, 0).reshape(34, 9)
        assert np.allclose(ours.numpy(), enc['keypoint_labels'], atol=1e-5)
    # the centre frame, back in the crop frame, is the exposed 2D pose
    affine = torch.stack([torch.from_numpy(s.metainfo['crop_affine'])
                          for s in samples])
    back = crop_norm_to_image(out['keypoints2d_norm'], affine, S)
    centre = torch.cat([s.gt_instances.keypoints2d_seq[:, 4]
                        for s in samples])
    assert torch.allclose(back, centre, atol=1e-2)
    # a frame away from the centre changes the lift: it is a real video
    moved = _image_samples(2, seq_len=9)
    for sample in moved:
        sample.gt_instances.keypoints2d_seq[:, 0] += 150.0
    with torch.no_grad():
        out2 = model(x, moved, mode='tensor')
    assert not torch.allclose(out['joints_target'], out2['joints_target'])
    # and it trains: gradients reach every module
    model.train()
    losses = model(x, _image_samples(2, seq_len=9), mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    norms = _grad_norms(model)
    for module in ('mesh_stream', 'pose_lifter', 'neck'):
        assert norms.get(module, 0.0) > 0, module


def test_video_path_refusals():
    x = torch.randn(2, 12)
    with pytest.raises(ValueError, match='serial framework lifts the mesh '
                       "stream's own 2D pose"):
        _model('serial', 'video', lifter_input_frame='image')(
            x, _image_samples(2, seq_len=9), mode='tensor')
    with pytest.raises(ValueError, match='pose_estimator_2d sees the centre '
                       'image only'):
        _model('parallel', pose_estimator_2d=_tiny_2d_estimator(),
               lifter_input_frame='image')(torch.randn(2, 3, S, S),
                                           _image_samples(2, seq_len=9),
                                           mode='tensor')
    with pytest.raises(ValueError, match=r'carry 7-frame windows, the '
                       r"lifter's receptive field is 9"):
        _model('parallel', lifter_input_frame='image')(
            x, _image_samples(2, seq_len=7), mode='tensor')
    with pytest.raises(ValueError, match="set lifter_input_frame='image'"):
        _model('parallel')(x, _image_samples(2, seq_len=9), mode='tensor')
    mixed = _image_samples(2, seq_len=9)
    del mixed[1].gt_instances.keypoints2d_seq
    with pytest.raises(KeyError, match='in some samples of the batch only'):
        _model('parallel', lifter_input_frame='image')(x, mixed,
                                                       mode='tensor')
