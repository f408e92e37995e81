"""Tests for mpt_plugin.datasets.mixed_human_data_dataset."""
import numpy as np
import pytest

from mpt_plugin.datasets.human_data_dataset import MPTHumanDataDataset
from mpt_plugin.datasets.human_data_io import save_human_data
from mpt_plugin.datasets.mixed_human_data_dataset import \
    MPTMixedHumanDataDataset
from mpt_plugin.registry import DATASETS
from tests.test_datasets.test_human_data_io import (make_h36m_like,
                                                    make_pw3d_like)


@pytest.fixture
def cfgs(tmp_path):
    """Configs of three datasets: H36M-like (8), 3DPW-like (5), and a
    3-sample strided subset of the H36M-like file."""
    ann_dir = tmp_path / 'data' / 'preprocessed_datasets'
    ann_dir.mkdir(parents=True)
    save_human_data(ann_dir / 'h36m.npz', make_h36m_like(num=8))
    save_human_data(ann_dir / 'pw3d.npz', make_pw3d_like(num=5))
    prefix = str(tmp_path / 'data')
    return [
        dict(type='MPTHumanDataDataset', ann_file='h36m.npz',
             dataset_name='h36m', data_prefix=prefix),
        dict(type='MPTHumanDataDataset', ann_file='pw3d.npz',
             dataset_name='pw3d', data_prefix=prefix),
        dict(type='MPTHumanDataDataset', ann_file='h36m.npz',
             dataset_name='h36m_sub', data_prefix=prefix, num_samples=3),
    ]


def test_partition_proportions(cfgs):
    mix = MPTMixedHumanDataDataset(cfgs, partition=[5, 3, 2], length=100)
    assert len(mix) == 100
    np.testing.assert_allclose(mix.partition, [0.5, 0.3, 0.2])
    pairs = [mix.dataset_index(i) for i in range(100)]
    which = np.array([d for d, _ in pairs])
    assert np.bincount(which).tolist() == [50, 30, 20]
    # interleaved: every window of 10 consecutive indices follows the shares
    for start in range(0, 100, 10):
        assert np.bincount(which[start:start + 10],
                           minlength=3).tolist() == [5, 3, 2]
    # each dataset is read evenly: 50 slots over 8 samples, 30 over 5, ...
    for d, num in enumerate((8, 5, 3)):
        samples = [s for dd, s in pairs if dd == d]
        counts = np.bincount(samples, minlength=num)
        assert counts.sum() == [50, 30, 20][d] and counts.min() >= 1
        assert counts.max() - counts.min() <= 1
    # deterministic: a second instance maps identically
    again = MPTMixedHumanDataDataset(cfgs, partition=[5, 3, 2], length=100)
    assert [again.dataset_index(i) for i in range(100)] == pairs
    assert mix.dataset_index(-1) == pairs[-1]
    with pytest.raises(IndexError, match='out of range'):
        mix.dataset_index(100)


def test_default_length_rounding_and_strides(cfgs):
    mix = MPTMixedHumanDataDataset(cfgs[:2], partition=[0.35, 0.65])
    assert len(mix) == 8  # the largest dataset, as mmhuman3d
    # 8 * (0.35, 0.65) = (2.8, 5.2) -> largest remainder gives (3, 5)
    assert mix.slot_counts.tolist() == [3, 5]
    # 3 slots over 8 samples: evenly strided, shifted by set_epoch
    h36m = [s for d, s in map(mix.dataset_index, range(8)) if d == 0]
    assert h36m == [0, 2, 5]
    mix.set_epoch(1)
    assert [s for d, s in map(mix.dataset_index, range(8))
            if d == 0] == [1, 3, 6]
    # a zero share gets no slots
    mix = MPTMixedHumanDataDataset(cfgs, partition=[1, 0, 1], length=10)
    assert mix.slot_counts.tolist() == [5, 0, 5]


def test_items_share_keys_and_metainfo(cfgs):
    mix = DATASETS.build(
        dict(type='MPTMixedHumanDataDataset', datasets=cfgs,
             partition=[0.4, 0.4, 0.2], length=10))
    infos = [mix.get_data_info(i) for i in range(10)]
    assert {i['dataset_name'] for i in infos} == {'h36m', 'pw3d', 'h36m_sub'}
    keys = set(infos[0])
    assert all(set(i) == keys for i in infos)
    for info in infos:
        # missing ground truth is masked, not absent
        if info['dataset_name'] == 'pw3d':
            assert info['has_smpl'] == 1 and not info[
                'keypoints3d_visible'].any()
        else:
            assert info['has_smpl'] == 0 and info[
                'keypoints3d_visible'].all()
        assert info['keypoints2d'].shape == (17, 2)
    item = mix[3]
    d, s = mix.dataset_index(3)
    assert item['img_path'] == mix.datasets[d].get_data_info(s)['img_path']
    meta = mix.metainfo
    assert meta['dataset_name'] == 'mixed'
    assert meta['dataset_names'] == ['h36m', 'pw3d', 'h36m_sub']
    assert meta['convention'] == 'h36m'


def test_built_datasets_and_lazy_init(cfgs):
    built = [DATASETS.build(c) for c in cfgs[:2]]
    mix = MPTMixedHumanDataDataset(built, partition=[1, 1], lazy_init=True)
    assert not mix._fully_initialized
    assert len(mix) == 8 and mix._fully_initialized


def test_invalid_arguments(cfgs):
    with pytest.raises(ValueError, match='2 entries for 3 datasets'):
        MPTMixedHumanDataDataset(cfgs, partition=[1, 1])
    with pytest.raises(ValueError, match='non-negative'):
        MPTMixedHumanDataDataset(cfgs, partition=[1, -1, 1])
    with pytest.raises(ValueError, match='not all zero'):
        MPTMixedHumanDataDataset(cfgs, partition=[0, 0, 0])
    with pytest.raises(ValueError, match='length'):
        MPTMixedHumanDataDataset(cfgs, partition=[1, 1, 1], length=0)
    with pytest.raises(ValueError, match='at least one'):
        MPTMixedHumanDataDataset([], partition=[])
    lsp = dict(cfgs[0], convention='lsp')
    with pytest.raises(ValueError, match='one keypoint convention'):
        MPTMixedHumanDataDataset([cfgs[0], lsp], partition=[1, 1])
    empty = MPTHumanDataDataset(**{k: v for k, v in cfgs[0].items()
                                if k != 'type'})
    empty.get_subset_([])
    with pytest.raises(ValueError, match=r'dataset\(s\) \[1\] are empty'):
        MPTMixedHumanDataDataset([cfgs[1], empty], partition=[1, 1])
