"""Safe loading of SMPL-family body-model files and mesh-sampling assets.

Official SMPL and MANO ``.pkl`` files are Python-2 pickles holding
``chumpy`` objects and ``scipy.sparse`` matrices; ``.npz`` files written by
smplx, GraphCMR or METRO may hold pickled object arrays. Unpickling runs
whatever callables a file names, so a downloaded model file must never go
through ``pickle.load`` or ``np.load(..., allow_pickle=True)``. This module
reads all of them through :class:`RestrictedUnpickler`, which resolves only
an explicit allow-list of globals (numpy array/dtype/scalar reconstruction,
sparse matrices, builtin containers) and maps ``chumpy`` and
``scipy.sparse`` classes to inert local stubs that only record their
pickled state. Neither chumpy nor any scipy code runs while a file is read;
the stubs are turned into plain arrays afterwards (a chumpy ``Ch`` gives its
stored value, a chumpy ``Select`` -- MANO's ``shapedirs`` -- is evaluated
with numpy from its checked source, indices and shape).

Public functions:

- :func:`load_body_model_file`: SMPL-layout ``.pkl`` / ``.npz`` (SMPL,
  and MANO with ``model_type='mano'``) -> ``dict[str, np.ndarray]`` with
  validated shapes and values (``V`` vertices, ``F`` faces, ``J`` joints,
  ``S`` shape components; lengths in metres).
- :func:`load_mesh_downsampling`: GraphCMR/METRO ``mesh_downsampling.npz``
  -> sparse ``A``/``D``/``U`` matrices and face arrays ``F``.
- :func:`load_joint_regressor`: plain ``.npy`` joint regressor ``(J, V)``.
- :func:`load_npz_safe`: any ``.npz`` with object members (e.g. HumanData),
  read through the restricted unpickler.
- :func:`read_npz_arrays`: the size-checked ``.npz`` member reader shared by
  every ``.npz`` loader of the project (AMASS too).

Hostile files. Everything a file declares is checked before memory is
allocated for it, and every refusal is a :class:`BodyModelFileError` (or
:class:`UnsafePickleError`) naming the file and the key:

- ``.npz``/``.npy`` members: only stored or deflated zip members; the
  ``.npy`` header's ``shape * itemsize`` must equal the member's
  uncompressed size; a member may be at most :data:`MAX_MEMBER_BYTES`
  uncompressed and no larger than its compressed bytes can expand to
  (deflate: :data:`DEFLATE_MAX_RATIO` : 1), so a zip bomb costs at most
  ``min(MAX_MEMBER_BYTES, 1032 x compressed size)``. Members are read in
  chunks of 16 MiB straight into the final array.
- pickles: before unpickling, the opcode stream is scanned (declared
  string/bytes lengths must fit in the data, memo indices must be sequential)
  and its memory cost estimated; the estimate plus everything the allow-listed
  constructors build may not exceed ``PICKLE_BUDGET_FLOOR_BYTES (64 MiB) +
  PICKLE_BUDGET_FACTOR (16) x the pickle size``. No allow-listed callable
  takes a size: ``bytearray``/``set``/``list``/... only copy content the
  pickle already holds, ``numpy.ndarray`` cannot be called, an array's
  pickled state must hold exactly ``shape * itemsize`` bytes.
- nesting: containers, stubs and object arrays nested deeper than
  :data:`MAX_NESTING_DEPTH` are refused (never a bare ``RecursionError``).
- sparse matrices: shape, ``indptr`` (length, start 0, monotone, end),
  ``indices``/``row``/``col`` (in bounds) and ``data`` (real, finite) are
  checked with numpy before scipy sees them; a sparse matrix is made dense
  only if ``rows * cols * 8 <= 64 MiB + 16 x the file size``.
- values of model files: see :func:`load_body_model_file` and
  :func:`load_mesh_downsampling` (finite after the cast to float32, real
  dtypes, floating skinning weights with rows summing to 1, faces and
  parents in range), through :func:`mpt_plugin.utils.value_checks.
  require_finite`.
"""
import io
import math
import os
import os.path as osp
import pickle
import pickletools
import threading
import zipfile
from typing import (Any, BinaryIO, Callable, Dict, Iterable, List, Optional,
                    Tuple, Union)

import numpy as np
import scipy.sparse as sp

from mpt_plugin.utils.value_checks import require_finite

PathLike = Union[str, os.PathLike]

__all__ = [
    'BodyModelFileError', 'UnsafePickleError', 'NpzMemberError',
    'RestrictedUnpickler', 'restricted_loads', 'load_npz_safe',
    'read_npz_arrays', 'load_body_model_file', 'load_mesh_downsampling',
    'load_joint_regressor', 'REQUIRED_BODY_MODEL_KEYS', 'MANO_KEY_SHAPES',
    'MANO_OPTIONAL_KEYS', 'MODEL_TYPES', 'MAX_MEMBER_BYTES',
    'DEFLATE_MAX_RATIO', 'MAX_NESTING_DEPTH', 'PICKLE_BUDGET_FLOOR_BYTES',
    'PICKLE_BUDGET_FACTOR'
]

# ---------------------------------------------------------------------------
# Limits (documented in the module docstring)
# ---------------------------------------------------------------------------

#: Largest uncompressed ``.npz`` member (bytes) any loader reads.
MAX_MEMBER_BYTES = 4 << 30
#: Deflate cannot expand data by more than about 1032:1; a member that
#: declares more is a lie (or a bomb) and is refused before reading.
DEFLATE_MAX_RATIO = 1032
#: Deepest nesting of containers / stubs / object arrays accepted.
MAX_NESTING_DEPTH = 64
#: Largest number of array dimensions accepted (numpy allows 64).
MAX_NDIM = 32
#: Memory budget of one pickle (and of densifying a sparse matrix):
#: ``PICKLE_BUDGET_FLOOR_BYTES + PICKLE_BUDGET_FACTOR * size`` bytes.
PICKLE_BUDGET_FLOOR_BYTES = 64 << 20
PICKLE_BUDGET_FACTOR = 16
_READ_CHUNK = 16 << 20
_LATIN1 = ('latin1', 'latin-1', 'latin_1', 'iso-8859-1', 'iso8859-1',
           'iso_8859_1', 'l1')


class BodyModelFileError(ValueError):
    """A body-model or mesh asset file is unreadable, corrupt or invalid."""


class UnsafePickleError(BodyModelFileError):
    """A pickle names a global outside the loader's allow-list, or calls an
    allow-listed one in a way that is refused."""


class NpzMemberError(BodyModelFileError):
    """An ``.npz`` archive or one of its members is unreadable or refused.

    Attributes:
        path (str): The archive.
        key (str | None): The member (without ``.npy``); None for the
            archive itself.
        reason (str): What is wrong, without the path and key.
    """

    def __init__(self, path: str, key: Optional[str], reason: str) -> None:
        self.path, self.key, self.reason = path, key, reason
        where = path if key is None else f'{path}[{key}]'
        super().__init__(f'{where}: {reason}')


def _budget_bytes(size: int) -> int:
    """The memory budget of data of ``size`` bytes (see module docstring)."""
    return PICKLE_BUDGET_FLOOR_BYTES + PICKLE_BUDGET_FACTOR * int(size)


def _describe(value: Any) -> str:
    """A short, non-recursive description of ``value`` for messages."""
    if isinstance(value, np.ndarray):
        return f'{value.dtype} array of shape {value.shape}'
    if value is None or isinstance(value, (bool, int, float, np.generic)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + '...'
    if isinstance(value, (str, bytes, bytearray)):
        return f'{type(value).__name__} of length {len(value)}'
    if isinstance(value, (tuple, list)) and len(value) <= 4 and all(
            isinstance(v, (int, np.integer)) for v in value):
        return repr(tuple(int(v) for v in value))
    if isinstance(value, (tuple, list, dict, set, frozenset)):
        return f'{type(value).__name__} of length {len(value)}'
    return type(value).__name__


# ---------------------------------------------------------------------------
# Memory budget of the pickle being loaded (thread-local)
# ---------------------------------------------------------------------------


class _Budget:
    """Bytes an unpickling may still use; charged by the opcode pre-scan and
    by the allow-listed constructors."""

    def __init__(self, source: str, size: int) -> None:
        self.source = source
        self.size = size
        self.limit = _budget_bytes(size)
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        self.used += int(nbytes)
        if self.used > self.limit:
            raise BodyModelFileError(
                f'{self.source}: refused pickle: it would need more than '
                f'{self.limit} bytes of memory ({what}); the limit for a '
                f'pickle of {self.size} bytes is '
                f'{PICKLE_BUDGET_FLOOR_BYTES} + {PICKLE_BUDGET_FACTOR} x '
                f'{self.size} bytes')


_ACTIVE = threading.local()


def _active_source() -> str:
    budget = getattr(_ACTIVE, 'budget', None)
    return budget.source if budget is not None else '<pickle>'


def _charge(nbytes: int, what: str) -> None:
    budget = getattr(_ACTIVE, 'budget', None)
    if budget is not None:
        budget.charge(nbytes, what)


def _refuse_call(what: str, why: str) -> UnsafePickleError:
    return UnsafePickleError(
        f'{_active_source()}: refused {what} in pickle: {why}')


# ---------------------------------------------------------------------------
# Inert stand-ins for chumpy and scipy.sparse objects
# ---------------------------------------------------------------------------

#: (path, key) of the value being converted, for messages.
_Where = Tuple[str, str]


def _fmt(where: _Where) -> str:
    key = where[1]
    if len(key) > 100:  # deep nesting: keep the head and the tail
        key = f'{key[:60]}...{key[-30:]}'
    return f'{where[0]}: key "{key}"'


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
            parts = [s for s in state if s is not None]
            if not all(isinstance(s, dict) for s in parts):
                raise _refuse_call(
                    f'state of {self.source}',
                    'a (dict, slots) state must hold dicts, got '
                    f'{[_describe(s) for s in state]}')
            merged: Dict[Any, Any] = {}
            for part in parts:
                merged.update(part)
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
    returns it as a float64 array. A pickled ``chumpy.reordering.Select``
    (what ``ch[key]`` builds; the official ``MANO_*.pkl`` store
    ``shapedirs`` as one) stores no value but the data to compute it: its
    source ``a`` (a ``Ch``), the flat indices ``idxs`` and an optional
    ``preferred_shape``; :meth:`to_array` evaluates
    ``a.ravel()[idxs].reshape(preferred_shape)`` with numpy, after checking
    every part. chumpy itself is never imported.
    """

    #: How :meth:`to_array` gets the value: ``'value'`` (``state['x']``)
    #: or ``'select'`` (``chumpy.reordering.Select``).
    op: str = 'value'

    def to_array(self,
                 where: Optional[_Where] = None,
                 _depth: int = 0,
                 _memo: Optional[dict] = None,
                 max_elements: Optional[int] = None) -> np.ndarray:
        """Returns the object's value as float64.

        Args:
            where (tuple[str, str], optional): ``(file, key)`` for messages.
            max_elements (int, optional): Most values a ``Select`` may
                produce (the loaders pass ``(64 MiB + 16 x file size) / 8``,
                the budget of densifying a sparse matrix). Defaults to no
                limit beyond the pickle's own (its ``idxs`` were read from
                the file).

        Raises:
            BodyModelFileError: When the object has no ``x`` (a derived
                chumpy expression whose value was not pickled), ``x`` is
                not a real numeric array, or a ``Select`` is malformed
                (see :meth:`_select`).
        """
        where = where or ('<pickle>', self.source)
        if self.op == 'select':
            return self._select(where, _depth, _memo, max_elements)
        if 'x' not in self.state:
            raise BodyModelFileError(
                f'{_fmt(where)}: pickled {self.source} object has no stored '
                f'value "x" (state keys: {sorted(map(str, self.state))}); '
                'only chumpy.Ch values and Select views of them can be '
                'read without chumpy')
        value = _plain(self.state['x'], where, _depth=_depth + 1, _memo=_memo)
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise BodyModelFileError(
                f'{_fmt(where)}: chumpy value "x" is not an array '
                f'({type(e).__name__}: {e})') from e
        if arr.dtype.kind not in 'biuf':
            raise BodyModelFileError(
                f'{_fmt(where)}: chumpy value "x" must be a real numeric '
                f'array, got {_describe(arr)}')
        return arr.astype(np.float64)

    def _select(self, where: _Where, _depth: int, _memo: Optional[dict],
                max_elements: Optional[int]) -> np.ndarray:
        """``a.ravel()[idxs].reshape(preferred_shape)`` of a pickled
        ``chumpy.reordering.Select``, as float64.

        Checked first: ``a`` and ``idxs`` present; ``a`` (a chumpy value
        or array) real numeric; ``idxs`` an integer array (any shape, read
        flat) with every entry in ``[0, a.size)`` and at most
        ``max_elements`` entries; ``preferred_shape``, when present, a tuple
        of at most :data:`MAX_NDIM` non-negative ints whose product is
        ``idxs.size`` (without it the value is 1-D, as in chumpy).
        """
        state = self.state
        for name in ('a', 'idxs'):
            if name not in state:
                raise BodyModelFileError(
                    f'{_fmt(where)}: pickled {self.source} lacks "{name}" '
                    f'(state keys: {sorted(map(str, state))}); a Select '
                    'needs its source "a" and its indices "idxs"')
        source = _plain(state['a'], where, max_elements, _depth + 1, _memo)
        try:
            source = np.asarray(source)
        except (TypeError, ValueError) as e:
            raise BodyModelFileError(
                f'{_fmt(where)}: Select source "a" is not an array '
                f'({type(e).__name__}: {e})') from e
        if source.dtype.kind not in 'biuf':
            raise BodyModelFileError(
                f'{_fmt(where)}: Select source "a" must be a real numeric '
                f'array, got {_describe(source)}')
        idxs = _plain(state['idxs'], where, max_elements, _depth + 1, _memo)
        if not isinstance(idxs, np.ndarray) or idxs.dtype.kind not in 'iu':
            raise BodyModelFileError(
                f'{_fmt(where)}: Select "idxs" must be an integer array, got '
                f'{_describe(idxs)}')
        idxs = idxs.ravel()
        if max_elements is not None and idxs.size > max_elements:
            raise BodyModelFileError(
                f'{_fmt(where)}: Select "idxs" has {idxs.size} entries; at '
                f'most {max_elements} are accepted for a file of this size')
        flat = source.ravel()
        if idxs.size:
            bad = np.flatnonzero((idxs < 0) | (idxs >= flat.size))
            if bad.size:
                i = int(bad[0])
                raise BodyModelFileError(
                    f'{_fmt(where)}: Select "idxs" has {bad.size} entries '
                    f'outside [0, {flat.size}) (the size of "a", shape '
                    f'{source.shape}); first at index {i}: {int(idxs[i])}')
        shape: Tuple[int, ...] = (idxs.size, )
        if 'preferred_shape' in state:
            want = _plain(state['preferred_shape'], where, max_elements,
                          _depth + 1, _memo)
            ok = isinstance(want, (tuple, list)) and len(want) <= MAX_NDIM \
                and all(isinstance(s, (int, np.integer))
                        and not isinstance(s, bool) and int(s) >= 0
                        for s in want)
            if not ok or math.prod(int(s) for s in want) != idxs.size:
                raise BodyModelFileError(
                    f'{_fmt(where)}: Select "preferred_shape" '
                    f'{_describe(want)} is not a shape of {idxs.size} '
                    'values (the number of "idxs")')
            shape = tuple(int(s) for s in want)
        return flat[idxs].astype(np.float64).reshape(shape)


def _index_array(value: Any, where: _Where, name: str,
                 length: Optional[int], bound: Optional[int]) -> np.ndarray:
    """Checks a sparse index component: 1-D integer, ``length`` entries
    (if given), every entry in ``[0, bound)`` (if given)."""
    if not isinstance(value, np.ndarray):
        raise BodyModelFileError(
            f'{_fmt(where)}: sparse component "{name}" must be an integer '
            f'array, got {_describe(value)}')
    value = value.view(np.ndarray)
    if value.ndim != 1 or value.dtype.kind not in 'iu':
        raise BodyModelFileError(
            f'{_fmt(where)}: sparse component "{name}" must be a 1-D integer '
            f'array, got {_describe(value)}')
    if length is not None and len(value) != length:
        raise BodyModelFileError(
            f'{_fmt(where)}: sparse component "{name}" has {len(value)} '
            f'entries, expected {length}')
    if bound is not None and value.size:
        bad = np.flatnonzero((value < 0) | (value >= bound))
        if bad.size:
            i = int(bad[0])
            raise BodyModelFileError(
                f'{_fmt(where)}: sparse component "{name}" has {bad.size} '
                f'entries outside [0, {bound}); first at index {i}: '
                f'{int(value[i])}')
    return value


class SparseStub(_PickledStateStub):
    """Stand-in for pickled ``scipy.sparse`` csc/csr/coo matrices.

    The stored component arrays are validated with numpy and only then
    handed to the public scipy constructors by :meth:`to_sparse`, so this
    works for pickles from any scipy version (``scipy.sparse.csc`` or
    ``scipy.sparse._csc``, ``row``/``col`` or ``coords`` for COO) and no
    scipy code ever sees out-of-range indices.
    """

    fmt: str = ''

    def to_sparse(self,
                  where: Optional[_Where] = None,
                  max_dim: Optional[int] = None,
                  _depth: int = 0,
                  _memo: Optional[dict] = None) -> sp.spmatrix:
        """Builds the matrix in its own format (csc/csr/coo ``*_matrix``).

        Checks, before scipy is called: a 2-D shape of non-negative ints
        (each at most ``max_dim`` if given); csc/csr: ``indptr`` of length
        ``n_major + 1`` starting at 0, non-decreasing, ending at most at
        ``len(indices) == len(data)``, ``indices`` in ``[0, n_minor)``; coo:
        ``row``/``col`` as long as ``data`` and in bounds; ``data`` 1-D,
        real, finite once cast to float32.

        Args:
            where (tuple[str, str], optional): ``(file, key)`` for messages.
            max_dim (int, optional): Largest accepted dimension.

        Raises:
            BodyModelFileError: Naming the file, key and component, with the
                first bad index.
        """
        where = where or ('<pickle>', self.source)
        state = self.state
        shape = state.get('_shape', state.get('shape'))
        ok = isinstance(shape, (tuple, list)) and len(shape) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool)
            and 0 <= int(s) for s in shape)
        if not ok:
            raise BodyModelFileError(
                f'{_fmt(where)}: pickled {self.source} has no valid 2-D '
                f'shape of non-negative ints: {_describe(shape)}')
        shape = (int(shape[0]), int(shape[1]))
        limit = 2**31 - 1 if max_dim is None else min(int(max_dim), 2**31 - 1)
        if max(shape) > limit:
            raise BodyModelFileError(
                f'{_fmt(where)}: pickled {self.source} declares shape '
                f'{shape}; dimensions above {limit} are refused for a file '
                'of this size')

        def component(name: str) -> Any:
            if name not in state:
                raise BodyModelFileError(
                    f'{_fmt(where)}: pickled {self.source} lacks component '
                    f'"{name}"')
            return _plain(state[name], where, _depth=_depth + 1, _memo=_memo)

        data = component('data')
        if not isinstance(data, np.ndarray) or data.ndim != 1 or \
                data.dtype.kind not in 'biuf':
            raise BodyModelFileError(
                f'{_fmt(where)}: sparse component "data" must be a 1-D real '
                f'numeric array, got {_describe(data)}')
        data = data.view(np.ndarray)
        if self.fmt in ('csc', 'csr'):
            n_major, n_minor = shape if self.fmt == 'csr' else shape[::-1]
            indptr = _index_array(component('indptr'), where, 'indptr',
                                  n_major + 1, None)
            indices = _index_array(component('indices'), where, 'indices',
                                   len(data), None)
            steps = np.flatnonzero(indptr[1:] < indptr[:-1])
            if indptr[0] != 0 or steps.size or indptr[-1] > len(indices):
                what = (f'starts at {int(indptr[0])}' if indptr[0] != 0 else
                        f'decreases at index {int(steps[0]) + 1}'
                        if steps.size else f'ends at {int(indptr[-1])}')
                raise BodyModelFileError(
                    f'{_fmt(where)}: sparse component "indptr" {what}; '
                    'expected a non-decreasing index pointer from 0 to at '
                    f'most len(indices) = {len(indices)}')
            nnz = int(indptr[-1])
            indices = _index_array(indices[:nnz], where, 'indices', None,
                                   n_minor)
            data = data[:nnz]
            require_finite(data, where[0], f'{where[1]}.data',
                           expected='finite sparse matrix entries',
                           error_cls=BodyModelFileError)
            cls = sp.csc_matrix if self.fmt == 'csc' else sp.csr_matrix
            return cls((data, indices.astype(np.int64),
                        indptr.astype(np.int64)), shape=shape)
        if 'coords' in state:
            coords = component('coords')
            if not isinstance(coords, (tuple, list)) or len(coords) != 2:
                raise BodyModelFileError(
                    f'{_fmt(where)}: sparse component "coords" must be a '
                    f'(row, col) pair, got {_describe(coords)}')
            row, col = coords
        else:
            row, col = component('row'), component('col')
        row = _index_array(row, where, 'row', len(data), shape[0])
        col = _index_array(col, where, 'col', len(data), shape[1])
        require_finite(data, where[0], f'{where[1]}.data',
                       expected='finite sparse matrix entries',
                       error_cls=BodyModelFileError)
        return sp.coo_matrix(
            (data, (row.astype(np.int64), col.astype(np.int64))),
            shape=shape)


def _make_stub(base: type, source: str, **attrs: Any) -> type:
    name = source.rsplit('.', 1)[-1] + '_stub'
    return type(name, (base, ), dict(source=source, **attrs))


# ---------------------------------------------------------------------------
# Restricted stand-ins for the allow-listed callables
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


_np_scalar = _numpy_core('multiarray', 'scalar')
_np_frombuffer = _numpy_core('numeric', '_frombuffer')


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, tuple) and len(shape) <= MAX_NDIM and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool)
        and int(s) >= 0 for s in shape)


class _CheckedArray(np.ndarray):
    """The ``numpy.ndarray`` a pickle gets: cannot be called (a call would
    allocate a shape the file chooses), and its ``__setstate__`` checks that
    the pickled data matches the declared shape before numpy sees it.
    Converted back to plain ``np.ndarray`` views by :func:`_plain`."""

    def __new__(cls, *args: Any, **kwargs: Any) -> '_CheckedArray':
        raise _refuse_call('a call of numpy.ndarray',
                           'it would allocate an array of a size the file '
                           'chooses')

    def __setstate__(self, state: Any) -> None:
        if self.__dict__.get('_mpt_built'):
            raise _refuse_call('numpy array state', 'the array was built '
                               'twice')
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _refuse_call('numpy array state',
                               f'expected a 4/5-tuple, got {_describe(state)}')
        shape, dtype, _, raw = state[-4:]
        if not _is_shape(shape) or not isinstance(dtype, np.dtype):
            raise _refuse_call(
                'numpy array state', f'bad shape {_describe(shape)} or dtype '
                f'{_describe(dtype)}')
        count = math.prod(int(s) for s in shape)
        depth = 1
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != count:
                raise _refuse_call(
                    'numpy object array state',
                    f'shape {tuple(shape)} needs a list of {count} items, got '
                    f'{_describe(raw)}')
            depth += max((v.__dict__.get('_mpt_depth', 1)
                          for v in raw if isinstance(v, _CheckedArray)),
                         default=0)
            if depth > MAX_NESTING_DEPTH:
                raise BodyModelFileError(
                    f'{_active_source()}: refused pickle: object arrays '
                    f'nested more than {MAX_NESTING_DEPTH} levels deep')
            _charge(8 * count, f'object array of shape {tuple(shape)}')
        else:
            if not isinstance(raw, (bytes, bytearray, str)):
                raise _refuse_call(
                    'numpy array state',
                    f'expected the raw bytes, got {_describe(raw)}')
            if count * dtype.itemsize != len(raw):
                raise _refuse_call(
                    'numpy array state',
                    f'shape {tuple(shape)} of {dtype} needs '
                    f'{count * dtype.itemsize} bytes, the pickle holds '
                    f'{len(raw)}')
            _charge(len(raw), f'array of shape {tuple(shape)}')
        super().__setstate__(state)
        self.__dict__['_mpt_built'] = True
        self.__dict__['_mpt_depth'] = depth

    def __setitem__(self, key: Any, value: Any) -> None:
        if getattr(_ACTIVE, 'budget', None) is not None:
            raise _refuse_call('item assignment on a numpy array',
                               'SETITEM may only target dicts')
        super().__setitem__(key, value)


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` without its allocation: the
    empty array only receives its content from ``__setstate__``."""
    if subtype not in (np.ndarray, _CheckedArray):
        raise _refuse_call('numpy _reconstruct',
                           f'subtype {_describe(subtype)} is not ndarray')
    if not _is_shape(shape) or math.prod(int(s) for s in shape) > 1:
        raise _refuse_call('numpy _reconstruct',
                           f'initial shape {_describe(shape)} is not empty')
    return np.ndarray.__new__(_CheckedArray, (0, ), np.int8)


def _safe_scalar(dtype: Any, obj: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` with ``len(obj) == itemsize``."""
    if not isinstance(dtype, np.dtype):
        raise _refuse_call('numpy scalar', f'dtype {_describe(dtype)}')
    if not dtype.hasobject:
        if not isinstance(obj, (bytes, str)) or len(obj) != dtype.itemsize:
            raise _refuse_call(
                'numpy scalar', f'a {dtype} scalar needs {dtype.itemsize} '
                f'bytes, got {_describe(obj)}')
        _charge(len(obj) + 64, 'numpy scalar')
    return _np_scalar()(dtype, obj)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any,
                     *args: Any) -> np.ndarray:
    """``numpy.core.numeric._frombuffer`` (protocol-5 arrays): a view of
    bytes the pickle holds, so it allocates nothing."""
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or \
            not isinstance(dtype, np.dtype) or dtype.hasobject or \
            not _is_shape(shape) or order not in ('C', 'F', 'A', 'K'):
        raise _refuse_call(
            'numpy _frombuffer', f'buffer {_describe(buf)}, dtype '
            f'{_describe(dtype)}, shape {_describe(shape)}')
    return np.asarray(_np_frombuffer()(buf, dtype, shape, order, *args))


def _safe_encode(obj: Any, encoding: Any = 'utf-8',
                 errors: Any = 'strict') -> bytes:
    """``_codecs.encode`` as Python 3 writes bytes for protocols < 3:
    ``encode(text, 'latin1')`` only."""
    if not isinstance(obj, str) or not isinstance(encoding, str) or \
            encoding.lower() not in _LATIN1:
        raise _refuse_call('_codecs.encode',
                           f'only encode(str, "latin1") is accepted, got '
                           f'{_describe(obj)}, {_describe(encoding)}')
    _charge(len(obj), '_codecs.encode')
    return obj.encode('latin1')


def _safe_bytearray(source: Any = b'', encoding: Any = None,
                    errors: Any = None) -> bytearray:
    """``bytearray`` of content the pickle holds: bytes, or text with a
    latin-1 encoding; never a size or an iterable."""
    if isinstance(source, (bytes, bytearray)) and encoding is None:
        data = bytes(source)
    elif isinstance(source, str) and isinstance(encoding, str) and \
            encoding.lower() in _LATIN1:
        data = source.encode('latin1')
    else:
        raise _refuse_call(
            'builtins.bytearray', 'only bytes content is accepted, never a '
            f'size or an iterable; got {_describe(source)}')
    _charge(len(data), 'bytearray')
    return bytearray(data)


_CONTAINER_INPUTS = (list, tuple, set, frozenset, dict)


def _safe_container(kind: type) -> Callable[..., Any]:
    """``kind(items)`` (list, set, dict...) restricted to items that are
    already Python containers of the pickle, so its size is bounded by the
    pickle's own opcodes."""

    def make(*args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) > 1 or (args and not isinstance(
                args[0], _CONTAINER_INPUTS)):
            raise _refuse_call(
                f'{kind.__module__}.{kind.__name__}',
                'only a list/tuple/set/dict argument is accepted, got '
                f'{[_describe(a) for a in args]}'
                + (f' and keywords {sorted(kwargs)}' if kwargs else ''))
        items = args[0] if args else ()
        _charge(64 + 64 * len(items), f'{kind.__name__} of {len(items)}')
        return kind(items)

    make.__name__ = kind.__name__
    return make


def _safe_complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    for part in (real, imag):
        if isinstance(part, bool) or not isinstance(part, (int, float)):
            raise _refuse_call('builtins.complex',
                               f'parts must be numbers, got {_describe(part)}')
    return complex(real, imag)


def _safe_slice(*args: Any) -> slice:
    if not 1 <= len(args) <= 3 or not all(
            a is None or (isinstance(a, int) and not isinstance(a, bool))
            for a in args):
        raise _refuse_call('builtins.slice',
                           f'got {[_describe(a) for a in args]}')
    return slice(*args)


# ---------------------------------------------------------------------------
# Allow-list
# ---------------------------------------------------------------------------


def _build_allow_list() -> Dict[Tuple[str, str], Callable[[], Any]]:
    allowed: Dict[Tuple[str, str], Callable[[], Any]] = {}

    def const(obj: Any) -> Callable[[], Any]:
        return lambda: obj

    # numpy arrays, dtypes and scalars, under old and new module paths.
    for core in ('numpy.core', 'numpy._core'):
        allowed[(f'{core}.multiarray', '_reconstruct')] = const(
            _safe_reconstruct)
        allowed[(f'{core}.multiarray', 'scalar')] = const(_safe_scalar)
        allowed[(f'{core}.numeric', '_frombuffer')] = const(_safe_frombuffer)
    allowed[('numpy', 'ndarray')] = const(_CheckedArray)
    allowed[('numpy', 'dtype')] = const(np.dtype)
    # numpy >= 1.25 may name concrete dtype classes (numpy.dtypes.Float64DType)
    import numpy.dtypes as np_dtypes
    for dname in dir(np_dtypes):
        if dname.endswith('DType'):
            allowed[('numpy.dtypes', dname)] = const(getattr(np_dtypes, dname))

    # Protocol 0/1 object reconstruction, for the stubs only.
    allowed[('copy_reg', '_reconstructor')] = const(_copyreg_reconstructor)
    allowed[('copyreg', '_reconstructor')] = const(_copyreg_reconstructor)
    # Python 3 writes bytes as _codecs.encode(str, 'latin1') for protocol<3.
    allowed[('_codecs', 'encode')] = const(_safe_encode)

    # Builtins (py2 and py3 module names): restricted stand-ins that only
    # copy content the pickle holds; none takes a size.
    import collections
    builtins_map = {
        'object': object,
        'set': _safe_container(set),
        'frozenset': _safe_container(frozenset),
        'list': _safe_container(list),
        'dict': _safe_container(dict),
        'tuple': _safe_container(tuple),
        'bytearray': _safe_bytearray,
        'complex': _safe_complex,
        'slice': _safe_slice,
    }
    for mod in ('__builtin__', 'builtins'):
        for name, obj in builtins_map.items():
            allowed[(mod, name)] = const(obj)
    allowed[('collections', 'OrderedDict')] = const(
        _safe_container(collections.OrderedDict))

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
            op = 'select' if cname == 'Select' else 'value'
            allowed[(mod, cname)] = const(
                _make_stub(ChumpyStub, f'{mod}.{cname}', op=op))
    return allowed


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` restricted to the stubs."""
    if not (isinstance(cls, type) and issubclass(cls, _PickledStateStub)):
        raise UnsafePickleError(
            f'{_active_source()}: refused copyreg._reconstructor of '
            f'{_describe(cls)}: only chumpy/scipy.sparse stand-ins may be '
            'rebuilt this way')
    return cls.__new__(cls)


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
    called. Allow-listed builtins are restricted stand-ins that never take a
    size from the file. Python-2 pickles need ``encoding='latin1'`` (the
    default here).

    This class alone does not bound memory (CPython's unpickler allocates
    declared ``BINBYTES``/``BYTEARRAY8`` lengths before reading them): use
    :func:`restricted_loads` or the ``load_*`` functions, which pre-scan the
    opcodes and enforce the memory budget.

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
            f'{self.source}: refused persistent id {_describe(pid)} in '
            'pickle')


#: Estimated bytes of Python objects an opcode creates (default 32).
_OPCODE_COST = {
    'EMPTY_SET': 256, 'FROZENSET': 256, 'ADDITEMS': 64, 'EMPTY_DICT': 256,
    'DICT': 256, 'SETITEM': 64, 'SETITEMS': 64, 'EMPTY_LIST': 64, 'LIST': 64,
    'APPEND': 16, 'APPENDS': 16, 'TUPLE': 64, 'TUPLE1': 48, 'TUPLE2': 56,
    'TUPLE3': 64, 'REDUCE': 256, 'NEWOBJ': 256, 'NEWOBJ_EX': 256,
    'OBJ': 256, 'INST': 256, 'BUILD': 64, 'MARK': 8, 'POP': 0, 'STOP': 0,
    'PROTO': 0, 'FRAME': 0,
}
_MEMO_PUTS = ('PUT', 'BINPUT', 'LONG_BINPUT')


def _prescan(data: bytes, budget: _Budget) -> None:
    """Walks the opcodes without building anything: declared lengths must
    fit in ``data`` (CPython allocates them before reading), memo indices
    must grow sequentially (CPython sizes its memo by the index), and the
    estimated cost of the objects is charged to ``budget``."""
    puts = 0
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            cost = _OPCODE_COST.get(name, 32)
            if isinstance(arg, (bytes, bytearray)):
                cost += len(arg)
            elif isinstance(arg, str):
                cost += 4 * len(arg)
            if name in _MEMO_PUTS:
                if not isinstance(arg, int) or not 0 <= arg <= puts + 16:
                    raise UnsafePickleError(
                        f'{budget.source}: refused pickle: memo index '
                        f'{_describe(arg)} after {puts} memo entries '
                        '(indices must grow one by one)')
                cost += 32 * max(0, arg + 1 - puts)  # CPython's memo table
                puts = max(puts, arg + 1)
            elif name == 'MEMOIZE':
                puts += 1
                cost += 32
            budget.charge(cost, f'opcode {name}')
            del arg
    except BodyModelFileError:
        raise
    except Exception as e:  # truncated/corrupt: ValueError from genops
        raise BodyModelFileError(
            f'{budget.source}: corrupt or truncated pickle data '
            f'({type(e).__name__}: {e})') from e


def restricted_loads(data: bytes, source: str = '<bytes>') -> Any:
    """Unpickles ``data`` with :class:`RestrictedUnpickler`, after the
    opcode pre-scan and within the memory budget.

    Args:
        data (bytes): The pickle.
        source (str): Name used in error messages.

    Returns:
        Any: The object; chumpy/sparse objects come back as stubs, arrays
        as numpy arrays.

    Raises:
        UnsafePickleError: A refused global or a refused call.
        BodyModelFileError: Truncated or corrupt pickle data, or over the
            memory budget.
    """
    obj = _unpickle_bytes(bytes(data), source)
    if isinstance(obj, _CheckedArray):
        obj = obj.view(np.ndarray)
    return obj


def _unpickle(stream: BinaryIO, source: str) -> Any:
    return _unpickle_bytes(stream.read(), source)


def _unpickle_bytes(data: bytes, source: str) -> Any:
    budget = _Budget(source, len(data))
    _prescan(data, budget)
    previous = getattr(_ACTIVE, 'budget', None)
    _ACTIVE.budget = budget
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except BodyModelFileError:
        raise
    except (RecursionError, MemoryError) as e:
        raise BodyModelFileError(
            f'{source}: refused pickle ({type(e).__name__} while '
            'unpickling)') from e
    except Exception as e:  # truncated/corrupt data: EOFError, ...
        raise BodyModelFileError(
            f'{source}: corrupt or truncated pickle data '
            f'({type(e).__name__}: {e})') from e
    finally:
        _ACTIVE.budget = previous


# ---------------------------------------------------------------------------
# Conversion of unpickled values to plain numpy data
# ---------------------------------------------------------------------------

_IN_PROGRESS = object()
_SCALARS = (str, bytes, bytearray, int, float, complex, bool, type(None),
            np.generic, np.dtype)


def _plain(value: Any,
           where: Optional[_Where] = None,
           max_dim: Optional[int] = None,
           _depth: int = 0,
           _memo: Optional[dict] = None) -> Any:
    """Turns stubs into arrays/sparse matrices, recursively through
    containers; other values are returned as they are.

    Args:
        value: An unpickled value.
        where (tuple[str, str], optional): ``(file, key)`` for messages.
        max_dim (int, optional): Largest sparse-matrix dimension accepted.

    Raises:
        BodyModelFileError: Nesting deeper than :data:`MAX_NESTING_DEPTH`,
            a reference cycle, or an invalid stub.
    """
    if isinstance(value, _SCALARS):
        return value
    where = where or ('<pickle>', '<value>')
    if _depth > MAX_NESTING_DEPTH:
        raise BodyModelFileError(
            f'{_fmt(where)}: nested more than {MAX_NESTING_DEPTH} levels '
            'deep')
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.view(np.ndarray) if isinstance(
            value, _CheckedArray) else value
    memo = {} if _memo is None else _memo
    ident = id(value)
    done = memo.get(ident)
    if done is _IN_PROGRESS:
        raise BodyModelFileError(
            f'{_fmt(where)}: the pickled value contains itself (reference '
            'cycle)')
    if done is not None:
        return done[1]
    memo[ident] = _IN_PROGRESS

    def sub(v: Any, suffix: str = '') -> Any:
        return _plain(v, (where[0], where[1] + suffix), max_dim,
                      _depth + 1, memo)

    if isinstance(value, ChumpyStub):
        out = value.to_array(where, _depth, memo, max_elements=max_dim)
    elif isinstance(value, SparseStub):
        out = value.to_sparse(where, max_dim, _depth, memo)
    elif isinstance(value, np.ndarray):  # object array
        value = value.view(np.ndarray)
        if value.ndim == 0:
            out = sub(value.item())
        else:
            out = np.empty(value.shape, dtype=object)
            for i, v in enumerate(value.ravel()):
                out.flat[i] = sub(v, f'[{i}]')
    elif isinstance(value, (list, tuple)):
        out = type(value)(sub(v, f'[{i}]') for i, v in enumerate(value))
    elif isinstance(value, dict):
        out = {k: sub(v, f'.{k}') for k, v in value.items()}
    else:
        out = value
    memo[ident] = (value, out)  # keeps value alive so its id stays unique
    return out


def _to_array_entries(key: str, value: Any, out: Dict[str, np.ndarray],
                      path: str, dense_limit: int) -> None:
    """Stores one body-model entry (already :func:`_plain`) as numpy
    array(s) under ``key``.

    Sparse matrices become dense arrays (if ``rows * cols * 8 <=
    dense_limit``), strings numpy ``str`` arrays, and dicts are flattened to
    ``'key.subkey'`` entries. Values that numpy cannot hold as a plain array
    are kept as object arrays (nothing is dropped).
    """
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _to_array_entries(f'{key}.{sub_key}', sub_value, out, path,
                              dense_limit)
        return
    if sp.issparse(value):
        rows, cols = value.shape
        if rows * cols * 8 > dense_limit:
            raise BodyModelFileError(
                f'{path}: key "{key}": sparse matrix of shape {value.shape} '
                f'would take {rows * cols * 8} bytes dense; the limit for '
                f'this file is {dense_limit} bytes '
                f'({PICKLE_BUDGET_FLOOR_BYTES} + {PICKLE_BUDGET_FACTOR} x the '
                'file size)')
        out[key] = np.asarray(value.toarray())
        return
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode('latin1')
    if isinstance(value, str):
        out[key] = np.array(value)
        return
    if isinstance(value, np.ndarray) and value.dtype != object:
        out[key] = value
        return
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RecursionError):
        arr = None
    if arr is None or arr.dtype == object:
        holder = np.empty((), dtype=object)
        holder[()] = value
        arr = holder
    out[key] = arr


# ---------------------------------------------------------------------------
# npz / npy reading: size-checked, chunked, without allow_pickle
# ---------------------------------------------------------------------------


class _CountingReader:
    """Wraps a binary stream, counting the bytes read (for the header)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.pos += len(data)
        return data


def _read_header(stream: BinaryIO) -> Tuple[Tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version == (1, 0):
        return fmt.read_array_header_1_0(stream)
    if version == (2, 0):
        return fmt.read_array_header_2_0(stream)
    # (3, 0): utf8 field names; no public reader in numpy 2.x
    reader = getattr(fmt, '_read_array_header', None)
    if reader is None:
        from numpy.lib import _format_impl
        reader = _format_impl._read_array_header
    return reader(stream, version)


def _read_into(stream: BinaryIO, out: memoryview, what: str) -> None:
    pos, total = 0, len(out)
    while pos < total:
        chunk = stream.read(min(_READ_CHUNK, total - pos))
        if not chunk:
            raise EOFError(f'{what} ends after {pos} of {total} bytes')
        out[pos:pos + len(chunk)] = chunk
        pos += len(chunk)


def _read_npy_stream(stream: BinaryIO, size: int, path: str,
                     key: Optional[str], allow_pickle: bool) -> np.ndarray:
    """Reads one ``.npy`` payload of ``size`` bytes (header included).

    The header's ``shape * itemsize`` must equal the payload size before
    anything is allocated; plain data are read in chunks straight into the
    result; object payloads (only with ``allow_pickle``) go through
    :func:`_unpickle_bytes`.
    """
    source = path if key is None else f'{path}[{key}]'
    counted = _CountingReader(stream)
    try:
        shape, fortran, dtype = _read_header(counted)
    except Exception as e:
        raise NpzMemberError(path, key,
                             f'not a valid .npy payload ({type(e).__name__}: '
                             f'{e})') from e
    if not _is_shape(shape) or not isinstance(dtype, np.dtype):
        raise NpzMemberError(path, key, f'invalid .npy header: shape '
                             f'{_describe(shape)}, dtype {_describe(dtype)}')
    shape = tuple(int(s) for s in shape)
    payload = size - counted.pos
    if dtype.hasobject:
        if not allow_pickle:
            raise NpzMemberError(
                path, key, f'holds pickled object data (dtype {dtype}), '
                'which this file may not contain; a plain array was '
                'expected')
        raw = bytearray(payload)
        _read_into(counted, memoryview(raw), 'pickle payload')
        arr = _unpickle_bytes(bytes(raw), source)
        del raw
        if not isinstance(arr, np.ndarray):
            raise NpzMemberError(
                path, key, f'object payload unpickled to {_describe(arr)}, '
                'expected an ndarray')
        if arr.shape != shape:
            raise NpzMemberError(
                path, key, f'header declares shape {shape}, the pickled '
                f'array has shape {arr.shape}')
        return arr
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != payload:
        raise NpzMemberError(
            path, key, f'header declares shape {shape} of {dtype} '
            f'({nbytes} bytes), but the member holds {payload} bytes of '
            'data (truncated, padded or forged header)')
    if dtype.itemsize == 0:
        try:
            return np.empty(shape, dtype)
        except (ValueError, MemoryError) as e:
            raise NpzMemberError(path, key, f'invalid shape {shape} of '
                                 f'{dtype} ({e})') from e
    flat = np.empty(nbytes, dtype=np.uint8)
    _read_into(counted, memoryview(flat), 'array data')
    try:
        return flat.view(dtype).reshape(shape, order='F' if fortran else 'C')
    except ValueError as e:
        raise NpzMemberError(path, key, f'cannot view the data as shape '
                             f'{shape} of {dtype} ({e})') from e


def _member_error(path: str, key: Optional[str], e: Exception) -> None:
    if isinstance(e, BodyModelFileError):
        raise e
    raise NpzMemberError(
        path, key, f'corrupt archive member ({type(e).__name__}: {e})') from e


def read_npz_arrays(path: PathLike,
                    keys: Optional[Iterable[str]] = None,
                    allow_pickle: bool = True,
                    max_member_bytes: Optional[int] = None
                    ) -> Dict[str, np.ndarray]:
    """Reads the members of an ``.npz`` archive, checking sizes first.

    For each member: zip method stored or deflated; uncompressed size at
    most ``max_member_bytes`` and at most what its compressed bytes can
    expand to (deflate :data:`DEFLATE_MAX_RATIO`:1, stored 1:1); the
    ``.npy`` header's ``shape * itemsize`` equal to that size. Only then is
    the array allocated, and it is filled in chunks (CRC checked).

    Args:
        path (str | os.PathLike): The archive.
        keys (Iterable[str], optional): Only these members are read (others,
            e.g. a psbody ``M`` entry, are never touched). ``None`` reads
            all members.
        allow_pickle (bool): Object members are unpickled with
            :class:`RestrictedUnpickler` (True) or refused (False).
            Defaults to True.
        max_member_bytes (int, optional): Defaults to
            :data:`MAX_MEMBER_BYTES`.

    Returns:
        dict[str, np.ndarray]: Arrays by key (object arrays keep stubs).

    Raises:
        NpzMemberError: With ``key=None`` for an unreadable archive or
            missing keys, else naming the member.
        UnsafePickleError: A refused global in an object member.
    """
    path = os.fspath(path)
    limit = MAX_MEMBER_BYTES if max_member_bytes is None else int(
        max_member_bytes)
    try:
        file_size = os.path.getsize(path)
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise NpzMemberError(
            path, None, f'not a readable .npz (zip) archive '
            f'({type(e).__name__}: {e})') from e
    with archive:
        infos = {}
        for info in archive.infolist():
            name = info.filename
            infos[name[:-4] if name.endswith('.npy') else name] = info
        wanted = list(infos) if keys is None else list(keys)
        missing = [k for k in wanted if k not in infos]
        if missing:
            raise NpzMemberError(
                path, None, f'missing key(s) {missing}; archive holds '
                f'{sorted(infos)}')
        out = {}
        for key in wanted:
            info = infos[key]
            ratio = {zipfile.ZIP_STORED: 1,
                     zipfile.ZIP_DEFLATED: DEFLATE_MAX_RATIO}.get(
                         info.compress_type)
            if ratio is None:
                raise NpzMemberError(
                    path, key, f'zip compression method '
                    f'{info.compress_type} is not accepted (only stored or '
                    'deflated, as numpy writes)')
            if info.compress_size > file_size:
                raise NpzMemberError(
                    path, key, f'declares {info.compress_size} compressed '
                    f'bytes in a file of {file_size} bytes')
            bound = min(limit, ratio * info.compress_size + 1024)
            if info.file_size > bound:
                raise NpzMemberError(
                    path, key, f'declares {info.file_size} uncompressed bytes'
                    f'; at most {bound} are accepted (member cap {limit}, '
                    f'{info.compress_size} compressed bytes expand at most '
                    f'{ratio}:1)')
            try:
                with archive.open(info) as stream:
                    out[key] = _read_npy_stream(stream, info.file_size, path,
                                                key, allow_pickle)
                    stream.read(1)  # reach EOF: the CRC is checked there
            except Exception as e:  # zlib/CRC/EOF errors of a broken zip
                _member_error(path, key, e)
        return out


def _read_npz(path: str,
              keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """:func:`read_npz_arrays` with object members allowed."""
    return read_npz_arrays(path, keys, allow_pickle=True)


def load_npz_safe(path: PathLike,
                  keys: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Reads an ``.npz`` like ``np.load(path, allow_pickle=True)`` would,
    but object members go through :class:`RestrictedUnpickler` and every
    member is size-checked (see :func:`read_npz_arrays`).

    Useful for HumanData-style archives whose object members hold dicts,
    lists and strings. chumpy/sparse stubs are converted to arrays/sparse
    matrices (sparse dimensions at most ``(64 MiB + 16 x file size) / 8``);
    0-d object members are unwrapped (``.item()``).

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
        BodyModelFileError: Corrupt archive, a refused member (size, nesting,
            sparse matrix) or a missing key.
    """
    path = _check_exists(path)
    raw = _read_npz(path, keys)
    max_dim = _budget_bytes(os.path.getsize(path)) // 8
    return {
        key: _plain(value, (path, key), max_dim)
        for key, value in raw.items()
    }


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
#: Real-valued model keys: checked finite after the cast to float32.
_FLOAT_KEYS = ('v_template', 'shapedirs', 'posedirs', 'J_regressor',
               'weights')
#: Tolerance on the row sums of the skinning weights.
WEIGHT_SUM_TOLERANCE = 1e-3

#: Exact shapes of the keys of a MANO file (``MANO_RIGHT``/``MANO_LEFT``
#: ``.pkl``/``.npz``: 778 vertices, 1538 faces, 16 joints, 10 shape
#: components, 15 x 9 pose-blend features, a 45-D PCA hand-pose space);
#: ``None`` is any size. Checked by ``load_body_model_file(path,
#: model_type='mano')`` before the generic SMPL-layout checks.
MANO_KEY_SHAPES: Dict[str, Tuple[Optional[int], ...]] = {
    'v_template': (778, 3),
    'f': (1538, 3),
    'J_regressor': (16, 778),
    'weights': (778, 16),
    'kintree_table': (2, 16),
    'shapedirs': (778, 3, 10),
    'posedirs': (778, 3, 135),
    'hands_components': (45, 45),
    'hands_mean': (45, ),
    'hands_coeffs': (None, 45),
    'J': (16, 3),
}
#: MANO keys checked only when present (the layer does not use them).
MANO_OPTIONAL_KEYS = ('hands_coeffs', 'J')
#: Model layouts :func:`load_body_model_file` can check on top of the
#: generic SMPL-family layout.
MODEL_TYPES = ('smpl', 'mano')


def _shape_text(shape: Tuple[Optional[int], ...]) -> str:
    """``(None, 45)`` -> ``'(N, 45)'``; ``(45,)`` -> ``'(45,)'``."""
    dims = ['N' if s is None else str(s) for s in shape]
    return f'({dims[0]},)' if len(dims) == 1 else f'({", ".join(dims)})'


def _validate_mano_layout(data: Dict[str, np.ndarray], path: str) -> None:
    """Checks the MANO keys' presence, exact shapes (:data:`MANO_KEY_SHAPES`)
    and, for the PCA entries, real finite values."""
    missing = [k for k in MANO_KEY_SHAPES
               if k not in data and k not in MANO_OPTIONAL_KEYS]
    if missing:
        raise BodyModelFileError(
            f'{path}: missing required MANO key(s) {missing}; file holds '
            f'{sorted(data)}')
    for key, want in MANO_KEY_SHAPES.items():
        if key not in data:
            continue
        got = data[key].shape
        if len(got) != len(want) or any(
                w is not None and g != w for g, w in zip(got, want)):
            raise BodyModelFileError(
                f'{path}: key "{key}" expected shape {_shape_text(want)} '
                f'(MANO layout), got {got}')
    for key in ('hands_components', 'hands_mean', 'hands_coeffs'):
        if key not in data:
            continue
        if data[key].dtype.kind not in 'iuf':
            raise BodyModelFileError(
                f'{path}: key "{key}" must hold real numbers, got dtype '
                f'{data[key].dtype}; expected '
                f'{_shape_text(MANO_KEY_SHAPES[key])}')
        require_finite(data[key], path, key,
                       expected=_shape_text(MANO_KEY_SHAPES[key]),
                       error_cls=BodyModelFileError)


def load_body_model_file(path: PathLike,
                         model_type: str = 'smpl') -> Dict[str, np.ndarray]:
    """Loads and validates an SMPL-layout body-model file.

    Reads official SMPL and MANO ``.pkl`` files (Python-2 pickles with
    chumpy arrays, a chumpy ``Select`` for MANO's ``shapedirs``, and a
    sparse ``J_regressor``) and smplx-style ``.npz`` files, without chumpy
    and without executing anything from the file.

    Args:
        path (str | os.PathLike): A ``.pkl`` or ``.npz`` file.
        model_type (str): ``'smpl'`` (any SMPL-family layout: SMPL,
            SMPL-H, ...) or ``'mano'``: additionally the exact shapes of
            :data:`MANO_KEY_SHAPES` (``hands_components``, ``hands_mean``
            required, ``hands_coeffs`` checked when present). Defaults to
            ``'smpl'``.

    Returns:
        dict[str, np.ndarray]: Every entry of the file as an array: chumpy
        arrays and sparse matrices become dense float arrays, strings
        (``bs_style``...) numpy ``str`` arrays, nested dicts are flattened to
        ``'key.subkey'``. ``f`` and ``kintree_table`` are int64 (the root
        parent keeps its stored value, e.g. 4294967295). Required keys and
        shapes (lengths in metres): ``v_template (V, 3)``, ``f (F, 3)``,
        ``J_regressor (J, V)``, ``weights (V, J)``, ``kintree_table (2, J)``,
        ``shapedirs (V, 3, S)``, ``posedirs (V, 3, 9 * (J - 1))``.

    Checked values: ``v_template``, ``shapedirs``, ``posedirs``,
    ``J_regressor`` real (not bool/complex) and finite once cast to float32;
    ``weights`` floating, finite, each row summing to 1 (within
    :data:`WEIGHT_SUM_TOLERANCE`); ``f`` integers in ``[0, V)``;
    ``kintree_table`` parents ``0 <= parent < joint`` for every non-root
    joint. A sparse ``J_regressor`` is made dense, and a chumpy ``Select``
    evaluated, only within ``64 MiB + 16 x the file size``. MANO: the PCA
    entries real and finite.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Unknown ``model_type``.
        UnsafePickleError: The file names a global outside the allow-list.
        BodyModelFileError: Unknown extension, corrupt/truncated/oversized
            file, missing key, wrong shape, dtype or value; the message
            names the file, the key and the expected shape (or the first
            bad index).
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f'unknown model_type {model_type!r}; expected one '
                         f'of {MODEL_TYPES}')
    path = _check_exists(path)
    ext = osp.splitext(path)[1].lower()
    file_size = os.path.getsize(path)
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

    dense_limit = _budget_bytes(file_size)
    data: Dict[str, np.ndarray] = {}
    memo: dict = {}
    for key, value in raw.items():
        key = key.decode('latin1') if isinstance(key, bytes) else str(key)
        value = _plain(value, (path, key), dense_limit // 8, _memo=memo)
        _to_array_entries(key, value, data, path, dense_limit)
    if model_type == 'mano':
        _validate_mano_layout(data, path)
    _validate_body_model(data, path)
    return data


def _validate_body_model(data: Dict[str, np.ndarray], path: str) -> None:
    """Checks required keys, shapes, dtypes and values in place; casts
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
        kinds = 'f' if key == 'weights' else 'iuf'
        if arr.dtype.kind not in kinds:
            what = ('floating skinning weights' if key == 'weights' else
                    'real numbers (int or float)')
            raise BodyModelFileError(
                f'{path}: key "{key}" must hold {what}, got dtype '
                f'{arr.dtype} (shape {arr.shape}); expected '
                f'{REQUIRED_BODY_MODEL_KEYS[key]}')
    for key in _FLOAT_KEYS:
        require_finite(data[key], path, key,
                       expected=REQUIRED_BODY_MODEL_KEYS[key],
                       error_cls=BodyModelFileError)

    v = data['v_template']
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 1:
        fail('v_template', v.shape)
    num_verts = v.shape[0]
    j_reg = data['J_regressor']
    if j_reg.ndim != 2 or j_reg.shape[1] != num_verts or j_reg.shape[0] < 1:
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

    row_sums = data['weights'].sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(row_sums - 1.0) > WEIGHT_SUM_TOLERANCE)
    if bad.size:
        i = int(bad[0])
        raise BodyModelFileError(
            f'{path}: key "weights": {bad.size} row(s) do not sum to 1; '
            f'first at vertex {i}: sum {row_sums[i]:.6g}; expected (V, J) '
            'skinning weights with rows summing to 1 (tolerance '
            f'{WEIGHT_SUM_TOLERANCE:g})')

    faces = data['f']
    if faces.ndim != 2 or faces.shape[1] != 3:
        fail('f', faces.shape)
    data['f'] = _index_values(faces, path, 'f', num_verts,
                              'vertex indices in [0, V) with V = '
                              f'{num_verts}')

    kintree = _index_values(data['kintree_table'], path, 'kintree_table',
                            None, '(2, J) integer parent / joint ids')
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


def _index_values(arr: np.ndarray, path: str, key: str,
                  bound: Optional[int], expected: str) -> np.ndarray:
    """Integer-valued ``arr`` as int64 (integral floats accepted), every
    entry in ``[0, bound)`` when ``bound`` is given."""
    if arr.dtype.kind == 'f':
        require_finite(arr, path, key, expected=expected,
                       dtype=np.float64, error_cls=BodyModelFileError)
        frac = np.flatnonzero(arr.ravel() != np.round(arr.ravel()))
        if frac.size:
            i = np.unravel_index(int(frac[0]), arr.shape)
            raise BodyModelFileError(
                f'{path}: key "{key}" must hold integers; first non-integer '
                f'at index {tuple(int(x) for x in i)}: '
                f'{arr[i]!r}; expected {expected}')
        if arr.size and np.abs(arr).max() >= 2.0**62:
            raise BodyModelFileError(
                f'{path}: key "{key}" holds values beyond the int64 range; '
                f'expected {expected}')
    elif arr.dtype.kind not in 'iu':
        raise BodyModelFileError(
            f'{path}: key "{key}" must hold integers, got dtype {arr.dtype}'
            f'; expected {expected}')
    if bound is not None and arr.size:
        bad = np.argwhere((arr < 0) | (arr >= bound))
        if bad.size:
            i = tuple(int(x) for x in bad[0])
            raise BodyModelFileError(
                f'{path}: key "{key}" indexes vertices {arr.min()}..'
                f'{arr.max()}, outside [0, {bound}); {len(bad)} bad '
                f'entries, first at index {i}: {arr[i]}; expected '
                f'{expected}')
    return arr.astype(np.int64)


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

    Checked: every sparse matrix fully (see :meth:`SparseStub.to_sparse`;
    dimensions at most ``(64 MiB + 16 x file size) / 8``), entries finite
    once cast to float32, shapes chaining between levels, faces integers in
    ``[0, n_i)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: A member names a global outside the allow-list.
        BodyModelFileError: Corrupt file, inconsistent shapes or bad values;
            the message names the file and the entry (e.g. ``U[1]``).
    """
    path = _check_exists(path)
    raw = _read_npz(path, keys=('A', 'D', 'U', 'F'))
    max_dim = _budget_bytes(os.path.getsize(path)) // 8
    out: Dict[str, List[Any]] = {}
    for key in ('A', 'D', 'U'):
        items = _as_list(raw[key], path, key)
        mats = []
        for i, m in enumerate(items):
            name = f'{key}[{i}]'
            m = _plain(m, (path, name), max_dim)
            if sp.issparse(m):
                mats.append(sp.csr_matrix(m))
            elif isinstance(m, np.ndarray) and m.ndim == 2 and \
                    m.dtype.kind in 'biuf':
                require_finite(m, path, name, expected='a finite matrix',
                               error_cls=BodyModelFileError)
                mats.append(sp.csr_matrix(m))
            else:
                raise BodyModelFileError(
                    f'{path}: {name} is {_describe(m)}, expected a sparse '
                    'matrix')
        out[key] = mats
    faces = []
    for i, f in enumerate(_as_list(raw['F'], path, 'F')):
        f = _plain(f, (path, f'F[{i}]'), max_dim)
        if not isinstance(f, np.ndarray) or f.ndim != 2 or \
                f.shape[1] != 3 or f.dtype.kind not in 'iuf':
            raise BodyModelFileError(
                f'{path}: F[{i}] expected shape (F_i, 3) of ints, got '
                f'{_describe(f)}')
        faces.append(f)
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
    out['F'] = [
        _index_values(f, path, f'F[{i}]', sizes[i],
                      f'(F_{i}, 3) vertex indices in [0, {sizes[i]})')
        for i, f in enumerate(out['F'])
    ]


# ---------------------------------------------------------------------------
# Joint regressors
# ---------------------------------------------------------------------------


def load_joint_regressor(path: PathLike,
                         num_vertices: Optional[int] = None) -> np.ndarray:
    """Loads a joint regressor such as ``J_regressor_h36m.npy``.

    Args:
        path (str | os.PathLike): A plain-array ``.npy`` file (pickled
            content is refused; the header's ``shape * itemsize`` must match
            the file size before anything is allocated).
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
        with open(path, 'rb') as f:
            reg = _read_npy_stream(f, os.path.getsize(path), path, None,
                                   allow_pickle=False)
    except NpzMemberError as e:
        raise BodyModelFileError(
            f'{path}: cannot read joint regressor as a plain array '
            f'({e.reason})') from e
    except (OSError, EOFError) as e:
        raise BodyModelFileError(
            f'{path}: cannot read joint regressor as a plain array '
            f'({type(e).__name__}: {e})') from e
    if reg.ndim != 2:
        raise BodyModelFileError(
            f'{path}: joint regressor expected shape (J, V), got {reg.shape}')
    if reg.dtype.kind not in 'iuf':
        raise BodyModelFileError(
            f'{path}: joint regressor must be real numbers, got {reg.dtype}')
    if num_vertices is not None and reg.shape[1] != num_vertices:
        raise BodyModelFileError(
            f'{path}: joint regressor expected shape (J, {num_vertices}), '
            f'got {reg.shape}')
    require_finite(reg, path, 'J_regressor', expected='(J, V) finite '
                   'regression weights', error_cls=BodyModelFileError)
    return reg.astype(np.float64)
