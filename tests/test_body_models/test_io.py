"""Tests for mpt_plugin.body_models.io (safe loading of model assets)."""
import os
import pickle
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.body_models.io import (BodyModelFileError, ChumpyStub,
                                       SparseStub, UnsafePickleError,
                                       load_body_model_file,
                                       load_joint_regressor,
                                       load_mesh_downsampling,
                                       load_npz_safe, restricted_loads)

ASSETS = '/work/shared/reference/assets'
MESH_DOWNSAMPLING = os.path.join(ASSETS, 'mesh_downsampling.npz')
H36M_REGRESSOR = os.path.join(ASSETS, 'J_regressor_h36m_correct.npy')

V, J, S = 12, 24, 10


def make_model_dict(seed: int = 0) -> dict:
    """A small SMPL-layout model (V=12 vertices, 24 joints, 10 betas)."""
    rng = np.random.default_rng(seed)
    weights = rng.random((V, J))
    j_reg = rng.random((J, V))
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64) % 2**32,
                        np.arange(J)]).astype(np.uint32)
    return {
        'v_template': rng.normal(size=(V, 3)),
        'f': rng.integers(0, V, size=(20, 3)).astype(np.uint32),
        'J_regressor': j_reg / j_reg.sum(1, keepdims=True),
        'weights': weights / weights.sum(1, keepdims=True),
        'kintree_table': kintree,
        'shapedirs': rng.normal(size=(V, 3, S)) * 0.01,
        'posedirs': rng.normal(size=(V, 3, 9 * (J - 1))) * 0.01,
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }


class _FakeCh:
    """Pickles like chumpy.ch.Ch: its state is a __dict__ holding 'x'."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = {'x'}
        self._itr = None
        self._depends_on_deps = {}


@pytest.fixture
def fake_chumpy():
    """Registers a fake ``chumpy.ch`` module only while pickling."""
    chumpy = types.ModuleType('chumpy')
    ch = types.ModuleType('chumpy.ch')
    cls = type('Ch', (_FakeCh, ), {'__module__': 'chumpy.ch'})
    cls.__qualname__ = 'Ch'
    ch.Ch = cls
    chumpy.ch = ch
    saved = {k: sys.modules.get(k) for k in ('chumpy', 'chumpy.ch')}
    sys.modules['chumpy'] = chumpy
    sys.modules['chumpy.ch'] = ch
    try:
        yield cls
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


@pytest.fixture
def no_chumpy(monkeypatch):
    """Makes any ``import chumpy`` fail while the loader runs."""
    monkeypatch.setitem(sys.modules, 'chumpy', None)
    monkeypatch.setitem(sys.modules, 'chumpy.ch', None)


def write_smpl_pkl(path, model, ch_cls, protocol=2):
    """Writes ``model`` the way official SMPL files are laid out: chumpy
    shapedirs/posedirs, sparse J_regressor, extra non-array entries."""
    obj = dict(model)
    obj['shapedirs'] = ch_cls(model['shapedirs'])
    obj['posedirs'] = ch_cls(model['posedirs'])
    obj['J_regressor'] = sp.csc_matrix(model['J_regressor'])
    obj['J'] = np.zeros((J, 3))
    obj['pose_training_info'] = {'num_poses': 1786, 'tag': 'train'}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)


# ---------------------------------------------------------------------------
# SMPL .pkl / .npz
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('protocol', [0, 2])
def test_load_pkl_with_chumpy_and_sparse(tmp_path, fake_chumpy, protocol):
    model = make_model_dict()
    path = tmp_path / 'SMPL_NEUTRAL.pkl'
    write_smpl_pkl(path, model, fake_chumpy, protocol=protocol)
    raw = path.read_bytes()
    assert b'chumpy.ch' in raw and b'scipy.sparse' in raw
    if protocol < 3:  # Python-2 module names, as in the official files
        assert b'copy_reg' in raw or b'_codecs' in raw

    # chumpy is not importable while loading
    saved = {k: sys.modules.pop(k) for k in ('chumpy', 'chumpy.ch')}
    sys.modules['chumpy'] = None
    try:
        data = load_body_model_file(path)
    finally:
        sys.modules.pop('chumpy')
        sys.modules.update(saved)

    for key in ('v_template', 'J_regressor', 'weights', 'shapedirs',
                'posedirs'):
        assert data[key].dtype == np.float64
        np.testing.assert_allclose(data[key], model[key], rtol=0, atol=0)
    assert data['shapedirs'].shape == (V, 3, S)
    assert data['posedirs'].shape == (V, 3, 207)
    np.testing.assert_array_equal(data['f'], model['f'].astype(np.int64))
    assert data['f'].dtype == np.int64
    assert data['kintree_table'].dtype == np.int64
    assert data['kintree_table'][0, 0] == 4294967295
    np.testing.assert_array_equal(data['kintree_table'][0, 1:],
                                  SMPL_PARENTS[1:])
    assert data['bs_style'].dtype.kind == 'U' and str(data['bs_style']) == \
        'lbs'
    assert str(data['bs_type']) == 'lrotmin'
    assert data['pose_training_info.num_poses'] == 1786
    assert str(data['pose_training_info.tag']) == 'train'
    assert data['J'].shape == (J, 3)


def test_load_npz_with_object_members(tmp_path, no_chumpy):
    model = make_model_dict(1)
    j_reg = np.empty((), dtype=object)
    j_reg[()] = sp.csr_matrix(model['J_regressor'])
    arrays = dict(model, J_regressor=j_reg)
    path = tmp_path / 'model.npz'
    np.savez(path, **arrays)  # the object member is pickled by numpy
    data = load_body_model_file(path)
    np.testing.assert_allclose(data['J_regressor'], model['J_regressor'])
    np.testing.assert_allclose(data['posedirs'], model['posedirs'])
    assert str(data['bs_style']) == 'lbs'


def test_load_compressed_npz(tmp_path):
    model = make_model_dict(2)
    path = tmp_path / 'model.npz'
    np.savez_compressed(path, **model)
    data = load_body_model_file(str(path))
    np.testing.assert_allclose(data['shapedirs'], model['shapedirs'])


class _Evil:
    """Pickles to a call of ``func(*args)``."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize('protocol', [0, 2, 4])
@pytest.mark.parametrize('func,args,refused', [
    (os.system, None, 'system'),
    (eval, ('1 + 1', ), 'builtins.eval'),
    (subprocess.Popen, None, 'subprocess.Popen'),
])
def test_malicious_pkl_refused(tmp_path, monkeypatch, protocol, func, args,
                               refused):
    marker = tmp_path / 'MARKER'
    if args is None:
        args = (f'touch {marker}', ) if func is os.system else (
            ['touch', str(marker)], )
    path = tmp_path / 'evil.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'v_template': _Evil(func, args)}, f, protocol=protocol)
    with pytest.raises(UnsafePickleError) as exc:
        load_body_model_file(path)
    assert str(path) in str(exc.value) and refused in str(exc.value)
    assert not marker.exists()


def test_malicious_npz_member_refused(tmp_path):
    marker = tmp_path / 'MARKER'
    evil = np.empty((), dtype=object)
    evil[()] = _Evil(os.system, (f'touch {marker}', ))
    path = tmp_path / 'evil.npz'
    np.savez(path, **dict(make_model_dict(), weights=evil))
    with pytest.raises(UnsafePickleError, match='system'):
        load_body_model_file(path)
    assert not marker.exists()


def test_psbody_member_refused_when_read(tmp_path):
    # Reading every member of mesh_downsampling.npz reaches the psbody
    # meshes in 'M', which must be refused rather than imported.
    with pytest.raises(UnsafePickleError, match=r'\[M\].*(MyMesh|psbody)'):
        load_body_model_file(MESH_DOWNSAMPLING)


def _write_npz(tmp_path, **overrides):
    model = make_model_dict()
    model.update(overrides)
    model = {k: v for k, v in model.items() if v is not None}
    path = tmp_path / 'bad.npz'
    np.savez(path, **model)
    return path


def test_missing_key(tmp_path):
    path = _write_npz(tmp_path, weights=None)
    with pytest.raises(BodyModelFileError, match=r"missing.*'weights'"):
        load_body_model_file(path)


@pytest.mark.parametrize('key,value,pattern', [
    ('posedirs', np.zeros((V, 3, 200)), r'posedirs.*\(12, 3, 207\)'),
    ('weights', np.zeros((V, J + 1)), r'weights.*\(12, 25\)'),
    ('v_template', np.zeros((V, 2)), r'v_template.*\(V, 3\)'),
    ('shapedirs', np.zeros((V + 1, 3, S)), r'shapedirs.*\(V, 3, S\)'),
    ('J_regressor', np.zeros((J, V + 1)), r'J_regressor.*\(J, V\)'),
    ('kintree_table', np.zeros((3, J)), r'kintree_table.*\(2, 24\)'),
    ('f', np.full((4, 3), V), r'"f" indexes vertices'),
])
def test_wrong_shapes(tmp_path, key, value, pattern):
    path = _write_npz(tmp_path, **{key: value})
    with pytest.raises(BodyModelFileError, match=pattern) as exc:
        load_body_model_file(path)
    assert str(path) in str(exc.value)


def test_bad_kintree_parent(tmp_path):
    kintree = make_model_dict()['kintree_table'].astype(np.int64)
    kintree[0, 5] = 7
    path = _write_npz(tmp_path, kintree_table=kintree)
    with pytest.raises(BodyModelFileError, match='parent of joint 5'):
        load_body_model_file(path)


def test_non_finite(tmp_path):
    v = make_model_dict()['v_template']
    v[3, 1] = np.nan
    path = _write_npz(tmp_path, v_template=v)
    with pytest.raises(BodyModelFileError,
                       match=r"bad.npz: key 'v_template': 1 value\(s\) not "
                       r'finite in float32; first at index \(3, 1\)'):
        load_body_model_file(path)


def test_truncated_files(tmp_path, fake_chumpy):
    pkl = tmp_path / 'model.pkl'
    write_smpl_pkl(pkl, make_model_dict(), fake_chumpy)
    pkl.write_bytes(pkl.read_bytes()[:-500])
    with pytest.raises(BodyModelFileError, match='model.pkl') as exc:
        load_body_model_file(pkl)
    assert not isinstance(exc.value, UnsafePickleError)

    npz = tmp_path / 'model.npz'
    np.savez(npz, **make_model_dict())
    npz.write_bytes(npz.read_bytes()[:len(npz.read_bytes()) // 2])
    with pytest.raises(BodyModelFileError, match='model.npz'):
        load_body_model_file(npz)


def test_corrupt_npz_member(tmp_path):
    path = tmp_path / 'model.npz'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('v_template.npy', b'\x93NUMPY garbage')
    with pytest.raises(BodyModelFileError, match=r'model.npz\[v_template\]'):
        load_body_model_file(path)


def test_unknown_extension_and_missing_file(tmp_path):
    path = tmp_path / 'model.json'
    path.write_text('{}')
    with pytest.raises(BodyModelFileError, match='extension ".json"'):
        load_body_model_file(path)
    with pytest.raises(FileNotFoundError, match='nope.pkl'):
        load_body_model_file(tmp_path / 'nope.pkl')


def test_pkl_not_a_dict(tmp_path):
    path = tmp_path / 'list.pkl'
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(BodyModelFileError, match='expected a pickled dict'):
        load_body_model_file(path)


# ---------------------------------------------------------------------------
# Restricted unpickler building blocks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('protocol', [0, 2, 4, 5])
@pytest.mark.parametrize(
    'cls', [sp.csc_matrix, sp.csr_matrix, sp.coo_matrix, sp.csr_array])
def test_sparse_roundtrip(cls, protocol):
    dense = np.array([[0., 1.5, 0.], [2., 0., 0.], [0., 0., -3.]])
    stub = restricted_loads(pickle.dumps(cls(dense), protocol=protocol))
    assert isinstance(stub, SparseStub)
    np.testing.assert_array_equal(stub.to_sparse().toarray(), dense)


def test_numpy_values_roundtrip():
    obj = {
        'a': np.arange(6, dtype=np.float32).reshape(2, 3),
        'rec': np.zeros(2, dtype=[('x', 'f4'), ('y', 'i2')]),
        's': np.float64(2.5),
        'set': {1, 2},
        'bytes': b'\x00\xff',
    }
    for protocol in (0, 2, 4, 5):
        out = restricted_loads(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(out['a'], obj['a'])
        assert out['rec'].dtype == obj['rec'].dtype
        assert out['s'] == 2.5 and out['set'] == {1, 2}
        assert out['bytes'] == b'\x00\xff'


def test_python2_string_payloads():
    # Hand-written Python-2 protocol-2 pickle: numpy array and scalar whose
    # raw bytes are py2 ``str`` (SHORT_BINSTRING), as in official SMPL files;
    # they only decode correctly with encoding='latin1'.
    arr = np.arange(4, dtype='<f8')
    dtype_f8 = (b'cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R(K\x03U\x01<NNN'
                b'J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb')
    array_pkl = (b'\x80\x02cnumpy.core.multiarray\n_reconstruct\n'
                 b'cnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01K\x04\x85' +
                 dtype_f8 + b'\x89U\x20' + arr.tobytes() + b'tb.')
    assert b'\xf0?' in arr.tobytes()  # bytes >= 0x80 in the payload
    np.testing.assert_array_equal(restricted_loads(array_pkl), arr)
    scalar_pkl = (b'\x80\x02cnumpy.core.multiarray\nscalar\n' + dtype_f8 +
                  b'U\x08' + np.float64(2.5).tobytes() + b'\x86R.')
    assert restricted_loads(scalar_pkl) == 2.5


def test_chumpy_stub_without_value(fake_chumpy):
    ch = fake_chumpy(np.zeros(3))
    del ch.x
    stub = restricted_loads(pickle.dumps(ch, protocol=2))
    assert isinstance(stub, ChumpyStub)
    with pytest.raises(BodyModelFileError, match='no stored value "x"'):
        stub.to_array()


# ---------------------------------------------------------------------------
# Real SMPL-topology assets
# ---------------------------------------------------------------------------


def test_load_real_mesh_downsampling():
    d = load_mesh_downsampling(MESH_DOWNSAMPLING)
    assert sorted(d) == ['A', 'D', 'F', 'U']
    assert [a.shape for a in d['A']] == [(6890, 6890), (1723, 1723),
                                         (431, 431)]
    assert [m.shape for m in d['D']] == [(1723, 6890), (431, 1723)]
    assert [m.shape for m in d['U']] == [(6890, 1723), (1723, 431)]
    assert [f.shape for f in d['F']] == [(13776, 3), (3442, 3), (858, 3)]
    for m in d['A'] + d['D'] + d['U']:
        assert isinstance(m, sp.csr_matrix)
    for f in d['F']:
        assert f.dtype == np.int64
    for m in d['D']:  # selection matrices: one 1.0 per row
        np.testing.assert_array_equal(m.getnnz(axis=1), 1)
        np.testing.assert_array_equal(m.data, 1.0)
    for m in d['U']:
        np.testing.assert_array_equal(m.getnnz(axis=1), 3)
    for a in d['A']:
        assert abs(a - a.T).max() == 0


def test_load_real_joint_regressor():
    reg = load_joint_regressor(H36M_REGRESSOR, num_vertices=6890)
    assert reg.shape == (17, 6890) and reg.dtype == np.float64
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-3)
    with pytest.raises(BodyModelFileError, match=r'\(J, 431\)'):
        load_joint_regressor(H36M_REGRESSOR, num_vertices=431)


def test_joint_regressor_errors(tmp_path):
    obj = tmp_path / 'obj.npy'
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = np.zeros(3), None
    np.save(obj, arr, allow_pickle=True)
    with pytest.raises(BodyModelFileError, match='plain array'):
        load_joint_regressor(obj)
    flat = tmp_path / 'flat.npy'
    np.save(flat, np.zeros(5))
    with pytest.raises(BodyModelFileError, match=r'\(J, V\)'):
        load_joint_regressor(flat)
    nan = tmp_path / 'nan.npy'
    np.save(nan, np.full((2, 3), np.nan))
    with pytest.raises(BodyModelFileError,
                       match=r"nan.npy: key 'J_regressor': 6 value.*not "
                       'finite'):
        load_joint_regressor(nan)
    with pytest.raises(BodyModelFileError, match='extension'):
        load_joint_regressor(_touch(tmp_path / 'x.txt'))
    with pytest.raises(FileNotFoundError):
        load_joint_regressor(tmp_path / 'missing.npy')


def _touch(path):
    path.write_text('')
    return path


def test_mesh_downsampling_inconsistent(tmp_path):
    eye = sp.csc_matrix(np.eye(4))

    def objs(*items):
        arr = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            arr[i] = item
        return arr

    path = tmp_path / 'ds.npz'
    np.savez(
        path,
        A=objs(eye, sp.csc_matrix(np.eye(2))),
        D=objs(sp.csc_matrix(np.ones((3, 4)))),  # should be (2, 4)
        U=objs(sp.csc_matrix(np.ones((4, 2)))),
        F=objs(np.zeros((1, 3), int), np.zeros((1, 3), int)))
    with pytest.raises(BodyModelFileError, match=r'D\[0\].*\(2, 4\)'):
        load_mesh_downsampling(path)


def test_load_npz_safe_humandata_like(tmp_path):
    smpl = {'betas': np.ones((3, 10)), 'body_pose': np.zeros((3, 23, 3))}
    path = tmp_path / 'human_data.npz'
    np.savez_compressed(
        path, smpl=smpl, config='pw3d', image_path=np.array(['a.jpg', 'b']),
        misc={'names': ['x', 'y'], 'sparse': sp.csr_matrix(np.eye(2))})
    data = load_npz_safe(path)
    np.testing.assert_array_equal(data['smpl']['betas'], smpl['betas'])
    assert data['config'].item() == 'pw3d'
    assert data['image_path'].tolist() == ['a.jpg', 'b']
    assert data['misc']['names'] == ['x', 'y']
    assert sp.issparse(data['misc']['sparse'])
    only = load_npz_safe(path, keys=['config'])
    assert list(only) == ['config']
    with pytest.raises(BodyModelFileError, match="missing key.*'nope'"):
        load_npz_safe(path, keys=['nope'])
