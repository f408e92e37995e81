"""MPTMoCapHeatmapDataset: store-backed items of SMPL parameters + camera."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mpt_plugin.datasets import MoCapSMPLStore, MPTMoCapHeatmapDataset
from mpt_plugin.geometry.virtual_cameras import build_virtual_cameras


def _dataset(assets, tmp_path, **kwargs):
    args = dict(data_root=osp.join(assets, 'amass'),
                cache_root=str(tmp_path / 'cache'), sample_fps=5,
                verbose=False)
    args.update(kwargs)
    return MPTMoCapHeatmapDataset(**args)


def test_items_carry_parameters_and_camera(synthetic_assets, tmp_path):
    ds = _dataset(synthetic_assets, tmp_path, num_views=4)
    assert len(ds) == ds.num_meshes * 4 and ds.num_meshes > 50
    item = ds[7]
    inputs, meta = item['inputs'], item['data_samples']
    assert int(meta['mesh_index']) == 1 and int(meta['view_index']) == 3
    store = MoCapSMPLStore.open(ds.store_dir)
    params = store.params(np.array([1]))
    assert inputs['pose_aa'].shape == (72, )
    assert inputs['pose_aa'].dtype == torch.float32
    assert np.array_equal(inputs['pose_aa'].numpy(), params['pose_aa'][0])
    assert np.array_equal(inputs['betas'].numpy(), params['betas'][0])
    assert int(inputs['gender']) == int(params['gender'][0])
    assert int(inputs['gender']) in (-1, 0, 1)
    cams = build_virtual_cameras(num_views=4)
    assert np.allclose(meta['cam_R'].numpy(), cams.R[3], atol=1e-6)
    assert np.allclose(meta['cam_T'].numpy(), cams.T[3], atol=1e-3)
    assert np.allclose(meta['cam_f'].numpy(), cams.f[3])
    assert np.allclose(meta['cam_c'].numpy(), cams.c[3])
    # what the loader carries per sample: <= 1 KB
    tensors = list(inputs.values()) + [
        v for v in meta.values() if isinstance(v, torch.Tensor)]
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    assert nbytes <= 1024
    # the same body from every camera, another body for the next index
    assert torch.equal(ds[4]['inputs']['pose_aa'], ds[5]['inputs']['pose_aa'])
    assert not torch.equal(ds[4]['inputs']['pose_aa'],
                           ds[8]['inputs']['pose_aa'])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_store_shared_and_reused(synthetic_assets, tmp_path, monkeypatch):
    ds = _dataset(synthetic_assets, tmp_path)
    # a second dataset of the same inputs opens the same store, reading no
    # AMASS file
    import mpt_plugin.datasets.mocap_smpl_store as store_mod

    def no_read(*args, **kwargs):
        raise AssertionError('the store was rebuilt')

    monkeypatch.setattr(store_mod, 'read_amass_sequence', no_read)
    again = _dataset(synthetic_assets, tmp_path, num_views=8)
    assert again.store_dir == ds.store_dir
    assert len(again) == 8 * ds.num_meshes
    monkeypatch.undo()
    other = _dataset(synthetic_assets, tmp_path, sample_fps=3)
    assert other.store_dir != ds.store_dir
    assert other.num_meshes < ds.num_meshes


def test_split_is_by_sequence(synthetic_assets, tmp_path):
    train = _dataset(synthetic_assets, tmp_path, split='train',
                     val_fraction=0.3)
    val = _dataset(synthetic_assets, tmp_path, split='val', val_fraction=0.3)
    seq_train = set(MoCapSMPLStore.open(train.store_dir).sequence_paths())
    seq_val = set(MoCapSMPLStore.open(val.store_dir).sequence_paths())
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
    bad = MoCapSMPLStore.open(ds.store_dir).bad_files
    assert {osp.basename(p) for p, _ in bad} == {victim.name, truncated.name}
    with pytest.raises(ValueError, match=victim.name):
        _dataset(synthetic_assets, tmp_path / 'raise', data_root=str(root),
                 split='all', on_bad_file='raise')


def test_moved_arguments_say_where(synthetic_assets, tmp_path):
    with pytest.raises(TypeError, match='data preprocessor'):
        _dataset(synthetic_assets, tmp_path, body_model=dict())
    with pytest.raises(TypeError, match='cache_dtype'):
        _dataset(synthetic_assets, tmp_path, cache_dtype='float16')


def test_dataset_pickles_without_arrays(synthetic_assets, tmp_path):
    ds = _dataset(synthetic_assets, tmp_path, max_meshes=10)
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # the memory maps are not pickled
    clone = pickle.loads(blob)
    assert len(clone) == 40
    assert torch.equal(clone[3]['inputs']['pose_aa'],
                       ds[3]['inputs']['pose_aa'])
