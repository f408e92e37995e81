"""The image -> mesh transforms end to end (load, flip, scale/rotation,
affine crop, colour noise, packing): the packed sample holds the image and
labels where the transforms put them."""
import copy

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from mmpose.datasets.transforms import LoadImage

from mpt_plugin.body_models.conventions import get_flip_indices
from mpt_plugin.geometry.rotations import camera_z_rotation
from mpt_plugin.registry import TRANSFORMS
from .mesh_samples import (K, MIRROR, blob_centroids, draw_gaussians,
                           random_sample)


def test_pipeline_end_to_end(tmp_path):
    h, w, size = 120, 160, 64
    rng = np.random.default_rng(12)
    kp = np.stack([rng.uniform(50, 110, K), rng.uniform(25, 95, K)], 1)
    kp[:4] = [[55.2, 30.1], [100.7, 40.3], [60.4, 90.8], [104.9, 85.5]]
    # four separated dots at the first four keypoints, on a grey background
    dots = draw_gaussians((h, w), kp[:4], sigma=2.0)
    img = np.clip(20 + 230 * dots, 0, 255).astype(np.uint8)
    img = np.repeat(img[..., None], 3, axis=2)
    path = tmp_path / 'frame.png'
    assert cv2.imwrite(str(path), img)
    info = random_sample(rng, with_img=False)
    info.update(
        img_path=str(path),
        keypoints2d=kp.astype(np.float32),
        bbox_xywh=np.array([40, 20, 80, 80], np.float32),
        bbox_center=np.array([80, 60], np.float32),
        bbox_scale=88.0)
    pipeline = Compose([
        LoadImage(),
        TRANSFORMS.build(dict(type='MPTMeshRandomFlip', prob=1.0)),
        TRANSFORMS.build(
            dict(type='MPTMeshRandomScaleRotation', rot_prob=0.0)),
        TRANSFORMS.build(dict(type='MPTMeshAffine', input_size=size)),
        TRANSFORMS.build(dict(type='MPTMeshColorNoise', noise_factor=0.2)),
        TRANSFORMS.build(dict(type='MPTPackMeshInputs')),
    ])
    np.random.seed(5)
    packed = pipeline(copy.deepcopy(info))
    np.random.seed(5)
    again = pipeline(copy.deepcopy(info))
    assert torch.equal(packed['inputs'], again['inputs'])  # reproducible

    inputs, sample = packed['inputs'], packed['data_samples']
    meta, gt = sample.metainfo, sample.gt_instances
    assert inputs.shape == (3, size, size) and inputs.dtype == torch.uint8
    assert meta['flip'] is True and meta['rotation'] != 0.0
    assert meta['ori_shape'] == (h, w) and meta['img_path'] == str(path)
    np.testing.assert_allclose(meta['bbox_center'], [w - 1 - 80, 60])
    # the four dots are where the packed (flipped + swapped + cropped)
    # keypoints say: keypoint j of the output is input joint idx[j]
    idx = np.asarray(get_flip_indices('h36m'))
    out_kp = gt.keypoints2d[0].numpy()
    mine = np.array([np.nonzero(idx == j)[0][0] for j in range(4)])
    expect = out_kp[mine]
    crop = inputs[0].numpy().astype(np.float64)
    crop = np.clip(crop - np.median(crop), 0, None)
    found = blob_centroids(crop, 0.3 * crop.max())
    assert len(found) == 4
    np.testing.assert_allclose(
        found, expect[np.argsort(expect[:, 0])], atol=0.35)
    # 3D: flipped (x -> -x, swapped) and rotated about the optical axis
    rot3 = camera_z_rotation(meta['rotation'])
    np.testing.assert_allclose(
        gt.keypoints3d[0].numpy(),
        (info['keypoints3d'][idx] * MIRROR) @ rot3.T,
        atol=1e-5)
    np.testing.assert_allclose(gt.keypoints2d_visible[0].numpy(),
                               info['keypoints2d_visible'][idx])
