"""Tests for mpt_plugin.datasets.human_data_split and the ``split`` option
of MPTHumanDataDataset / Key2MeshKeypointsDataset."""
import numpy as np
import pytest
import torch

from mpt_plugin.datasets.human_data_dataset import MPTHumanDataDataset
from mpt_plugin.datasets.human_data_io import save_human_data
from mpt_plugin.datasets.human_data_split import (check_split, select_split,
                                                  split_groups,
                                                  splits_overlap)
from mpt_plugin.datasets.key2mesh_keypoints_dataset import \
    Key2MeshKeypointsDataset
from tests.test_datasets.test_human_data_io import (make_h36m_like,
                                                    make_pw3d_like)

H36M = [
    'S1/images/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg',
    'S1/images/S1_Directions_1.54138969/S1_Directions_1.54138969_000006.jpg',
    'S8/images/S8_Walking.60457274/S8_Walking.60457274_000001.jpg',
    'S11/images/S11_Eating.58860488/S11_Eating.58860488_000011.jpg',
    'images/s_08_act_02_subact_01_ca_01/s_08_act_02_subact_01_ca_01_000001'
    '.jpg',
    'images/s_01_act_16_subact_02_ca_04/s_01_act_16_subact_02_ca_04_000091'
    '.jpg',
    'S5_Posing.55011271_000001.jpg',  # flat layout: the name itself
]
PW3D = [
    'imageFiles/courtyard_backpack_00/image_00000.jpg',
    'imageFiles/courtyard_backpack_00/image_00001.jpg',
    'imageFiles/outdoors_climbing_02/image_00010.jpg',
    'imageFiles/courtyard_arguing_00/image_00003.jpg',
]


def test_groups_from_h36m_and_3dpw_paths():
    assert split_groups(H36M).tolist() == [
        'S1', 'S1', 'S8', 'S11', 'S8', 'S1', 'S5'
    ]
    assert split_groups(PW3D, by='sequence').tolist() == [
        'courtyard_backpack_00', 'courtyard_backpack_00',
        'outdoors_climbing_02', 'courtyard_arguing_00'
    ]
    # a custom pattern on the folder: the action of an H36M path
    assert split_groups(H36M[:3], pattern=r'S\d+_([A-Za-z]+)').tolist() == [
        'Directions', 'Directions', 'Walking'
    ]
    # Windows separators are folders too
    assert split_groups(['imageFiles\\seq_a\\image_00000.jpg'],
                        by='sequence').tolist() == ['seq_a']


def test_unparsable_path_names_file_row_and_path():
    paths = ['S1/images/a/x.jpg', 'images/000001.jpg']
    with pytest.raises(ValueError,
                       match=r"h36m_train\.npz: image_path\[1\] = "
                       r"'images/000001\.jpg' holds no subject"):
        split_groups(paths, source='h36m_train.npz')
    with pytest.raises(ValueError, match=r'image_path\[0\] .* holds no '
                       'sequence'):
        split_groups(['image_00000.jpg'], by='sequence')


def test_parts_are_complementary_and_never_split_a_group():
    groups = split_groups(H36M)
    val = select_split(H36M, ['s8'], 'val')  # 's8' normalised to 'S8'
    train = select_split(H36M, ['S8'], 'train')
    assert val.tolist() == [False, False, True, False, True, False, False]
    np.testing.assert_array_equal(val, ~train)
    # no subject on both sides
    assert not set(groups[val]) & set(groups[train])
    pw_val = select_split(PW3D, ['courtyard_backpack_00'], 'val',
                          by='sequence')
    assert pw_val.tolist() == [True, True, False, False]


def test_select_split_errors():
    with pytest.raises(ValueError, match=r"held-out subject\(s\) \['S9'\] "
                       r'not in the file; it has 4: S1, S11, S5, S8'):
        select_split(H36M, ['S9'], 'val', source='f.npz')
    with pytest.raises(ValueError, match="split part 'train' is empty"):
        select_split(H36M[:2], ['S1'], 'train')
    with pytest.raises(ValueError, match=r"split\.part must be one of"):
        select_split(H36M, ['S8'], 'test')
    with pytest.raises(TypeError, match='held_out must be a list'):
        check_split(dict(held_out='S8', part='val'))
    with pytest.raises(ValueError, match='held_out is empty'):
        check_split(dict(held_out=[], part='val'))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['frames'\]"):
        check_split(dict(held_out=['S8'], part='val', frames=3))
    with pytest.raises(ValueError, match='needs a capturing group'):
        check_split(dict(held_out=['a'], part='val', pattern='S1'))


@pytest.mark.parametrize('a,b,overlap', [
    (None, dict(held_out=['S8'], part='val'), True),
    (dict(held_out=['S8'], part='train'), dict(held_out=['S8'], part='val'),
     False),
    # training part keeps S9, which the validation part reads
    (dict(held_out=['S8'], part='train'),
     dict(held_out=['S8', 'S9'], part='val'), True),
    (dict(held_out=['S8', 'S9'], part='train'),
     dict(held_out=['S8'], part='val'), False),
    (dict(held_out=['S8'], part='val'), dict(held_out=['S9'], part='val'),
     False),
    (dict(held_out=['S8'], part='val'), dict(held_out=['s8'], part='val'),
     True),
    (dict(held_out=['S8'], part='train'), dict(held_out=['S9'],
                                               part='train'), True),
    # different group kinds are not comparable: assumed to overlap
    (dict(held_out=['S8'], part='train'),
     dict(held_out=['S8'], part='val', by='sequence'), True),
])
def test_splits_overlap(a, b, overlap):
    assert splits_overlap(a, b) is overlap
    assert splits_overlap(b, a) is overlap


def _h36m_file(tmp_path, num=10):
    data = make_h36m_like(num=num)
    subjects = ['S1', 'S5', 'S8', 'S1', 'S8', 'S6', 'S7', 'S8', 'S1', 'S5']
    data['image_path'] = np.array([
        f'{s}/images/{s}_Walk.60457274/{s}_Walk.60457274_{i:06d}.jpg'
        for i, s in enumerate(subjects[:num])
    ])
    ann_dir = tmp_path / 'data' / 'preprocessed_datasets'
    ann_dir.mkdir(parents=True)
    save_human_data(ann_dir / 'h36m_train.npz', data)
    return str(tmp_path / 'data'), data


def test_human_data_dataset_split(tmp_path):
    prefix, data = _h36m_file(tmp_path)
    common = dict(ann_file='h36m_train.npz', dataset_name='h36m',
                  data_prefix=prefix)
    val = MPTHumanDataDataset(split=dict(held_out=['S8'], part='val'), **common)
    train = MPTHumanDataDataset(split=dict(held_out=['S8'], part='train'),
                             **common)
    full = MPTHumanDataDataset(**common)
    assert (len(val), len(train), len(full)) == (3, 7, 10)
    val_paths = [val.get_data_info(i)['img_path'] for i in range(len(val))]
    train_paths = [
        train.get_data_info(i)['img_path'] for i in range(len(train))
    ]
    assert all('/S8/' in p for p in val_paths)
    assert not any('/S8/' in p for p in train_paths)
    # the rows are the file's rows 2, 4, 7 with their own labels
    full_infos = [full.get_data_info(i) for i in (2, 4, 7)]
    for got, want in zip((val.get_data_info(i) for i in range(3)),
                         full_infos):
        assert got['img_path'] == want['img_path']
        np.testing.assert_array_equal(got['keypoints3d'], want['keypoints3d'])
    # num_samples strides over the selected part only
    two = MPTHumanDataDataset(
        split=dict(held_out=['S8'], part='train'), num_samples=2, **common)
    assert [two.get_data_info(i)['img_path'] for i in range(2)] == [
        train_paths[0], train_paths[3]
    ]
    with pytest.raises(ValueError, match=r"held-out subject\(s\) \['S9'\]"):
        MPTHumanDataDataset(split=dict(held_out=['S9'], part='val'), **common)


def test_key2mesh_keypoints_dataset_split(tmp_path):
    from mpt_plugin.body_models.conventions import get_mapping
    rng = np.random.default_rng(0)
    data = make_pw3d_like(num=6)
    seqs = ['courtyard_backpack_00'] * 2 + ['courtyard_arguing_00'] * 4
    data['image_path'] = np.array(
        [f'imageFiles/{s}/image_{i:05d}.jpg' for i, s in enumerate(seqs)])
    hd_idx, _ = get_mapping('openpose_coco18', 'human_data')
    kp = np.zeros((6, 190, 3))
    kp[:, hd_idx, :2] = rng.uniform(100, 300, (6, len(hd_idx), 2))
    kp[:, hd_idx, 2] = 1.0
    mask = np.zeros(190, np.uint8)
    mask[hd_idx] = 1
    data.update(keypoints2d=kp, keypoints2d_mask=mask)
    path = str(tmp_path / 'pw3d_train.npz')
    save_human_data(path, data)
    split = dict(held_out=['courtyard_backpack_00'], by='sequence')
    val = Key2MeshKeypointsDataset(path, split=dict(split, part='val'),
                                   verbose=False)
    train = Key2MeshKeypointsDataset(path, split=dict(split, part='train'),
                                     verbose=False)
    assert (len(val), len(train)) == (2, 4)
    # source_index keeps the file's rows; the labels follow them
    assert val.source_index.tolist() == [0, 1]
    assert train.source_index.tolist() == [2, 3, 4, 5]
    full = Key2MeshKeypointsDataset(path, verbose=False)
    torch.testing.assert_close(val.keypoints2d_norm,
                               full.keypoints2d_norm[:2])
    torch.testing.assert_close(train.keypoints2d_px,
                               full.keypoints2d_px[2:])
    np.testing.assert_allclose(train.eval_gt['betas'].numpy(),
                               data['smpl']['betas'][2:], rtol=1e-6)
    with pytest.raises(ValueError, match='split needs data_format'):
        Key2MeshKeypointsDataset(str(tmp_path), data_format='mmpose_json',
                                 split=dict(split, part='val'))
