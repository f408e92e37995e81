"""Hostile and broken HumanData files (issue 12): bad values are filtered and
counted per file (``on_bad_sample='skip'``) or refused naming the file, key
and sample (``'raise'``); image paths stay inside the image folder; boxes
that cannot be cropped never reach cv2."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.logging import MMLogger

from mpt_plugin.datasets.human_data_dataset import MPTHumanDataDataset
from mpt_plugin.datasets.human_data_io import (HumanDataFormatError,
                                               find_bad_samples,
                                               image_path_escapes,
                                               load_human_data,
                                               save_human_data)
from mpt_plugin.datasets.mixed_human_data_dataset import \
    MPTMixedHumanDataDataset
from mpt_plugin.datasets.transforms.mesh_affine import MPTMeshAffine
from mpt_plugin.utils.value_checks import filter_bad_samples
from tests.test_datasets.test_human_data_io import (H36M_IN_HD,
                                                    make_h36m_like,
                                                    make_pw3d_like)

NUM = 6
#: A human_data joint the h36m convention does not use.
UNUSED_JOINT = next(j for j in range(150, 190) if j not in set(H36M_IN_HD))


def make_full(num: int = NUM) -> dict:
    """H36M-like keypoints + 3DPW-like smpl (with transl), has_smpl, gender;
    float64 arrays as mmhuman3d converters write them."""
    data = make_h36m_like(num)
    pw3d = make_pw3d_like(num)
    data['smpl'] = dict(pw3d['smpl'], transl=np.zeros((num, 3)))
    data['meta'] = pw3d['meta']
    data['has_smpl'] = np.ones(num)
    # an extra joint in the file that h36m does not use
    data['keypoints2d_mask'] = data['keypoints2d_mask'].copy()
    data['keypoints2d_mask'][UNUSED_JOINT] = 1
    data['keypoints2d'][:, UNUSED_JOINT] = [1.0, 2.0, 1.0]
    return data


def write(tmp_path, mutate=None, name='hostile.npz', compress=True):
    data = make_full()
    if mutate is not None:
        mutate(data)
    folder = tmp_path / 'data' / 'preprocessed_datasets'
    folder.mkdir(parents=True, exist_ok=True)
    save_human_data(str(folder / name), data, compress_keypoints=compress)
    return str(folder / name)


def build(tmp_path, ann_file, **kwargs):
    return MPTHumanDataDataset(ann_file=ann_file, dataset_name='h36m',
                            data_prefix=str(tmp_path / 'data'), **kwargs)


def _set(*path_and_value):
    """mutate(data): data[k0][k1]...[index] = value."""
    *keys, index, value = path_and_value

    def mutate(data):
        target = data
        for k in keys:
            target = target[k]
        target[index] = value
    return mutate


def _path(index, value):
    """mutate(data): image_path[index] = value (the array widened)."""
    def mutate(data):
        paths = data['image_path'].tolist()
        paths[index] = value
        data['image_path'] = np.array(paths)
    return mutate


J0, J5 = int(H36M_IN_HD[0]), int(H36M_IN_HD[5])

# (mutation, bad key, bad sample index)
BAD_VALUES = [
    (_set('smpl', 'body_pose', (2, 4, 1), np.nan), 'smpl.body_pose', 2),
    (_set('smpl', 'global_orient', (1, 0), np.inf), 'smpl.global_orient', 1),
    (_set('smpl', 'betas', (3, 9), -np.inf), 'smpl.betas', 3),
    (_set('smpl', 'transl', (0, 2), np.nan), 'smpl.transl', 0),
    # finite in float64, inf in float32
    (_set('smpl', 'betas', (4, 0), 1e39), 'smpl.betas', 4),
    (_set('keypoints2d', (5, J0, 0), np.nan), 'keypoints2d', 5),
    (_set('keypoints2d', (2, J5, 2), np.nan), 'keypoints2d', 2),  # conf
    (_set('keypoints2d', (1, J5, 1), 1e39), 'keypoints2d', 1),
    (_set('keypoints3d', (3, J0, 2), np.inf), 'keypoints3d', 3),
    (_set('keypoints3d', (0, J5, 3), np.nan), 'keypoints3d', 0),  # conf
    (_set('has_smpl', 2, np.nan), 'has_smpl', 2),
    (_set('has_smpl', 4, 2.0), 'has_smpl', 4),
    (_set('has_smpl', 1, -1.0), 'has_smpl', 1),
    (_set('bbox_xywh', (3, 0), np.nan), 'bbox_xywh', 3),
    (_set('bbox_xywh', (1, 1), 1e39), 'bbox_xywh', 1),
    (_set('bbox_xywh', (2, 2), 0.0), 'bbox_xywh', 2),  # w = 0
    (_set('bbox_xywh', (5, 3), -10.0), 'bbox_xywh', 5),  # h < 0
    (_set('bbox_xywh', (0, 2), 1e-46), 'bbox_xywh', 0),  # 0 in float32
    (_set('meta', 'gender', 3, 'x'), 'meta.gender', 3),
]


@pytest.mark.parametrize('mutate, key, index', BAD_VALUES)
def test_bad_value_is_skipped_and_counted(tmp_path, mutate, key, index):
    ann = write(tmp_path, mutate)
    ds = build(tmp_path, ann)
    assert len(ds) == NUM - 1
    assert ds.bad_sample_counts == {key: 1}
    assert ds.num_bad_samples == 1
    kept = [i for i in range(NUM) if i != index]
    names = [osp.basename(ds.get_data_info(i)['img_path'])
             for i in range(len(ds))]
    assert names == [f'S9_Walk.60457274_{i:06d}.jpg' for i in kept]
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        for k in ('bbox_xywh', 'keypoints2d', 'keypoints3d',
                  'keypoints2d_visible', 'smpl_body_pose', 'smpl_betas'):
            assert np.isfinite(info[k]).all(), k
        assert info['has_smpl'] in (0.0, 1.0)
        assert info['bbox_xywh'][2] > 0 and info['bbox_xywh'][3] > 0


@pytest.mark.parametrize('mutate, key, index', BAD_VALUES)
def test_bad_value_raises_naming_file_key_sample(tmp_path, mutate, key,
                                                 index):
    ann = write(tmp_path, mutate)
    with pytest.raises(HumanDataFormatError) as info:
        build(tmp_path, ann, on_bad_sample='raise')
    msg = str(info.value)
    assert msg.startswith(f"{ann}: sample {index}: key '{key}': bad value; "
                          'expected ')
    assert f'(1 of {NUM} samples of {ann} bad under this key' in msg


def test_unused_joint_and_has_smpl_bool_are_fine(tmp_path):
    # NaN in a joint of the file that h36m does not use: not counted
    ann = write(tmp_path, _set('keypoints2d', (0, UNUSED_JOINT, 0), np.nan))
    ds = build(tmp_path, ann, on_bad_sample='raise')
    assert len(ds) == NUM and ds.bad_sample_counts == {}
    # ... but it is when all joints of the mask are checked
    data = load_human_data(ann, decompress=False)
    bad = find_bad_samples(data)
    assert bad['keypoints2d'].tolist() == [True] + [False] * (NUM - 1)
    # the conf column of a 5-column box is not used and not checked
    ann = write(tmp_path, _set('bbox_xywh', (0, 4), np.nan), name='c.npz')
    assert len(build(tmp_path, ann, on_bad_sample='raise')) == NUM


def test_one_sample_bad_under_several_keys_counts_once(tmp_path, monkeypatch):
    def mutate(data):
        data['smpl']['betas'][1, 0] = np.nan
        data['bbox_xywh'][1, 2] = -1.0
        data['keypoints2d'][4, J0, 0] = np.inf
    ann = write(tmp_path, mutate)
    calls = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', calls.append)
    ds = build(tmp_path, ann)
    assert len(ds) == NUM - 2 and ds.num_bad_samples == 2
    assert ds.bad_sample_counts == {'bbox_xywh': 1, 'smpl.betas': 1,
                                    'keypoints2d': 1}
    assert calls == [
        f'MPTHumanDataDataset: {ann}: dropped 2 of 6 samples with bad values '
        "(bbox_xywh 1, smpl.betas 1, keypoints2d 1; on_bad_sample='raise' "
        'names the first)'
    ]
    # the lowest sample index is named first
    with pytest.raises(HumanDataFormatError,
                       match=r"hostile\.npz: sample 1: key 'bbox_xywh'"):
        build(tmp_path, ann, on_bad_sample='raise')


def test_num_samples_strides_over_the_good_rows(tmp_path):
    ann = write(tmp_path, _set('smpl', 'betas', (0, 0), np.nan))
    ds = build(tmp_path, ann, num_samples=2)
    # good rows 1..5, two of them evenly strided: rows 1 and 3
    names = [osp.basename(ds.get_data_info(i)['img_path']) for i in (0, 1)]
    assert names == ['S9_Walk.60457274_000001.jpg',
                     'S9_Walk.60457274_000003.jpg']


def test_all_samples_bad_gives_empty_dataset_and_mixed_refuses_it(tmp_path):
    def mutate(data):
        data['bbox_xywh'][:, 2] = 0.0
    ann = write(tmp_path, mutate)
    ds = build(tmp_path, ann)
    assert len(ds) == 0 and ds.bad_sample_counts == {'bbox_xywh': NUM}
    with pytest.raises(ValueError, match=r'dataset\(s\) \[0\] are empty'):
        MPTMixedHumanDataDataset([ds], partition=[1.0])


def test_bad_option_value(tmp_path):
    with pytest.raises(ValueError, match="on_bad_sample must be 'skip' or "
                       "'raise', got 'drop'"):
        build(tmp_path, 'x.npz', on_bad_sample='drop')
    with pytest.raises(ValueError, match="on_bad_sample must be 'skip'"):
        filter_bad_samples({}, 'f', 'ignore', 0)


# ---------------------------------------------------------------------------
# Layout errors of meta / gender (a whole-file problem)
# ---------------------------------------------------------------------------


def test_gender_of_wrong_length_or_rank(tmp_path):
    path = tmp_path / 'g.npz'
    data = make_full()
    data['meta'] = dict(gender=np.array(['m'] * (NUM + 1)))
    np.savez(path, __data_len__=NUM, **data)
    with pytest.raises(HumanDataFormatError,
                       match=r'g\.npz: key "meta\.gender" expected shape '
                       r'\(N,\) with N = 6'):
        MPTHumanDataDataset(ann_file=str(path), dataset_name='h36m')
    data['meta'] = dict(gender=np.array([['m', 'f']] * NUM))
    np.savez(path, __data_len__=NUM, **data)
    with pytest.raises(HumanDataFormatError,
                       match=r'g\.npz: key "meta\.gender" expected shape '
                       r'\(N,\), got shape \(6, 2\)'):
        MPTHumanDataDataset(ann_file=str(path), dataset_name='h36m')


def test_gender_spellings_and_codes(tmp_path):
    ok = np.array(['m', 'F', ' female ', 'MALE', '', 'n', 'neutral'])
    assert not find_bad_samples({'meta': {'gender': ok}})['meta.gender'].any()
    bad = find_bad_samples({'meta': {'gender': np.array(
        ['m', 'x', 'woman', '0'])}})['meta.gender']
    assert bad.tolist() == [False, True, True, True]
    codes = find_bad_samples({'meta': {'gender': np.array(
        [0, 1, -1, 2])}})['meta.gender']
    assert codes.tolist() == [False, False, False, True]
    floats = find_bad_samples({'meta': {'gender': np.array(
        [0.0, np.nan, 1.0])}})['meta.gender']
    assert floats.tolist() == [False, True, False]
    mixed = find_bad_samples({'meta': {'gender': np.array(
        ['m', None, 3, b'f'], dtype=object)}})['meta.gender']
    assert mixed.tolist() == [False, False, True, False]


def test_deeply_nested_meta_is_refused(tmp_path):
    nested = {'gender': np.array(['m'] * NUM)}
    leaf = {}
    for _ in range(40):
        leaf = {'x': leaf}
    nested['deep'] = leaf
    data = make_full()
    data['meta'] = nested
    path = tmp_path / 'deep.npz'
    np.savez(path, __data_len__=NUM, **data)
    with pytest.raises(HumanDataFormatError) as info:
        MPTHumanDataDataset(ann_file=str(path), dataset_name='h36m')
    assert str(info.value).startswith(f'{path}: key "meta"')
    assert 'nested deeper than 32 levels' in str(info.value)


def test_wrong_keypoint_count_is_a_layout_error(tmp_path):
    path = tmp_path / 'k.npz'
    data = make_full()
    data['keypoints2d'] = data['keypoints2d'][:, :17]
    del data['keypoints2d_mask']
    np.savez(path, __data_len__=NUM, **data)
    with pytest.raises(HumanDataFormatError,
                       match=r'k\.npz: key "keypoints2d" expected shape '
                       r'\(N, 190, 3\)'):
        MPTHumanDataDataset(ann_file=str(path), dataset_name='h36m')


# ---------------------------------------------------------------------------
# Image paths
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('bad_path', [
    '/etc/passwd', '../../../etc/passwd', 'S9/../../h36m_other/x.jpg', '',
    '..', 'S9/images/a\x00.jpg'
])
def test_image_path_leaving_the_folder_is_refused(tmp_path, bad_path):
    ann = write(tmp_path, _path(4, bad_path))
    with pytest.raises(HumanDataFormatError) as info:
        build(tmp_path, ann)
    img_dir = osp.join(str(tmp_path / 'data'), 'datasets', 'h36m')
    assert str(info.value).startswith(
        f'{ann}: key "image_path": sample 4 path {bad_path!r} leaves the '
        f'image folder {img_dir!r}')
    assert 'allow_outside_data_root=True' in str(info.value)


def test_allow_outside_data_root_follows_the_path(tmp_path):
    outside = str(tmp_path / 'elsewhere' / 'img.jpg')
    ann = write(tmp_path, _path(2, outside))
    ds = build(tmp_path, ann, allow_outside_data_root=True)
    assert ds.get_data_info(2)['img_path'] == outside


def test_inside_paths_and_symlinks_are_accepted(tmp_path):
    ann = write(tmp_path, _path(1, 'S9/../S11/x..y.jpg'))
    # a symbolic link inside the image folder may point anywhere
    outside = tmp_path / 'big_disk' / 'S9'
    (outside / 'images').mkdir(parents=True)
    (outside / 'images' / 'S9_Walk.60457274_000000.jpg').write_bytes(b'jpg')
    img_dir = tmp_path / 'data' / 'datasets' / 'h36m'
    img_dir.mkdir(parents=True)
    os.symlink(outside, img_dir / 'S9')
    ds = build(tmp_path, ann)
    assert len(ds) == NUM
    assert ds.get_data_info(1)['img_path'] == osp.join(
        str(img_dir), 'S9/../S11/x..y.jpg')
    assert osp.isfile(ds.get_data_info(0)['img_path'])


def test_image_path_escapes_bytes_and_many_rows():
    paths = np.array([b'ok/a.jpg', b'../b.jpg', b'/c.jpg'])
    assert image_path_escapes(paths).tolist() == [False, True, True]
    many = np.array([f'S1/img_{i:06d}.jpg' for i in range(20000)])
    many[12345] = 'S1/../../x.jpg'
    assert np.flatnonzero(image_path_escapes(many)).tolist() == [12345]


# ---------------------------------------------------------------------------
# The crop never sees a bad box
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('center, scale, match', [
    ([np.nan, 10.0], 50.0, 'bbox_center must be 2 finite px'),
    ([10.0, 10.0], np.inf, 'bbox_scale must be one finite float > 0'),
    ([10.0, 10.0], 0.0, 'bbox_scale must be one finite float > 0'),
])
def test_mesh_affine_names_the_sample(center, scale, match):
    results = dict(img=np.zeros((32, 32, 3), np.uint8),
                   bbox_center=np.array(center), bbox_scale=scale,
                   img_path='data/x.jpg', sample_idx=7)
    with pytest.raises(ValueError,
                       match=r'data/x\.jpg \(sample 7\): ' + match):
        MPTMeshAffine(input_size=16)(results)


def test_filter_bad_samples_policy():
    bad = {'a': np.array([False, True, False, True]),
           'b': np.array([False, False, True, True]),
           'c': np.zeros(4, bool)}
    keep, counts = filter_bad_samples(bad, 'f.npz', 'skip', 4)
    assert keep.tolist() == [True, False, False, False]
    assert counts == {'a': 2, 'b': 2}
    with pytest.raises(HumanDataFormatError,
                       match=r"^f\.npz frame 1: key 'a': bad value; expected "
                       r'x > 0 \(2 of 4 samples of f\.npz bad'):
        filter_bad_samples(bad, 'f.npz', 'raise', 4, expected={'a': 'x > 0'},
                           error_cls=HumanDataFormatError,
                           locate=lambda i: f'f.npz frame {i}')
    with pytest.raises(HumanDataFormatError,
                       match=r"f\.npz: key 'a': bad-sample mask of shape "
                       r'\(4,\), expected \(5,\)'):
        filter_bad_samples(bad, 'f.npz', 'skip', 5,
                           error_cls=HumanDataFormatError)
