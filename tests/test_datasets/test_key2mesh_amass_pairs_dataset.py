"""Tests for Key2MeshAMASSPairsDataset and Key2MeshPairsPreprocessor."""
import os

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import MPTSMPL
from mpt_plugin.datasets.amass_io import (find_amass_sequences,
                                          read_amass_sequence,
                                          zup_to_yup_root)
from mpt_plugin.body_models.conventions import SMPL45_TO_OPENPOSE18
from mpt_plugin.datasets.key2mesh_amass_pairs_dataset import \
    Key2MeshAMASSPairsDataset
from mpt_plugin.datasets import mocap_smpl_store
from mpt_plugin.datasets.mocap_smpl_store import MoCapSMPLStore, select_frames
from mpt_plugin.geometry.cameras import project_fixed_camera
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.geometry.rotations import (euler_xyz_to_rotmat,
                                           rotate_smpl_root)
from mpt_plugin.models.data_preprocessors.key2mesh_pairs_preprocessor import \
    Key2MeshPairsPreprocessor
from mpt_plugin.models.losses.key2mesh_loss import Key2MeshLoss
from mpt_plugin.registry import DATASETS, MODELS


@pytest.fixture(scope='module')
def amass_root(synthetic_assets):
    return str(synthetic_assets / 'amass')


@pytest.fixture(scope='module')
def body_model_cfg(synthetic_assets):
    return dict(type='MPTSMPL',
                model_path=str(synthetic_assets / 'body_models'),
                gender='neutral')


@pytest.fixture(scope='module')
def dataset(amass_root):
    return Key2MeshAMASSPairsDataset(amass_root, sample_fps=10,
                                     verbose=False)


@pytest.fixture(scope='module')
def eval_dataset(amass_root):
    return Key2MeshAMASSPairsDataset(amass_root, num_samples=40,
                                     test_mode=True, verbose=False)


@pytest.fixture(scope='module')
def preprocessor(body_model_cfg):
    return MODELS.build(
        dict(type='Key2MeshPairsPreprocessor', body_model=body_model_cfg))


def _batch(ds, indices, collate=pseudo_collate):
    return collate([ds[int(i)] for i in indices])


def test_lengths_and_frames(dataset, amass_root):
    paths = find_amass_sequences(amass_root)
    seqs = [read_amass_sequence(p) for p in paths]
    frames = select_frames([s.num_frames for s in seqs],
                           [s.fps for s in seqs], sample_fps=10)
    assert len(dataset) == sum(len(f) for f in frames)
    assert len(dataset.sequences) == len(paths)
    assert dataset.poses.shape == (len(dataset), 72)
    assert dataset.betas.shape == (len(dataset), 10)
    assert dataset.poses.dtype == np.float32
    assert dataset.poses[:5].dtype == np.float32
    # the source is the memory-mapped store: no copy of the poses
    assert isinstance(dataset.store, MoCapSMPLStore)
    assert isinstance(dataset.store.pose, np.memmap)
    assert not any(isinstance(v, np.ndarray) and v.ndim == 2
                   and len(v) == len(dataset)
                   for v in vars(dataset).values())
    assert dataset.frames.shape == (len(dataset), 2)
    assert dataset.frames.dtype == np.int32
    assert dataset.sequences == [str(p) for p in paths]
    assert dataset.bad_files == []
    # stored frame = the y-up file frame
    k = len(dataset) // 2
    s, f = dataset.frames[k]
    expect, _ = zup_to_yup_root(seqs[s].poses[f:f + 1])
    np.testing.assert_allclose(dataset.poses[k], expect[0], atol=1e-5)
    np.testing.assert_allclose(dataset.betas[k], seqs[s].betas, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(dataset.poses)[k],
                                  dataset.poses[k])
    p = dataset.params(np.array([k, 0]))
    assert p['pose_aa'].shape == (2, 72) and p['betas'].shape == (2, 10)
    assert 'gender' not in p  # Key2Mesh poses the neutral body
    np.testing.assert_array_equal(p['pose_aa'][0], dataset.poses[k])
    np.testing.assert_array_equal(p['sequence_index'], [s, 0])

    few = Key2MeshAMASSPairsDataset(amass_root, num_samples=50,
                                    verbose=False)
    assert len(few) == 50
    with pytest.raises(ValueError, match='not both'):
        Key2MeshAMASSPairsDataset(amass_root, sample_fps=1, num_samples=5)
    with pytest.raises(ValueError, match='rot_y_range'):
        Key2MeshAMASSPairsDataset(amass_root, num_samples=5,
                                  rot_y_range=(10, 0))
    built = DATASETS.build(
        dict(type='Key2MeshAMASSPairsDataset', data_root=amass_root,
             num_samples=20, split='train', verbose=False))
    assert 0 < len(built) <= 20


def test_store_shared_and_equal_to_yup_conversion(amass_root, tmp_path,
                                                  monkeypatch):
    cache = tmp_path / 'cache'
    a = Key2MeshAMASSPairsDataset(amass_root, num_samples=30,
                                  cache_root=str(cache), test_mode=True,
                                  seed=5, verbose=False)
    stores = sorted(os.listdir(cache))
    assert len(stores) == 1 and stores[0].startswith('smpl_')
    assert a.store.store_dir == str(cache / stores[0])

    # a second construction with the same files and sampling (other
    # options differ) opens the same folder and reads no AMASS file
    def no_read(*args, **kwargs):
        raise AssertionError('an AMASS file was read')

    monkeypatch.setattr(mocap_smpl_store, 'read_amass_sequence', no_read)
    b = Key2MeshAMASSPairsDataset(amass_root, num_samples=30,
                                  cache_root=str(cache), seed=9,
                                  rot_y_range=(0, 90), verbose=False)
    assert sorted(os.listdir(cache)) == stores
    assert b.store.store_dir == a.store.store_dir
    assert len(b) == len(a) == 30
    c = Key2MeshAMASSPairsDataset(amass_root, num_samples=30,
                                  cache_root=str(cache), test_mode=True,
                                  seed=5, verbose=False)
    for i in (0, 7, 29):
        torch.testing.assert_close(c[i]['inputs']['pose_aa'],
                                   a[i]['inputs']['pose_aa'], rtol=0,
                                   atol=0)
    monkeypatch.undo()

    # item = the old pipeline: the file's frame converted to y up once
    # (float64, then float32), then the random rotation, for a fixed seed
    seqs = [read_amass_sequence(p) for p in find_amass_sequences(amass_root)]
    assert a.sequences == [str(s.path) for s in seqs]
    chosen = select_frames([s.num_frames for s in seqs],
                           [s.fps for s in seqs], num_samples=30)
    old_frames = np.concatenate(
        [np.stack([np.full(len(f), i), f], 1) for i, f in enumerate(chosen)])
    np.testing.assert_array_equal(a.frames, old_frames)
    for i in range(len(a)):
        s, f = old_frames[i]
        old_pose = zup_to_yup_root(seqs[s].poses[f:f + 1])[0].astype(
            np.float32)
        euler = np.random.default_rng([5, i]).random(3) * [40, 360, 40] \
            + [-20, 0, -20]
        rot = euler_xyz_to_rotmat(euler[None])
        old = rotate_smpl_root(old_pose, rot)[0].astype(np.float32)
        item = a[i]
        np.testing.assert_allclose(
            item['data_samples']['rot_euler_deg'].numpy(), euler, atol=1e-4)
        new = item['inputs']['pose_aa'].numpy()
        assert new.dtype == np.float32
        np.testing.assert_array_equal(new[3:], old[3:])
        np.testing.assert_allclose(
            Rotation.from_rotvec(new[:3]).as_matrix(),
            Rotation.from_rotvec(old[:3]).as_matrix(), atol=2e-6)
        np.testing.assert_array_equal(item['inputs']['betas'].numpy(),
                                      seqs[s].betas.astype(np.float32))
        assert item['data_samples']['sequence_index'].dtype == torch.int64
        assert int(item['data_samples']['frame_index']) == f


def test_explicit_sequences_and_split(amass_root, tmp_path):
    rel = [os.path.relpath(str(p), amass_root)
           for p in find_amass_sequences(amass_root)]
    ds = Key2MeshAMASSPairsDataset(amass_root, sequences=rel[:2],
                                   sample_fps=10, cache_root=str(tmp_path),
                                   verbose=False)
    assert ds.sequences == [os.path.join(amass_root, r) for r in rel[:2]]
    assert set(np.unique(ds.frames[:, 0])) == {0, 1}
    with pytest.raises(FileNotFoundError, match='not found'):
        Key2MeshAMASSPairsDataset(amass_root, sequences=['nope_poses.npz'],
                                  cache_root=str(tmp_path), verbose=False)
    train = Key2MeshAMASSPairsDataset(amass_root, split='train',
                                      sample_fps=10,
                                      cache_root=str(tmp_path),
                                      verbose=False)
    assert train.store.store_dir != ds.store.store_dir
    assert len(os.listdir(tmp_path)) == 2


def test_item_shapes_and_rotation(dataset):
    item = dataset[3]
    assert item['inputs']['pose_aa'].shape == (72, )
    assert item['inputs']['pose_aa'].dtype == torch.float32
    assert item['inputs']['betas'].shape == (10, )
    euler = item['data_samples']['rot_euler_deg'].numpy().astype(np.float64)
    rot = euler_xyz_to_rotmat(euler[None])[0]
    # the augmentation is left-multiplied onto the root only
    root0 = Rotation.from_rotvec(dataset.poses[3, :3]).as_matrix()
    root1 = Rotation.from_rotvec(
        item['inputs']['pose_aa'][:3].double().numpy()).as_matrix()
    np.testing.assert_allclose(root1, rot @ root0, atol=1e-5)
    np.testing.assert_array_equal(item['inputs']['pose_aa'][3:].numpy(),
                                  dataset.poses[3, 3:])
    # R = Rz Ry Rx (Key2Mesh's euler_to_rot)
    ref = Rotation.from_euler('ZYX', euler[::-1], degrees=True).as_matrix()
    np.testing.assert_allclose(rot, ref, atol=1e-12)
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_rotation_ranges(dataset):
    n = 600
    euler = np.stack([
        dataset[i % len(dataset)]['data_samples']['rot_euler_deg'].numpy()
        for i in range(n)
    ]).astype(np.float64)
    assert (np.abs(euler[:, [0, 2]]) <= 20).all()
    assert (euler[:, 1] >= 0).all() and (euler[:, 1] < 360).all()
    # yaw spans the full circle: every 30-degree bin is hit
    assert len(np.unique((euler[:, 1] // 30).astype(int))) == 12
    assert euler[:, 0].min() < -15 and euler[:, 0].max() > 15
    # tilt of the vertical axis: (R e_y)_y = cos x cos z + sin x sin y
    # sin z >= cos 40 deg (the yaw sits between the two tilts, so they can
    # add up); never more than 40 deg, whatever the yaw
    up = euler_xyz_to_rotmat(euler)[:, :, 1]  # R @ e_y
    tilt = np.degrees(np.arccos(np.clip(up[:, 1], -1, 1)))
    assert tilt.max() <= 40.0 + 1e-9 and tilt.max() > 20
    rx, ry, rz = np.radians(euler.T)
    np.testing.assert_allclose(
        up[:, 1],
        np.cos(rx) * np.cos(rz) + np.sin(rx) * np.sin(ry) * np.sin(rz),
        atol=1e-12)
    # rotate_smpl_root, batched: identity keeps the poses, others compose
    poses = dataset.poses[:8].astype(np.float64)
    np.testing.assert_allclose(
        rotate_smpl_root(poses, np.repeat(np.eye(3)[None], 8, 0)), poses,
        atol=1e-6)
    rots = euler_xyz_to_rotmat(euler[:8])
    out = rotate_smpl_root(poses, rots)
    np.testing.assert_allclose(
        Rotation.from_rotvec(out[:, :3]).as_matrix(),
        rots @ Rotation.from_rotvec(poses[:, :3]).as_matrix(), atol=1e-9)
    np.testing.assert_array_equal(out[:, 3:], poses[:, 3:])


def test_determinism(amass_root, dataset):
    ds_a = Key2MeshAMASSPairsDataset(amass_root, num_samples=40,
                                     test_mode=True, verbose=False)
    ds_b = Key2MeshAMASSPairsDataset(amass_root, num_samples=40,
                                     test_mode=True, verbose=False)
    order = np.random.default_rng(0).permutation(40)
    for i in order[:10]:
        a, b = ds_a[int(i)], ds_b[int(i)]
        torch.testing.assert_close(a['inputs']['pose_aa'],
                                   b['inputs']['pose_aa'], rtol=0, atol=0)
        torch.testing.assert_close(a['inputs']['pose_aa'],
                                   ds_a[int(i)]['inputs']['pose_aa'],
                                   rtol=0, atol=0)
    other = Key2MeshAMASSPairsDataset(amass_root, num_samples=40,
                                      test_mode=True, seed=1, verbose=False)
    assert not torch.equal(other[0]['inputs']['pose_aa'],
                           ds_a[0]['inputs']['pose_aa'])
    # training mode: a fresh draw every time
    e1 = dataset[0]['data_samples']['rot_euler_deg']
    e2 = dataset[0]['data_samples']['rot_euler_deg']
    assert not torch.equal(e1, e2)
    # no rotation
    plain = Key2MeshAMASSPairsDataset(amass_root, num_samples=10,
                                      rotate=False, verbose=False)
    np.testing.assert_array_equal(plain[2]['inputs']['pose_aa'].numpy(),
                                  plain.poses[2])


def test_preprocessor_eval_matches_body_model(eval_dataset, preprocessor,
                                              body_model_cfg):
    batch = _batch(eval_dataset, range(16))
    out = preprocessor(batch, training=False)
    kp, gt = out['inputs'], out['data_samples']
    assert kp.shape == (16, 18, 2) and kp.dtype == torch.float32
    for key, shape in dict(keypoints_mask=(16, 18), pose_aa=(16, 72),
                           betas=(16, 10), keypoints3d=(16, 18, 3),
                           keypoints2d_px=(16, 18, 2),
                           keypoints2d_norm=(16, 18, 2),
                           keypoints2d_mask=(16, 18),
                           rot_euler_deg=(16, 3)).items():
        assert tuple(gt[key].shape) == shape, key
    assert gt['keypoints_mask'].dtype == torch.bool
    assert gt['keypoints_mask'].all()  # nothing occluded in eval
    pose = torch.stack([b for b in batch['inputs']['pose_aa']])
    betas = torch.stack([b for b in batch['inputs']['betas']])
    torch.testing.assert_close(gt['pose_aa'], pose)
    # keypoints3d = the body model's OpenPose-18 joints for the rotated
    # parameters (untranslated)
    smpl = MPTSMPL(model_path=body_model_cfg['model_path'], gender='neutral')
    joints = smpl(betas=betas, global_orient=pose[:, :3],
                  body_pose=pose[:, 3:])['joints']
    torch.testing.assert_close(gt['keypoints3d'],
                               joints[:, SMPL45_TO_OPENPOSE18])
    px = project_fixed_camera(joints[:, SMPL45_TO_OPENPOSE18])
    torch.testing.assert_close(gt['keypoints2d_px'], px)
    # explicit camera formula
    x3 = gt['keypoints3d']
    torch.testing.assert_close(gt['keypoints2d_px'][..., 0],
                               256 * x3[..., 0] / (6 - x3[..., 2]))
    torch.testing.assert_close(gt['keypoints2d_px'][..., 1],
                               -256 * x3[..., 1] / (6 - x3[..., 2]))
    # normalised: in [0, 1], longer side spans [0, 1]
    assert kp.min() >= -1e-6 and kp.max() <= 1 + 1e-6
    span = (kp.amax(1) - kp.amin(1)).amax(-1)
    torch.testing.assert_close(span, torch.ones(16))
    torch.testing.assert_close(gt['keypoints2d_norm'], kp)
    # deterministic in eval; default_collate batches give the same result
    again = preprocessor(_batch(eval_dataset, range(16), default_collate),
                         training=False)
    torch.testing.assert_close(again['inputs'], kp, rtol=0, atol=0)
    # usable as Key2MeshLoss's gt: the GT itself as prediction -> 0 loss
    losses = Key2MeshLoss()(dict(pose_aa=gt['pose_aa'], betas=gt['betas'],
                                 keypoints3d=gt['keypoints3d']), gt)
    for value in losses.values():
        assert float(value) < 1e-5


def test_preprocessor_training_noise(dataset, preprocessor):
    torch.manual_seed(0)
    batch = _batch(dataset, range(128))
    out = preprocessor(batch, training=True)
    kp, gt = out['inputs'], out['data_samples']
    mask = gt['keypoints_mask']
    # occlusion rate close to p = 0.2 (128 x 18 joints: std ~ 0.009)
    rate = 1 - mask.float().mean().item()
    assert abs(rate - 0.2) < 0.04
    # masked joints are exactly 0.5; visible ones in [0, 1]
    assert (kp[~mask] == 0.5).all()
    assert kp[mask].min() >= -1e-6 and kp[mask].max() <= 1 + 1e-6
    # jitter: integer pixels, std about 1 px (round(N(0,1)) has std ~1.08)
    clean = project_fixed_camera(gt['keypoints3d'])
    jitter = gt['keypoints2d_px'] - clean
    torch.testing.assert_close(jitter, torch.round(jitter), rtol=0,
                               atol=1e-3)
    assert 0.9 < jitter.std().item() < 1.25
    assert (jitter != 0).float().mean() > 0.5
    # inputs = the jittered pixels normalised with the mask; the clean
    # target uses the same mask
    ref, _ = normalize_keypoints_2d(gt['keypoints2d_px'], mask.float(), 0.1)
    torch.testing.assert_close(kp, ref)
    tgt, _ = normalize_keypoints_2d(clean, mask.float(), 0.1)
    torch.testing.assert_close(gt['keypoints2d_norm'], tgt)


def test_preprocessor_options_and_errors(dataset, body_model_cfg):
    pre = Key2MeshPairsPreprocessor(body_model_cfg, jitter_std=0,
                                    occlusion_prob=1.0, target_2d='noisy')
    out = pre(_batch(dataset, range(4)), training=True)
    assert not out['data_samples']['keypoints_mask'].any()
    assert (out['inputs'] == 0.5).all()
    assert out['data_samples']['keypoints2d_norm'] is out['inputs']
    with pytest.raises(ValueError, match='occlusion_prob'):
        Key2MeshPairsPreprocessor(body_model_cfg, occlusion_prob=1.5)
    with pytest.raises(ValueError, match='target_2d'):
        Key2MeshPairsPreprocessor(body_model_cfg, target_2d='x')
    with pytest.raises(KeyError, match='betas'):
        pre(dict(inputs=dict(pose_aa=torch.zeros(2, 72))))
    with pytest.raises(ValueError, match=r'\(B, 72\)'):
        pre(dict(inputs=dict(pose_aa=torch.zeros(2, 69),
                             betas=torch.zeros(2, 10))))
    # a list of per-sample dicts is accepted too
    items = [dataset[i] for i in range(3)]
    out = pre(dict(inputs=[it['inputs'] for it in items]))
    assert out['inputs'].shape == (3, 18, 2)


def test_worker_seeding(eval_dataset, amass_root):
    ds = Key2MeshAMASSPairsDataset(amass_root, num_samples=8, verbose=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                         collate_fn=pseudo_collate)
    epochs = []
    for _ in range(2):
        eulers = [torch.stack(b['data_samples']['rot_euler_deg'])
                  for b in loader]
        # the two workers do not repeat each other's draws
        assert not torch.equal(eulers[0], eulers[1])
        epochs.append(torch.cat(eulers))
    assert not torch.equal(epochs[0], epochs[1])  # new draws every epoch


def test_end_to_end_loss(eval_dataset, preprocessor, body_model_cfg):
    model = MODELS.build(dict(type='Key2MeshRegressor', hidden_dim=32,
                              body_model=body_model_cfg))
    data = preprocessor(_batch(eval_dataset, range(8)), training=True)
    pred = model(data['inputs'], data['data_samples']['keypoints_mask'])
    losses = Key2MeshLoss()(pred, data['data_samples'])
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and total > 0
