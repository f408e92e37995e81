"""Tests for the camera helpers (weak perspective, the fixed Key2Mesh camera)
and the crop-normalised pixel coordinates they work in."""
import numpy as np
import pytest
import torch

from mpt_plugin.geometry.cameras import (SMPL_TO_CAMERA_ROTATION,
                                         camera_crop_to_image,
                                         camera_image_to_crop,
                                         project_fixed_camera,
                                         smpl_to_camera_axes,
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


def test_cameras_crop_and_image_round_trip():
    cam = torch.tensor([[0.9, 0.1, -0.2], [1.3, 0.0, 0.05]])
    centre = torch.tensor([[50.0, 80.0], [10.0, 20.0]])
    side = torch.tensor([120.0, 64.0])
    img_cam = camera_crop_to_image(cam, centre, side)
    torch.testing.assert_close(img_cam[:, 0], cam[:, 0] * side / 2)
    torch.testing.assert_close(camera_image_to_crop(img_cam, centre, side),
                               cam)
    # x_px = c + side / 2 * s (X + t)
    points = torch.tensor([[0.3, -0.4, 2.0]])
    expect = centre + side[:, None] / 2 * cam[:, :1] * (points[:, :2] +
                                                         cam[:, 1:])
    got = img_cam[:, :1] * (points[:, :2] + img_cam[:, 1:])
    torch.testing.assert_close(got, expect)


def test_smpl_to_camera_axes_is_the_rotation_and_its_own_inverse():
    pts = np.random.default_rng(0).normal(size=(4, 5, 3))
    out = smpl_to_camera_axes(pts)
    np.testing.assert_array_equal(out, pts @ SMPL_TO_CAMERA_ROTATION.T)
    np.testing.assert_array_equal(smpl_to_camera_axes(out), pts)
    t = torch.as_tensor(pts, dtype=torch.float32)
    assert smpl_to_camera_axes(t).dtype == torch.float32
    torch.testing.assert_close(smpl_to_camera_axes(t),
                               torch.as_tensor(out, dtype=torch.float32))
    with pytest.raises(ValueError, match=r'\(\.\.\., 3\)'):
        smpl_to_camera_axes(np.zeros((2, 2)))
