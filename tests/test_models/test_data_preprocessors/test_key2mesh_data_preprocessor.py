"""Tests for Key2MeshDataPreprocessor's keypoint inputs."""
import pytest
import torch

from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor import \
    Key2MeshDataPreprocessor


def test_keypoint_preprocessor_inputs(paths):
    pre = Key2MeshDataPreprocessor(body_model=paths['body_model'],
                                   conf_threshold=0.3)
    kp = torch.rand(3, 18, 2) * 100
    conf = torch.rand(3, 18)
    expect, mask = normalize_keypoints_2d(kp, conf, 0.3)
    for inputs in (dict(keypoints2d_px=kp, keypoints2d_conf=conf),
                   dict(keypoints2d=list(kp), keypoints2d_visible=list(conf)),
                   torch.cat([kp, conf[..., None]], -1)):
        out = pre(dict(inputs=inputs))
        torch.testing.assert_close(out['inputs'], expect)
        assert torch.equal(out['data_samples']['keypoints_mask'], mask)
        torch.testing.assert_close(out['data_samples']['keypoints2d_norm'],
                                   expect)
    out = pre(dict(inputs=dict(keypoints2d_norm=expect,
                               keypoints2d_mask=mask)))
    torch.testing.assert_close(out['inputs'], expect)
    # image-sample contract labels -> pose_aa / betas
    out = pre(dict(inputs=dict(keypoints2d_px=kp),
                   data_samples=dict(
                       smpl_global_orient=torch.ones(3, 3),
                       smpl_body_pose=torch.zeros(3, 69),
                       smpl_betas=torch.zeros(3, 10))))
    assert out['data_samples']['pose_aa'].shape == (3, 72)
    assert out['data_samples']['pose_aa'][:, :3].eq(1).all()
    with pytest.raises(KeyError, match='2D keypoints'):
        pre(dict(inputs=dict(joints=kp)))
    with pytest.raises(ValueError, match=r'\(B, K, 2\)'):
        pre(dict(inputs=dict(keypoints2d_px=torch.zeros(3, 18, 4))))


def test_label_targets_every_source_in_camera_axes(paths):
    """Outside training the labels become mesh targets (camera axes);
    while training they are not read."""
    pre = Key2MeshDataPreprocessor(body_model=paths['body_model'])
    gen = torch.Generator().manual_seed(0)
    kp = torch.rand(3, 18, 2, generator=gen) * 100
    pose = 0.2 * torch.randn(3, 72, generator=gen)
    betas = torch.randn(3, 10, generator=gen)
    posed = pre.body_model(betas=betas, global_orient=pose[:, :3],
                           body_pose=pose[:, 3:])['vertices']
    flip = torch.tensor([1.0, -1.0, -1.0])
    # HumanData labels (eval_gt): camera frame, posed as given; a sample
    # without SMPL gets no mesh (even with NaN parameters)
    bad = pose.clone()
    bad[1] = float('nan')
    samples = dict(eval_gt=dict(pose_aa=list(bad), betas=list(betas),
                                has_smpl=[torch.tensor(True),
                                          torch.tensor(False),
                                          torch.tensor(True)]))
    out = pre(dict(inputs=dict(keypoints2d_px=kp), data_samples=samples))
    gt = out['data_samples']
    assert gt['has_mesh'].tolist() == [True, False, True]
    torch.testing.assert_close(gt['vertices'][[0, 2]], posed[[0, 2]])
    assert not gt['vertices'][1].any()
    # AMASS labels at the top level: SMPL axes, turned into camera axes
    out = pre(dict(inputs=dict(keypoints2d_px=kp),
                   data_samples=dict(pose_aa=pose, betas=betas)))
    torch.testing.assert_close(out['data_samples']['vertices'],
                               posed * flip)
    assert out['data_samples']['has_mesh'].all()
    # the image contract's smpl_* are in the camera frame already
    out = pre(dict(inputs=dict(keypoints2d_px=kp), data_samples=dict(
        smpl_global_orient=pose[:, :3], smpl_body_pose=pose[:, 3:],
        smpl_betas=betas)))
    torch.testing.assert_close(out['data_samples']['vertices'], posed)
    # given meshes / joints, then 17 H3.6M keypoints (pelvis-centred)
    joints = torch.randn(3, 17, 3, generator=gen)
    out = pre(dict(inputs=dict(keypoints2d_px=kp), data_samples=dict(
        gt_vertices=posed, gt_joints_h36m=joints)))
    torch.testing.assert_close(out['data_samples']['vertices'], posed)
    torch.testing.assert_close(out['data_samples']['joints_h36m'],
                               joints - joints[:, :1])
    mask = torch.ones(3, 17, dtype=torch.bool)
    mask[2, 4] = False
    out = pre(dict(inputs=dict(keypoints2d_px=kp), data_samples=dict(
        eval_gt=dict(keypoints3d=joints, keypoints3d_mask=mask))))
    gt = out['data_samples']
    assert 'vertices' not in gt
    torch.testing.assert_close(gt['joints_h36m'], joints - joints[:, :1])
    assert gt['joints_h36m_weights'].tolist() == mask.float().tolist()
    # training: labels untouched, no target built
    out = pre(dict(inputs=dict(keypoints2d_px=kp), data_samples=samples),
              training=True)
    assert 'vertices' not in out['data_samples']
    # no label at all: no target
    out = pre(dict(inputs=dict(keypoints2d_px=kp)))
    assert 'vertices' not in out['data_samples']
    assert 'joints_h36m' not in out['data_samples']


def test_smpl_pairs_carry_the_mesh_target(paths):
    pre = Key2MeshDataPreprocessor(body_model=paths['body_model'])
    pose = 0.2 * torch.randn(2, 72, generator=torch.Generator().manual_seed(1))
    betas = torch.zeros(2, 10)
    out = pre(dict(inputs=dict(pose_aa=pose, betas=betas)), training=True)
    posed = pre.body_model(betas=betas, global_orient=pose[:, :3],
                           body_pose=pose[:, 3:])['vertices']
    torch.testing.assert_close(out['data_samples']['vertices'],
                               posed * torch.tensor([1.0, -1.0, -1.0]))
    assert out['data_samples']['has_mesh'].all()
