import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.registry import VISUALIZERS
from mpt_plugin.visualization.mesh_visualizer import (MPTMeshVisualizer,
                                                      crop_from_inputs,
                                                      draw_mesh_overlay,
                                                      load_smpl_faces)

S = 64


def box_mesh(half=(0.2, 0.5, 0.1)):
    """Closed box centred at the origin, outward faces."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1)
                      for z in (-1, 1)], dtype=float)
    verts = signs * np.asarray(half)
    quads = [[0, 1, 3, 2], [4, 5, 7, 6], [0, 1, 5, 4], [2, 3, 7, 6],
             [0, 2, 6, 4], [1, 3, 7, 5]]
    faces = np.array([[q[0], q[1], q[2]] for q in quads] +
                     [[q[0], q[2], q[3]] for q in quads])
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = (n * tri.mean(axis=1)).sum(axis=1) < 0
    faces[inward] = faces[inward][:, ::-1]
    return verts, faces


def make_sample(camera=(1.0, 0.0, 0.0), with_gt=True):
    verts, _ = box_mesh()
    sample = PoseDataSample()
    sample.pred_instances = InstanceData(
        vertices=torch.tensor(verts[None], dtype=torch.float32),
        camera=torch.tensor([camera], dtype=torch.float32))
    if with_gt:
        sample.gt_instances = InstanceData(
            vertices=torch.tensor(verts[None] * 0.5, dtype=torch.float32),
            keypoints2d=torch.tensor([[[10.0, 12.0], [40.0, 50.0]]]),
            keypoints2d_visible=torch.tensor([[1.0, 0.0]]))
    sample.set_metainfo(dict(img_path='a/b/img_001.jpg', input_size=S))
    return sample


def gray(size=S):
    return np.full((size, size, 3), 40, np.uint8)


def test_overlay_matches_weak_perspective_projection():
    verts, faces = box_mesh()
    cam = np.array([1.2, 0.1, -0.05])
    out = draw_mesh_overlay(gray(), verts, cam, faces, alpha=1.0)
    mask = (out != 40).any(axis=-1)
    # Weak perspective, pixel centres at integers:
    # x_px = (s (X + tx) + 1) S / 2 - 0.5.
    x0, x1 = ((cam[0] * (np.array([-0.2, 0.2]) + cam[1]) + 1) * S / 2) - 0.5
    y0, y1 = ((cam[0] * (np.array([-0.5, 0.5]) + cam[2]) + 1) * S / 2) - 0.5
    rows, cols = np.nonzero(mask)
    assert abs(cols.min() - x0) <= 1.0 and abs(cols.max() - x1) <= 1.0
    assert abs(rows.min() - y0) <= 1.0 and abs(rows.max() - y1) <= 1.0
    # Half transparent: between the image and the opaque mesh.
    half = draw_mesh_overlay(gray(), verts, cam, faces, alpha=0.5)
    assert (np.abs(half[mask].astype(int) - 40) <
            np.abs(out[mask].astype(int) - 40) + 1).all()
    np.testing.assert_array_equal(half[~mask], 40)
    with pytest.raises(ValueError, match='camera'):
        draw_mesh_overlay(gray(), verts, [1.0, 0.0], faces)
    with pytest.raises(ValueError, match='uint8'):
        draw_mesh_overlay(gray().astype(float), verts, cam, faces)


def test_crop_from_inputs_bgr_to_rgb():
    bgr = np.zeros((3, 4, 4), np.uint8)
    bgr[0] = 255  # blue channel
    rgb = crop_from_inputs(torch.from_numpy(bgr))
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 2] == 255).all() and (rgb[..., 0] == 0).all()
    with pytest.raises(ValueError, match=r'\(3, S, S\)'):
        crop_from_inputs(np.zeros((4, 4, 3)))


def test_visualizer_panels_and_local_backend(tmp_path):
    _, faces = box_mesh()
    vis = VISUALIZERS.build(dict(
        type='MPTMeshVisualizer', name='mesh_vis_local', faces=faces,
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path)))
    assert isinstance(vis, MPTMeshVisualizer)
    sample = make_sample()
    drawn = vis.add_datasample('val_img', gray(), sample, step=3)
    assert drawn.shape == (S, 3 * S, 3)  # crop | pred | GT
    crop, pred, gt = np.split(drawn, 3, axis=1)
    # GT keypoint drawn only where visible.
    assert (crop[12, 10] != 40).any() and (crop[50, 40] == 40).all()
    # Prediction and GT meshes differ in size and colour.
    pred_mask = (pred != 40).any(-1)
    gt_mask = (gt != 40).any(-1)
    assert pred_mask.sum() > 3 * gt_mask.sum() > 0
    assert pred[pred_mask].mean(0)[2] > gt[gt_mask].mean(0)[2]  # bluer
    files = glob.glob(str(tmp_path / 'vis_data' / 'vis_image' /
                          'val_img_3.png'))
    assert len(files) == 1
    saved = cv2.imread(files[0])[..., ::-1]
    np.testing.assert_array_equal(saved, drawn)
    # Without GT / without prediction.
    only_pred = vis.add_datasample('x', gray(), make_sample(with_gt=False),
                                   draw_gt=False)
    assert only_pred.shape == (S, 2 * S, 3)
    out_file = tmp_path / 'out' / 'sample.png'
    no_pred = vis.add_datasample('y', gray(), sample, draw_pred=False,
                                 out_file=str(out_file))
    assert no_pred.shape == (S, 2 * S, 3) and out_file.is_file()
    with pytest.raises(KeyError, match='pred_instances.vertices'):
        vis.add_datasample('z', gray(), PoseDataSample())


def test_tensorboard_backend_writes_events(tmp_path):
    pytest.importorskip('tensorboard')
    _, faces = box_mesh()
    vis = MPTMeshVisualizer(
        name='mesh_vis_tb', faces=faces,
        vis_backends=[dict(type='TensorboardVisBackend')],
        save_dir=str(tmp_path))
    vis.add_datasample('val_img', gray(), make_sample(), step=1)
    vis.close()
    events = glob.glob(str(tmp_path / '**' / 'events.out.tfevents.*'),
                       recursive=True)
    assert events and osp.getsize(events[0]) > 100


def test_faces_from_body_model(synthetic_assets):
    body = str(synthetic_assets / 'body_models')
    faces = load_smpl_faces(body)
    assert faces.shape == (13776, 3) and faces.dtype == np.int64
    vis = MPTMeshVisualizer(name='mesh_vis_faces', body_model_path=body)
    np.testing.assert_array_equal(vis.faces, faces)
    with pytest.raises(ValueError, match='faces'):
        MPTMeshVisualizer(name='mesh_vis_nofaces').faces
