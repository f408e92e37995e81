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
