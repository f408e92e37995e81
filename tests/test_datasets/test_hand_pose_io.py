"""Tests of mpt_plugin.datasets.hand_pose_io: the hand pose set format, a
round trip and hostile files (each refused with a HandPoseFormatError
naming the file, the key and the expected layout)."""
import io
import re
import zipfile

import numpy as np
import pytest

from mpt_plugin.datasets import HandPoseFormatError, load_hand_pose_set
from tests.isolated import run_isolated
from tests.test_body_models.hostile_files import (BYTEARRAY_SIZE_PKL,
                                                  LIGHT_IMPORTS,
                                                  forge_uncompressed_size,
                                                  npy_bytes, object_npy_bytes,
                                                  write_zip)

N = 8


def valid_arrays(**overrides) -> dict:
    rng = np.random.default_rng(0)
    arrays = dict(
        hand_pose=(rng.normal(size=(N, 45)) * 0.4).astype(np.float32),
        betas=rng.normal(size=(N, 10)).astype(np.float32),
        is_rhand=np.array(True), format=np.array('mpt_hand_poses'),
        version=np.array(1))
    arrays.update(overrides)
    return arrays


def npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_set(path, compression=zipfile.ZIP_STORED, drop=(), raw=None,
              **overrides) -> str:
    """A pose set archive: valid arrays with ``overrides``, without the
    keys in ``drop``, with ``raw`` ``{key: .npy bytes}`` members as given."""
    members = {k: npy(v) for k, v in valid_arrays(**overrides).items()
               if k not in drop}
    members.update(raw or {})
    return write_zip(path, members, compression)


def refused(path, key, *patterns):
    """Asserts the refusal names the file and ``key`` (and ``patterns``)."""
    with pytest.raises(HandPoseFormatError) as info:
        load_hand_pose_set(path)
    msg = str(info.value)
    assert msg.startswith(f'{path}: key {key!r}: '), msg
    for pattern in patterns:
        assert re.search(pattern, msg), (pattern, msg)
    return msg


# --- valid files ------------------------------------------------------------


@pytest.mark.parametrize('writer', [np.savez, np.savez_compressed])
def test_round_trip(tmp_path, writer):
    ref = valid_arrays(is_rhand=np.array(False))
    path = tmp_path / 'set.npz'
    writer(path, **ref)
    out = load_hand_pose_set(path)
    assert sorted(out) == ['betas', 'format', 'hand_pose', 'is_rhand',
                           'version']
    assert out['hand_pose'].dtype == np.float32
    assert out['hand_pose'].flags.c_contiguous
    np.testing.assert_array_equal(out['hand_pose'], ref['hand_pose'])
    np.testing.assert_array_equal(out['betas'], ref['betas'])
    assert out['is_rhand'].shape == () and not bool(out['is_rhand'])
    assert str(out['format']) == 'mpt_hand_poses'
    assert int(out['version']) == 1


def test_accepted_variants(tmp_path):
    # float64 tables (cast to float32), bytes format, integer is_rhand and
    # version, Fortran order, an extra member (never read)
    pose = np.asfortranarray(valid_arrays()['hand_pose'].astype(np.float64))
    path = write_set(tmp_path / 'variants.npz', hand_pose=pose,
                     format=np.array(b'mpt_hand_poses'),
                     is_rhand=np.array(1, np.uint8),
                     version=np.array(1, np.int16),
                     raw=dict(notes=object_npy_bytes(BYTEARRAY_SIZE_PKL)))
    out = load_hand_pose_set(path)
    np.testing.assert_array_equal(out['hand_pose'], pose.astype(np.float32))
    assert bool(out['is_rhand'])


# --- refusals ---------------------------------------------------------------


@pytest.mark.parametrize('key, expected', [
    ('hand_pose', r'\(N, 45\) float32'), ('betas', r'\(N, 10\) float32'),
    ('is_rhand', r'\(\) bool'), ('format', r"\(\) str 'mpt_hand_poses'"),
    ('version', r'\(\) int 1')])
def test_missing_key(tmp_path, key, expected):
    path = write_set(tmp_path / 'missing.npz', drop=(key, ))
    refused(path, key, 'missing', 'expected ' + expected)


@pytest.mark.parametrize('key, value, pattern', [
    ('hand_pose', np.zeros((N, 44), np.float32), r'shape \(8, 44\) is not '
     r'\(N, 45\)'),
    ('hand_pose', np.zeros((N, 15, 3), np.float32), r'shape \(8, 15, 3\)'),
    ('hand_pose', np.zeros((N, 45), np.int32), 'dtype int32 is not a float'),
    ('betas', np.zeros((N, 16), np.float32), r'shape \(8, 16\) is not '
     r'\(N, 10\)'),
    ('betas', np.full((N, 10), 'a'), 'dtype <U1 is not a float'),
    ('is_rhand', np.array([True, False]), r'shape \(2,\)'),
    ('is_rhand', np.array(2), 'got 2'),
    ('is_rhand', np.array(1.0), 'dtype float64'),
    ('format', np.array('mpt_body_poses'), "got 'mpt_body_poses'"),
    ('format', np.array(3), 'dtype int64'),
    ('version', np.array(2), 'got 2 .this reader knows version 1'),
    ('version', np.array('1'), 'dtype <U1'),
])
def test_wrong_shape_dtype_or_metadata(tmp_path, key, value, pattern):
    path = write_set(tmp_path / 'wrong.npz', **{key: value})
    refused(path, key, pattern, 'expected ')


def test_row_count_mismatch_and_empty(tmp_path):
    path = write_set(tmp_path / 'mismatch.npz',
                     betas=np.zeros((N - 1, 10), np.float32))
    refused(path, 'betas', '7 rows, but hand_pose has N = 8',
            r'expected \(N, 10\)')
    path = write_set(tmp_path / 'empty.npz',
                     hand_pose=np.zeros((0, 45), np.float32),
                     betas=np.zeros((0, 10), np.float32))
    refused(path, 'hand_pose', r'no pose \(N = 0\)')


def test_non_finite_rows_named(tmp_path):
    pose = valid_arrays()['hand_pose'].astype(np.float64)
    pose[2, 7] = np.nan
    pose[5, 0] = 1e39  # finite in float64, inf in float32
    path = write_set(tmp_path / 'nan.npz', hand_pose=pose)
    refused(path, 'hand_pose', 'non-finite', r'2 of 8 row\(s\) \[2, 5\]',
            r'expected \(N, 45\)')
    betas = valid_arrays()['betas']
    betas[-1, 3] = -np.inf
    path = write_set(tmp_path / 'inf.npz', betas=betas)
    refused(path, 'betas', r'non-finite .* 1 of 8 row\(s\) \[7\]')


def test_absurd_values_named(tmp_path):
    pose = valid_arrays()['hand_pose']
    pose[3, 10] = 7.0  # > 2 pi
    path = write_set(tmp_path / 'angle.npz', hand_pose=pose)
    refused(path, 'hand_pose', r'absurd values \(\|x\| > 6.28', r'\[3\]')
    betas = valid_arrays()['betas']
    betas[[0, 6], 0] = 11.0
    path = write_set(tmp_path / 'betas.npz', betas=betas)
    refused(path, 'betas', r'absurd values \(\|x\| > 10\)', r'\[0, 6\]')


def test_pickled_member_not_unpickled(tmp_path):
    # bytearray(2**31 - 1): unpickling it would allocate 2 GiB
    path = write_set(tmp_path / 'pickled.npz',
                     raw=dict(hand_pose=object_npy_bytes(BYTEARRAY_SIZE_PKL,
                                                         (N, 45))))
    refused(path, 'hand_pose', r'pickled object data \(dtype object\)',
            r'expected \(N, 45\)')
    # np.savez of an object array: same refusal
    path = tmp_path / 'objects.npz'
    np.savez(path, **valid_arrays(betas=np.array([None] * N, dtype=object)))
    refused(path, 'betas', 'pickled object data')


def test_forged_header_refused_with_small_memory(tmp_path):
    # betas declares (10**9, 10**6) float64 in a tiny file
    path = write_set(tmp_path / 'forged.npz',
                     raw=dict(betas=npy_bytes(b'\0' * 64, (10**9, 10**6))))
    code = LIGHT_IMPORTS + (
        'from mpt_plugin.datasets.hand_pose_io import load_hand_pose_set\n'
        'mark_baseline()\n'
        f'load_hand_pose_set({path!r})\n')
    res = run_isolated(code, timeout=120)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert res.exc_type == ('mpt_plugin.datasets.hand_pose_io.'
                            'HandPoseFormatError')
    assert res.message.startswith(f"{path}: key 'betas': cannot read"), \
        res.message
    assert 'header declares shape (1000000000, 1000000)' in res.message
    assert res.peak_above_base_mb < 100, res.peak_above_base_mb


def test_lying_zip_bomb(tmp_path):
    path = write_set(tmp_path / 'bomb.npz', compression=zipfile.ZIP_DEFLATED)
    forge_uncompressed_size(path, 3_000_000_000)
    refused(path, 'hand_pose', r'declares 3000000000 uncompressed bytes; at '
            r'most \d+ are accepted')


def test_truncated_member(tmp_path):
    path = write_set(tmp_path / 'short.npz',
                     raw=dict(hand_pose=npy_bytes(b'\0' * 40, (N, 45),
                                                  '<f4')))
    refused(path, 'hand_pose', r'header declares shape \(8, 45\) of float32 '
            r'\(1440 bytes\), but the member holds 40 bytes')


def test_not_an_archive_or_no_file(tmp_path):
    path = tmp_path / 'text.npz'
    path.write_bytes(b'not a zip archive')
    with pytest.raises(HandPoseFormatError,
                       match=r'text.npz: not a readable hand pose set'):
        load_hand_pose_set(path)
    with pytest.raises(HandPoseFormatError, match='not a regular file'):
        load_hand_pose_set(tmp_path)
    with pytest.raises(FileNotFoundError, match='absent.npz'):
        load_hand_pose_set(tmp_path / 'absent.npz')
