import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.datasets import (MoCapMeshCache, MPTMoCapHeatmapDataset,
                                 select_frames)
from mpt_plugin.geometry.virtual_cameras import build_virtual_cameras


def _body_model(assets):
    bm_dir = osp.join(assets, 'body_models')
    return dict(model_path=bm_dir,
                joints_regressor=osp.join(bm_dir, 'J_regressor_h36m.npy'))


def _dataset(assets, tmp_path, **kwargs):
    args = dict(data_root=osp.join(assets, 'amass'),
                body_model=_body_model(assets),
                cache_root=str(tmp_path / 'cache'), sample_fps=5,
                verbose=False)
    args.update(kwargs)
    return MPTMoCapHeatmapDataset(**args)


def test_select_frames():
    by_fps = select_frames([120, 60], [120.0, 60.0], sample_fps=10)
    assert [len(f) for f in by_fps] == [10, 10]
    assert np.all(np.diff(by_fps[0]) == 12)
    by_count = select_frames([100, 300], [60.0, 60.0], num_samples=40)
    assert sum(len(f) for f in by_count) == 40
    assert len(by_count[1]) == 30  # proportional to length
    assert all(f.max() < n for f, n in zip(by_count, [100, 300]))
    assert sum(len(f) for f in select_frames([5], [30.0])) == 5
    with pytest.raises(ValueError, match='not both'):
        select_frames([5], [30.0], sample_fps=1, num_samples=2)


def test_samples_layout_and_projection(synthetic_assets, tmp_path):
    ds = _dataset(synthetic_assets, tmp_path, num_views=4)
    assert len(ds) == ds.num_meshes * 4 and ds.num_meshes > 50
    item = ds[7]
    inputs, meta = item['inputs'], item['data_samples']
    assert inputs.shape == (17, 3) and inputs.dtype == torch.float32
    assert torch.all(inputs[:, 2] == 1)
    # joints fill the crop, inside [-0.5, S - 0.5]
    xy = inputs[:, :2]
    assert xy.min() >= -0.5 and xy.max() <= 223.5
    assert (xy.max(0).values - xy.min(0).values).max() > 150
    assert meta['joints2d_norm'].shape == (14, 2)
    assert meta['joints2d_norm'].abs().max() <= 1.0
    assert int(meta['mesh_index']) == 1 and int(meta['view_index']) == 3
    # what the loader carries per sample (the tensors and indices) < 1 KB
    nbytes = sum(t.numel() * t.element_size()
                 for t in [inputs] + [v for v in meta.values()
                                      if isinstance(v, torch.Tensor)])
    assert nbytes < 1024
    # the LSP joints are the H3.6M joints projected by camera 3
    cache = MoCapMeshCache.open(ds.cache_dir)
    cams = build_virtual_cameras(num_views=4)
    h36m = cache.joints_h36m[1][H36M_TO_J14][None].astype(np.float64)
    px = cams.project(cams.world_to_camera(h36m, [3]), [3])[0]
    norm = meta['joints2d_norm'].numpy()
    # same shape up to the crop's scale and offset
    a = np.linalg.lstsq(np.c_[px, np.ones(14)], norm, rcond=None)[0]
    assert np.allclose(np.c_[px, np.ones(14)] @ a, norm, atol=1e-5)
    # the same mesh from different cameras gives different 2D joints
    assert not torch.allclose(ds[4]['inputs'], ds[5]['inputs'])


def test_cache_reused_rebuilt_and_resumed(synthetic_assets, tmp_path,
                                          monkeypatch):
    ds = _dataset(synthetic_assets, tmp_path)
    first = ds.cache_dir
    cache = MoCapMeshCache.open(first)
    # meshes are centred on the H3.6M pelvis, metres, SMPL-sized
    assert np.allclose(cache.joints_h36m[:, 0], 0, atol=1e-5)
    height = np.ptp(cache.vertices[0], axis=0).max()
    assert 1.3 < height < 2.2
    assert _dataset(synthetic_assets, tmp_path).cache_dir == first
    # other inputs -> another cache
    other = _dataset(synthetic_assets, tmp_path, sample_fps=3)
    assert other.cache_dir != first and other.num_meshes < ds.num_meshes

    # interrupted build resumes and gives identical arrays
    from mpt_plugin.body_models import MPTSMPL
    real_forward = MPTSMPL.forward
    calls = {'n': 0}

    def failing_forward(self, *args, **kwargs):
        calls['n'] += 1
        if calls['n'] == 3:
            raise KeyboardInterrupt
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(MPTSMPL, 'forward', failing_forward)
    root2 = tmp_path / 'cache2'
    with pytest.raises(KeyboardInterrupt):
        _dataset(synthetic_assets, tmp_path, cache_root=str(root2),
                 cache_batch_size=64)
    partial = [d for d in os.listdir(root2) if d.endswith('.partial')]
    assert len(partial) == 1
    monkeypatch.setattr(MPTSMPL, 'forward', real_forward)
    resumed = _dataset(synthetic_assets, tmp_path, cache_root=str(root2),
                       cache_batch_size=64)
    assert not any(d.endswith('.partial') for d in os.listdir(root2))
    a, b = MoCapMeshCache.open(first), MoCapMeshCache.open(resumed.cache_dir)
    assert np.array_equal(a.vertices[:], b.vertices[:])
    assert np.array_equal(a.joints_smpl45[:], b.joints_smpl45[:])


def test_split_is_by_sequence(synthetic_assets, tmp_path):
    train = _dataset(synthetic_assets, tmp_path, split='train',
                     val_fraction=0.3)
    val = _dataset(synthetic_assets, tmp_path, split='val', val_fraction=0.3)
    seq_train = set(MoCapMeshCache.open(train.cache_dir).meta['sequences'])
    seq_val = set(MoCapMeshCache.open(val.cache_dir).meta['sequences'])
    assert seq_train and seq_val and not seq_train & seq_val


def test_bad_amass_files(synthetic_assets, tmp_path):
    import shutil
    root = tmp_path / 'amass'
    shutil.copytree(osp.join(synthetic_assets, 'amass'), root)
    victim = sorted(root.rglob('*_poses.npz'))[0]
    data = dict(np.load(victim))
    data['poses'][3, 5] = np.nan
    np.savez(victim, **data)
    truncated = sorted(root.rglob('*_poses.npz'))[1]
    truncated.write_bytes(truncated.read_bytes()[:200])
    ds = _dataset(synthetic_assets, tmp_path, data_root=str(root),
                  split='all')
    assert ds.num_bad_files == 2
    bad = MoCapMeshCache.open(ds.cache_dir).meta['bad_files']
    assert {osp.basename(p) for p, _ in bad} == {victim.name, truncated.name}
    with pytest.raises(ValueError, match=victim.name):
        _dataset(synthetic_assets, tmp_path, data_root=str(root),
                 split='all', on_bad_file='raise')


def test_dataset_pickles_without_arrays(synthetic_assets, tmp_path):
    ds = _dataset(synthetic_assets, tmp_path, max_meshes=10)
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # the memory maps are not pickled
    clone = pickle.loads(blob)
    assert len(clone) == 40
    assert torch.equal(clone[3]['inputs'], ds[3]['inputs'])
