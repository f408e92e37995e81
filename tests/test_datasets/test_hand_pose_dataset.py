"""MPTHandPoseDataset: MANO hand poses x cameras around the hand."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from torch.utils.data import DataLoader

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.datasets import MPTHandPoseDataset
from mpt_plugin.geometry import look_at_cameras, uniform_rotations
from mpt_plugin.registry import DATASETS
from mpt_plugin.synthetic.hand_model import make_synthetic_mano, save_mano_npz
from mpt_plugin.synthetic.hand_poses import (make_hand_pose_set,
                                             save_hand_pose_set)

NUM_POSES = 12


@pytest.fixture(scope='module')
def hand(tmp_path_factory):
    """``(folder, MPTMANO right hand, pose set)``: the synthetic right hand
    and ``NUM_POSES`` poses saved as ``poses/train.npz``."""
    folder = tmp_path_factory.mktemp('hand_pose_dataset')
    model = make_synthetic_mano(True)
    save_mano_npz(folder / 'MANO_RIGHT.npz', model)
    pose_set = make_hand_pose_set(model, NUM_POSES, seed=3)
    save_hand_pose_set(folder / 'poses' / 'train.npz', pose_set)
    layer = MPTMANO(folder / 'MANO_RIGHT.npz', flat_hand_mean=True,
                    dtype=torch.float64)
    return folder, layer, pose_set


def _dataset(hand, **kwargs):
    folder = hand[0]
    args = dict(ann_file='poses/train.npz', data_root=str(folder))
    args.update(kwargs)
    return MPTHandPoseDataset(**args)


def test_length_items_and_metainfo(hand):
    pose_set = hand[2]
    ds = _dataset(hand, num_views=5)
    assert len(ds) == NUM_POSES * 5
    assert ds.metainfo == dict(
        dataset_name='hand_poses', num_keypoints=21,
        keypoint_convention='hand_21', pose_space='flat', num_views=5,
        num_poses=NUM_POSES, is_rhand=True)
    item = ds[13]
    inputs, meta = item['inputs'], item['data_samples']
    assert int(meta['pose_index']) == 2 and int(meta['view_index']) == 3
    assert meta['pose_index'].dtype == torch.int64
    assert meta['pose_index'].shape == ()
    assert meta['view_index'].dtype == torch.int64
    shapes = dict(hand_pose=(45, ), betas=(10, ))
    for key, shape in shapes.items():
        assert inputs[key].shape == shape and inputs[key].dtype == \
            torch.float32
        np.testing.assert_array_equal(inputs[key].numpy(), pose_set[key][2])
    shapes = dict(cam_R=(3, 3), cam_T=(3, ), cam_f=(2, ), cam_c=(2, ))
    for key, shape in shapes.items():
        assert meta[key].shape == shape and meta[key].dtype == torch.float32
    np.testing.assert_allclose(meta['cam_f'].numpy(), [373.35, 373.35])
    np.testing.assert_allclose(meta['cam_c'].numpy(), [128.0, 128.0])
    cam_R, cam_T = look_at_cameras(uniform_rotations(5, 0), 0.6)
    np.testing.assert_allclose(meta['cam_R'].numpy(), cam_R[3], atol=1e-7)
    np.testing.assert_allclose(meta['cam_T'].numpy(), cam_T[3], atol=1e-7)
    # the same pose from every camera, another pose for the next index
    assert torch.equal(ds[10]['inputs']['hand_pose'],
                       ds[14]['inputs']['hand_pose'])
    assert not torch.equal(ds[10]['inputs']['hand_pose'],
                           ds[15]['inputs']['hand_pose'])
    # items do not share memory with the dataset
    item['inputs']['hand_pose'].zero_()
    assert ds[13]['inputs']['hand_pose'].abs().sum() > 0
    for idx in (len(ds), -1):
        with pytest.raises(IndexError):
            ds[idx]


def test_defaults_and_options(hand):
    ds = _dataset(hand)
    assert ds.num_views == 216 and len(ds) == NUM_POSES * 216
    assert ds.camera_distance == 0.6
    ds = _dataset(hand, num_views=2, max_poses=5, focal_length=(500., 400.),
                  principal_point=(100., 90.), camera_distance=1.5)
    assert len(ds) == 10 and ds.metainfo['num_poses'] == 5
    meta = ds[1]['data_samples']
    np.testing.assert_allclose(meta['cam_f'].numpy(), [500., 400.])
    np.testing.assert_allclose(meta['cam_c'].numpy(), [100., 90.])
    np.testing.assert_allclose(np.linalg.norm(meta['cam_T'].numpy()), 1.5,
                               rtol=1e-6)
    # an absolute ann_file ignores data_root
    ds = MPTHandPoseDataset(str(hand[0] / 'poses' / 'train.npz'),
                            data_root='/nonexistent', num_views=1)
    assert len(ds) == NUM_POSES
    for bad in (dict(num_views=0), dict(num_views=2.5),
                dict(focal_length=-1.0), dict(principal_point=(1., 2., 3.)),
                dict(max_poses=0)):
        with pytest.raises(ValueError):
            _dataset(hand, **bad)


def test_camera_convention(hand):
    _, layer, pose_set = hand
    ds = _dataset(hand, num_views=216)
    # the origin (the wrist) projects to the principal point at depth 0.6
    R, T = ds.cam_R.astype(np.float64), ds.cam_T.astype(np.float64)
    origin = np.einsum('nj,nji->ni', -T, R)
    np.testing.assert_allclose(origin[:, :2], 0, atol=1e-6)
    np.testing.assert_allclose(origin[:, 2], 0.6, atol=1e-6)
    f, c = ds.cam_f.astype(np.float64), ds.cam_c.astype(np.float64)
    np.testing.assert_allclose(f * origin[:, :2] / origin[:, 2:] + c,
                               np.tile(c, (216, 1)), atol=1e-4)
    # every joint of every (wrist-centred) posed hand is in front of every
    # camera, and projects into a sensible window around the image
    out = layer(hand_pose=torch.as_tensor(pose_set['hand_pose'],
                                          dtype=torch.float64),
                betas=torch.as_tensor(pose_set['betas'], dtype=torch.float64))
    joints = out['joints'].numpy()
    joints = joints - joints[:, :1]
    cam = np.einsum('pvkj,vji->pvki', joints[:, None] - T[None, :, None], R)
    assert cam[..., 2].min() > 0.35
    uv = f * cam[..., :2] / cam[..., 2:] + c
    assert np.abs(uv - c).max() < 128
    # the cameras look from all around: their centres cover both
    # hemispheres of every axis
    for axis in range(3):
        assert (T[:, axis] > 0.3).any() and (T[:, axis] < -0.3).any()


def test_deterministic_and_seeded(hand):
    a, b = _dataset(hand, num_views=8), _dataset(hand, num_views=8)
    for idx in (0, 7, 50):
        for part in ('inputs', 'data_samples'):
            for key, value in a[idx][part].items():
                assert torch.equal(value, b[idx][part][key]), key
    other = _dataset(hand, num_views=8, view_seed=1)
    assert not np.allclose(other.cam_R, a.cam_R)


def test_builds_from_config_and_pickles_small(hand):
    ds = DATASETS.build(dict(type='MPTHandPoseDataset',
                             ann_file='poses/train.npz',
                             data_root=str(hand[0]), num_views=3))
    assert isinstance(ds, MPTHandPoseDataset) and len(ds) == NUM_POSES * 3
    blob = pickle.dumps(ds)
    assert len(blob) < 16 * 1024
    clone = pickle.loads(blob)
    assert torch.equal(clone[5]['inputs']['betas'], ds[5]['inputs']['betas'])


def test_dataloader_collates(hand):
    ds = _dataset(hand, num_views=4)
    loader = DataLoader(ds, batch_size=6, shuffle=False,
                        collate_fn=default_collate)
    batch = next(iter(loader))
    assert batch['inputs']['hand_pose'].shape == (6, 45)
    assert batch['inputs']['betas'].shape == (6, 10)
    meta = batch['data_samples']
    assert meta['cam_R'].shape == (6, 3, 3) and meta['cam_T'].shape == (6, 3)
    assert meta['cam_f'].shape == (6, 2) and meta['cam_c'].shape == (6, 2)
    assert meta['pose_index'].tolist() == [0, 0, 0, 0, 1, 1]
    assert meta['view_index'].tolist() == [0, 1, 2, 3, 0, 1]
    assert len(list(loader)) == -(-len(ds) // 6)
