"""Tests for mpt_plugin.datasets.human_data_io.

Also defines the small HumanData builders the dataset tests import
(:func:`make_h36m_like`, :func:`make_pw3d_like`, :func:`write_like_mmhuman3d`).
"""
import importlib.util
import os
import sys
import types
import zipfile

import numpy as np
import pytest

from mpt_plugin.body_models.conventions import (convert_keypoints,
                                                get_mapping)
from mpt_plugin.datasets.human_data_io import (HumanDataFormatError,
                                               load_human_data,
                                               save_human_data,
                                               validate_human_data)
from tests.test_body_models.test_conventions import _mmhuman3d_wheel

#: human_data indices of the 17 h36m joints, in h36m order.
H36M_IN_HD = get_mapping('human_data', 'h36m')[1]


def make_h36m_like(num: int = 6, seed: int = 0) -> dict:
    """An H36M-like HumanData dict: 17 h36m joints in keypoints2d/3d (full
    190 layout), 5-column boxes, no smpl/meta."""
    rng = np.random.default_rng(seed)
    k2d = np.concatenate(
        [rng.uniform(0, 1000, (num, 17, 2)),
         np.ones((num, 17, 1))], -1)
    k2d[:, 3, 2] = 0.0  # one joint with zero confidence
    k3d = np.concatenate(
        [rng.normal(0, 0.5, (num, 17, 3)),
         np.ones((num, 17, 1))], -1)
    full2d, mask2d = convert_keypoints(k2d, 'h36m', 'human_data')
    full3d, mask3d = convert_keypoints(k3d, 'h36m', 'human_data')
    xy = rng.uniform(0, 500, (num, 2))
    wh = rng.uniform(50, 300, (num, 2))
    return dict(
        image_path=np.array(
            [f'S9/images/S9_Walk.60457274_{i:06d}.jpg' for i in range(num)]),
        bbox_xywh=np.concatenate([xy, wh, np.ones((num, 1))], 1),
        keypoints2d=full2d,
        keypoints2d_mask=mask2d,
        keypoints3d=full3d,
        keypoints3d_mask=mask3d,
        config='h36m')


def make_pw3d_like(num: int = 5, seed: int = 1) -> dict:
    """A 3DPW-like HumanData dict: smpl + meta gender, 4-column boxes, no
    keypoints."""
    rng = np.random.default_rng(seed)
    genders = np.array(['m', 'f', 'f', 'm', 'f'] * (num // 5 + 1))[:num]
    return dict(
        image_path=np.array(
            [f'imageFiles/courtyard/image_{i:05d}.jpg' for i in range(num)]),
        bbox_xywh=rng.uniform(20, 400, (num, 4)),
        smpl=dict(
            body_pose=rng.normal(0, 0.2, (num, 23, 3)),
            global_orient=rng.normal(0, 0.5, (num, 3)),
            betas=rng.normal(0, 1, (num, 10))),
        meta=dict(gender=genders),
        config='pw3d')


def compress_like_mmhuman3d(data: dict) -> dict:
    """``HumanData.compress_keypoints_by_mask``: keep the mask == 1
    columns of the keypoint arrays (a new dict)."""
    data = dict(data)
    for key in ('keypoints2d', 'keypoints3d'):
        if key in data:
            keep = np.flatnonzero(data[f'{key}_mask'] == 1)
            data[key] = data[key][:, keep]
    return data


def write_like_mmhuman3d(path, data: dict, compressed: bool = True,
                         compress: bool = True) -> None:
    """Writes ``data`` the way ``HumanData.dump`` does, with plain
    ``np.savez_compressed`` (dicts become 0-d object arrays). ``compress``
    False writes the keypoint arrays as given."""
    if compressed and compress:
        data = compress_like_mmhuman3d(data)
    num = len(data.get('image_path', data.get('bbox_xywh')))
    np.savez_compressed(
        path,
        __key_strict__=False,
        __data_len__=num,
        __keypoints_compressed__=compressed,
        **data)


def _assert_same(loaded: dict, original: dict) -> None:
    for key, value in original.items():
        if isinstance(value, dict):
            assert set(loaded[key]) == set(value), key
            for sub, arr in value.items():
                np.testing.assert_array_equal(loaded[key][sub], arr)
        else:
            np.testing.assert_array_equal(loaded[key], value, err_msg=key)


# ---------------------------------------------------------------------------
# Round trips and layout
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('compress', [True, False])
def test_round_trip(tmp_path, compress):
    data = make_h36m_like()
    data.update(make_pw3d_like(6))  # smpl + meta + 4-column boxes
    data['has_smpl'] = np.array([1, 0, 1, 1, 0, 1])
    path = tmp_path / 'both.npz'
    save_human_data(path, data, compress_keypoints=compress)
    loaded = load_human_data(path)
    _assert_same(loaded, data)
    assert loaded['__data_len__'] == 6
    assert loaded['__keypoints_compressed__'] is False
    assert loaded['keypoints2d'].shape == (6, 190, 3)
    assert isinstance(loaded['config'], str)
    assert loaded['keypoints3d_mask'].dtype == np.uint8

    # the raw archive has mmhuman3d's layout
    with np.load(path) as raw:  # allow_pickle=False: arrays only
        assert bool(raw['__keypoints_compressed__']) is compress
        assert int(raw['__data_len__']) == 6
        assert bool(raw['__key_strict__']) is False
        width = 17 if compress else 190
        assert raw['keypoints3d'].shape == (6, width, 4)
        assert raw['image_path'].dtype.kind == 'U'
        assert raw['config'].shape == () and raw['config'].dtype.kind == 'U'
        with pytest.raises(ValueError, match='allow_pickle'):
            raw['smpl']  # a dict stored as a 0-d object array

    # compressed view without expanding to 190 joints
    small = load_human_data(path, decompress=False)
    assert small['__keypoints_compressed__'] is True
    np.testing.assert_array_equal(small['keypoints3d'],
                                  data['keypoints3d'][:, sorted(H36M_IN_HD)])


def test_decompression_places_joints_at_human_data_indices(tmp_path):
    """A file written the way mmhuman3d does: compressed columns are in
    ascending human_data order, whatever the source convention's order."""
    data = make_h36m_like(num=3)
    path = tmp_path / 'h36m_mmh3d.npz'
    write_like_mmhuman3d(path, data)
    loaded = load_human_data(path)
    k3d = loaded['keypoints3d']
    # h36m joint j lands at human_data index H36M_IN_HD[j]
    expected = convert_keypoints(data['keypoints3d'], 'human_data',
                                 'h36m')[0]
    np.testing.assert_array_equal(k3d[:, H36M_IN_HD], expected)
    assert H36M_IN_HD[0] == 148  # pelvis_extra
    others = np.setdiff1d(np.arange(190), H36M_IN_HD)
    assert not k3d[:, others].any()
    # the first compressed column is the lowest index (4 = left_knee)
    with np.load(path) as raw:
        np.testing.assert_array_equal(raw['keypoints3d'][:, 0], k3d[:, 4])


def test_mmhuman3d_style_file_with_dicts(tmp_path):
    data = make_pw3d_like()
    path = tmp_path / 'pw3d_test.npz'
    write_like_mmhuman3d(path, data)
    loaded = load_human_data(path)
    _assert_same(loaded, data)
    assert loaded['meta']['gender'].tolist() == ['m', 'f', 'f', 'm', 'f']
    assert 'keypoints3d' not in loaded
    # only some members
    part = load_human_data(path, keys=('image_path', 'bbox_xywh', 'meta'))
    assert set(part) - {'__data_len__', '__key_strict__',
                        '__keypoints_compressed__'} == {
                            'image_path', 'bbox_xywh', 'meta'}
    with pytest.raises(HumanDataFormatError, match='image_path'):
        load_human_data(path, keys=('bbox_xywh', ))


def test_missing_mask_means_all_joints(tmp_path):
    data = make_h36m_like(num=2)
    del data['keypoints2d_mask'], data['keypoints3d_mask']
    path = tmp_path / 'nomask.npz'
    write_like_mmhuman3d(path, data, compressed=False)
    loaded = load_human_data(path)
    assert loaded['keypoints2d_mask'].sum() == 190
    # saving without masks writes all-ones masks
    save_human_data(tmp_path / 'ours.npz', data)
    with np.load(tmp_path / 'ours.npz') as raw:
        assert raw['keypoints3d_mask'].sum() == 190


# ---------------------------------------------------------------------------
# Malformed files
# ---------------------------------------------------------------------------


def _bad_file(tmp_path, mutate, compressed=True, name='bad.npz'):
    data = make_h36m_like(num=4)
    data.update(make_pw3d_like(4))
    if compressed:
        data = compress_like_mmhuman3d(data)
    mutate(data)
    path = tmp_path / name
    write_like_mmhuman3d(path, data, compressed=compressed, compress=False)
    return path


@pytest.mark.parametrize('mutate,compressed,pattern', [
    (lambda d: d.pop('image_path'), True,
     r"missing required key\(s\) \['image_path'\]"),
    (lambda d: d.__setitem__('bbox_xywh', d['bbox_xywh'][:3]), False,
     r'key "bbox_xywh" expected shape \(N, 4\|5\) with N = 4'),
    (lambda d: d.__setitem__('bbox_xywh', d['bbox_xywh'][:, :3]), True,
     r'key "bbox_xywh" expected shape \(N, 4\) or \(N, 5\)'),
    (lambda d: d.__setitem__('keypoints2d', d['keypoints2d'][:, :17]), False,
     r'key "keypoints2d" expected shape \(N, 190, 3\)'),
    (lambda d: d.__setitem__('keypoints3d', d['keypoints3d'][..., :3]),
     False, r'key "keypoints3d" expected shape \(N, 190, 4\)'),
    (lambda d: d['keypoints2d_mask'].__setitem__(0, 1), True,
     r'key "keypoints2d" expected shape \(N, mask.sum\(\) = 18 '
     r'\(compressed\), 3\)'),
    (lambda d: d['smpl'].__setitem__('body_pose', np.zeros((4, 24, 3))),
     True, r'key "smpl.body_pose" expected shape \(N, 23, 3\) or \(N, 69\)'),
    (lambda d: d['smpl'].__setitem__('betas', np.zeros((3, 10))), True,
     r'key "smpl.betas" expected shape \(N, 10\) with N = 4'),
    (lambda d: d['smpl'].pop('global_orient'), True,
     r"key \"smpl\" expected sub-keys .*missing \['global_orient'\]"),
    (lambda d: d['meta'].__setitem__('gender', ['m'] * 5), True,
     r'key "meta.gender" expected shape \(N,\) with N = 4'),
    (lambda d: d.__setitem__('has_smpl', np.ones(5)), True,
     r'key "has_smpl" expected shape \(N,\) with N = 4'),
    (lambda d: d.__setitem__('keypoints2d_convention', 'coco'), True,
     r'key "keypoints2d_convention" expected \'human_data\''),
])
def test_malformed_files_name_file_and_key(tmp_path, mutate, compressed,
                                           pattern):
    path = _bad_file(tmp_path, mutate, compressed)
    with pytest.raises(HumanDataFormatError, match=pattern) as err:
        load_human_data(path)
    assert str(path) in str(err.value)


def test_data_len_mismatch(tmp_path):
    data = make_pw3d_like()
    path = tmp_path / 'len.npz'
    np.savez_compressed(path, __data_len__=7, **data)
    with pytest.raises(HumanDataFormatError,
                       match=r'"__data_len__" expected N = 5'):
        load_human_data(path)


class Payload:
    """An arbitrary class: the restricted unpickler must not build it."""

    built = []

    def __setstate__(self, state):
        Payload.built.append(state)


class SystemCall:
    """Pickles as ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.mark.parametrize('key', ['smpl', 'meta'])
def test_pickled_os_system_is_refused(tmp_path, key):
    marker = tmp_path / 'executed'
    data = make_pw3d_like()
    data[key]['evil'] = SystemCall(f'touch {marker}')
    path = tmp_path / 'evil.npz'
    write_like_mmhuman3d(path, data)
    with pytest.raises(HumanDataFormatError) as err:
        load_human_data(path)
    msg = str(err.value)
    assert str(path) in msg and f'key "{key}"' in msg
    assert 'system' in msg and 'refused' in msg
    assert not marker.exists()


def test_pickled_arbitrary_class_is_refused(tmp_path):
    data = make_pw3d_like()
    data['meta']['obj'] = Payload()
    path = tmp_path / 'class.npz'
    write_like_mmhuman3d(path, data)
    Payload.built.clear()
    with pytest.raises(HumanDataFormatError,
                       match=r'key "meta".*refused.*Payload') as err:
        load_human_data(path)
    assert str(path) in str(err.value)
    assert Payload.built == []


def test_non_plain_container_is_refused(tmp_path):
    """Allow-listed but non-plain objects (a set) are refused too."""
    data = make_pw3d_like()
    data['meta']['tags'] = {'a', 'b'}
    path = tmp_path / 'set.npz'
    write_like_mmhuman3d(path, data)
    with pytest.raises(HumanDataFormatError,
                       match=r'key "meta".*meta\[\'tags\'\] is a '
                       r'builtins.set object'):
        load_human_data(path)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='HumanData file not found'):
        load_human_data(tmp_path / 'nope.npz')
    bad = tmp_path / 'garbage.npz'
    bad.write_bytes(b'not a zip')
    with pytest.raises(HumanDataFormatError, match='garbage.npz.*zip'):
        load_human_data(bad)


def test_save_validates_before_writing(tmp_path):
    data = make_pw3d_like()
    data['bbox_xywh'] = data['bbox_xywh'][:2]
    path = tmp_path / 'never.npz'
    with pytest.raises(HumanDataFormatError, match='never.npz.*bbox_xywh'):
        save_human_data(path, data)
    assert not path.exists()
    with pytest.raises(ValueError, match='must end with .npz'):
        save_human_data(tmp_path / 'x.pkl', make_pw3d_like())
    # validate_human_data works on in-memory dicts too
    validate_human_data(make_h36m_like(), 'mem')
    with pytest.raises(HumanDataFormatError, match='mem: key "smpl"'):
        validate_human_data(dict(make_pw3d_like(), smpl=[1, 2]), 'mem')


# ---------------------------------------------------------------------------
# mmhuman3d 0.11.0's own HumanData reads our files and we read its files
# ---------------------------------------------------------------------------

_HD_FILES = {
    'mmhuman3d.utils.path_utils': 'mmhuman3d/utils/path_utils.py',
    'mmhuman3d.data.data_structures.human_data':
    'mmhuman3d/data/data_structures/human_data.py',
}


@pytest.fixture(scope='module')
def mmh3d_human_data(request, tmp_path_factory):
    """mmhuman3d's ``HumanData`` class, run from the wheel's files by path.

    The mmhuman3d package is never imported: ``mmhuman3d``/``mmhuman3d.utils``
    are empty stand-ins, ``mmcv.utils`` a stand-in with a silent
    ``print_log``; all stand-ins leave ``sys.modules`` afterwards.
    """
    wheel = _mmhuman3d_wheel(request, tmp_path_factory)
    out_dir = tmp_path_factory.mktemp('mmh3d_human_data')
    stubs = {}
    for name in ('mmhuman3d', 'mmhuman3d.utils', 'mmhuman3d.data',
                 'mmhuman3d.data.data_structures', 'mmcv.utils'):
        stubs[name] = types.ModuleType(name)
    stubs['mmcv.utils'].print_log = lambda *args, **kwargs: None
    saved = {name: sys.modules.get(name) for name in list(stubs) +
             list(_HD_FILES)}
    try:
        sys.modules.update(stubs)
        with zipfile.ZipFile(wheel) as zf:
            for mod_name, member in _HD_FILES.items():
                file = out_dir / member.rsplit('/', 1)[1]
                file.write_bytes(zf.read(member))
                spec = importlib.util.spec_from_file_location(mod_name, file)
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
        return module.HumanData
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def test_mmhuman3d_reads_our_file(tmp_path, mmh3d_human_data):
    data = make_h36m_like(num=4)
    data.update(make_pw3d_like(4))
    path = tmp_path / 'ours.npz'
    save_human_data(path, data)
    hd = mmh3d_human_data.fromfile(str(path))
    assert hd.data_len == 4 and hd.check_keypoints_compressed()
    np.testing.assert_array_equal(hd['keypoints3d'], data['keypoints3d'])
    assert hd.get_raw_value('keypoints2d').shape == (4, 17, 3)
    np.testing.assert_array_equal(hd['smpl']['betas'], data['smpl']['betas'])
    assert hd['image_path'] == data['image_path'].tolist()
    assert hd['config'] == 'pw3d'
    assert hd['bbox_xywh'].shape == (4, 5)  # conf column appended


def test_we_read_mmhuman3d_dump(tmp_path, mmh3d_human_data):
    data = make_h36m_like(num=3)
    hd = mmh3d_human_data()
    for key in ('keypoints2d_mask', 'keypoints3d_mask', 'image_path',
                'bbox_xywh', 'keypoints2d', 'keypoints3d', 'config'):
        value = data[key]
        hd[key] = value.tolist() if key == 'image_path' else value
    hd['smpl'] = make_pw3d_like(3)['smpl']
    hd.compress_keypoints_by_mask()
    path = tmp_path / 'theirs.npz'
    hd.dump(str(path))
    loaded = load_human_data(path)
    np.testing.assert_array_equal(loaded['keypoints3d'], data['keypoints3d'])
    np.testing.assert_array_equal(loaded['smpl']['body_pose'],
                                  hd['smpl']['body_pose'])
    assert loaded['__data_len__'] == 3
