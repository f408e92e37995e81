"""Synthetic FreiHAND folders: official layout, exact labels, rendering,
determinism (mpt_plugin.synthetic.freihand_images)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.body_models.conventions import MANO21_TO_HAND21
from mpt_plugin.body_models.mano import FINGERTIP_VERTEX_IDS
from mpt_plugin.datasets.freihand_dataset import MPTFreiHANDDataset
from mpt_plugin.datasets.freihand_io import (FREIHAND_NUM_VERSIONS,
                                             freihand_image_paths,
                                             load_freihand_annotations)
from mpt_plugin.synthetic.freihand_images import (MANIFEST_NAME,
                                                  ROOT_KEYPOINT,
                                                  write_synthetic_freihand)
from mpt_plugin.synthetic.hand_model import make_synthetic_mano, save_mano_npz

N_TRAIN, N_EVAL = 3, 2
SPLITS = {'training': N_TRAIN, 'evaluation': N_EVAL}
KEYS = ('K', 'mano', 'xyz', 'verts', 'scale')


@pytest.fixture(scope='module')
def mano_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('freihand_mano')
    save_mano_npz(folder / 'MANO_RIGHT.npz', make_synthetic_mano(True, 0))
    return folder


@pytest.fixture(scope='module')
def freihand(tmp_path_factory, mano_dir):
    root = tmp_path_factory.mktemp('freihand') / 'FreiHAND'
    info = write_synthetic_freihand(root, mano_dir, N_TRAIN, N_EVAL, seed=3)
    return root, info


@pytest.fixture(scope='module')
def mano(mano_dir):
    return MPTMANO(mano_dir, is_rhand=True, flat_hand_mean=False,
                   joints_from='mesh', dtype=torch.float64)


def _raw(root, split, key):
    with open(osp.join(root, f'{split}_{key}.json'), encoding='utf-8') as fh:
        return json.load(fh)


def _project(K, points):
    uvw = np.einsum('...ij,...kj->...ki', K, points)
    return uvw[..., :2] / uvw[..., 2:]


def test_layout_loads_through_freihand_io_and_dataset(freihand):
    root, info = freihand
    assert info['num_training'] == N_TRAIN
    assert info['training_images'] == 4 * N_TRAIN
    assert info['evaluation_images'] == N_EVAL
    assert osp.isfile(osp.join(root, MANIFEST_NAME))
    for split, num in SPLITS.items():
        # the official nesting, checked on the raw JSON
        raw = {key: _raw(root, split, key) for key in KEYS}
        assert all(len(v) == num for v in raw.values())
        assert np.asarray(raw['K']).shape == (num, 3, 3)
        assert np.asarray(raw['mano']).shape == (num, 1, 61)
        assert np.asarray(raw['xyz']).shape == (num, 21, 3)
        assert np.asarray(raw['verts']).shape == (num, 778, 3)
        assert np.asarray(raw['scale']).shape == (num, )
        ann = load_freihand_annotations(root, split)
        assert sorted(ann) == sorted(KEYS)
        assert ann['mano'].shape == (num, 61)
        paths = freihand_image_paths(root, split, num)
        versions = FREIHAND_NUM_VERSIONS[split]
        assert len(paths) == versions * num
        assert sorted(os.listdir(osp.join(root, split, 'rgb'))) == [
            f'{i:08d}.jpg' for i in range(versions * num)
        ]
        for path in paths:
            img = cv2.imread(path)
            assert img is not None and img.shape == (224, 224, 3)
        dataset = MPTFreiHANDDataset(str(root), split=split)
        assert len(dataset) == versions * num
        last = dataset[len(dataset) - 1]
        assert last['version'] == versions - 1 and last['ann_idx'] == num - 1
        assert last['img_path'] == paths[-1]
        np.testing.assert_allclose(last['keypoints3d'], ann['xyz'][-1])
        np.testing.assert_allclose(last['mano_pose'], ann['mano'][-1, :48])
        np.testing.assert_allclose(last['mano_betas'],
                                   ann['mano'][-1, 48:58])
    masks = sorted(os.listdir(osp.join(root, 'training', 'mask')))
    assert masks == [f'{i:08d}.jpg' for i in range(N_TRAIN)]


@pytest.mark.parametrize('split', sorted(SPLITS))
def test_labels_are_the_mano_hand_of_the_stored_parameters(
        freihand, mano, split):
    root, _ = freihand
    ann = {key: np.asarray(_raw(root, split, key), np.float64)
           for key in KEYS}
    mano_row = ann['mano'][:, 0]
    with torch.no_grad():
        out = mano(betas=torch.as_tensor(mano_row[:, 48:58]),
                   global_orient=torch.as_tensor(mano_row[:, :3]),
                   hand_pose=torch.as_tensor(mano_row[:, 3:48]))
    verts0 = out['vertices'].numpy()
    joints0 = out['joints'].numpy()
    transl = (ann['verts'] - verts0).mean(axis=1, keepdims=True)
    # one rigid translation per sample explains all vertices and joints
    np.testing.assert_allclose(ann['verts'], verts0 + transl, atol=1e-5)
    np.testing.assert_allclose(ann['xyz'], joints0 + transl, atol=1e-5)
    # FreiHAND's joint definition on the stored vertices directly
    regressor = mano.J_regressor.numpy()
    mano21 = np.concatenate([
        np.einsum('jv,nvc->njc', regressor, ann['verts']),
        ann['verts'][:, list(FINGERTIP_VERTEX_IDS['freihand'])]
    ], axis=1)
    np.testing.assert_allclose(ann['xyz'], mano21[:, MANO21_TO_HAND21],
                               atol=1e-5)
    # scale file: bone length; mano tail: uv_root and focal / depth of
    # the official root keypoint (9), which recover it
    bone = np.linalg.norm(ann['xyz'][:, 9] - ann['xyz'][:, 10], axis=-1)
    np.testing.assert_allclose(ann['scale'], bone, atol=1e-7)
    K = ann['K']
    root_xyz = ann['xyz'][:, ROOT_KEYPOINT]
    np.testing.assert_allclose(mano_row[:, 58:60],
                               _project(K, root_xyz[:, None])[:, 0],
                               atol=1e-6)
    focal = (K[:, 0, 0] + K[:, 1, 1]) / 2
    scale = mano_row[:, 60]
    np.testing.assert_allclose(scale, focal / root_xyz[:, 2], rtol=1e-7)
    back = np.concatenate([(mano_row[:, 58:60] - K[:, :2, 2]),
                           focal[:, None]], axis=1) / scale[:, None]
    np.testing.assert_allclose(back, root_xyz, atol=1e-6)
    # FreiHAND-like cameras and depths
    np.testing.assert_array_equal(K[:, 0, 0], K[:, 1, 1])
    assert ((K[:, 0, 0] >= 450) & (K[:, 0, 0] <= 650)).all()
    assert (np.abs(K[:, :2, 2] - 112) <= 1.5).all()
    np.testing.assert_array_equal(K[:, 2], np.tile([0.0, 0.0, 1.0],
                                                    (len(K), 1)))
    assert ((root_xyz[:, 2] > 0.4) & (root_xyz[:, 2] < 0.8)).all()


def test_the_hand_is_drawn_where_the_labels_say(freihand):
    root, _ = freihand
    for split, num in SPLITS.items():
        ann = load_freihand_annotations(root, split)
        K = ann['K'].astype(np.float64)
        for points in (ann['xyz'], ann['verts']):
            uv = _project(K, points)
            assert (uv >= 22).all() and (uv <= 202).all()  # central 180 box
        uv = _project(K, ann['xyz'])
        for v in range(FREIHAND_NUM_VERSIONS[split]):
            for i in range(num):
                path = osp.join(root, split, 'rgb', f'{i + num * v:08d}.jpg')
                img = cv2.imread(path)[..., ::-1].astype(np.float64)  # RGB
                corner = np.median(img[:6, :6].reshape(-1, 3), axis=0)
                for joint in (0, 9):  # wrist, middle MCP
                    x, y = np.round(uv[i, joint]).astype(int)
                    patch = img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)
                    red, green, blue = patch.mean(axis=0)
                    assert red > blue - 8  # skin, whatever the tint
                    if split == 'training' and v == 0:
                        # skin over the green screen
                        assert corner[1] > corner[0] + 60
                        assert np.abs(patch.mean(0) - corner).sum() > 60
                        assert red > green - 10
    tr = load_freihand_annotations(root, 'training', ['K', 'xyz'])
    uv = _project(tr['K'].astype(np.float64), tr['xyz'])
    for i in range(N_TRAIN):
        mask = cv2.imread(osp.join(root, 'training', 'mask', f'{i:08d}.jpg'),
                          cv2.IMREAD_GRAYSCALE)
        x, y = np.round(uv[i, 9]).astype(int)
        assert mask.shape == (224, 224)
        assert mask[y, x] > 200 and mask[:10, :10].max() < 50


def test_same_seed_same_bytes(freihand, mano_dir, tmp_path):
    root, _ = freihand
    again = tmp_path / 'again'
    other = tmp_path / 'other'
    write_synthetic_freihand(again, mano_dir, N_TRAIN, N_EVAL, seed=3)
    write_synthetic_freihand(other, mano_dir, N_TRAIN, N_EVAL, seed=4)
    for split in SPLITS:
        for key in KEYS:
            name = f'{split}_{key}.json'
            with open(osp.join(root, name), 'rb') as a, \
                    open(again / name, 'rb') as b, \
                    open(other / name, 'rb') as c:
                first = a.read()
                assert first == b.read()
                assert first != c.read()
    name = osp.join('training', 'rgb', f'{N_TRAIN + 1:08d}.jpg')
    with open(osp.join(root, name), 'rb') as a, open(again / name,
                                                     'rb') as b:
        assert a.read() == b.read()
    # a rerun over its own folder is fine; real annotations are refused
    write_synthetic_freihand(again, mano_dir, 1, 1, seed=0)
    assert len(load_freihand_annotations(again, 'training')['K']) == 1
    os.remove(again / MANIFEST_NAME)
    with pytest.raises(FileExistsError, match='not written by'):
        write_synthetic_freihand(again, mano_dir, 1, 1)


def test_bad_arguments(mano_dir, tmp_path):
    with pytest.raises(ValueError, match='num_training'):
        write_synthetic_freihand(tmp_path / 'a', mano_dir, 0, 1)
    with pytest.raises(ValueError, match='seed'):
        write_synthetic_freihand(tmp_path / 'a', mano_dir, 1, 1, seed=-1)
    with pytest.raises(ValueError, match='quality'):
        write_synthetic_freihand(tmp_path / 'a', mano_dir, 1, 1, quality=0)
    with pytest.raises(FileNotFoundError):
        write_synthetic_freihand(tmp_path / 'a', tmp_path / 'no_model', 1, 1)
