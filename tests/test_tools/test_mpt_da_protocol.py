"""The MPT domain-adaptation configs are label-free on the target domain.

``configs/mpt_da_h36m.py`` (built through its CPU-sized child
``configs/mpt_da_demo.py``: same model type and options, tiny sizes) must
re-project onto the frozen pose network's own detections, never onto the
target's 2D ground truth; its schedule and pairing are Key2Mesh's.
"""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.models.utils.decode_heatmap_keypoints import \
    decode_heatmap_keypoints
from mpt_plugin.models.utils.mesh_targets import attach_targets
from mpt_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# LSP-14 <- COCO-17 by hand (neck, head top: no COCO joint)
LSP_FROM_COCO = [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]
# LSP-14 <- the 17 H3.6M joints (mmhuman3d's H36M_TO_J14)
LSP_FROM_H36M = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]


def test_h36m_config_schedule_pairing_and_target_source():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_da_h36m.py'))
    assert cfg.model.estimator.target_keypoints == 'pose_network'
    assert cfg.model.estimator.target_keypoint_threshold == 0.1
    # Key2Mesh: 5 epochs, StepLR x0.8 per epoch on the adapted extractor,
    # critic constant; 32 per GPU x 8 GPUs = 256 per domain
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.param_scheduler.estimator == [
        dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.8)]
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.estimator.optimizer.lr == 1e-4
    # the pairing is redrawn every epoch by the hook, which needs
    # non-persistent workers
    assert cfg.train_dataloader.dataset.pairing == 'random'
    assert cfg.train_dataloader.persistent_workers is False
    for name in ('mpt_da_h36m', 'mpt_da_demo'):
        c = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
        assert dict(type='MPTDatasetEpochHook') in c.custom_hooks, name
        assert c.model.estimator.target_keypoints == 'pose_network', name


def _target_batch(n=2, size=128, seed=0):
    """Normalised crops and packed samples whose 2D GT is NOT where the
    pose network puts the joints (uniform in the crop)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, size, size, generator=gen)
    samples = []
    for i in range(n):
        s = PoseDataSample(metainfo=dict(img_path=f'h36m_{i}.jpg'))
        s.gt_instances = InstanceData(
            keypoints2d=torch.rand(1, 17, 2, generator=gen) * (size - 1),
            keypoints2d_visible=torch.ones(1, 17),
            keypoints3d=torch.full((1, 17, 3), float('nan')),
            keypoints3d_visible=torch.ones(1, 17),
            smpl_global_orient=torch.full((1, 3), float('nan')),
            smpl_body_pose=torch.full((1, 69), float('nan')),
            smpl_betas=torch.full((1, 10), float('nan')),
            has_smpl=torch.ones(1), gender=torch.zeros(1, dtype=torch.long))
        samples.append(s)
    return images, samples


def _reprojection(est, feats, joints_px, weights, size):
    pred = est.head.forward_tokens(feats)
    zeros = torch.zeros(len(joints_px))
    return est.head.loss_module(pred, dict(
        joints_2d_norm=(joints_px + 0.5) * 2 / size - 1,
        joints_2d_weights=weights, has_2d=weights.any(dim=1),
        has_mesh=zeros, has_3d=zeros))['loss_joints_proj']


def test_da_config_reprojects_onto_detections_not_2d_labels(
        synthetic_assets):
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_da_demo.py'))
    bm = str(synthetic_assets / 'body_models')
    cfg.model.estimator.body_model.model_path = bm
    cfg.model.estimator.body_model.joints_regressor = \
        f'{bm}/J_regressor_h36m.npy'
    cfg.model.estimator.mesh_sampler = f'{bm}/mesh_downsampling.npz'
    for pre in (cfg.model.data_preprocessor.source,
                cfg.model.estimator.data_preprocessor):
        pre.body_model.update(model_path=bm,
                              joints_regressor=f'{bm}/J_regressor_h36m.npy')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)  # random weights (no init_weights)
    model.train()  # MPTWGANDomainAdaptation: estimator in eval mode
    est = model.estimator
    assert type(est.backbone).__name__ == 'MPTHRNetPoseFeatureMaps'
    assert est.backbone.head_type == 'higherhrnet'
    assert not est.training and not est.backbone.training

    size = 128
    images, samples = _target_batch(size=size)
    captured = []
    handle = est.backbone.register_forward_hook(
        lambda module, args, out: captured.append(out.detach()))
    feats = est(images, samples, mode='da_features')
    # the untrained HigherHRNet's peaks are small: pick a threshold that
    # keeps some joints and drops others
    maps, = captured
    assert maps.shape == (2, 17, 112, 112)
    kp, scores = decode_heatmap_keypoints(maps, (size, size))
    est.target_keypoint_threshold = float(scores.median())
    weights = torch.zeros(2, 14)
    weights[:, :12] = (scores[:, LSP_FROM_COCO] >=
                       est.target_keypoint_threshold).float()
    assert 0 < weights.sum() < 24
    joints = torch.zeros(2, 14, 2)
    joints[:, :12] = kp[:, LSP_FROM_COCO]
    from_detections = _reprojection(est, feats, joints, weights, size)

    loss = est(images, samples, mode='da_target_loss', feats=feats)
    assert set(loss) == {'loss_reprojection'}
    assert torch.isfinite(loss['loss_reprojection'])
    torch.testing.assert_close(loss['loss_reprojection'], from_detections)

    # the 2D labels are not read: NaN ...
    gt2d = [s.gt_instances.keypoints2d.clone() for s in samples]
    for s in samples:
        s.gt_instances.keypoints2d = torch.full((1, 17, 2), float('nan'))
        s.gt_instances.keypoints2d_visible = torch.full((1, 17),
                                                        float('nan'))
    nan = est(images, samples, mode='da_target_loss', feats=feats)
    assert torch.equal(nan['loss_reprojection'], loss['loss_reprojection'])
    # ... or absent
    for s in samples:
        del s.gt_instances.keypoints2d
        del s.gt_instances.keypoints2d_visible
    absent = est(images, samples, mode='da_target_loss', feats=feats)
    assert torch.equal(absent['loss_reprojection'],
                       loss['loss_reprojection'])
    # the detections came from the maps of the da_features pass
    assert len(captured) == 1
    handle.remove()

    # the GT-2D reading (the old behaviour, 'annotation') gives another
    # loss; it reads the 2D targets MPTMeshDataPreprocessor builds
    kp2d = torch.cat(gt2d)[:, LSP_FROM_H36M]
    attach_targets(samples, dict(
        joints_2d_norm=(kp2d + 0.5) * 2 / size - 1,
        joints_2d_weights=torch.ones(2, 14),
        has_2d=torch.ones(2, dtype=torch.bool)))
    est.target_keypoints = 'annotation'
    gt_loss = est(images, samples, mode='da_target_loss', feats=feats)
    from_labels = _reprojection(
        est, feats, torch.cat(gt2d)[:, LSP_FROM_H36M], torch.ones(2, 14),
        size)
    torch.testing.assert_close(gt_loss['loss_reprojection'], from_labels)
    assert not torch.allclose(gt_loss['loss_reprojection'],
                              loss['loss_reprojection'])

