"""Hostile and broken body-model files, mesh samplers and npz members
(issue 12): each case asserts the exact error class and that the message
names the file and the key; cases that could crash the interpreter or
allocate gigabytes run in a child process (``tests.isolated``)."""
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from mpt_plugin.body_models.io import (MAX_NESTING_DEPTH, BodyModelFileError,
                                       NpzMemberError, UnsafePickleError,
                                       load_body_model_file,
                                       load_joint_regressor,
                                       load_mesh_downsampling, load_npz_safe,
                                       restricted_loads)
from tests.isolated import run_isolated
from tests.test_body_models.hostile_files import (
    BINBYTES8_PKL, BYTEARRAY8_PKL, BYTEARRAY_SIZE_PKL, LIGHT_IMPORTS,
    MEMO_INDEX_PKL, NDARRAY_CALL_PKL, NO_TORCH, array_state_pkl, cyclic_list,
    forge_uncompressed_size, nested_lists, npy_bytes, object_npy_bytes,
    set_of, write_zip)
from tests.test_body_models.test_io import V, make_model_dict

ASSETS = '/work/shared/reference/assets'
IO_ERR = 'mpt_plugin.body_models.io.'


def load_in_child(func: str, path, timeout: float = 120.0):
    """Runs ``mpt_plugin.body_models.io.<func>(path)`` in a child process
    (baseline memory taken after the imports)."""
    code = LIGHT_IMPORTS + (
        f'from mpt_plugin.body_models.io import {func}\n'
        'mark_baseline()\n'
        f'{func}({str(path)!r})\n')
    return run_isolated(code, timeout=timeout)


def assert_child_refused(res, exc: str, *parts: str,
                         max_mb: float = 200.0) -> None:
    """Exit status 3 (an exception, not a signal), the class, every part in
    the message, and peak memory below ``max_mb`` above the baseline."""
    assert res.returncode == 3, (res.returncode, res.stdout, res.stderr)
    assert res.exc_type == exc, res.stdout
    for part in parts:
        assert part in res.message, (part, res.message)
    assert res.peak_above_base_mb < max_mb, res.peak_above_base_mb


def smpl_pkl(tmp_path, name='model.pkl', **overrides) -> str:
    """An SMPL-layout ``.pkl`` (protocol 2, as official files) with
    ``overrides`` replacing model entries."""
    model = make_model_dict()
    model.update(overrides)
    path = tmp_path / name
    path.write_bytes(pickle.dumps(model, protocol=2))
    return str(path)


def smpl_npz(tmp_path, name='model.npz', **overrides) -> str:
    model = make_model_dict()
    model.update(overrides)
    path = tmp_path / name
    np.savez(path, **model)
    return str(path)


def csc_regressor() -> sp.csc_matrix:
    return sp.csc_matrix(make_model_dict()['J_regressor'])


# ---------------------------------------------------------------------------
# Memory amplification and allocation of file-chosen sizes (child process)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('payload,exc,parts', [
    (BYTEARRAY_SIZE_PKL, 'UnsafePickleError',
     ['builtins.bytearray', 'never a size']),
    (BYTEARRAY8_PKL, 'BodyModelFileError',
     ['truncated', '8589934592 bytes in a bytearray8']),
    (BINBYTES8_PKL, 'BodyModelFileError',
     ['truncated', '1099511627776 bytes in a bytes8']),
    (MEMO_INDEX_PKL, 'UnsafePickleError', ['memo index 2147483647']),
    (NDARRAY_CALL_PKL, 'UnsafePickleError', ['call of numpy.ndarray']),
], ids=['bytearray_size', 'bytearray8', 'binbytes8', 'memo_index',
        'ndarray_call'])
def test_tiny_pkl_refused_with_small_memory(tmp_path, payload, exc, parts):
    path = tmp_path / 'tiny.pkl'
    path.write_bytes(payload)
    assert len(payload) < 64
    res = load_in_child('load_body_model_file', path)
    assert_child_refused(res, IO_ERR + exc, str(path), *parts)


def test_forged_npz_header_refused_with_small_memory(tmp_path):
    # posedirs declares (10**6, 10**6, 207) float64 (1.6 PB) in < 1 KB
    path = write_zip(tmp_path / 'forged.npz', {
        'posedirs': npy_bytes(b'\0' * 64, (10**6, 10**6, 207))})
    assert (tmp_path / 'forged.npz').stat().st_size < 1024
    res = load_in_child('load_body_model_file', path)
    assert_child_refused(res, IO_ERR + 'NpzMemberError',
                         f'{path}[posedirs]', 'header declares shape '
                         '(1000000, 1000000, 207)', 'holds 64 bytes')


def test_huge_coo_regressor_refused_with_small_memory(tmp_path):
    # a 1e6 x 1e6 COO J_regressor with one entry: 8 TB once dense
    coo = sp.coo_matrix(([1.0], ([0], [0])), shape=(10**6, 10**6))
    path = tmp_path / 'coo.pkl'
    path.write_bytes(pickle.dumps({'J_regressor': coo}, protocol=2))
    assert path.stat().st_size < 1024
    res = load_in_child('load_body_model_file', path)
    assert_child_refused(res, IO_ERR + 'BodyModelFileError', str(path),
                         'key "J_regressor"', 'shape (1000000, 1000000)',
                         '8000000000000 bytes dense')


def test_humandata_meta_bytearray_refused_with_small_memory(tmp_path):
    member = object_npy_bytes(BYTEARRAY_SIZE_PKL)
    assert len(member) < 200
    path = write_zip(tmp_path / 'hd.npz', {'meta': member})
    code = LIGHT_IMPORTS + NO_TORCH + (
        'from mpt_plugin.datasets.human_data_io import load_human_data\n'
        'mark_baseline()\n'
        f'load_human_data({path!r})\n')
    res = run_isolated(code, timeout=120)
    assert_child_refused(
        res, 'mpt_plugin.datasets.human_data_io.HumanDataFormatError',
        f'{path}: key "meta"', f'{path}[meta]', 'builtins.bytearray')


# ---------------------------------------------------------------------------
# Sparse matrices that would make scipy write out of bounds (child process)
# ---------------------------------------------------------------------------


def _bad_csc(kind: str) -> sp.csc_matrix:
    m = csc_regressor()  # (24, 12), dense, csc: indices are row ids
    if kind == 'index_high':
        m.indices[5] = 10**6
    elif kind == 'index_negative':
        m.indices = m.indices.astype(np.int64)
        m.indices[7] = -3
    elif kind == 'indptr_decreasing':
        m.indptr[4] = m.indptr[3] - 1
    elif kind == 'indptr_length':
        m.indptr = m.indptr[:-3]
    elif kind == 'indptr_end':
        m.indptr[-1] = len(m.indices) + 100
    return m


@pytest.mark.parametrize('kind,parts', [
    ('index_high', ['"indices" has 1 entries outside [0, 24); first at '
                    'index 5: 1000000']),
    ('index_negative', ['"indices" has 1 entries outside [0, 24); first '
                        'at index 7: -3']),
    ('indptr_decreasing', ['"indptr" decreases at index 4']),
    ('indptr_length', ['"indptr" has 10 entries, expected 13']),
    ('indptr_end', ['"indptr" ends at 388']),
])
def test_corrupt_sparse_regressor_refused_in_child(tmp_path, kind, parts):
    path = smpl_pkl(tmp_path, J_regressor=_bad_csc(kind))
    res = load_in_child('load_body_model_file', path)
    assert_child_refused(res, IO_ERR + 'BodyModelFileError',
                         f'{path}: key "J_regressor"', *parts)


def _objs(*items) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def sampler_npz(tmp_path, name='ds.npz', **overrides) -> str:
    """A 2-level sampler (4 -> 2 vertices) in the GraphCMR layout."""
    entries = dict(
        A=_objs(sp.csc_matrix(np.eye(4)), sp.csc_matrix(np.eye(2))),
        D=_objs(sp.csc_matrix(np.eye(2, 4))),
        U=_objs(sp.csc_matrix(np.full((4, 2), 0.5))),
        F=_objs(np.array([[0, 1, 2], [1, 2, 3]], np.uint32),
                np.array([[0, 1, 1]], np.uint32)))
    entries.update(overrides)
    path = tmp_path / name
    np.savez(path, **entries)
    return str(path)


def test_coo_sampler_row_out_of_bounds_refused_in_child(tmp_path):
    coo = sp.coo_matrix(np.full((4, 2), 0.5))
    coo.row[2] = 4  # one past the last row
    path = sampler_npz(tmp_path, U=_objs(coo))
    res = load_in_child('load_mesh_downsampling', path)
    assert_child_refused(res, IO_ERR + 'BodyModelFileError',
                         f'{path}: key "U[0]"', '"row" has 1 entries outside '
                         '[0, 4); first at index 2: 4')


# ---------------------------------------------------------------------------
# Sparse values and sizes (in process: refused before scipy is called)
# ---------------------------------------------------------------------------


def test_nan_in_sparse_regressor(tmp_path):
    m = csc_regressor()
    m.data[9] = np.nan
    path = smpl_pkl(tmp_path, J_regressor=m)
    with pytest.raises(BodyModelFileError,
                       match=r"key 'J_regressor.data': 1 value\(s\) not "
                       r'finite in float32; first at index \(9,\)') as info:
        load_body_model_file(path)
    assert str(info.value).startswith(path)


def test_nan_in_sampler_upsampling(tmp_path):
    u = sp.csc_matrix(np.full((4, 2), 0.5))
    u.data[3] = np.nan
    path = sampler_npz(tmp_path, U=_objs(u))
    with pytest.raises(BodyModelFileError,
                       match=r"ds.npz: key 'U\[0\].data': 1 value\(s\) not "
                       r'finite in float32; first at index \(3,\)'):
        load_mesh_downsampling(path)


def test_sampler_faces_out_of_range(tmp_path):
    path = sampler_npz(tmp_path, F=_objs(
        np.array([[0, 1, 2], [1, 2, 3]], np.int64),
        np.array([[0, 1, -1]], np.int64)))
    with pytest.raises(BodyModelFileError,
                       match=r'ds.npz: key "F\[1\]" indexes vertices -1..1, '
                       r'outside \[0, 2\); 1 bad entries, first at index '
                       r'\(0, 2\)'):
        load_mesh_downsampling(path)


def test_sparse_dimension_beyond_file_budget(tmp_path):
    coo = sp.coo_matrix(([1.0], ([0], [0])), shape=(1, 2**31 - 1))
    path = sampler_npz(tmp_path, D=_objs(coo))
    with pytest.raises(BodyModelFileError,
                       match=r'ds.npz: key "D\[0\]": pickled scipy.sparse.'
                       r'coo_matrix declares shape \(1, 2147483647\); '
                       'dimensions above'):
        load_mesh_downsampling(path)


# ---------------------------------------------------------------------------
# Restricted constructors and nesting (in process)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('payload,exc,pattern', [
    (set_of(b'C\x03abc'), UnsafePickleError,
     r"builtins.set in pickle: only a list/tuple/set/dict argument is "
     r"accepted, got \['bytes of length 3'\]"),
    (b'\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\x03\x00\x00\x00hex'
     b'\x86R.', UnsafePickleError, r'_codecs.encode in pickle: only '
     r'encode\(str, "latin1"\)'),
    (b'\x80\x02ccopy_reg\n_reconstructor\nc__builtin__\nlist\nc__builtin__'
     b'\nlist\nC\x03abc\x87R.', UnsafePickleError,
     r'copyreg._reconstructor of function'),
    (array_state_pkl((10**12, ), 'f8', b'\0' * 8), UnsafePickleError,
     r'shape \(1000000000000,\) of float64 needs 8000000000000 bytes, the '
     r'pickle holds 8'),
    (array_state_pkl((3, ), 'f8', b'\0' * 8), UnsafePickleError,
     r'shape \(3,\) of float64 needs 24 bytes, the pickle holds 8'),
])
def test_restricted_constructors(tmp_path, payload, exc, pattern):
    path = tmp_path / 'x.pkl'
    path.write_bytes(payload)
    with pytest.raises(exc, match=pattern) as info:
        load_body_model_file(path)
    assert str(info.value).startswith(str(path))


def test_object_array_state_with_huge_shape(tmp_path):
    # an object array claiming 10**12 items with a list of 1
    good = pickle.dumps(_objs(None), protocol=2)
    forged = good.replace(b'K\x01\x85', b'\x8a\x06\x00\x10\xa5\xd4\xe8\x00'
                          b'\x85', 1)
    assert forged != good
    with pytest.raises(UnsafePickleError,
                       match=r'x.pkl: refused numpy object array state in '
                       r'pickle: shape \(1000000000000,\) needs a list of '
                       r'1000000000000 items'):
        restricted_loads(forged, 'x.pkl')


@pytest.mark.parametrize('depth', [MAX_NESTING_DEPTH + 5, 20_000])
def test_deep_nesting_names_file_and_key(tmp_path, depth):
    path = tmp_path / 'deep.pkl'
    path.write_bytes(nested_lists(depth))
    with pytest.raises(BodyModelFileError,
                       match=f'deep.pkl: key "v_template.*": nested more than '
                       f'{MAX_NESTING_DEPTH} levels deep') as info:
        load_body_model_file(path)
    assert not isinstance(info.value.__context__, RecursionError)


def test_reference_cycle(tmp_path):
    path = tmp_path / 'cycle.pkl'
    path.write_bytes(cyclic_list())
    with pytest.raises(BodyModelFileError,
                       match=r'cycle.pkl: key "v_template\[0\]": the pickled '
                       r'value contains itself'):
        load_body_model_file(path)


def test_nested_object_arrays(tmp_path):
    inner = np.zeros(1)
    for _ in range(MAX_NESTING_DEPTH + 2):
        inner = _objs(inner)
    path = tmp_path / 'arrays.npz'
    np.savez(path, weights=inner)
    with pytest.raises(BodyModelFileError,
                       match=r'arrays.npz\[weights\]: refused pickle: object '
                       f'arrays nested more than {MAX_NESTING_DEPTH} levels'):
        load_body_model_file(path)


def test_setitem_on_array_refused():
    # build a 1-item object array, then SETITEM arr[0] = None on it
    arr = pickle.dumps(_objs(None), protocol=2)[:-1]  # drop STOP
    payload = arr + b'K\x00Ns.'
    with pytest.raises(UnsafePickleError,
                       match='item assignment on a numpy array'):
        restricted_loads(payload, 'set.pkl')


def test_chumpy_value_must_be_real(tmp_path):
    payload = (b'\x80\x02cchumpy.ch\nCh\n)\x81}X\x01\x00\x00\x00x' +
               pickle.dumps(np.array([1j, 2j]), protocol=2)[2:-1] + b'sb.')
    stub = restricted_loads(payload, 'c.pkl')
    with pytest.raises(BodyModelFileError,
                       match=r'c.pkl: key "shapedirs": chumpy value "x" must '
                       r'be a real numeric array, got complex128'):
        stub.to_array(('c.pkl', 'shapedirs'))


# ---------------------------------------------------------------------------
# npz members (in process: refused before allocation)
# ---------------------------------------------------------------------------


def test_truncated_member_data(tmp_path):
    path = write_zip(tmp_path / 't.npz',
                     {'v_template': npy_bytes(b'\0' * 40, (V, 3))})
    with pytest.raises(NpzMemberError,
                       match=r't.npz\[v_template\]: header declares shape '
                       r'\(12, 3\) of float64 \(288 bytes\), but the member '
                       'holds 40 bytes'):
        load_body_model_file(path)


def test_lying_zip_bomb(tmp_path):
    path = write_zip(tmp_path / 'bomb.npz',
                     {'shapedirs': npy_bytes(b'\0' * 800, (100, ))},
                     compression=zipfile.ZIP_DEFLATED)
    forge_uncompressed_size(path, 4_000_000_000)
    with pytest.raises(NpzMemberError,
                       match=r'bomb.npz\[shapedirs\]: declares 4000000000 '
                       r'uncompressed bytes; at most \d+ are accepted'):
        load_body_model_file(path)


def test_unsupported_compression(tmp_path):
    path = write_zip(tmp_path / 'bz.npz',
                     {'f': npy_bytes(b'\0' * 8, (1, ))},
                     compression=zipfile.ZIP_BZIP2)
    with pytest.raises(NpzMemberError,
                       match=r'bz.npz\[f\]: zip compression method 12 is not '
                       'accepted'):
        load_npz_safe(path)


def test_pickled_member_with_wrong_shape(tmp_path):
    member = object_npy_bytes(pickle.dumps(_objs(1, 2), protocol=2),
                              shape=(5, ))
    path = write_zip(tmp_path / 'o.npz', {'F': member})
    with pytest.raises(NpzMemberError,
                       match=r'o.npz\[F\]: header declares shape \(5,\), the '
                       r'pickled array has shape \(2,\)'):
        load_npz_safe(path)


def test_forged_joint_regressor_header(tmp_path):
    path = tmp_path / 'J_regressor_h36m.npy'
    path.write_bytes(npy_bytes(b'\0' * 16, (10**9, 6890)))
    with pytest.raises(BodyModelFileError,
                       match=r'J_regressor_h36m.npy: cannot read joint '
                       r'regressor as a plain array \(header declares shape '
                       r'\(1000000000, 6890\)'):
        load_joint_regressor(path)


# ---------------------------------------------------------------------------
# Values of model files
# ---------------------------------------------------------------------------

_BAD_VALUES = [
    ('v_template', lambda m: m['v_template'] + 1j,
     r'key "v_template" must hold real numbers \(int or float\), got dtype '
     r'complex128'),
    ('weights', lambda m: np.ones_like(m['weights'], dtype=bool),
     r'key "weights" must hold floating skinning weights, got dtype bool'),
    ('weights', lambda m: np.eye(V, 24, dtype=np.int64),
     r'key "weights" must hold floating skinning weights, got dtype int64'),
    ('weights', lambda m: m['weights'] * 2,
     r'key "weights": 12 row\(s\) do not sum to 1; first at vertex 0'),
    ('shapedirs', lambda m: _with(m['shapedirs'], (4, 2, 7), np.nan),
     r"key 'shapedirs': 1 value\(s\) not finite in float32; first at index "
     r'\(4, 2, 7\)'),
    ('posedirs', lambda m: _with(m['posedirs'], (0, 1, 3), -np.inf),
     r"key 'posedirs': 1 value\(s\) not finite in float32; first at index "
     r'\(0, 1, 3\)'),
    ('J_regressor', lambda m: _with(m['J_regressor'], (2, 5), 1e39),
     r"key 'J_regressor': 1 value\(s\) not finite in float32; first at "
     r'index \(2, 5\)'),
    ('f', lambda m: _with(m['f'].astype(np.int64), (3, 1), -1),
     r'key "f" indexes vertices -1..11, outside \[0, 12\); 1 bad entries, '
     r'first at index \(3, 1\)'),
    ('f', lambda m: m['f'] + 0.5,
     r'key "f" must hold integers; first non-integer at index \(0, 0\)'),
    ('kintree_table', lambda m: _with(m['kintree_table'].astype(np.int64),
                                      (0, 9), -2),
     r'key "kintree_table" parent of joint 9 is -2'),
]


def _with(arr, index, value):
    arr = np.array(arr)
    arr[index] = value
    return arr


@pytest.mark.parametrize('key,make,pattern', _BAD_VALUES)
@pytest.mark.parametrize('fmt', ['npz', 'pkl'])
def test_bad_model_values(tmp_path, fmt, key, make, pattern):
    bad = make(make_model_dict())
    writer = smpl_npz if fmt == 'npz' else smpl_pkl
    path = writer(tmp_path, name=f'model.{fmt}', **{key: bad})
    with pytest.raises(BodyModelFileError, match=pattern) as info:
        load_body_model_file(path)
    assert str(info.value).startswith(f'{path}: key ')


# ---------------------------------------------------------------------------
# Real layouts still load
# ---------------------------------------------------------------------------


def test_real_python2_mano_sampler_loads():
    d = load_mesh_downsampling(f'{ASSETS}/mano_downsampling.npz')
    assert [a.shape[0] for a in d['A']] == [778, 195, 49, 13, 4]
    for u, dm in zip(d['U'], d['D']):
        assert np.isfinite(u.data).all()
        np.testing.assert_array_equal(u.getnnz(axis=1), 3)
        np.testing.assert_array_equal(dm.getnnz(axis=1), 1)
    assert all(f.dtype == np.int64 for f in d['F'])


def test_valid_sparse_variants_still_load(tmp_path):
    dense = make_model_dict()['J_regressor']
    for cls in (sp.csr_matrix, sp.coo_matrix, sp.csc_array):
        path = smpl_pkl(tmp_path, name=f'{cls.__name__}.pkl',
                        J_regressor=cls(dense))
        np.testing.assert_array_equal(
            load_body_model_file(path)['J_regressor'], dense)


def test_mesh_sampler_from_matrices_refuses_nan():
    from mpt_plugin.body_models.mesh_sampler import MeshSampler
    up = sp.csr_matrix(np.full((4, 2), 0.5))
    up.data[1] = np.inf
    sampling = dict(D=[sp.csr_matrix(np.eye(2, 4))], U=[up])
    with pytest.raises(ValueError,
                       match=r"mesh sampling dict: key 'U\[0\]': 1 value\(s\) "
                       r'not finite in float32; first at index \(1,\)'):
        MeshSampler.from_matrices(sampling)
    sampling['U'] = [sp.csr_matrix(np.full((4, 2), 0.5))]
    sampling['F'] = [np.array([[0, 1, -2]]), np.array([[0, 1, 1]])]
    with pytest.raises(ValueError, match=r'F\[0\] must be \(F, 3\) indices '
                       'below 4'):
        MeshSampler.from_matrices(sampling)
