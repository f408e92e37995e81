"""Tests for MPTFreiHANDDataset on files laid out like the official ones."""
import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mpt_plugin.datasets import FreiHANDFormatError, MPTFreiHANDDataset
from mpt_plugin.registry import DATASETS


def _layout(root, n=3, split='training', labels=True, seed=0):
    """Annotation files + empty image files of the official layout; joints
    in front of the camera."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=0.05, size=(n, 21, 3)) + [0.0, 0.0, 0.6]
    focal = rng.uniform(400, 600, n)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, :2, 2] = 112.0
    K[:, 2, 2] = 1.0
    files = dict(K=K, scale=np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=-1))
    if labels:
        files.update(xyz=xyz, verts=rng.normal(size=(n, 778, 3)) * 0.05,
                     mano=rng.normal(size=(n, 1, 61)))
    for key, value in files.items():
        (root / f'{split}_{key}.json').write_text(json.dumps(value.tolist()))
    rgb = root / split / 'rgb'
    rgb.mkdir(parents=True)
    for i in range(n * (4 if split == 'training' else 1)):
        (rgb / f'{i:08d}.jpg').write_bytes(b'')
    return files


def test_training_samples_versions_and_projection(tmp_path):
    files = _layout(tmp_path)
    ds = MPTFreiHANDDataset(str(tmp_path))
    assert len(ds) == 12
    info = ds[7]  # version 2 of sample 1: image 00000007
    assert info['img_path'].endswith('training/rgb/00000007.jpg')
    assert (info['ann_idx'], info['version']) == (1, 2)
    np.testing.assert_allclose(info['keypoints3d'], files['xyz'][1],
                               rtol=1e-6)
    uvw = files['xyz'][1] @ files['K'][1].T
    np.testing.assert_allclose(info['keypoints2d'], uvw[:, :2] / uvw[:, 2:],
                               rtol=1e-5)
    assert info['vertices'].shape == (778, 3) and info['has_mesh'] == 1
    np.testing.assert_allclose(info['mano_pose'], files['mano'][1, 0, :48],
                               rtol=1e-6)
    np.testing.assert_allclose(info['mano_betas'],
                               files['mano'][1, 0, 48:58], rtol=1e-6)
    assert info['bbox_scale'] == 180 and \
        info['bbox_center'].tolist() == [112, 112]
    assert ds.metainfo['keypoint_convention'] == 'hand_21'
    # chosen versions and an evenly strided subset of the samples
    sub = MPTFreiHANDDataset(str(tmp_path), versions=[0, 3], num_samples=2)
    assert [sub[i]['img_path'][-12:] for i in range(len(sub))] == [
        '00000000.jpg', '00000001.jpg', '00000009.jpg', '00000010.jpg']


def test_evaluation_without_labels_and_the_registry(tmp_path):
    _layout(tmp_path, n=2, split='evaluation', labels=False)
    init_default_scope('mmpose')
    ds = DATASETS.build(dict(type='MPTFreiHANDDataset',
                             data_root=str(tmp_path), split='evaluation'))
    assert len(ds) == 2
    info = ds[1]
    assert info['img_path'].endswith('evaluation/rgb/00000001.jpg')
    assert info['keypoints3d_visible'].sum() == 0
    assert info['has_mesh'] == 0 and info['has_mano'] == 0


def test_bad_layouts_are_named(tmp_path):
    _layout(tmp_path)
    (tmp_path / 'training' / 'rgb' / '00000005.jpg').unlink()
    with pytest.raises(FileNotFoundError, match='1 of 12 FreiHAND images'):
        MPTFreiHANDDataset(str(tmp_path))
    assert len(MPTFreiHANDDataset(str(tmp_path), check_images=False)) == 12
    (tmp_path / 'training_scale.json').write_text('[0.1, 0.2]')
    with pytest.raises(FreiHANDFormatError, match='different numbers'):
        MPTFreiHANDDataset(str(tmp_path), check_images=False)
    with pytest.raises(ValueError, match='split must be one of'):
        MPTFreiHANDDataset(str(tmp_path), split='test')
    with pytest.raises(ValueError, match='crop_size'):
        MPTFreiHANDDataset(str(tmp_path), crop_size=0)


def test_joints_behind_the_camera_are_refused(tmp_path):
    files = _layout(tmp_path, n=2)
    xyz = files['xyz'].copy()
    xyz[1, 4, 2] = -0.1
    (tmp_path / 'training_xyz.json').write_text(json.dumps(xyz.tolist()))
    with pytest.raises(ValueError, match='row 1 has a joint at or behind'):
        MPTFreiHANDDataset(str(tmp_path))
