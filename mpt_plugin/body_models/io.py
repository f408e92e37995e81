"""Safe loading of SMPL-family body-model files and mesh-sampling assets.

Official SMPL ``.pkl`` files are Python-2 pickles holding ``chumpy`` objects
and ``scipy.sparse`` matrices; ``.npz`` files written by smplx, GraphCMR or
METRO may hold pickled object arrays. Unpickling runs whatever callables a
file names, so a downloaded model file must never go through ``pickle.load``
or ``np.load(..., allow_pickle=True)``. This module reads all of them through
:class:`RestrictedUnpickler`, which resolves only an explicit allow-list of
globals (numpy array/dtype/scalar reconstruction, sparse matrices, builtin
containers) and maps ``chumpy`` and ``scipy.sparse`` classes to inert local
stubs that only record their pickled state. Neither chumpy nor any scipy
code runs while a file is read; the stubs are turned into plain arrays
afterwards.

Public functions:

- :func:`load_body_model_file`: SMPL-layout ``.pkl`` / ``.npz`` ->
  ``dict[str, np.ndarray]`` with validated shapes (``V`` vertices, ``F``
  faces, ``J`` joints, ``S`` shape components; lengths in metres).
- :func:`load_mesh_downsampling`: GraphCMR/METRO ``mesh_downsampling.npz``
  -> sparse ``A``/``D``/``U`` matrices and face arrays ``F``.
- :func:`load_joint_regressor`: plain ``.npy`` joint regressor ``(J, V)``.
- :func:`load_npz_safe`: any ``.npz`` with object members (e.g. HumanData),
  read through the restricted unpickler.
"""
import io
import os
import os.path as osp
import pickle
import zipfile
from typing import (Any, BinaryIO, Callable, Dict, Iterable, List, Optional,
                    Tuple, Union)

import numpy as np
import scipy.sparse as sp

PathLike = Union[str, os.PathLike]

__all__ = [
    'BodyModelFileError', 'UnsafePickleError', 'RestrictedUnpickler',
    'restricted_loads', 'load_npz_safe', 'load_body_model_file',
    'load_mesh_downsampling',
    'load_joint_regressor', 'REQUIRED_BODY_MODEL_KEYS'
]


class BodyModelFileError(ValueError):
    """A body-model or mesh asset file is unreadable, corrupt or invalid."""


class UnsafePickleError(BodyModelFileError):
    """A pickle names a global outside the loader's allow-list."""


# ---------------------------------------------------------------------------
# Inert stand-ins for chumpy and scipy.sparse objects
# ---------------------------------------------------------------------------


class _PickledStateStub:
    """Base of the inert stand-ins: records the pickled state, runs nothing.

    Pickle protocol 2 builds an instance with ``cls.__new__(cls, *args)``
    followed by ``__setstate__(state)``; protocols 0/1 go through
    ``copyreg._reconstructor(cls, object, None)``. Both only reach the
    methods below.
    """

    source: str = ''  # 'module.name' of the class this stub stands in for

    def __new__(cls, *args: Any, **kwargs: Any) -> '_PickledStateStub':
        obj = object.__new__(cls)
        obj.__dict__['_stub_args'] = args
        obj.__dict__['_stub_state'] = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:
            # (dict_state, slots_state) form
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            state = merged
        if not isinstance(state, dict):
            state = {'_raw_state': state}
        self.__dict__['_stub_state'] = state

    @property
    def state(self) -> Dict[str, Any]:
        """The pickled ``__dict__`` of the original object."""
        return self.__dict__['_stub_state']

    def __repr__(self) -> str:
        keys = sorted(str(k) for k in self.state)
        return f'<pickled {self.source} stub, state keys {keys}>'


class ChumpyStub(_PickledStateStub):
    """Stand-in for ``chumpy`` objects (``chumpy.ch.Ch`` and friends).

    A pickled ``Ch`` stores its value in ``state['x']``; :meth:`to_array`
    returns it as a float64 array. chumpy itself is never imported.
    """

    def to_array(self) -> np.ndarray:
        """Returns the stored value ``state['x']`` as float64.

        Raises:
            BodyModelFileError: When the object has no ``x`` (a derived
                chumpy expression whose value was not pickled).
        """
        if 'x' not in self.state:
            raise BodyModelFileError(
                f'pickled {self.source} object has no stored value "x" '
                f'(state keys: {sorted(map(str, self.state))}); only plain '
                'chumpy.Ch arrays can be read without chumpy')
        value = _plain(self.state['x'])
        return np.asarray(value, dtype=np.float64)


class SparseStub(_PickledStateStub):
    """Stand-in for pickled ``scipy.sparse`` csc/csr/coo matrices.

    The stored component arrays are validated and handed to the public
    scipy constructors by :meth:`to_sparse`, so this works for pickles
    from any scipy version (``scipy.sparse.csc`` or ``scipy.sparse._csc``,
    ``row``/``col`` or ``coords`` for COO).
    """

    fmt: str = ''

    def to_sparse(self) -> sp.csr_matrix:
        """Builds the matrix in its own format (csc/csr/coo ``*_matrix``)."""
        state = self.state
        shape = state.get('_shape', state.get('shape'))
        try:
            shape = tuple(int(s) for s in shape)
            if len(shape) != 2:
                raise ValueError
        except (TypeError, ValueError):
            raise BodyModelFileError(
                f'pickled {self.source} has no valid 2-D shape: {shape!r}')
        try:
            data = np.asarray(_plain(state['data']))
            if self.fmt in ('csc', 'csr'):
                indices = np.asarray(_plain(state['indices']))
                indptr = np.asarray(_plain(state['indptr']))
                cls = sp.csc_matrix if self.fmt == 'csc' else sp.csr_matrix
                return cls((data, indices, indptr), shape=shape)
            if 'coords' in state:
                row, col = (np.asarray(_plain(c)) for c in state['coords'])
            else:
                row = np.asarray(_plain(state['row']))
                col = np.asarray(_plain(state['col']))
            return sp.coo_matrix((data, (row, col)), shape=shape)
        except KeyError as e:
            raise BodyModelFileError(
                f'pickled {self.source} lacks component {e}')
        except (TypeError, ValueError) as e:
            raise BodyModelFileError(
                f'pickled {self.source} has inconsistent components: {e}')


def _make_stub(base: type, source: str, **attrs: Any) -> type:
    name = source.rsplit('.', 1)[-1] + '_stub'
    return type(name, (base, ), dict(source=source, **attrs))


# ---------------------------------------------------------------------------
# Allow-list
# ---------------------------------------------------------------------------


def _numpy_core(submodule: str, name: str) -> Callable[[], Any]:
    """Lazily resolves ``numpy._core.<submodule>.<name>`` (numpy >= 2) or
    ``numpy.core.<submodule>.<name>`` (numpy 1.x) without touching the
    deprecated ``numpy.core`` alias on numpy 2."""

    def resolve() -> Any:
        import importlib
        for pkg in ('numpy._core', 'numpy.core'):
            try:
                mod = importlib.import_module(f'{pkg}.{submodule}')
            except ImportError:
                continue
            if hasattr(mod, name):
                return getattr(mod, name)
        raise AttributeError(f'numpy has no {submodule}.{name}')

    return resolve


def _build_allow_list() -> Dict[Tuple[str, str], Callable[[], Any]]:
    allowed: Dict[Tuple[str, str], Callable[[], Any]] = {}

    def const(obj: Any) -> Callable[[], Any]:
        return lambda: obj

    # numpy arrays, dtypes and scalars, under old and new module paths.
    for core in ('numpy.core', 'numpy._core'):
        allowed[(f'{core}.multiarray', '_reconstruct')] = _numpy_core(
            'multiarray', '_reconstruct')
        allowed[(f'{core}.multiarray', 'scalar')] = _numpy_core(
            'multiarray', 'scalar')
        allowed[(f'{core}.numeric', '_frombuffer')] = _numpy_core(
            'numeric', '_frombuffer')
    allowed[('numpy', 'ndarray')] = const(np.ndarray)
    allowed[('numpy', 'dtype')] = const(np.dtype)
    # numpy >= 1.25 may name concrete dtype classes (numpy.dtypes.Float64DType)
    import numpy.dtypes as np_dtypes
    for dname in dir(np_dtypes):
        if dname.endswith('DType'):
            allowed[('numpy.dtypes', dname)] = const(getattr(np_dtypes, dname))

    # Protocol 0/1 object reconstruction. Safe only because the classes it
    # receives must themselves pass this allow-list.
    allowed[('copy_reg', '_reconstructor')] = const(_copyreg_reconstructor)
    allowed[('copyreg', '_reconstructor')] = const(_copyreg_reconstructor)
    # Python 3 writes bytes as _codecs.encode(str, 'latin1') for protocol<3.
    import _codecs
    allowed[('_codecs', 'encode')] = const(_codecs.encode)

    # Plain builtin containers (py2 and py3 module names).
    import collections
    for mod in ('__builtin__', 'builtins'):
        for obj in (object, set, frozenset, list, dict, tuple, bytearray,
                    complex, slice):
            allowed[(mod, obj.__name__)] = const(obj)
    allowed[('collections', 'OrderedDict')] = const(collections.OrderedDict)

    # scipy.sparse matrices -> inert stubs (old, private and top-level paths).
    for fmt in ('csc', 'csr', 'coo'):
        for kind in ('matrix', 'array'):
            cls_name = f'{fmt}_{kind}'
            stub = _make_stub(
                SparseStub, f'scipy.sparse.{cls_name}', fmt=fmt)
            for mod in (f'scipy.sparse.{fmt}', f'scipy.sparse._{fmt}',
                        'scipy.sparse', 'scipy.sparse._arrays'):
                allowed[(mod, cls_name)] = const(stub)

    # chumpy objects -> inert stub holding the pickled state.
    chumpy_names = {
        'chumpy.ch': ('Ch', ),
        'chumpy.reordering': ('Select', 'Reshape', 'Concatenate',
                              'transpose', 'Permute'),
        'chumpy.ch_ops': ('add', 'subtract', 'multiply', 'divide'),
    }
    for mod, names in chumpy_names.items():
        for cname in names:
            allowed[(mod, cname)] = const(
                _make_stub(ChumpyStub, f'{mod}.{cname}'))
    return allowed


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` restricted to allow-listed classes."""
    if not isinstance(cls, type) or not isinstance(base, type):
        raise UnsafePickleError(
            f'copyreg._reconstructor called with non-class {cls!r}')
    if issubclass(cls, _PickledStateStub):
        return cls.__new__(cls)
    import copyreg
    return copyreg._reconstructor(cls, base, state)


_ALLOWED_GLOBALS = _build_allow_list()


def _python3_name(module: str, name: str) -> Tuple[str, str]:
    """The Python-3 name of a global named in a protocol-0..2 pickle."""
    import _compat_pickle
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals.

    ``chumpy`` classes become :class:`ChumpyStub` subclasses and
    ``scipy.sparse`` matrices :class:`SparseStub` subclasses; anything not on
    the allow-list (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
    unknown classes...) raises :class:`UnsafePickleError` before it can be
    called. Python-2 pickles need ``encoding='latin1'`` (the default here).

    Args:
        file (BinaryIO): Binary stream positioned at the pickle.
        source (str): Name used in error messages (normally the file path).
        encoding (str): How to decode Python-2 ``str`` objects.
            Defaults to ``'latin1'``.
    """

    def __init__(self,
                 file: BinaryIO,
                 source: str = '<stream>',
                 encoding: str = 'latin1') -> None:
        super().__init__(file, encoding=encoding, fix_imports=True)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        resolver = _ALLOWED_GLOBALS.get((module, name))
        if resolver is None:
            py3_module, py3_name = _python3_name(module, name)
            alias = ''
            if (py3_module, py3_name) != (module, name):
                alias = f' (Python 3: "{py3_module}.{py3_name}")'
            raise UnsafePickleError(
                f'{self.source}: refused to unpickle global '
                f'"{module}.{name}"{alias}; it is not on the allow-list of '
                'numpy, scipy.sparse, chumpy and builtin-container types')
        return resolver()

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f'{self.source}: refused persistent id {pid!r} in pickle')


def restricted_loads(data: bytes, source: str = '<bytes>') -> Any:
    """Unpickles ``data`` with :class:`RestrictedUnpickler`.

    Args:
        data (bytes): The pickle.
        source (str): Name used in error messages.

    Returns:
        Any: The object; chumpy/sparse objects come back as stubs.

    Raises:
        UnsafePickleError: A refused global.
        BodyModelFileError: Truncated or corrupt pickle data.
    """
    return _unpickle(io.BytesIO(data), source)


def _unpickle(stream: BinaryIO, source: str) -> Any:
    try:
        return RestrictedUnpickler(stream, source=source).load()
    except BodyModelFileError:
        raise
    except Exception as e:  # truncated/corrupt data: EOFError, ...
        raise BodyModelFileError(
            f'{source}: corrupt or truncated pickle data '
            f'({type(e).__name__}: {e})') from e


# ---------------------------------------------------------------------------
# Conversion of unpickled values to plain numpy data
# ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Turns stubs into arrays/sparse matrices, recursively through
    containers; other values are returned as they are."""
    if isinstance(value, ChumpyStub):
        return value.to_array()
    if isinstance(value, SparseStub):
        return value.to_sparse()
    if isinstance(value, np.ndarray) and value.dtype == object:
        if value.ndim == 0:
            return _plain(value.item())
        out = np.empty(value.shape, dtype=object)
        flat = [_plain(v) for v in value.ravel()]
        for i, v in enumerate(flat):
            out.flat[i] = v
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _to_array_entries(key: str, value: Any,
                      out: Dict[str, np.ndarray]) -> None:
    """Stores one body-model entry as numpy array(s) under ``key``.

    Sparse matrices become dense arrays, strings numpy ``str`` arrays, and
    dicts are flattened to ``'key.subkey'`` entries. Values that numpy
    cannot hold as a plain array are kept as object arrays (nothing is
    dropped).
    """
    value = _plain(value)
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _to_array_entries(f'{key}.{sub_key}', sub_value, out)
        return
    if sp.issparse(value):
        out[key] = np.asarray(value.toarray())
        return
    if isinstance(value, bytes):
        value = value.decode('latin1')
    if isinstance(value, str):
        out[key] = np.array(value)
        return
    if isinstance(value, np.ndarray) and value.dtype != object:
        out[key] = value
        return
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype == object:
        holder = np.empty((), dtype=object)
        holder[()] = value
        arr = holder
    out[key] = arr


# ---------------------------------------------------------------------------
# npz reading without allow_pickle
# ---------------------------------------------------------------------------


def _read_npy_member(stream: BinaryIO, source: str) -> np.ndarray:
    """Reads one ``.npy`` stream; object payloads go through the restricted
    unpickler, everything else through numpy with ``allow_pickle=False``."""
    fmt = np.lib.format
    raw = stream.read()
    buf = io.BytesIO(raw)
    try:
        version = fmt.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(buf)
        else:  # (3, 0): utf8 field names; no public reader in numpy 2.x
            shape, fortran, dtype = fmt._read_array_header(buf, version)
    except Exception as e:
        raise BodyModelFileError(
            f'{source}: not a valid .npy payload ({type(e).__name__}: {e})'
        ) from e
    if dtype.hasobject:
        arr = _unpickle(buf, source)
        if not isinstance(arr, np.ndarray):
            raise BodyModelFileError(
                f'{source}: object payload unpickled to '
                f'{type(arr).__name__}, expected an ndarray')
        return arr
    buf.seek(0)
    try:
        return fmt.read_array(buf, allow_pickle=False)
    except Exception as e:
        raise BodyModelFileError(
            f'{source}: corrupt or truncated array data '
            f'({type(e).__name__}: {e})') from e


def _read_npz(path: str,
              keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """Reads the members of an ``.npz`` archive.

    Args:
        path (str): The archive.
        keys (Iterable[str], optional): Only these members are read (others,
            e.g. a psbody ``M`` entry, are never touched). ``None`` reads
            all members.

    Returns:
        dict[str, np.ndarray]: Arrays by key (object arrays keep stubs).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise BodyModelFileError(
            f'{path}: not a readable .npz (zip) archive ({e})') from e
    with archive:
        members = {
            n[:-4] if n.endswith('.npy') else n: n
            for n in archive.namelist()
        }
        wanted = list(members) if keys is None else list(keys)
        missing = [k for k in wanted if k not in members]
        if missing:
            raise BodyModelFileError(
                f'{path}: missing key(s) {missing}; archive holds '
                f'{sorted(members)}')
        out = {}
        for key in wanted:
            try:
                with archive.open(members[key]) as stream:
                    out[key] = _read_npy_member(stream, f'{path}[{key}]')
            except BodyModelFileError:
                raise
            except Exception as e:  # zlib/CRC/EOF errors of a broken zip
                raise BodyModelFileError(
                    f'{path}[{key}]: corrupt archive member '
                    f'({type(e).__name__}: {e})') from e
        return out


def load_npz_safe(path: PathLike,
                  keys: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Reads an ``.npz`` like ``np.load(path, allow_pickle=True)`` would,
    but object members go through :class:`RestrictedUnpickler`.

    Useful for HumanData-style archives whose object members hold dicts,
    lists and strings. chumpy/sparse stubs are converted to arrays/sparse
    matrices; 0-d object members are unwrapped (``.item()``).

    Args:
        path (str | os.PathLike): The archive.
        keys (Iterable[str], optional): Members to read; others are never
            touched. Defaults to all members.

    Returns:
        dict[str, Any]: Plain arrays, or the unpickled objects of 0-d object
        members.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: A member names a global outside the allow-list.
        BodyModelFileError: Corrupt archive or a missing key.
    """
    path = _check_exists(path)
    raw = _read_npz(path, keys)
    return {key: _plain(value) for key, value in raw.items()}


def _check_exists(path: PathLike) -> str:
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'body-model asset file not found: {path}')
    return path


# ---------------------------------------------------------------------------
# Body models
# ---------------------------------------------------------------------------

#: Keys every SMPL-layout file must hold, with their expected shapes.
REQUIRED_BODY_MODEL_KEYS = {
    'v_template': '(V, 3)',
    'f': '(F, 3)',
    'J_regressor': '(J, V)',
    'weights': '(V, J)',
    'kintree_table': '(2, J)',
    'shapedirs': '(V, 3, S)',
    'posedirs': '(V, 3, 9 * (J - 1))',
}


def load_body_model_file(path: PathLike) -> Dict[str, np.ndarray]:
    """Loads and validates an SMPL-layout body-model file.

    Reads official SMPL ``.pkl`` files (Python-2 pickles with chumpy arrays
    and a sparse ``J_regressor``) and smplx-style ``.npz`` files, without
    chumpy and without executing anything from the file.

    Args:
        path (str | os.PathLike): A ``.pkl`` or ``.npz`` file.

    Returns:
        dict[str, np.ndarray]: Every entry of the file as an array: chumpy
        arrays and sparse matrices become dense float arrays, strings
        (``bs_style``...) numpy ``str`` arrays, nested dicts are flattened to
        ``'key.subkey'``. ``f`` and ``kintree_table`` are int64 (the root
        parent keeps its stored value, e.g. 4294967295). Required keys and
        shapes (lengths in metres): ``v_template (V, 3)``, ``f (F, 3)``,
        ``J_regressor (J, V)``, ``weights (V, J)``, ``kintree_table (2, J)``,
        ``shapedirs (V, 3, S)``, ``posedirs (V, 3, 9 * (J - 1))``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: The file names a global outside the allow-list.
        BodyModelFileError: Unknown extension, corrupt/truncated file,
            missing key, wrong shape or non-finite values.
    """
    path = _check_exists(path)
    ext = osp.splitext(path)[1].lower()
    if ext == '.pkl':
        with open(path, 'rb') as f:
            obj = _unpickle(f, path)
        if not isinstance(obj, dict):
            raise BodyModelFileError(
                f'{path}: expected a pickled dict of model arrays, got '
                f'{type(obj).__name__}')
        raw = obj
    elif ext == '.npz':
        raw = _read_npz(path)
    else:
        raise BodyModelFileError(
            f'{path}: unsupported body-model file extension "{ext}" '
            '(expected .pkl or .npz)')

    data: Dict[str, np.ndarray] = {}
    for key, value in raw.items():
        key = key.decode('latin1') if isinstance(key, bytes) else str(key)
        try:
            _to_array_entries(key, value, data)
        except BodyModelFileError as e:
            raise BodyModelFileError(f'{path}: key "{key}": {e}') from e
    _validate_body_model(data, path)
    return data


def _validate_body_model(data: Dict[str, np.ndarray], path: str) -> None:
    """Checks required keys, shapes, dtypes and finiteness in place; casts
    ``f``/``kintree_table`` to int64."""
    missing = [k for k in REQUIRED_BODY_MODEL_KEYS if k not in data]
    if missing:
        raise BodyModelFileError(
            f'{path}: missing required key(s) {missing}; file holds '
            f'{sorted(data)}')

    def fail(key: str, got: Any) -> None:
        raise BodyModelFileError(
            f'{path}: key "{key}" expected shape '
            f'{REQUIRED_BODY_MODEL_KEYS[key]}, got {got}')

    for key in REQUIRED_BODY_MODEL_KEYS:
        arr = data[key]
        if not (np.issubdtype(arr.dtype, np.number)
                or arr.dtype == np.bool_):
            raise BodyModelFileError(
                f'{path}: key "{key}" must be numeric, got dtype {arr.dtype}')
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(
                arr).all():
            raise BodyModelFileError(
                f'{path}: key "{key}" contains non-finite values (NaN/inf)')

    v = data['v_template']
    if v.ndim != 2 or v.shape[1] != 3:
        fail('v_template', v.shape)
    num_verts = v.shape[0]
    j_reg = data['J_regressor']
    if j_reg.ndim != 2 or j_reg.shape[1] != num_verts:
        fail('J_regressor', f'{j_reg.shape} with V={num_verts}')
    num_joints = j_reg.shape[0]
    expected = {
        'weights': (num_verts, num_joints),
        'kintree_table': (2, num_joints),
        'posedirs': (num_verts, 3, 9 * (num_joints - 1)),
    }
    for key, shape in expected.items():
        if data[key].shape != shape:
            fail(key, f'{data[key].shape} (V={num_verts}, J={num_joints}, '
                 f'so expected {shape})')
    shapedirs = data['shapedirs']
    if (shapedirs.ndim != 3 or shapedirs.shape[:2] != (num_verts, 3)
            or shapedirs.shape[2] < 1):
        fail('shapedirs', f'{shapedirs.shape} with V={num_verts}')

    faces = data['f']
    if faces.ndim != 2 or faces.shape[1] != 3:
        fail('f', faces.shape)
    if not np.issubdtype(faces.dtype, np.integer):
        if not np.array_equal(faces, np.round(faces)):
            raise BodyModelFileError(
                f'{path}: key "f" must hold integer vertex indices')
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= num_verts):
        raise BodyModelFileError(
            f'{path}: key "f" indexes vertices {faces.min()}..{faces.max()}, '
            f'outside [0, {num_verts})')
    data['f'] = faces

    kintree = data['kintree_table'].astype(np.int64)
    parents = kintree[0, 1:]
    bad = np.nonzero((parents < 0)
                     | (parents >= np.arange(1, num_joints)))[0]
    if bad.size:
        j = int(bad[0]) + 1
        raise BodyModelFileError(
            f'{path}: key "kintree_table" parent of joint {j} is '
            f'{int(kintree[0, j])}; every parent must precede its child '
            '(0 <= parent < joint)')
    data['kintree_table'] = kintree


# ---------------------------------------------------------------------------
# Mesh down/up-sampling (GraphCMR / METRO / Graphormer)
# ---------------------------------------------------------------------------


def load_mesh_downsampling(path: PathLike) -> Dict[str, List[Any]]:
    """Loads a GraphCMR/METRO ``mesh_downsampling.npz``.

    Only the ``A``, ``D``, ``U`` and ``F`` members are read; the ``M``
    member (pickled psbody meshes) is skipped unread.

    Args:
        path (str | os.PathLike): The ``.npz`` file.

    Returns:
        dict: With ``N = len(A)`` mesh levels of ``n_0 > n_1 > ...``
        vertices:

        - ``'A'``: ``N`` adjacency matrices ``(n_i, n_i)``,
          ``scipy.sparse.csr_matrix``.
        - ``'D'``: ``N - 1`` down-sampling matrices ``(n_{i+1}, n_i)``, csr.
        - ``'U'``: ``N - 1`` up-sampling matrices ``(n_i, n_{i+1})``, csr.
        - ``'F'``: ``N`` int64 face arrays ``(F_i, 3)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: A member names a global outside the allow-list.
        BodyModelFileError: Corrupt file or inconsistent shapes.
    """
    path = _check_exists(path)
    raw = _read_npz(path, keys=('A', 'D', 'U', 'F'))
    out: Dict[str, List[Any]] = {}
    for key in ('A', 'D', 'U'):
        items = _as_list(raw[key], path, key)
        mats = []
        for i, m in enumerate(items):
            m = _plain(m)
            if sp.issparse(m):
                mats.append(sp.csr_matrix(m))
            elif isinstance(m, np.ndarray) and m.ndim == 2 and \
                    m.dtype != object:
                mats.append(sp.csr_matrix(m))
            else:
                raise BodyModelFileError(
                    f'{path}: {key}[{i}] is {type(m).__name__}, expected a '
                    'sparse matrix')
        out[key] = mats
    faces = []
    for i, f in enumerate(_as_list(raw['F'], path, 'F')):
        f = np.asarray(_plain(f))
        if f.ndim != 2 or f.shape[1] != 3 or f.dtype == object:
            raise BodyModelFileError(
                f'{path}: F[{i}] expected shape (F_i, 3) of ints, got '
                f'{f.shape} {f.dtype}')
        faces.append(f.astype(np.int64))
    out['F'] = faces
    _validate_mesh_levels(out, path)
    return out


def _as_list(value: np.ndarray, path: str, key: str) -> List[Any]:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel()) if value.ndim else [value.item()]
    if isinstance(value, np.ndarray) and value.ndim == 3:  # stacked faces
        return list(value)
    raise BodyModelFileError(
        f'{path}: key "{key}" expected an object array of per-level '
        f'entries, got {value.dtype} {value.shape}')


def _validate_mesh_levels(out: Dict[str, List[Any]], path: str) -> None:
    sizes = []
    for i, a in enumerate(out['A']):
        if a.shape[0] != a.shape[1]:
            raise BodyModelFileError(
                f'{path}: A[{i}] must be square, got {a.shape}')
        sizes.append(a.shape[0])
    levels = len(sizes)
    if len(out['F']) != levels or len(out['D']) != levels - 1 or \
            len(out['U']) != levels - 1:
        raise BodyModelFileError(
            f'{path}: expected len(F) == len(A) == {levels} and '
            f'len(D) == len(U) == {levels - 1}, got F {len(out["F"])}, '
            f'D {len(out["D"])}, U {len(out["U"])}')
    for i in range(levels - 1):
        want_d, want_u = (sizes[i + 1], sizes[i]), (sizes[i], sizes[i + 1])
        if out['D'][i].shape != want_d:
            raise BodyModelFileError(
                f'{path}: D[{i}] expected shape {want_d}, got '
                f'{out["D"][i].shape}')
        if out['U'][i].shape != want_u:
            raise BodyModelFileError(
                f'{path}: U[{i}] expected shape {want_u}, got '
                f'{out["U"][i].shape}')
    for i, f in enumerate(out['F']):
        if f.size and (f.min() < 0 or f.max() >= sizes[i]):
            raise BodyModelFileError(
                f'{path}: F[{i}] indexes vertices {f.min()}..{f.max()}, '
                f'outside [0, {sizes[i]})')


# ---------------------------------------------------------------------------
# Joint regressors
# ---------------------------------------------------------------------------


def load_joint_regressor(path: PathLike,
                         num_vertices: Optional[int] = None) -> np.ndarray:
    """Loads a joint regressor such as ``J_regressor_h36m.npy``.

    Args:
        path (str | os.PathLike): A plain-array ``.npy`` file (read with
            ``allow_pickle=False``).
        num_vertices (int, optional): Expected number of mesh vertices ``V``.

    Returns:
        np.ndarray: ``(J, V)`` float64; ``joints = J_reg @ vertices``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        BodyModelFileError: Wrong extension, unreadable, pickled content,
            not 2-D, vertex count mismatch or non-finite values.
    """
    path = _check_exists(path)
    ext = osp.splitext(path)[1].lower()
    if ext != '.npy':
        raise BodyModelFileError(
            f'{path}: unsupported joint-regressor extension "{ext}" '
            '(expected .npy)')
    try:
        reg = np.load(path, allow_pickle=False)
    except Exception as e:
        raise BodyModelFileError(
            f'{path}: cannot read joint regressor as a plain array '
            f'({type(e).__name__}: {e})') from e
    if reg.ndim != 2:
        raise BodyModelFileError(
            f'{path}: joint regressor expected shape (J, V), got {reg.shape}')
    if not np.issubdtype(reg.dtype, np.number):
        raise BodyModelFileError(
            f'{path}: joint regressor must be numeric, got {reg.dtype}')
    if num_vertices is not None and reg.shape[1] != num_vertices:
        raise BodyModelFileError(
            f'{path}: joint regressor expected shape (J, {num_vertices}), '
            f'got {reg.shape}')
    reg = reg.astype(np.float64)
    if not np.isfinite(reg).all():
        raise BodyModelFileError(
            f'{path}: joint regressor contains non-finite values')
    return reg
