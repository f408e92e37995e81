"""Tests for ``MPTFinetuneEstimator`` (images -> pose maps -> MPT head)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import nn

from mpt_plugin.body_models import MPTGenderedSMPL
from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.registry import MODELS

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
    """Packed samples: half with SMPL (3DPW-like), half keypoints only."""
    rng = np.random.default_rng(seed)
    smpl = MPTGenderedSMPL(bm_dir)
    pose = torch.as_tensor(rng.normal(scale=0.2, size=(n, 69)),
                           dtype=torch.float32)
    orient = torch.tensor([[np.pi, 0., 0.]] * n)  # upright in camera axes
    betas = torch.as_tensor(rng.normal(size=(n, 10)), dtype=torch.float32)
    gender = torch.tensor([0, 1, -1, 0])[:n]
    out = smpl(betas=betas, body_pose=pose, global_orient=orient,
               gender=gender)
    reg = torch.as_tensor(np.load(osp.join(bm_dir, 'J_regressor_h36m.npy')),
                          dtype=torch.float32)
    joints = torch.einsum('jv,bvc->bjc', reg, out['vertices'])
    samples = []
    for i in range(n):
        has_smpl = float(i % 2 == 0)
        kp3d = joints[i] + torch.tensor([0., 0., 3.])
        kp2d = kp3d[:, :2] / kp3d[:, 2:] * 200 + 56
        s = PoseDataSample(metainfo=dict(img_path=f'img{i}.jpg'))
        s.gt_instances = InstanceData(
            keypoints2d=kp2d[None], keypoints2d_visible=torch.ones(1, 17),
            keypoints3d=kp3d[None],
            keypoints3d_visible=torch.full((1, 17), 1. - has_smpl),
            smpl_global_orient=orient[i:i + 1],
            smpl_body_pose=pose[i:i + 1], smpl_betas=betas[i:i + 1],
            has_smpl=torch.tensor([has_smpl]),
            gender=gender[i:i + 1])
        samples.append(s)
    return samples, out['vertices'], joints


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


def test_gather_gt_uses_the_right_source(setup):
    bm_dir, cfg = setup
    model = MODELS.build(cfg)
    samples, verts, joints = _samples(bm_dir)
    gt = model.gather_gt(samples, 112)
    assert gt['has_mesh'].tolist() == [True, False, True, False]
    # GT meshes of SMPL samples: the gendered model's, pelvis-centred
    for i in (0, 2):
        expected = verts[i] - joints[i, :1]
        torch.testing.assert_close(gt['vertices'][i], expected,
                                   atol=1e-5, rtol=0)
    # 3D joints: regressed from the mesh (keypoints3d invisible) or the
    # keypoints centred on their pelvis
    for i in range(4):
        torch.testing.assert_close(gt['joints_h36m'][i],
                                   joints[i] - joints[i, :1], atol=1e-5,
                                   rtol=0)
    assert gt['has_3d'].all() and gt['has_2d'].all()
    assert gt['joints_3d'].shape == (4, 14, 3)
    # 2D: crop px with pixel centres at integers -> [-1, 1]
    kp = samples[1].gt_instances.keypoints2d[0, H36M_TO_J14]
    torch.testing.assert_close(gt['joints_2d_norm'][1],
                               (kp + 0.5) * 2 / 112 - 1)


def test_missing_and_bad_fields_are_named(setup):
    bm_dir, cfg = setup
    model = MODELS.build(cfg)
    samples, _, _ = _samples(bm_dir, n=2)
    del samples[1].gt_instances['smpl_betas']
    with pytest.raises(KeyError, match='smpl_betas'):
        model.gather_gt(samples, 112)
    samples, _, _ = _samples(bm_dir, n=2)
    for s in samples:
        s.gt_instances.keypoints3d = s.gt_instances.keypoints3d[:, :14]
        s.gt_instances.keypoints3d_visible = torch.ones(1, 14)
    with pytest.raises(ValueError, match="convention='h36m'"):
        model.gather_gt(samples, 112)


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
    # the target loss reads 2D keypoints only: 3D labels may be NaN (eval
    # mode, as WGANDomainAdaptation keeps everything but the encoder)
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
