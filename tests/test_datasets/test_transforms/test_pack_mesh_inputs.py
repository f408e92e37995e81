"""Tests for MPTPackMeshInputs."""
import copy

import numpy as np
import pytest
import torch
from mmpose.structures import PoseDataSample

from mpt_plugin.datasets.transforms.mesh_affine import MPTMeshAffine
from mpt_plugin.datasets.transforms.pack_mesh_inputs import MPTPackMeshInputs
from .mesh_samples import K, random_sample


def test_pack_shapes_and_dtypes():
    rng = np.random.default_rng(10)
    res = MPTMeshAffine(input_size=32)(random_sample(rng))
    packed = MPTPackMeshInputs()(res)
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
    res = MPTMeshAffine(input_size=16)(random_sample(rng))
    for key in ('keypoints3d', 'keypoints3d_visible', 'smpl_body_pose',
                'smpl_global_orient', 'smpl_betas', 'has_smpl', 'gender'):
        res.pop(key)
    gt = MPTPackMeshInputs()(res)['data_samples'].gt_instances
    assert tuple(gt.keypoints3d.shape) == (1, K, 3)
    assert gt.keypoints3d.abs().sum() == 0
    assert gt.keypoints3d_visible.abs().sum() == 0
    assert gt.smpl_body_pose.shape == (1, 69) and gt.has_smpl.item() == 0
    assert gt.gender.item() == -1
    # has_smpl is forced to 0 when parameters are missing
    res2 = MPTMeshAffine(input_size=16)(random_sample(rng))
    res2.pop('smpl_betas')
    assert MPTPackMeshInputs()(res2)['data_samples'].gt_instances.has_smpl == 0
    # no keypoints at all: K must be given
    res3 = MPTMeshAffine(input_size=16)(random_sample(rng))
    res3.pop('keypoints2d')
    res3.pop('keypoints3d')
    with pytest.raises(KeyError, match='num_keypoints'):
        MPTPackMeshInputs()(copy.deepcopy(res3))
    gt3 = MPTPackMeshInputs(num_keypoints=K)(res3)['data_samples'].gt_instances
    assert tuple(gt3.keypoints2d.shape) == (1, K, 2)
    assert gt3.keypoints2d_visible.sum() == 0
    bad = MPTMeshAffine(input_size=16)(random_sample(rng))
    bad['img'] = bad['img'].astype(np.float32)
    with pytest.raises(ValueError, match='uint8'):
        MPTPackMeshInputs()(bad)


def test_pack_gt_mesh_only_when_present():
    rng = np.random.default_rng(0)
    sample = random_sample(rng)
    packed = MPTPackMeshInputs()(copy.deepcopy(sample))
    assert 'vertices' not in packed['data_samples'].gt_instances
    verts = rng.normal(size=(778, 3))
    packed = MPTPackMeshInputs()(dict(copy.deepcopy(sample), vertices=verts,
                                      has_mesh=np.float32(0.0)))
    gt = packed['data_samples'].gt_instances
    assert gt.vertices.shape == (1, 778, 3) and gt.vertices.dtype == \
        torch.float32
    torch.testing.assert_close(gt.vertices[0].double(),
                               torch.as_tensor(verts), atol=1e-6, rtol=0)
    assert gt.has_mesh.tolist() == [0.0]
    packed = MPTPackMeshInputs()(dict(copy.deepcopy(sample), vertices=verts))
    assert packed['data_samples'].gt_instances.has_mesh.tolist() == [1.0]
    with pytest.raises(ValueError, match='vertices must have shape'):
        MPTPackMeshInputs()(dict(copy.deepcopy(sample), vertices=verts[:, 0]))
