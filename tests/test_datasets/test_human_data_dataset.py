"""Tests for mpt_plugin.datasets.human_data_dataset."""
import os.path as osp

import numpy as np
import pytest

from mpt_plugin.datasets.human_data_dataset import (MPTHumanDataDataset,
                                                    gender_codes)
from mpt_plugin.datasets.human_data_io import (HumanDataFormatError,
                                               save_human_data)
from mpt_plugin.registry import DATASETS
from tests.test_datasets.test_human_data_io import (make_h36m_like,
                                                    make_pw3d_like,
                                                    write_like_mmhuman3d)

CONTRACT_KEYS = {
    'img_path', 'sample_idx', 'dataset_name', 'bbox_xywh', 'bbox_center',
    'bbox_scale', 'keypoints2d', 'keypoints2d_visible', 'keypoints3d',
    'keypoints3d_visible', 'smpl_global_orient', 'smpl_body_pose',
    'smpl_betas', 'has_smpl', 'gender'
}


@pytest.fixture
def data_prefix(tmp_path):
    """``data/preprocessed_datasets`` with an H36M-like file (written by
    :func:`save_human_data`) and a 3DPW-like file (written like mmhuman3d)."""
    ann_dir = tmp_path / 'data' / 'preprocessed_datasets'
    ann_dir.mkdir(parents=True)
    save_human_data(ann_dir / 'h36m_valid_protocol2.npz', make_h36m_like())
    write_like_mmhuman3d(ann_dir / 'pw3d_test.npz', make_pw3d_like())
    return str(tmp_path / 'data')


def test_h36m_like_file(data_prefix):
    src = make_h36m_like()
    ds = MPTHumanDataDataset(
        ann_file='h36m_valid_protocol2.npz',
        dataset_name='h36m',
        data_prefix=data_prefix,
        bbox_scale_factor=1.2)
    assert len(ds) == 6
    info = ds.get_data_info(2)
    assert set(info) == CONTRACT_KEYS
    assert info['img_path'] == osp.join(
        data_prefix, 'datasets', 'h36m',
        'S9/images/S9_Walk.60457274_000002.jpg')
    assert info['sample_idx'] == 2 and info['dataset_name'] == 'h36m'

    x, y, w, h = src['bbox_xywh'][2, :4]
    np.testing.assert_allclose(info['bbox_xywh'], [x, y, w, h], rtol=1e-6)
    np.testing.assert_allclose(info['bbox_center'], [x + w / 2, y + h / 2],
                               rtol=1e-6)
    assert info['bbox_scale'] == pytest.approx(max(w, h) * 1.2, rel=1e-6)
    assert info['bbox_center'].dtype == np.float32

    # keypoints back in h36m order (the h36m -> human_data -> h36m trip)
    from mpt_plugin.body_models.conventions import convert_keypoints
    k3d = convert_keypoints(src['keypoints3d'], 'human_data', 'h36m')[0]
    k2d = convert_keypoints(src['keypoints2d'], 'human_data', 'h36m')[0]
    assert info['keypoints3d'].shape == (17, 3)
    assert info['keypoints3d'].dtype == np.float32
    np.testing.assert_allclose(info['keypoints3d'], k3d[2, :, :3], rtol=1e-6)
    np.testing.assert_allclose(info['keypoints2d'], k2d[2, :, :2], rtol=1e-6)
    np.testing.assert_array_equal(info['keypoints3d_visible'], np.ones(17))
    vis2d = np.ones(17, np.float32)
    vis2d[3] = 0.0  # zero confidence in the file
    np.testing.assert_array_equal(info['keypoints2d_visible'], vis2d)

    # no smpl / meta in an H36M P2 file
    assert info['has_smpl'] == 0.0 and info['gender'] == -1
    for key, shape in (('smpl_global_orient', (3, )),
                       ('smpl_body_pose', (69, )), ('smpl_betas', (10, ))):
        assert info[key].shape == shape and not info[key].any()

    meta = ds.metainfo
    assert meta['dataset_name'] == 'h36m' and meta['convention'] == 'h36m'
    assert meta['num_keypoints'] == 17 and meta['flip_indices'][1] == 4
    # negative indices and range checks
    assert ds.get_data_info(-1)['sample_idx'] == 5
    with pytest.raises(IndexError, match='out of range'):
        ds.get_data_info(6)


def test_pw3d_like_file(data_prefix):
    src = make_pw3d_like()
    ds = MPTHumanDataDataset(
        ann_file='pw3d_test.npz', dataset_name='pw3d',
        data_prefix=data_prefix)
    assert len(ds) == 5
    infos = [ds.get_data_info(i) for i in range(5)]
    assert [i['gender'] for i in infos] == [0, 1, 1, 0, 1]
    info = infos[3]
    assert set(info) == CONTRACT_KEYS
    assert info['has_smpl'] == 1.0
    np.testing.assert_allclose(info['smpl_body_pose'],
                               src['smpl']['body_pose'][3].reshape(69),
                               rtol=1e-6)
    np.testing.assert_allclose(info['smpl_global_orient'],
                               src['smpl']['global_orient'][3], rtol=1e-6)
    np.testing.assert_allclose(info['smpl_betas'], src['smpl']['betas'][3],
                               rtol=1e-6)
    # no keypoints in the file: zero joints, zero visibility
    assert info['keypoints3d'].shape == (17, 3)
    assert not info['keypoints3d'].any() and not info['keypoints2d'].any()
    assert not info['keypoints3d_visible'].any()
    assert not info['keypoints2d_visible'].any()
    # 4-column boxes
    x, y, w, h = src['bbox_xywh'][3]
    assert info['bbox_scale'] == pytest.approx(max(w, h), rel=1e-6)


def test_has_smpl_key_and_body_pose_69(tmp_path):
    data = make_pw3d_like(num=5)
    data['has_smpl'] = np.array([1, 0, 1, 0, 1])
    data['smpl']['body_pose'] = data['smpl']['body_pose'].reshape(5, 69)
    path = tmp_path / 'eft.npz'
    save_human_data(path, data)
    ds = MPTHumanDataDataset(
        ann_file=str(path), dataset_name='eft', data_prefix=str(tmp_path))
    assert [ds.get_data_info(i)['has_smpl'] for i in range(5)] == [
        1, 0, 1, 0, 1
    ]
    np.testing.assert_allclose(ds.get_data_info(1)['smpl_body_pose'],
                               data['smpl']['body_pose'][1], rtol=1e-6)
    # has_smpl without an smpl dict means no SMPL (as mmhuman3d)
    del data['smpl']
    save_human_data(path, data)
    ds = MPTHumanDataDataset(
        ann_file=str(path), dataset_name='eft', data_prefix=str(tmp_path))
    assert ds.get_data_info(0)['has_smpl'] == 0.0


def test_conventions_and_approximate(data_prefix):
    """lsp names the hips after SMPL; the H36M file has the *_extra hips."""
    kwargs = dict(
        ann_file='h36m_valid_protocol2.npz', dataset_name='h36m',
        data_prefix=data_prefix)
    ref = MPTHumanDataDataset(**kwargs).get_data_info(1)
    exact = MPTHumanDataDataset(convention='lsp', **kwargs).get_data_info(1)
    approx = MPTHumanDataDataset(
        convention='lsp', approximate=True, **kwargs).get_data_info(1)
    mmh3d = MPTHumanDataDataset(
        convention='mmh3d_lsp', **kwargs).get_data_info(1)
    assert exact['keypoints3d'].shape == (14, 3)
    # exact names: SMPL hips/neck are absent in this file
    assert exact['keypoints3d_visible'].tolist() == [1, 1, 0, 0] + [1] * 8 + [
        0, 1
    ]
    assert approx['keypoints3d_visible'].sum() == 14
    h36m_to_lsp = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]
    np.testing.assert_array_equal(approx['keypoints3d'],
                                  ref['keypoints3d'][h36m_to_lsp])
    np.testing.assert_array_equal(mmh3d['keypoints3d'], approx['keypoints3d'])
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        MPTHumanDataDataset(convention='smpl_99', **kwargs)


def test_num_samples_strided_subset_and_registry(data_prefix):
    ds = DATASETS.build(
        dict(
            type='MPTHumanDataDataset',
            ann_file='h36m_valid_protocol2.npz',
            dataset_name='h36m',
            data_prefix=data_prefix,
            num_samples=3,
            pipeline=[lambda r: dict(r, seen=True)]))
    assert isinstance(ds, MPTHumanDataDataset) and len(ds) == 3
    names = [osp.basename(ds.get_data_info(i)['img_path']) for i in range(3)]
    assert names == [f'S9_Walk.60457274_{i:06d}.jpg' for i in (0, 2, 4)]
    item = ds[1]
    assert item['seen'] and item['sample_idx'] == 1
    # get_subset keeps the arrays and re-indexes
    sub = ds.get_subset([2, 0])
    assert len(sub) == 2 and len(ds) == 3
    assert sub.get_data_info(0)['img_path'] == ds.get_data_info(2)['img_path']
    ds.get_subset_(-1)
    assert len(ds) == 1
    with pytest.raises(ValueError, match='num_samples'):
        MPTHumanDataDataset('x.npz', 'h36m', num_samples=0)
    with pytest.raises(ValueError, match='bbox_scale_factor'):
        MPTHumanDataDataset('x.npz', 'h36m', bbox_scale_factor=0)


def test_lazy_init_and_bad_files(tmp_path):
    ds = MPTHumanDataDataset(
        ann_file='missing.npz', dataset_name='x',
        data_prefix=str(tmp_path), lazy_init=True)  # nothing read yet
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        len(ds)
    data = make_pw3d_like()
    data['smpl']['betas'] = data['smpl']['betas'][:, :8]
    path = tmp_path / 'bad.npz'
    write_like_mmhuman3d(path, data)
    with pytest.raises(HumanDataFormatError,
                       match=r'bad.npz: key "smpl.betas" expected shape '
                       r'\(N, 10\)'):
        MPTHumanDataDataset(ann_file=str(path), dataset_name='x')


def test_gender_codes():
    np.testing.assert_array_equal(
        gender_codes(np.array(['m', 'f', 'M', 'female', 'male', '', 'n',
                               'neutral', 'x']), 9),
        [0, 1, 0, 1, 0, -1, -1, -1, 1])
    assert gender_codes(None, 3).tolist() == [-1, -1, -1]
    assert gender_codes(np.array([b'm', b'f']), 2).tolist() == [0, 1]
    assert gender_codes(np.array([0, 1, -1]), 3).tolist() == [0, 1, -1]
    assert gender_codes(np.array(['m', None], dtype=object),
                        2).tolist() == [0, -1]
    with pytest.raises(ValueError, match='-1/0/1'):
        gender_codes(np.array([2]), 1)
