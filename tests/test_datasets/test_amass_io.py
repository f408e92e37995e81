"""Tests for the AMASS reader (on synthetic AMASS-format files)."""
import pathlib

import numpy as np
import pytest

from mpt_plugin.datasets.amass_io import (AMASS_TO_YUP, AMASSFormatError,
                                          AMASSSequence, find_amass_sequences,
                                          read_amass_sequence, scan_amass_tree,
                                          zup_to_yup_root)
from mpt_plugin.synthetic.amass_motion import make_synthetic_amass_tree
from tests.kinematics import REST, fk


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp('amass')
    paths = make_synthetic_amass_tree(
        root,
        seed=1,
        num_subjects=2,
        sequences_per_subject=2,
        seconds=(1.0, 1.5))
    return root, paths


def write_variant(src: pathlib.Path, dst: pathlib.Path, drop=(), **changes):
    """Copy an AMASS npz with keys dropped / replaced."""
    with np.load(src) as d:
        arrays = {k: d[k] for k in d.files if k not in drop}
    arrays.update(changes)
    np.savez(dst, **arrays)
    return dst


def test_find_sequences(tree, tmp_path):
    root, paths = tree
    found = find_amass_sequences(root)
    assert found == paths  # sorted, shape.npz skipped
    assert all(p.name != 'shape.npz' for p in found)
    assert len(list(root.rglob('shape.npz'))) == 2
    with pytest.raises(FileNotFoundError, match='not found'):
        find_amass_sequences(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match='no AMASS motion file'):
        find_amass_sequences(tmp_path)
    with pytest.raises(NotADirectoryError):
        find_amass_sequences(paths[0])
    # non-motion archives are skipped, unreadable ones are kept for the scan
    sub = tmp_path / 'DS' / 'S1'
    sub.mkdir(parents=True)
    np.savez(sub / 'neutral_stagei.npz', betas=np.zeros(16))
    (sub / '._x_poses.npz').write_bytes(b'\x00' * 10)
    (sub / 'broken_poses.npz').write_bytes(b'PK\x03\x04 not really')
    write_variant(paths[0], sub / 'a_poses.npz')
    assert [p.name for p in find_amass_sequences(tmp_path)
            ] == ['a_poses.npz', 'broken_poses.npz']


def test_read_smplh_sequence(tree):
    path = tree[1][0]
    raw = np.load(path)
    seq = read_amass_sequence(path)
    n = raw['poses'].shape[0]
    assert isinstance(seq, AMASSSequence)
    assert seq.poses.shape == (n, 72) and seq.poses.dtype == np.float64
    np.testing.assert_array_equal(seq.poses[:, :66], raw['poses'][:, :66])
    assert not seq.poses[:, 66:].any()  # 'zero' hands (LGD)
    np.testing.assert_array_equal(seq.betas, raw['betas'][:10])
    np.testing.assert_array_equal(seq.trans, raw['trans'])
    assert seq.gender == str(raw['gender'])
    assert seq.fps == float(raw['mocap_framerate'])
    assert seq.path == path and seq.model_type == 'smplh'
    assert seq.up_axis == 'z' and seq.num_frames == n
    vibe = read_amass_sequence(path, hand_pose='index1')
    np.testing.assert_array_equal(vibe.poses[:, 66:69],
                                  raw['poses'][:, 66:69])  # left_index1
    np.testing.assert_array_equal(vibe.poses[:, 69:72],
                                  raw['poses'][:, 111:114])  # right_index1
    assert np.abs(vibe.poses[:, 66:]).max() > 0.05
    with pytest.raises(ValueError, match='hand_pose'):
        read_amass_sequence(path, hand_pose='mean')
    with pytest.raises(FileNotFoundError):
        read_amass_sequence(path.with_name('nope.npz'))


def test_read_newer_layouts(tree, tmp_path):
    src = tree[1][1]
    ref = read_amass_sequence(src, hand_pose='index1')
    raw = np.load(src)
    poses = raw['poses']
    g_kw = dict(
        mocap_frame_rate=raw['mocap_framerate'],
        root_orient=poses[:, :3],
        pose_body=poses[:, 3:66],
        pose_hand=poses[:, 66:],
        surface_model_type=np.array('smplh'))
    # SMPL+H G: new frame-rate key + split arrays, with and without `poses`
    for name, drop in (('g_poses.npz', ('mocap_framerate', 'dmpls')),
                       ('g_split.npz', ('mocap_framerate', 'dmpls', 'poses'))):
        p = write_variant(src, tmp_path / name, drop=drop, **g_kw)
        seq = read_amass_sequence(p, hand_pose='index1')
        np.testing.assert_array_equal(seq.poses, ref.poses)
        assert seq.fps == ref.fps and seq.gender == ref.gender
    # split layout without hands: only 'zero' hands possible
    p = write_variant(
        src,
        tmp_path / 'nohand.npz',
        drop=('poses', 'mocap_framerate'),
        **{
            k: v
            for k, v in g_kw.items() if k != 'pose_hand'
        })
    np.testing.assert_array_equal(
        read_amass_sequence(p).poses[:, :66], ref.poses[:, :66])
    with pytest.raises(AMASSFormatError, match="nohand.npz.*'pose_hand'"):
        read_amass_sequence(p, hand_pose='index1')
    # SMPL-X (T, 165): hands start at joint 25 (left) and 40 (right)
    n = poses.shape[0]
    smplx = np.zeros((n, 165))
    smplx[:, :66] = poses[:, :66]
    smplx[:, 75:78], smplx[:, 120:123] = 0.3, -0.3
    p = write_variant(src, tmp_path / 'x.npz', poses=smplx)
    seq = read_amass_sequence(p, hand_pose='index1')
    assert seq.model_type == 'smplx'
    np.testing.assert_array_equal(
        seq.poses[:, 66:], np.tile([0.3, 0.3, 0.3, -0.3, -0.3, -0.3], (n, 1)))
    # plain SMPL (T, 72); bytes gender as in some AMASS subsets
    p = write_variant(
        src,
        tmp_path / 'smpl.npz',
        poses=ref.poses,
        gender=np.array(b'Female '))
    seq = read_amass_sequence(p, hand_pose='index1')
    assert seq.model_type == 'smpl' and seq.gender == 'female'
    np.testing.assert_array_equal(seq.poses, ref.poses)
    # a declared model type that contradicts the array width
    p = write_variant(
        src, tmp_path / 'decl.npz', surface_model_type=np.array('smplx'))
    with pytest.raises(AMASSFormatError, match='decl.npz.*smplx'):
        read_amass_sequence(p)


def _truncate(path: pathlib.Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _garble(path: pathlib.Path) -> None:
    data = bytearray(path.read_bytes())
    data[200:260] = b'\xff' * 60  # inside the first member
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('name,drop,change,match', [
    ('no_trans', ('trans', ), {}, "missing key 'trans'"),
    ('no_poses', ('poses', ), {}, "missing key 'poses'"),
    ('no_betas', ('betas', ), {}, "missing key 'betas'"),
    ('no_gender', ('gender', ), {}, "missing key 'gender'"),
    ('no_fps', ('mocap_framerate', ), {}, "missing key 'mocap_framerate'"),
    ('nan_pose', (), dict(poses='nan'), "'poses'.*NaN"),
    ('inf_trans', (), dict(trans='inf'), "'trans'.*NaN/inf"),
    ('empty', (), dict(poses=np.zeros((0, 156)), trans=np.zeros(
        (0, 3))), 'T == 0'),
    ('wide', (), dict(poses=np.zeros((5, 100))), r'\(T, 156\)'),
    ('flat', (), dict(poses=np.zeros(156)), r'\(T, 156\)'),
    ('text_pose', (), dict(poses=np.array(['a', 'b'])), 'numeric'),
    ('short_trans', (), dict(trans=np.zeros((3, 3))), "'trans'.*expected"),
    ('few_betas', (), dict(betas=np.zeros(5)), "'betas'.*N >= 10"),
    ('alien', (), dict(gender=np.array('alien')), "'gender'.*'alien'"),
    ('num_gender', (), dict(gender=np.array(1)), "'gender'.*string"),
    ('zero_fps', (), dict(mocap_framerate=np.array(0.0)), 'frame rate > 0'),
    ('pickled',
     (), dict(betas=np.array([None] * 16, dtype=object)), "'betas'.*pickle"),
    ('truncated', (), 'truncate', 'truncated or corrupt'),
    ('garbled', (), 'garble', "'trans'.*corrupt.*CRC"),
])
def test_read_errors_name_file_and_key(tree, tmp_path, name, drop, change,
                                       match):
    src = tree[1][0]
    raw = np.load(src)
    if isinstance(change, dict):
        change = dict(change)
        for k, v in change.items():
            if isinstance(v, str) and v in ('nan', 'inf'):
                arr = raw[k].copy()
                arr[len(arr) // 2, 1] = float(v)
                change[k] = arr
        path = write_variant(
            src, tmp_path / f'{name}_poses.npz', drop=drop, **change)
    else:
        path = write_variant(src, tmp_path / f'{name}_poses.npz')
        (_truncate if change == 'truncate' else _garble)(path)
    with pytest.raises(AMASSFormatError, match=match) as info:
        read_amass_sequence(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_single_npy_is_not_an_archive(tmp_path):
    path = tmp_path / 'one.npz'
    with open(path, 'wb') as f:
        np.save(f, np.zeros(3))
    with pytest.raises(AMASSFormatError, match='one.npz.*npz archive'):
        read_amass_sequence(path)


def test_scan_tree_counts_and_reports(tree, tmp_path):
    root, paths = tree
    good, bad = scan_amass_tree(root)
    assert good == paths and bad == []
    work = tmp_path / 'tree'
    for p in paths:
        dst = work / p.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_variant(p, dst)
    (work / 'DS' / 'S9').mkdir(parents=True)
    n = len(np.load(paths[0])['poses'])
    bad_nan = write_variant(
        paths[0],
        work / 'DS' / 'S9' / 'nan_poses.npz',
        poses=np.full((n, 156), np.nan))
    bad_zip = work / 'DS' / 'S9' / 'cut_poses.npz'
    write_variant(paths[1], bad_zip)
    _truncate(bad_zip)
    good, bad = scan_amass_tree(work)
    assert len(good) == len(paths) and len(bad) == 2
    assert sorted(p for p, _ in bad) == sorted([bad_nan, bad_zip])
    reasons = dict(bad)
    assert 'NaN' in reasons[bad_nan] and str(bad_nan) in reasons[bad_nan]
    assert 'truncated' in reasons[bad_zip]
    with pytest.raises(AMASSFormatError, match='cut_poses.npz'):
        scan_amass_tree(work, on_error='raise')
    with pytest.raises(ValueError, match='on_error'):
        scan_amass_tree(work, on_error='ignore')


def test_zup_to_yup_is_a_rigid_rotation_of_the_body(tree):
    np.testing.assert_allclose(AMASS_TO_YUP @ [0, 0, 1], [0, 1, 0])
    np.testing.assert_allclose(AMASS_TO_YUP @ AMASS_TO_YUP.T, np.eye(3))
    assert np.isclose(np.linalg.det(AMASS_TO_YUP), 1.0)
    seq = read_amass_sequence(tree[1][0], hand_pose='index1')
    joints_z = fk(seq.poses, seq.trans)
    # exact with the rest pelvis joint
    poses, trans = zup_to_yup_root(seq.poses, seq.trans, REST[0])
    np.testing.assert_allclose(poses[:, 3:], seq.poses[:, 3:])
    np.testing.assert_allclose(
        fk(poses, trans), joints_z @ AMASS_TO_YUP.T, atol=1e-9)
    # without it: the same up to the constant (A - I) J0
    _, trans_v = zup_to_yup_root(seq.poses, seq.trans)
    np.testing.assert_allclose(
        fk(poses, trans_v) + (AMASS_TO_YUP - np.eye(3)) @ REST[0],
        joints_z @ AMASS_TO_YUP.T,
        atol=1e-9)
    # z-up file -> upright y-up body: head above pelvis above the feet
    yup = seq.to_yup(REST[0])
    j = fk(yup.poses, yup.trans)
    assert yup.up_axis == 'y'
    assert (j[:, 15, 1] > j[:, 0, 1] + 0.3).all()
    assert (j[:, [10, 11], 1].max(1) < j[:, 0, 1] - 0.5).all()
    assert zup_to_yup_root(seq.poses)[1] is None
    with pytest.raises(ValueError, match='already y-up'):
        yup.to_yup()
    with pytest.raises(ValueError, match='poses'):
        zup_to_yup_root(np.zeros((4, 2)))


def test_subsample(tree):
    seq = read_amass_sequence(tree[1][0])
    sub = seq.subsample(25.0)
    step = int(seq.fps // 25)
    assert sub.fps == seq.fps / step
    np.testing.assert_array_equal(sub.poses, seq.poses[::step])
    np.testing.assert_array_equal(sub.trans, seq.trans[::step])
    assert seq.subsample(1000.0).num_frames == seq.num_frames
    with pytest.raises(ValueError, match='target_fps'):
        seq.subsample(0)
