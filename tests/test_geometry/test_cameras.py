"""Tests for the camera helpers (weak perspective, the fixed Key2Mesh camera)
and the crop-normalised pixel coordinates they work in."""
import numpy as np
import pytest
import torch

from mpt_plugin.geometry.cameras import (project_fixed_camera,
                                         weak_perspective_project,
                                         weak_perspective_to_translation)
from mpt_plugin.geometry.crop import norm_to_px, px_to_norm


def test_camera_helpers():
    pts = torch.tensor([[[0.5, 0.5, 7.0], [0.0, -1.0, 2.0]]])
    cam = torch.tensor([[2.0, 0.1, -0.1]])
    proj = weak_perspective_project(pts, cam)
    assert torch.allclose(proj, torch.tensor([[[1.2, 0.8], [0.2, -2.2]]]))
    px = torch.tensor([[0.0, 224.0], [112.0, 56.0]])
    norm = px_to_norm(px, 224)
    assert torch.allclose(norm, torch.tensor([[-1.0, 1.0], [0.0, -0.5]]))
    assert torch.allclose(norm_to_px(norm, 224), px)
    t = weak_perspective_to_translation(cam, focal_length=1000., img_size=224)
    assert torch.allclose(t, torch.tensor([[0.1, -0.1, 2000. / 448.]]))
    with pytest.raises(ValueError, match='camera'):
        weak_perspective_project(pts, torch.zeros(2, 3))
    with pytest.raises(ValueError, match='points'):
        weak_perspective_project(torch.zeros(1, 2, 2), cam)


def test_project_fixed_camera_hand_values():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 2.0],
                            [-0.5, 0.25, -2.0]]])
    uv = project_fixed_camera(joints)
    expected = [[[0.0, 0.0], [64.0, -128.0], [-16.0, -8.0]]]
    np.testing.assert_allclose(uv.numpy(), expected, atol=1e-5)
