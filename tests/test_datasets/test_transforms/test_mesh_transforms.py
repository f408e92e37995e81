"""Tests for the image -> mesh transforms (flip, scale/rotation, affine crop,
colour noise, packing) and their end-to-end pipeline."""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmpose.datasets.transforms import LoadImage
from mmpose.structures import PoseDataSample

from mpt_plugin.body_models.conventions import get_flip_indices
from mpt_plugin.datasets.transforms.mesh_affine import MeshAffine
from mpt_plugin.datasets.transforms.mesh_color_noise import MeshColorNoise
from mpt_plugin.datasets.transforms.mesh_random_flip import (SMPL_FLIP_INDICES,
                                                             MeshRandomFlip,
                                                             flip_smpl_pose)
from mpt_plugin.datasets.transforms.mesh_random_scale_rotation import \
    MeshRandomScaleRotation
from mpt_plugin.datasets.transforms.pack_mesh_inputs import PackMeshInputs
from mpt_plugin.geometry.crop import get_crop_affine, image_to_crop
from mpt_plugin.geometry.rotations import camera_z_rotation
from mpt_plugin.registry import TRANSFORMS
from tests.kinematics import REST, fk, rodrigues

K = 17  # h36m
MIRROR = np.array([-1.0, 1.0, 1.0])


def _sample(rng, h=48, w=64, with_img=True):
    """A data_info-like dict (contract fields) with random labels."""
    out = dict(
        img_path='x.jpg',
        sample_idx=3,
        dataset_name='toy',
        bbox_xywh=np.array([10, 5, 30, 38], np.float32),
        bbox_center=np.array([25, 24], np.float32),
        bbox_scale=38.0,
        keypoints2d=(rng.random((K, 2)) * [w, h]).astype(np.float32),
        keypoints2d_visible=rng.random(K).astype(np.float32),
        keypoints3d=(rng.normal(size=(K, 3)) + [0, 0, 4]).astype(np.float32),
        keypoints3d_visible=rng.random(K).astype(np.float32),
        smpl_global_orient=rng.normal(size=3).astype(np.float32),
        smpl_body_pose=(0.3 * rng.normal(size=69)).astype(np.float32),
        smpl_betas=rng.normal(size=10).astype(np.float32),
        has_smpl=np.float32(1),
        gender=1)
    if with_img:
        out['img'] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return out


def _blob_centroids(img, thresh):
    """Intensity-weighted centroids (N, 2) (x, y) of the connected blobs of
    a single-channel float image, sorted by x."""
    mask = (img > thresh).astype(np.uint8)
    num, labels = cv2.connectedComponents(mask, connectivity=8)
    ys, xs = np.nonzero(labels)
    lab, wgt = labels[ys, xs], img[ys, xs].astype(np.float64)
    total = np.bincount(lab, wgt, num)[1:]
    cx = np.bincount(lab, wgt * xs, num)[1:] / total
    cy = np.bincount(lab, wgt * ys, num)[1:] / total
    cents = np.stack([cx, cy], 1)
    return cents[np.argsort(cents[:, 0])]


def _draw_gaussians(shape, centres, sigma=2.0):
    """(H, W) float32 image with a unit Gaussian at each (x, y) centre."""
    ys, xs = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    img = np.zeros(shape)
    for x, y in centres:
        img += np.exp(-((xs - x)**2 + (ys - y)**2) / (2 * sigma**2))
    return img.astype(np.float32)


# ------------------------------------------------------------------ flip
def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    ref = _sample(rng)
    flip = MeshRandomFlip(prob=1.0)
    once = flip(copy.deepcopy(ref))
    assert once['flip'] is True
    twice = flip(copy.deepcopy(once))
    assert twice['flip'] is False
    for key in ('img', 'keypoints2d', 'keypoints2d_visible', 'keypoints3d',
                'keypoints3d_visible', 'smpl_global_orient', 'smpl_body_pose',
                'smpl_betas', 'bbox_center', 'bbox_xywh'):
        np.testing.assert_allclose(
            twice[key], ref[key], atol=1e-5, err_msg=key)
    assert not np.array_equal(once['img'], ref['img'])


def test_flip_swaps_left_right_and_mirrors_pixels():
    rng = np.random.default_rng(1)
    h, w = 48, 64
    res = _sample(rng, h, w)
    kp = rng.integers(0, [w, h], size=(K, 2)).astype(np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    img[kp[:, 1].astype(int), kp[:, 0].astype(int)] = 255
    res.update(img=img, keypoints2d=kp)
    ref = copy.deepcopy(res)
    out = MeshRandomFlip(prob=1.0)(res)
    idx = get_flip_indices('h36m')
    # h36m left-leg-first order: left hip (1) <-> right hip (4).
    assert idx[1] == 4 and idx[11] == 14 and idx[0] == 0
    np.testing.assert_allclose(out['keypoints2d'][:, 0],
                               w - 1 - ref['keypoints2d'][idx, 0])
    np.testing.assert_allclose(out['keypoints2d'][:, 1],
                               ref['keypoints2d'][idx, 1])
    # every flipped keypoint sits on a (mirrored) dot
    kx, ky = out['keypoints2d'].astype(int).T
    assert (out['img'][ky, kx] == 255).all()
    np.testing.assert_allclose(out['keypoints3d'],
                               ref['keypoints3d'][idx] * MIRROR)
    np.testing.assert_array_equal(out['keypoints2d_visible'],
                                  ref['keypoints2d_visible'][idx])
    np.testing.assert_array_equal(out['keypoints3d_visible'],
                                  ref['keypoints3d_visible'][idx])
    # the box centre is mirrored and stays the centre of the mirrored box
    np.testing.assert_allclose(out['bbox_center'], [w - 1 - 25, 24])
    x, y, bw, bh = out['bbox_xywh']
    np.testing.assert_allclose([x + bw / 2, y + bh / 2], out['bbox_center'])
    np.testing.assert_array_equal(out['smpl_betas'], ref['smpl_betas'])


def test_flip_smpl_pose_matches_mirrored_kinematics():
    # the reference rest joints are left/right symmetric
    np.testing.assert_allclose(REST[SMPL_FLIP_INDICES] * MIRROR, REST)
    rng = np.random.default_rng(2)
    poses = rng.normal(scale=0.6, size=(5, 72))
    flipped = flip_smpl_pose(poses)
    joints, joints_f = fk(poses), fk(flipped)
    np.testing.assert_allclose(
        joints_f, joints[:, SMPL_FLIP_INDICES] * MIRROR, atol=1e-10)
    # global orientation alone: R' = M R M
    rot, rot_f = rodrigues(poses[:, :3]), rodrigues(flipped[:, :3])
    m = np.diag(MIRROR)
    np.testing.assert_allclose(rot_f, m @ rot @ m, atol=1e-10)
    # (24, 3) layout and involution
    np.testing.assert_allclose(
        flip_smpl_pose(poses.reshape(5, 24, 3)), flipped.reshape(5, 24, 3))
    np.testing.assert_allclose(flip_smpl_pose(flipped), poses)
    with pytest.raises(ValueError, match='72'):
        flip_smpl_pose(np.zeros(69))


def test_flip_transform_mirrors_smpl_fields():
    rng = np.random.default_rng(3)
    res = _sample(rng)
    full = np.concatenate([res['smpl_global_orient'], res['smpl_body_pose']])
    out = MeshRandomFlip(prob=1.0)(res)
    expect = flip_smpl_pose(full)
    np.testing.assert_allclose(out['smpl_global_orient'], expect[:3])
    np.testing.assert_allclose(out['smpl_body_pose'], expect[3:])


def test_flip_probability_and_errors():
    rng = np.random.default_rng(4)
    res = _sample(rng)
    ref = copy.deepcopy(res)
    out = MeshRandomFlip(prob=0.0)(res)
    assert out['flip'] is False
    np.testing.assert_array_equal(out['img'], ref['img'])
    np.random.seed(0)
    flips = [
        MeshRandomFlip(prob=0.3)(_sample(rng))['flip'] for _ in range(400)
    ]
    assert 0.22 < np.mean(flips) < 0.38
    with pytest.raises(ValueError, match='prob'):
        MeshRandomFlip(prob=1.5)
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        MeshRandomFlip(convention='nope')
    bad = _sample(rng)
    bad['keypoints2d'] = np.zeros((14, 2))
    with pytest.raises(ValueError, match=r'keypoints2d must have shape'):
        MeshRandomFlip(prob=1.0)(bad)
    with pytest.raises(KeyError, match='LoadImage'):
        MeshRandomFlip(prob=1.0)(_sample(rng, with_img=False))


# ------------------------------------------------------- scale / rotation
def test_random_scale_rotation_distribution_and_seeding():
    t = MeshRandomScaleRotation(rot_factor=30, scale_factor=0.25, rot_prob=0.6)
    np.random.seed(123)
    draws = [t(dict(bbox_scale=100.0)) for _ in range(2000)]
    rot = np.array([d['rotation'] for d in draws])
    scale = np.array([d['bbox_scale'] for d in draws]) / 100.0
    assert np.abs(rot).max() <= 60.0
    assert scale.min() >= 0.75 - 1e-12 and scale.max() <= 1.25 + 1e-12
    assert 0.33 < np.mean(rot != 0) < 0.47  # rotated with prob 0.4
    assert np.isclose(scale.mean(), 1.0, atol=0.02)
    assert 20 < rot[rot != 0].std() < 32  # clipped N(0, 30^2)
    # numpy's global RNG (what MMEngine seeds) makes draws reproducible
    np.random.seed(123)
    again = [t(dict(bbox_scale=100.0))['rotation'] for _ in range(50)]
    np.testing.assert_array_equal(again, rot[:50])
    # never rotates with rot_prob=1; composes with an existing rotation
    out = MeshRandomScaleRotation(rot_prob=1.0)(
        dict(bbox_scale=10.0, rotation=5.0))
    assert out['rotation'] == 5.0
    with pytest.raises(KeyError, match='bbox_scale'):
        t(dict())
    with pytest.raises(ValueError, match='scale_factor'):
        MeshRandomScaleRotation(scale_factor=1.5)


# ---------------------------------------------------------------- affine
def test_affine_without_rotation_matches_crop_helper():
    center, scale, size = np.array([37.3, 51.9]), 83.0, 224
    aff = get_crop_affine(center, scale, 0.0, size)
    pts = np.random.default_rng(5).random((10, 2)) * 100
    np.testing.assert_allclose(
        pts @ aff[:, :2].T + aff[:, 2],
        image_to_crop(pts[None], center[None], np.array([scale]), size)[0],
        atol=1e-9)
    # the box corners land on the crop's outer pixel edges
    corner = center - scale / 2
    np.testing.assert_allclose(aff[:, :2] @ corner + aff[:, 2], [-0.5, -0.5])


@pytest.mark.parametrize('rotation', [0.0, 90.0])
def test_affine_moves_single_pixels_exactly(rotation):
    size = 64
    rng = np.random.default_rng(6)
    pts = rng.integers(20, 60, size=(6, 2))
    img = np.zeros((80, 90, 3), np.uint8)
    img[pts[:, 1], pts[:, 0]] = 200
    # scale 1 and a centre at x.5 put pixel centres onto pixel centres
    res = dict(
        img=img,
        bbox_center=np.array([40.5, 39.5]),
        bbox_scale=float(size),
        rotation=rotation,
        keypoints2d=pts.astype(np.float32))
    out = MeshAffine(input_size=size)(res)
    kp = out['keypoints2d']
    np.testing.assert_allclose(kp, np.round(kp), atol=1e-4)
    found = np.argwhere(out['img'][..., 0] > 0)[:, ::-1]  # (x, y)
    np.testing.assert_array_equal(
        found[np.lexsort(found.T)],
        np.round(kp).astype(int)[np.lexsort(np.round(kp).T)])
    assert (out['img'][found[:, 1], found[:, 0]] == 200).all()


@pytest.mark.parametrize('rotation', [0.0, 27.0, -140.0])
def test_affine_maps_dots_to_crop_pixels(rotation):
    size = 96
    centres = np.array([[30.3, 40.7], [52.0, 20.2], [75.6, 66.1], [44.4,
                                                                   70.5]])
    img = _draw_gaussians((90, 110), centres, sigma=2.5)
    res = dict(
        img=img,
        bbox_center=np.array([52.5, 45.0]),
        bbox_scale=80.,
        rotation=rotation,
        keypoints2d=centres.astype(np.float32),
        keypoints2d_visible=np.ones(4, np.float32))
    out = MeshAffine(input_size=size)(res)
    assert out['img'].shape == (size, size)
    found = _blob_centroids(out['img'], 0.02)
    expect = out['keypoints2d'][np.argsort(out['keypoints2d'][:, 0])]
    assert len(found) == 4
    np.testing.assert_allclose(found, expect, atol=0.05)
    # the matrix stored is the one used
    np.testing.assert_allclose(
        centres @ out['crop_affine'][:, :2].T + out['crop_affine'][:, 2],
        out['keypoints2d'],
        atol=1e-3)


def test_affine_rotation_consistent_between_2d_and_3d():
    rng = np.random.default_rng(7)
    f, center, scale, size, rotation = 900.0, np.array([310., 250.]), 200., \
        224, 33.0
    pts3d = rng.normal(scale=0.4, size=(K, 3)) + [0.1, -0.05, 5.0]

    def project(x, focal, c):
        return focal * x[:, :2] / x[:, 2:] + c

    res = dict(
        img=np.zeros((480, 640, 3), np.uint8),
        bbox_center=center,
        bbox_scale=scale,
        rotation=rotation,
        keypoints2d=project(pts3d, f, center).astype(np.float32),
        keypoints3d=pts3d.astype(np.float32),
        smpl_global_orient=np.array([2.9, 0.2, -0.3], np.float32))
    pose = np.zeros((1, 72))
    pose[0, :3] = res['smpl_global_orient']
    pose[0, 3:] = 0.3 * rng.normal(size=69)
    out = MeshAffine(input_size=size)(res)
    # a camera with the principal point at the crop centre, zoomed by S/s
    reproj = project(out['keypoints3d'].astype(np.float64), f * size / scale,
                     np.full(2, (size - 1) / 2))
    np.testing.assert_allclose(reproj, out['keypoints2d'], atol=2e-3)
    # depth is kept, the rotation is about the optical axis
    np.testing.assert_allclose(
        out['keypoints3d'][:, 2], pts3d[:, 2], atol=1e-5)
    # the body (global orient) turns with the points: root-relative joints
    pose_r = pose.copy()
    pose_r[0, :3] = out['smpl_global_orient']
    j, j_r = fk(pose)[0], fk(pose_r)[0]
    rot3 = camera_z_rotation(rotation)
    np.testing.assert_allclose(j_r - j_r[0], (j - j[0]) @ rot3.T, atol=1e-5)


def test_affine_defaults_outside_points_and_errors():
    rng = np.random.default_rng(8)
    res = _sample(rng)
    for key in ('rotation', 'flip'):
        res.pop(key, None)
    res['keypoints2d'][0] = [-500, 900]  # far outside the crop
    vis = res['keypoints2d_visible'].copy()
    kp3d = res['keypoints3d'].copy()
    out = MeshAffine()(res)
    assert out['rotation'] == 0.0 and out['flip'] is False
    assert out['input_size'] == 224 and out['img_shape'] == (224, 224)
    assert out['img'].shape == (224, 224, 3) and out['img'].dtype == np.uint8
    assert out['crop_affine'].shape == (2, 3)
    assert out['crop_affine'].dtype == np.float32
    assert out['keypoints2d'][0, 0] < -1000  # not clipped
    np.testing.assert_array_equal(out['keypoints2d_visible'], vis)
    np.testing.assert_array_equal(out['keypoints3d'], kp3d)  # no rotation
    for key, value, err in (('bbox_scale', 0.0, ValueError),
                            ('bbox_center', np.zeros(3),
                             ValueError), ('img', None, KeyError)):
        bad = _sample(rng)
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
        with pytest.raises(err, match=key):
            MeshAffine()(bad)


# ---------------------------------------------------------- colour noise
def test_color_noise_bounds_and_dtype():
    img = np.full((8, 8, 3), 100, np.uint8)
    img[0, 0] = 250
    np.random.seed(9)
    t = MeshColorNoise(noise_factor=0.4)
    for _ in range(50):
        out = t(dict(img=img.copy()))
        noise = out['color_noise']
        assert out['img'].dtype == np.uint8
        assert ((noise >= 0.6) & (noise <= 1.4)).all()
        body = out['img'][1:, 1:].reshape(-1, 3).astype(int)
        assert (body == body[0]).all()  # one factor per channel
        assert ((body[0] >= 60) & (body[0] <= 140)).all()
        np.testing.assert_allclose(body[0], 100 * noise, atol=0.51)
        np.testing.assert_array_equal(out['img'][0, 0],
                                      np.minimum(255, np.rint(250 * noise)))
    assert MeshColorNoise(0.0)(dict(img=img.copy()))['img'].tolist() == \
        img.tolist()
    with pytest.raises(ValueError, match='noise_factor'):
        MeshColorNoise(1.5)


# ------------------------------------------------------------------ pack
def test_pack_shapes_and_dtypes():
    rng = np.random.default_rng(10)
    res = MeshAffine(input_size=32)(_sample(rng))
    packed = PackMeshInputs()(res)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert isinstance(sample, PoseDataSample)
    assert inputs.shape == (3, 32, 32) and inputs.dtype == torch.uint8
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), res['img'])
    gt = sample.gt_instances
    shapes = dict(
        keypoints2d=(1, K, 2),
        keypoints2d_visible=(1, K),
        keypoints3d=(1, K, 3),
        keypoints3d_visible=(1, K),
        smpl_global_orient=(1, 3),
        smpl_body_pose=(1, 69),
        smpl_betas=(1, 10),
        has_smpl=(1, ),
        gender=(1, ))
    assert set(gt.keys()) == set(shapes)
    for key, shape in shapes.items():
        assert tuple(gt[key].shape) == shape, key
        assert gt[key].dtype == (torch.int64
                                 if key == 'gender' else torch.float32), key
    np.testing.assert_allclose(gt.keypoints2d[0].numpy(), res['keypoints2d'])
    assert gt.gender.item() == 1 and gt.has_smpl.item() == 1.0
    meta = sample.metainfo
    for key in ('img_path', 'sample_idx', 'dataset_name', 'bbox_center',
                'bbox_scale', 'rotation', 'flip', 'input_size', 'crop_affine'):
        assert key in meta, key
    assert meta['input_size'] == 32 and meta['sample_idx'] == 3


def test_pack_fills_missing_fields_with_zeros():
    rng = np.random.default_rng(11)
    res = MeshAffine(input_size=16)(_sample(rng))
    for key in ('keypoints3d', 'keypoints3d_visible', 'smpl_body_pose',
                'smpl_global_orient', 'smpl_betas', 'has_smpl', 'gender'):
        res.pop(key)
    gt = PackMeshInputs()(res)['data_samples'].gt_instances
    assert tuple(gt.keypoints3d.shape) == (1, K, 3)
    assert gt.keypoints3d.abs().sum() == 0
    assert gt.keypoints3d_visible.abs().sum() == 0
    assert gt.smpl_body_pose.shape == (1, 69) and gt.has_smpl.item() == 0
    assert gt.gender.item() == -1
    # has_smpl is forced to 0 when parameters are missing
    res2 = MeshAffine(input_size=16)(_sample(rng))
    res2.pop('smpl_betas')
    assert PackMeshInputs()(res2)['data_samples'].gt_instances.has_smpl == 0
    # no keypoints at all: K must be given
    res3 = MeshAffine(input_size=16)(_sample(rng))
    res3.pop('keypoints2d')
    res3.pop('keypoints3d')
    with pytest.raises(KeyError, match='num_keypoints'):
        PackMeshInputs()(copy.deepcopy(res3))
    gt3 = PackMeshInputs(num_keypoints=K)(res3)['data_samples'].gt_instances
    assert tuple(gt3.keypoints2d.shape) == (1, K, 2)
    assert gt3.keypoints2d_visible.sum() == 0
    bad = MeshAffine(input_size=16)(_sample(rng))
    bad['img'] = bad['img'].astype(np.float32)
    with pytest.raises(ValueError, match='uint8'):
        PackMeshInputs()(bad)


# ------------------------------------------------------------ end to end
def test_pipeline_end_to_end(tmp_path):
    h, w, size = 120, 160, 64
    rng = np.random.default_rng(12)
    kp = np.stack([rng.uniform(50, 110, K), rng.uniform(25, 95, K)], 1)
    kp[:4] = [[55.2, 30.1], [100.7, 40.3], [60.4, 90.8], [104.9, 85.5]]
    # four separated dots at the first four keypoints, on a grey background
    dots = _draw_gaussians((h, w), kp[:4], sigma=2.0)
    img = np.clip(20 + 230 * dots, 0, 255).astype(np.uint8)
    img = np.repeat(img[..., None], 3, axis=2)
    path = tmp_path / 'frame.png'
    assert cv2.imwrite(str(path), img)
    info = _sample(rng, with_img=False)
    info.update(
        img_path=str(path),
        keypoints2d=kp.astype(np.float32),
        bbox_xywh=np.array([40, 20, 80, 80], np.float32),
        bbox_center=np.array([80, 60], np.float32),
        bbox_scale=88.0)
    pipeline = Compose([
        LoadImage(),
        TRANSFORMS.build(dict(type='MeshRandomFlip', prob=1.0)),
        TRANSFORMS.build(dict(type='MeshRandomScaleRotation', rot_prob=0.0)),
        TRANSFORMS.build(dict(type='MeshAffine', input_size=size)),
        TRANSFORMS.build(dict(type='MeshColorNoise', noise_factor=0.2)),
        TRANSFORMS.build(dict(type='PackMeshInputs')),
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
    found = _blob_centroids(crop, 0.3 * crop.max())
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
