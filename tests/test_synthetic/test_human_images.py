import importlib.util
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch

from mpt_plugin.body_models import MPTGenderedSMPL
from mpt_plugin.body_models.conventions import (convert_keypoints,
                                                get_keypoint_names)
from mpt_plugin.body_models.io import load_npz_safe
from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.synthetic import human_images as shi
from mpt_plugin.synthetic.human_images import (LAYOUTS,
                                               render_synthetic_human_data,
                                               sample_body_pose,
                                               synthetic_image_paths)
from mpt_plugin.visualization.rasterizer import render_mesh

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SIZE = (96, 112)  # (H, W)
NUM = 6
H36M_IN_HD = [4, 5, 7, 8, 16, 17, 18, 19, 20, 21, 144, 145, 146, 147, 148,
              150, 152]  # ascending human_data indices of the h36m joints
PELVIS_HD = 148  # pelvis_extra


def _body_dir(synthetic_assets):
    return str(synthetic_assets / 'body_models')


def _render(prefix, synthetic_assets, layout, dataset, ann, **kw):
    kw.setdefault('image_size', SIZE)
    kw.setdefault('batch_size', 4)
    kw.setdefault('quiet', True)
    return render_synthetic_human_data(prefix, dataset, ann,
                                       kw.pop('num', NUM),
                                       _body_dir(synthetic_assets),
                                       layout=layout, **kw)


@pytest.fixture(scope='module')
def rendered(synthetic_assets, tmp_path_factory):
    prefix = tmp_path_factory.mktemp('synthetic_images')
    files = {
        'h36m_p2': _render(prefix, synthetic_assets, 'h36m_p2', 'h36m',
                           'h36m_valid_protocol2.npz'),
        'pw3d': _render(prefix, synthetic_assets, 'pw3d', 'pw3d',
                        'pw3d_test.npz'),
        'train_full': _render(prefix, synthetic_assets, 'train_full',
                              'h36m', 'h36m_train.npz', seed=3),
        'train_2d': _render(prefix, synthetic_assets, 'train_2d', 'coco',
                            'coco_2014_train.npz'),
    }
    return prefix, files


@pytest.fixture(scope='module')
def gendered_smpl(synthetic_assets):
    body = _body_dir(synthetic_assets)
    return MPTGenderedSMPL(body, dtype=torch.float64,
                           joints_regressor=osp.join(body,
                                                     'J_regressor_h36m.npy'))


def _load(path):
    return load_npz_safe(path)


def _full(raw, mask):
    out = np.zeros((raw.shape[0], 190, raw.shape[2]), raw.dtype)
    out[:, np.flatnonzero(mask)] = raw
    return out


def _images(prefix, dataset, data):
    root = osp.join(prefix, 'datasets', dataset)
    return [cv2.imread(osp.join(root, p)) for p in data['image_path']]


def test_files_keys_and_shapes(rendered):
    prefix, files = rendered
    for layout, path in files.items():
        assert osp.isfile(path)
        assert path.startswith(osp.join(str(prefix), 'preprocessed_datasets'))
        # The parts folder of the resumable run is gone.
        assert not any(n.startswith('.') for n in os.listdir(
            osp.dirname(path)))
    hd = _load(files['h36m_p2'])
    assert hd['__data_len__'] == NUM and hd['__keypoints_compressed__']
    assert hd['__key_strict__'] is False or hd['__key_strict__'] == 0
    assert hd['config'] == 'h36m'
    assert hd['image_path'].dtype.kind == 'U' and hd['image_path'].shape == (
        NUM, )
    for p in hd['image_path']:
        assert re.fullmatch(r'S(9|11)/images/(S9|S11)_\w+\.60457274/'
                            r'\2_\w+\.60457274_\d{6}\.jpg', p), p
    assert hd['keypoints2d'].shape == (NUM, 17, 3)
    assert hd['keypoints3d'].shape == (NUM, 17, 4)
    for key in ('keypoints2d_mask', 'keypoints3d_mask'):
        assert hd[key].dtype == np.uint8 and hd[key].shape == (190, )
        np.testing.assert_array_equal(np.flatnonzero(hd[key]), H36M_IN_HD)
    assert hd['bbox_xywh'].shape == (NUM, 5)
    assert (hd['bbox_xywh'][:, 4] == 1).all()
    assert not {'smpl', 'meta', 'has_smpl'} & set(hd)
    # Root-centred metres, conf 1.
    kp3d = _full(hd['keypoints3d'], hd['keypoints3d_mask'])
    np.testing.assert_allclose(kp3d[:, PELVIS_HD, :3], 0, atol=1e-6)
    assert (hd['keypoints3d'][..., 3] == 1).all()
    assert 0.3 < np.abs(hd['keypoints3d'][..., :3]).max() < 1.5

    hd = _load(files['pw3d'])
    assert hd['config'] == 'pw3d'
    assert not {'keypoints2d', 'keypoints3d'} & set(hd)
    for p in hd['image_path']:
        assert re.fullmatch(r'imageFiles/\w+_\d\d/image_\d{5}\.jpg', p), p
    assert hd['smpl']['body_pose'].shape == (NUM, 23, 3)
    assert hd['smpl']['global_orient'].shape == (NUM, 3)
    assert hd['smpl']['betas'].shape == (NUM, 10)
    assert hd['smpl']['transl'].shape == (NUM, 3)
    assert set(hd['meta']['gender']) <= {'m', 'f'}
    assert hd['meta']['gender'].shape == (NUM, )

    hd = _load(files['train_full'])
    assert {'keypoints2d', 'keypoints3d', 'smpl', 'meta', 'has_smpl',
            'misc'} <= set(hd)
    assert (hd['has_smpl'] == 1).all()
    mask = hd['keypoints2d_mask']
    assert set(H36M_IN_HD) <= set(np.flatnonzero(mask))
    assert mask.sum() == 17 + 45 - 10  # smpl_45 minus 10 h36m-named

    hd = _load(files['train_2d'])
    assert hd['config'] == 'coco'
    assert 'keypoints2d' in hd
    assert not {'keypoints3d', 'smpl', 'meta'} & set(hd)
    assert all(re.fullmatch(r'train2014/COCO_train2014_\d{12}\.jpg', p)
               for p in hd['image_path'])


def test_images_written(rendered):
    prefix, files = rendered
    hd = _load(files['train_2d'])
    images = _images(prefix, 'coco', hd)
    for img in images:
        assert img is not None and img.shape == SIZE + (3, )
        assert img.std() > 10  # textured, not blank
    assert not np.array_equal(images[0], images[1])


def test_ground_truth_consistent_with_render(rendered, gendered_smpl):
    prefix, files = rendered
    hd = _load(files['train_full'])
    smpl, misc = hd['smpl'], hd['misc']
    np.testing.assert_array_equal(misc['image_size'], SIZE)
    gender = torch.as_tensor(
        (hd['meta']['gender'] == 'f').astype(np.int64))
    f64 = torch.float64
    out = gendered_smpl(
        betas=torch.as_tensor(smpl['betas'], dtype=f64),
        body_pose=torch.as_tensor(smpl['body_pose'],
                                  dtype=f64).reshape(-1, 69),
        global_orient=torch.as_tensor(smpl['global_orient'], dtype=f64),
        transl=torch.as_tensor(smpl['transl'], dtype=f64), gender=gender)
    verts = out['vertices'].numpy()
    h36m = out['joints_regressed'].numpy()
    # SMPL params (camera-frame orient + transl) reproduce the 3D joints.
    kp3d = _full(hd['keypoints3d'], hd['keypoints3d_mask'])
    h36m_hd, _ = convert_keypoints(h36m, 'h36m', 'human_data')
    np.testing.assert_allclose(misc['root_cam'], h36m[:, 0], atol=1e-4)
    np.testing.assert_allclose(
        kp3d[:, H36M_IN_HD, :3] + misc['root_cam'][:, None],
        h36m_hd[:, H36M_IN_HD], atol=1e-4)
    assert (h36m[:, :, 2] > 1.0).all()  # in front of the camera
    # 2D keypoints = projection of the 3D joints with the camera.
    mask = hd['keypoints2d_mask'].astype(bool)
    kp2d = _full(hd['keypoints2d'], hd['keypoints2d_mask'])
    proj = project_points(kp3d[:, mask, :3] + misc['root_cam'][:, None],
                          misc['focal_length'][:, None],
                          misc['principal_point'][:, None])
    np.testing.assert_allclose(proj, kp2d[:, mask, :2], atol=1e-2)
    inside = ((proj >= -0.5) & (proj < np.array(SIZE[::-1]) - 0.5)).all(-1)
    np.testing.assert_array_equal(kp2d[:, mask, 2], inside)
    # Joints land on the silhouette of the re-rendered mesh (surface
    # landmarks, e.g. a thumb tip thinner than a pixel, and the head top
    # may sit just outside: within 2 px).
    names = np.array(get_keypoint_names('human_data'))
    interior = [j for j in H36M_IN_HD if names[j] != 'headtop']
    images = _images(prefix, 'h36m', hd)
    faces = gendered_smpl.neutral.faces
    for i in range(NUM):
        sil = render_mesh(verts[i], faces, misc['focal_length'][i], SIZE,
                          misc['principal_point'][i]).mask
        grown = cv2.dilate(sil.astype(np.uint8), np.ones((5, 5), np.uint8))
        for j in np.flatnonzero(mask):
            if kp2d[i, j, 2] == 0:
                continue
            x, y = np.round(kp2d[i, j, :2]).astype(int)
            assert grown[y, x], (i, names[j])
            if j in interior:
                assert sil[y, x], (i, names[j])
        # Keypoint box x1.2 holds the silhouette's centre.
        x0, y0, w, h, _ = hd['bbox_xywh'][i]
        rows, cols = np.nonzero(sil)
        assert x0 <= cols.mean() <= x0 + w and y0 <= rows.mean() <= y0 + h
        assert images[i].shape == SIZE + (3, )


def test_h36m_mask_box(rendered, gendered_smpl, synthetic_assets):
    prefix, files = rendered
    hd = _load(files['h36m_p2'])
    kp2d = hd['keypoints2d']
    box = hd['bbox_xywh']
    # The box is 0.9 x the tight silhouette box: its centre lies inside
    # the 2D joints' range and the joints overflow it a little.
    cx, cy = box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2
    assert ((kp2d[..., 0].min(1) < cx) & (cx < kp2d[..., 0].max(1))).all()
    assert ((kp2d[..., 1].min(1) < cy) & (cy < kp2d[..., 1].max(1))).all()
    span = np.maximum(kp2d[..., 0].max(1) - kp2d[..., 0].min(1),
                      kp2d[..., 1].max(1) - kp2d[..., 1].min(1))
    assert (np.maximum(box[:, 2], box[:, 3]) < 1.1 * span).all()
    # Same samples in the 'train_full' layout with the same seed share the
    # camera and the body, so the silhouette can be re-rendered exactly.
    full = _render(prefix, synthetic_assets, 'train_full', 'h36m',
                   'h36m_check.npz', split='test')
    hf = _load(full)
    f64 = torch.float64
    out = gendered_smpl(
        betas=torch.as_tensor(hf['smpl']['betas'], dtype=f64),
        body_pose=torch.as_tensor(hf['smpl']['body_pose'],
                                  dtype=f64).reshape(-1, 69),
        global_orient=torch.as_tensor(hf['smpl']['global_orient'],
                                      dtype=f64),
        transl=torch.as_tensor(hf['smpl']['transl'], dtype=f64),
        gender=torch.as_tensor((hf['meta']['gender'] == 'f').astype(int)))
    for i in range(NUM):
        sil = render_mesh(out['vertices'][i].numpy(),
                          gendered_smpl.neutral.faces,
                          hf['misc']['focal_length'][i], SIZE,
                          hf['misc']['principal_point'][i]).mask
        rows, cols = np.nonzero(sil)
        w, h = cols.max() - cols.min(), rows.max() - rows.min()
        np.testing.assert_allclose(
            box[i, :4], [(cols.min() + cols.max()) / 2 - 0.45 * w,
                         (rows.min() + rows.max()) / 2 - 0.45 * h, 0.9 * w,
                         0.9 * h], atol=1e-3)
    np.testing.assert_array_equal(hf['image_path'], hd['image_path'])


def test_deterministic_and_seed_dependent(rendered, synthetic_assets,
                                          tmp_path):
    prefix, files = rendered
    again = _render(tmp_path, synthetic_assets, 'h36m_p2', 'h36m',
                    'h36m_valid_protocol2.npz', batch_size=5)
    a, b = _load(files['h36m_p2']), _load(again)
    for key in ('keypoints2d', 'keypoints3d', 'bbox_xywh'):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a['image_path'], b['image_path'])
    for p in a['image_path']:
        with open(osp.join(prefix, 'datasets', 'h36m', p), 'rb') as f1, \
                open(osp.join(tmp_path, 'datasets', 'h36m', p), 'rb') as f2:
            assert f1.read() == f2.read()
    # A prefix of a longer run is the same data (sample i needs only i).
    longer = _load(_render(tmp_path, synthetic_assets, 'h36m_p2', 'h36m',
                           'longer.npz', num=NUM + 2))
    np.testing.assert_array_equal(longer['keypoints2d'][:NUM],
                                  a['keypoints2d'])
    other = _load(_render(tmp_path, synthetic_assets, 'h36m_p2', 'h36m',
                          'other.npz', seed=1))
    assert not np.allclose(other['keypoints2d'], a['keypoints2d'])


class _Interrupted(Exception):
    pass


def test_resume_after_interruption(synthetic_assets, tmp_path, monkeypatch):
    calls, fail_at = [], [1]
    real = shi._render_batch

    def flaky(*args, **kwargs):
        calls.append(int(args[2][0]))
        if len(calls) == 2 and fail_at.pop() == 1:
            raise _Interrupted('simulated interruption')
        return real(*args, **kwargs)

    monkeypatch.setattr(shi, '_render_batch', flaky)
    with pytest.raises(_Interrupted):
        _render(tmp_path, synthetic_assets, 'train_2d', 'mpii', 'mpii.npz',
                num=10)
    ann = tmp_path / 'preprocessed_datasets' / 'mpii.npz'
    parts = tmp_path / 'preprocessed_datasets' / '.mpii.npz.parts'
    assert not ann.exists() and parts.is_dir()
    assert sorted(os.listdir(parts)) == ['params.json', 'part_0000000.npz']
    calls.clear()
    fail_at.append(0)
    _render(tmp_path, synthetic_assets, 'train_2d', 'mpii', 'mpii.npz',
            num=10)
    assert calls == [4, 8]  # the first batch was not rendered again
    assert ann.exists() and not parts.exists()
    # Same result as an uninterrupted run.
    monkeypatch.setattr(shi, '_render_batch', real)
    ref = _render(tmp_path / 'ref', synthetic_assets, 'train_2d', 'mpii',
                  'mpii.npz', num=10)
    np.testing.assert_array_equal(_load(str(ann))['keypoints2d'],
                                  _load(ref)['keypoints2d'])
    # An existing file is kept (no rendering at all).
    calls.clear()
    monkeypatch.setattr(shi, '_render_batch', flaky)
    _render(tmp_path, synthetic_assets, 'train_2d', 'mpii', 'mpii.npz',
            num=10)
    assert calls == []


def test_paths_pose_and_errors(synthetic_assets, tmp_path):
    paths = synthetic_image_paths('h36m', [0, 1, 8], split='test')
    assert paths[0] == ('S9/images/S9_Directions.60457274/'
                        'S9_Directions.60457274_000001.jpg')
    assert paths[1].endswith('_000006.jpg')
    assert paths[2].startswith('S11/images/S11_Directions.60457274/')
    assert synthetic_image_paths('pw3d', [3], 'test')[0] == \
        'imageFiles/downtown_arguing_00/image_00003.jpg'
    assert synthetic_image_paths('up3d', [7])[0] == 'trainval/00007_image.png'
    assert synthetic_image_paths('foo', [7])[0] == 'images/000007.jpg'
    pose = sample_body_pose(np.random.default_rng(0))
    assert pose.shape == (23, 3) and np.isfinite(pose).all()
    assert np.linalg.norm(pose, axis=1).max() <= np.pi
    assert set(LAYOUTS) == {'h36m_p2', 'pw3d', 'train_full', 'train_2d'}
    with pytest.raises(ValueError, match='layout'):
        _render(tmp_path, synthetic_assets, 'bogus', 'h36m', 'x.npz')
    with pytest.raises(ValueError, match='num_samples'):
        _render(tmp_path, synthetic_assets, 'pw3d', 'pw3d', 'x.npz', num=0)
    with pytest.raises(ValueError, match='ann_file'):
        _render(tmp_path, synthetic_assets, 'pw3d', 'pw3d', 'x.json')
    with pytest.raises(FileNotFoundError, match='body_model_dir'):
        render_synthetic_human_data(tmp_path, 'pw3d', 'x.npz', 2,
                                    tmp_path / 'missing', quiet=True)


def test_cli_all_preset(synthetic_assets, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'make_synthetic_images',
        osp.join(REPO, 'tools', 'make_synthetic_images.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    prefix = tmp_path / 'imgs'
    assert tool.main([
        '--all', '--data-prefix', str(prefix), '--num', '2',
        '--image-size', '48', '64', '--body-model-dir',
        _body_dir(synthetic_assets), '--quiet'
    ]) == 0
    expected = {
        'h36m_valid_protocol2.npz': 'h36m', 'pw3d_test.npz': 'pw3d',
        'h36m_train.npz': 'h36m', 'muco3dhp_train.npz': 'muco3dhp',
        'up3d_trainval.npz': 'up3d', 'coco_2014_train.npz': 'coco',
        'mpii_train.npz': 'mpii', 'pw3d_train.npz': 'pw3d'
    }
    assert sorted(os.listdir(prefix / 'preprocessed_datasets')) == sorted(
        expected)
    for ann, config in expected.items():
        hd = _load(str(prefix / 'preprocessed_datasets' / ann))
        assert hd['config'] == config and hd['__data_len__'] == 2
    assert sorted(os.listdir(prefix / 'datasets')) == [
        'coco', 'h36m', 'mpii', 'muco', 'pw3d', 'up3d'
    ]
    up3d = _load(str(prefix / 'preprocessed_datasets' / 'up3d_trainval.npz'))
    img = cv2.imread(str(prefix / 'datasets' / 'up3d' /
                         up3d['image_path'][0]))
    assert img.shape == (48, 64, 3)
    # Different files of the preset use different seeds.
    a = _load(str(prefix / 'preprocessed_datasets' / 'h36m_train.npz'))
    b = _load(str(prefix / 'preprocessed_datasets' / 'pw3d_train.npz'))
    assert not np.allclose(a['smpl']['betas'], b['smpl']['betas'])
    with pytest.raises(SystemExit):
        tool.main(['--body-model-dir', str(tmp_path / 'nope'), '--quiet'])
