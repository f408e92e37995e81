"""Tests for ``MPTFinetuneEstimator`` (images -> pose maps -> MPT head)."""
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope
from torch import nn

from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.models.utils.image_targets import ImageTargetBuilder
from mpt_plugin.models.utils.mesh_targets import attach_targets
from mpt_plugin.registry import MODELS
from ..test_utils.image_samples import packed_samples

TINY_HEAD = dict(type='MPTMeshTransformerHead', input_size=112,
                 embed_dims=(32, 16, 8), hidden_dims=(32, 16, 8),
                 num_layers=1, num_heads=2, attn_drop_rate=0.0,
                 global_feature='flatten')


@MODELS.register_module(force=True)
class _TinyPoseMaps(nn.Module):
    """Stand-in for HRNetPoseFeatureMaps: (B, 3, H, W) -> (B, 17, H/4, W/4).
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 17, 4, stride=4)

    def forward(self, x):
        return self.conv(x)


def _samples(bm_dir, n=4, seed=0):
    """Packed samples with the targets MPTMeshDataPreprocessor attaches:
    half with SMPL (3DPW-like), half keypoints only."""
    samples, verts, joints = packed_samples(bm_dir, n, seed)
    builder = ImageTargetBuilder(dict(
        model_path=bm_dir,
        joints_regressor=osp.join(bm_dir, 'J_regressor_h36m.npy')))
    attach_targets(samples, builder(samples, 112))
    return samples, verts, joints


@pytest.fixture(scope='module')
def setup(synthetic_assets):
    init_default_scope('mmpose')
    bm_dir = osp.join(synthetic_assets, 'body_models')
    cfg = dict(
        type='MPTFinetuneEstimator',
        backbone=dict(type='_TinyPoseMaps'),
        head=TINY_HEAD,
        body_model=dict(model_path=bm_dir,
                        joints_regressor=osp.join(bm_dir,
                                                  'J_regressor_h36m.npy')),
        mesh_sampler=osp.join(bm_dir, 'mesh_downsampling.npz'))
    return bm_dir, cfg


def test_train_step_and_predict(setup):
    torch.manual_seed(0)
    bm_dir, cfg = setup
    model = MODELS.build(cfg)
    model.init_weights()
    samples, _, _ = _samples(bm_dir)
    images = torch.rand(4, 3, 112, 112)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = model(images, samples, mode='loss')
    assert set(losses) == {'loss_vertices', 'loss_joints', 'loss_joints_reg',
                           'loss_joints_proj'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    before = model.backbone.conv.weight.detach().clone()
    total.backward()
    opt.step()
    assert not torch.equal(before, model.backbone.conv.weight)  # end to end

    model.eval()
    with torch.no_grad():
        out = model(images, samples, mode='predict')
    assert out[0].pred_instances.vertices.shape == (1, 6890, 3)
    assert out[0].pred_instances.joints_h36m.shape == (1, 17, 3)
    # 3DPW branch (SMPL) carries GT vertices, H36M branch does not
    assert 'vertices' in out[0].gt_instances
    assert 'vertices' not in out[1].gt_instances
    assert out[1].gt_instances.keypoints3d_mask.shape == (1, 17)


def test_load_from_pretraining_checkpoint_maps_the_head(setup, tmp_path):
    from mmengine.runner import load_checkpoint
    bm_dir, cfg = setup
    pre_cfg = dict(cfg, type='MPTPretrainEstimator')
    del pre_cfg['backbone']
    pretrain = MODELS.build(pre_cfg)
    pretrain.init_weights()
    with torch.no_grad():
        for p in pretrain.head.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    ckpt = tmp_path / 'pretrain.pth'
    torch.save(dict(state_dict=pretrain.state_dict(), meta={}), ckpt)
    model = MODELS.build(cfg)
    model.init_weights()
    backbone_before = model.backbone.conv.weight.detach().clone()
    load_checkpoint(model, str(ckpt), strict=False)
    for (name, p), (_, q) in zip(pretrain.head.state_dict().items(),
                                 model.head.state_dict().items()):
        assert torch.equal(p, q), name
    assert torch.equal(backbone_before, model.backbone.conv.weight)


def test_domain_adaptation_protocol(setup):
    import copy
    torch.manual_seed(0)
    bm_dir, cfg = setup
    model = MODELS.build(cfg)
    model.init_weights()
    samples, _, _ = _samples(bm_dir)
    images = torch.rand(4, 3, 112, 112)
    # target (images through the backbone) and source (MoCap joints) share
    # the token encoder and give tokens of the same shape
    feats_t = model(images, samples, mode='da_features')
    joints = dict(joints_px=torch.rand(4, 17, 2) * 111,
                  joint_weights=torch.ones(4, 17))
    feats_s = model(joints, None, mode='da_features')
    assert feats_t.shape == feats_s.shape == (4, 196, 32)
    assert model.da_critic_input(feats_t).shape == (4, 32)
    # the frozen copy is independent of the adapted encoder
    frozen = copy.deepcopy(model.da_encoder)
    with torch.no_grad():
        model.head.patch_mlp[-1].weight.add_(1.0)
    assert not torch.allclose(frozen(joints), model.da_encoder(joints))
    # the target loss reads no 3D label: 3D labels may be NaN (eval mode,
    # as MPTWGANDomainAdaptation keeps everything but the encoder)
    model.eval()
    loss = model(images, samples, mode='da_target_loss', feats=feats_t)
    for s in samples:
        gi = s.gt_instances
        gi.keypoints3d = torch.full_like(gi.keypoints3d, float('nan'))
        gi.smpl_body_pose = torch.full_like(gi.smpl_body_pose, float('nan'))
    loss_nan = model(images, samples, mode='da_target_loss', feats=feats_t)
    assert set(loss) == {'loss_reprojection'}
    assert torch.isfinite(loss_nan['loss_reprojection'])
    assert torch.equal(loss['loss_reprojection'],
                       loss_nan['loss_reprojection'])
    pred = model(feats_t, None, mode='da_forward_from_features')
    assert pred['vertices'].shape == (4, 6890, 3)


# LSP-14 <- COCO-17, written out by hand (LSP: r/l ankle, knee, hip ...,
# wrists, elbows, shoulders, neck, head top; the last two have no COCO joint)
_LSP_FROM_COCO = [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]


def _expected_detection_loss(model, images, feats, threshold):
    """The re-projection loss against the decoded pose-network detections,
    assembled independently of ``da_target_keypoints``."""
    from mpt_plugin.models.utils.decode_heatmap_keypoints import \
        decode_heatmap_keypoints
    maps = model.extract_feat(images)
    kp, scores = decode_heatmap_keypoints(maps, images.shape[-2:])
    size = images.shape[-1]
    joints = torch.zeros(len(images), 14, 2)
    weights = torch.zeros(len(images), 14)
    joints[:, :12] = (kp[:, _LSP_FROM_COCO] + 0.5) * 2 / size - 1
    weights[:, :12] = (scores[:, _LSP_FROM_COCO] >= threshold).float()
    pred = model.head.forward_tokens(feats)
    loss = model.head.loss_module(pred, dict(
        joints_2d_norm=joints, joints_2d_weights=weights,
        has_2d=weights.any(dim=1), has_mesh=torch.zeros(len(images)),
        has_3d=torch.zeros(len(images))))['loss_joints_proj']
    return loss, weights


def test_da_target_loss_uses_pose_network_detections(setup):
    torch.manual_seed(1)
    bm_dir, cfg = setup
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    assert model.target_keypoints == 'pose_network'
    samples, _, _ = _samples(bm_dir)
    images = torch.rand(4, 3, 112, 112)
    feats = model(images, samples, mode='da_features')
    scores = model._da_detections[1]['scores']
    # a threshold that drops about half of the joints
    model.target_keypoint_threshold = float(scores.median())
    loss = model(images, samples, mode='da_target_loss', feats=feats)
    expected, weights = _expected_detection_loss(
        model, images, feats, model.target_keypoint_threshold)
    assert 0 < weights.sum() < 4 * 12
    assert torch.isfinite(loss['loss_reprojection'])
    torch.testing.assert_close(loss['loss_reprojection'], expected)
    # no 2D field or 2D target of the samples is read: remove them all
    for s in samples:
        for key in ('keypoints2d', 'keypoints2d_visible', 'joints_2d_norm',
                    'joints_2d_weights', 'has_2d'):
            s.gt_instances.pop(key)
    again = model(images, samples, mode='da_target_loss', feats=feats)
    assert torch.equal(again['loss_reprojection'],
                       loss['loss_reprojection'])
    # without a preceding da_features on this tensor, the maps are
    # recomputed (same value); a lower threshold changes the loss
    fresh = model(images.clone(), samples, mode='da_target_loss',
                  feats=feats)
    torch.testing.assert_close(fresh['loss_reprojection'],
                               loss['loss_reprojection'])
    model.target_keypoint_threshold = float('-inf')
    assert not torch.allclose(
        model(images, samples, mode='da_target_loss',
              feats=feats)['loss_reprojection'], loss['loss_reprojection'])
    # the 'annotation' source needs the 2D targets and names them
    model.target_keypoints = 'annotation'
    with pytest.raises(KeyError, match=r"needs the targets \['joints_2d_norm'"
                       r".*MPTMeshDataPreprocessor"):
        model(images, samples, mode='da_target_loss', feats=feats)


def test_da_target_keypoints_annotation_and_bad_options(setup):
    torch.manual_seed(2)
    bm_dir, cfg = setup
    model = MODELS.build(dict(cfg, target_keypoints='annotation'))
    model.init_weights()
    model.eval()
    samples, _, _ = _samples(bm_dir)
    images = torch.rand(4, 3, 112, 112)
    feats = model(images, samples, mode='da_features')
    assert model._da_detections is None  # nothing decoded
    target = model.da_target_keypoints(images, samples)
    kp = torch.stack([s.gt_instances.keypoints2d[0] for s in samples])
    torch.testing.assert_close(target['joints_2d_norm'],
                               (kp[:, H36M_TO_J14] + 0.5) * 2 / 112 - 1)
    gt_loss = model(images, samples, mode='da_target_loss', feats=feats)
    model.target_keypoints = 'pose_network'
    det_loss = model(images, samples, mode='da_target_loss', feats=feats)
    assert not torch.allclose(gt_loss['loss_reprojection'],
                              det_loss['loss_reprojection'])
    with pytest.raises(ValueError, match="target_keypoints must be one of "
                       r"\('pose_network', 'annotation'\), got 'gt'"):
        MODELS.build(dict(cfg, target_keypoints='gt'))
    with pytest.raises(ValueError, match=r'needs the backbone\'s 17 COCO '
                       r'heatmaps \(B, 17, S, S\), got \(4, 16, 28, 28\)'):
        model.decode_pose_keypoints(torch.zeros(4, 16, 28, 28), (112, 112))
