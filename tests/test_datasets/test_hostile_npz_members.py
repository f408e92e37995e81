"""Hostile ``.npz`` members in AMASS files (issue 12): ``_load_arrays`` reads
through the size-checked member reader of ``mpt_plugin.body_models.io``, so
a forged header in any member (even the unused ``dmpls``) is an
``AMASSFormatError`` naming the file and key, never a bare MemoryError."""
import io
import zipfile

import numpy as np
import pytest

from mpt_plugin.datasets.amass_io import AMASSFormatError, read_amass_sequence
from tests.isolated import run_isolated
from tests.test_body_models.hostile_files import (BYTEARRAY_SIZE_PKL,
                                                  LIGHT_IMPORTS,
                                                  forge_uncompressed_size,
                                                  npy_bytes, object_npy_bytes)

T = 6


def amass_members(**overrides) -> dict:
    """``{key: .npy bytes}`` of a small SMPL-H AMASS sequence."""
    rng = np.random.default_rng(0)
    arrays = dict(
        poses=rng.normal(size=(T, 156)) * 0.1, trans=rng.normal(size=(T, 3)),
        betas=rng.normal(size=16), gender=np.array('male'),
        mocap_framerate=np.array(120.0), dmpls=np.zeros((T, 8)))
    out = {}
    for key, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        out[key] = buf.getvalue()
    out.update(overrides)
    return out


def write_amass(path, compression=zipfile.ZIP_STORED, **overrides) -> str:
    with zipfile.ZipFile(path, 'w', compression=compression) as zf:
        for key, data in amass_members(**overrides).items():
            zf.writestr(key + '.npy', data)
    return str(path)


def test_valid_file_reads_like_numpy(tmp_path):
    # Fortran-ordered and big-endian members must come back as numpy has them
    trans = np.asfortranarray(np.arange(T * 3, dtype='>f8').reshape(T, 3))
    buf = io.BytesIO()
    np.save(buf, trans)
    path = write_amass(tmp_path / 'ok_poses.npz', trans=buf.getvalue(),
                       compression=zipfile.ZIP_DEFLATED)
    seq = read_amass_sequence(path)
    with np.load(path) as ref:
        np.testing.assert_array_equal(seq.trans, ref['trans'])
        np.testing.assert_array_equal(seq.poses[:, :66], ref['poses'][:, :66])
    assert seq.gender == 'male' and seq.fps == 120.0


def test_forged_dmpls_header_refused_with_small_memory(tmp_path):
    # the unused dmpls member declares (10**9, 10**6) float64 in a tiny file
    path = write_amass(tmp_path / 'forged_poses.npz',
                       dmpls=npy_bytes(b'\0' * 64, (10**9, 10**6)))
    code = LIGHT_IMPORTS + (
        'from mpt_plugin.datasets.amass_io import read_amass_sequence\n'
        'mark_baseline()\n'
        f'read_amass_sequence({path!r})\n')
    res = run_isolated(code, timeout=120)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert res.exc_type == 'mpt_plugin.datasets.amass_io.AMASSFormatError'
    assert res.message.startswith(f"{path}: key 'dmpls': cannot read the "
                                  'array'), res.message
    assert 'header declares shape (1000000000, 1000000)' in res.message
    assert res.peak_above_base_mb < 200, res.peak_above_base_mb


def test_lying_zip_bomb(tmp_path):
    path = write_amass(tmp_path / 'bomb_poses.npz',
                       compression=zipfile.ZIP_DEFLATED)
    forge_uncompressed_size(path, 3_000_000_000)
    with pytest.raises(AMASSFormatError,
                       match=r"bomb_poses.npz: key '(poses|trans|betas|gender"
                       r"|mocap_framerate|dmpls)': .*declares 3000000000 "
                       r'uncompressed bytes; at most \d+ are accepted'):
        read_amass_sequence(path)


def test_truncated_member_data(tmp_path):
    path = write_amass(tmp_path / 'short_poses.npz',
                       trans=npy_bytes(b'\0' * 24, (T, 3)))
    with pytest.raises(AMASSFormatError,
                       match=r"short_poses.npz: key 'trans': cannot read the "
                       r'array .*header declares shape \(6, 3\) of float64 '
                       r'\(144 bytes\), but the member holds 24 bytes'):
        read_amass_sequence(path)


def test_pickled_member_not_unpickled(tmp_path):
    # the bytearray(2**31 - 1) payload must be refused without unpickling
    path = write_amass(tmp_path / 'pkl_poses.npz',
                       dmpls=object_npy_bytes(BYTEARRAY_SIZE_PKL))
    with pytest.raises(AMASSFormatError,
                       match=r"pkl_poses.npz: key 'dmpls': .*holds pickled "
                       r'object data \(dtype object\)'):
        read_amass_sequence(path)


def test_unsupported_compression(tmp_path):
    path = write_amass(tmp_path / 'bz_poses.npz',
                       compression=zipfile.ZIP_BZIP2)
    with pytest.raises(AMASSFormatError,
                       match=r"bz_poses.npz: key '\w+': .*zip compression "
                       'method 12 is not accepted'):
        read_amass_sequence(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / 'text_poses.npz'
    path.write_bytes(b'not a zip archive at all')
    with pytest.raises(AMASSFormatError,
                       match=r'text_poses.npz: cannot open as an .npz archive '
                       r'\(truncated or corrupt\?\)'):
        read_amass_sequence(path)
