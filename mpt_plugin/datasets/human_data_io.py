"""Safe reading, validation and writing of mmhuman3d HumanData ``.npz`` files.

A HumanData file (mmhuman3d 0.11.0, ``HumanData.dump``) is an
``np.savez_compressed`` archive holding, for ``N`` samples:

- ``image_path`` ``(N,)`` str, relative to
  ``{data_prefix}/datasets/{dataset_name}/``;
- ``bbox_xywh`` ``(N, 4)`` or ``(N, 5)`` px: x_min, y_min, w, h[, conf];
- ``keypoints2d`` ``(N, 190, 3)`` px + conf and ``keypoints3d``
  ``(N, 190, 4)`` metres + conf in the 190-joint ``human_data`` convention
  (:mod:`mpt_plugin.body_models.conventions`), with ``keypoints2d_mask`` /
  ``keypoints3d_mask`` ``(190,)`` uint8 marking the joints that exist.
  When ``__keypoints_compressed__`` is True only the columns with mask == 1
  are stored: ``(N, mask.sum(), C)`` in ascending ``human_data`` order;
- ``smpl`` dict: ``body_pose`` ``(N, 23, 3)`` or ``(N, 69)``,
  ``global_orient`` ``(N, 3)``, ``betas`` ``(N, 10)`` (axis-angle radians),
  optional ``transl`` ``(N, 3)`` metres;
- ``meta`` dict (e.g. ``gender`` ``(N,)`` ``'m'``/``'f'``), ``misc`` dict,
  ``config`` str, optional ``has_smpl`` ``(N,)`` and other free keys;
- ``__key_strict__`` (bool), ``__data_len__`` (int) and
  ``__keypoints_compressed__`` (bool).

Dicts are stored as 0-d object arrays, i.e. pickles. This module reads them
only through the project's restricted unpickler
(:func:`mpt_plugin.body_models.io.load_npz_safe`), which refuses every
global outside an allow-list of numpy/builtin-container types before it can
run, and then accepts only plain data (dict, list, tuple, str, numbers,
numeric/str arrays). Nothing in a file is ever executed.

Public API:

- :class:`HumanDataFormatError` (``ValueError``): a file that breaks the
  layout; the message names the file, the key and the expected shape.
- :func:`load_human_data`: read (optionally only some keys), validate and
  decompress.
- :func:`validate_human_data`: check a loaded dict.
- :func:`save_human_data`: write mmhuman3d's exact layout (readable by
  ``HumanData.fromfile``).
"""
import os
import os.path as osp
import zipfile
from numbers import Number
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from mpt_plugin.body_models.conventions import NUM_HUMAN_DATA_JOINTS
from mpt_plugin.body_models.io import BodyModelFileError, load_npz_safe

__all__ = [
    'HumanDataFormatError', 'load_human_data', 'validate_human_data',
    'save_human_data', 'KEYPOINT_KEYS', 'HUMAN_DATA_DUNDER_KEYS',
    'REQUIRED_IMAGE_KEYS'
]

PathLike = Union[str, os.PathLike]

#: Keypoint arrays and their number of channels (x, y[, z], conf).
KEYPOINT_KEYS: Dict[str, int] = {'keypoints2d': 3, 'keypoints3d': 4}

#: The three attributes HumanData.dump writes next to the data.
HUMAN_DATA_DUNDER_KEYS = ('__key_strict__', '__data_len__',
                          '__keypoints_compressed__')

#: Keys an image dataset needs (the default of ``required``).
REQUIRED_IMAGE_KEYS = ('image_path', 'bbox_xywh')

#: Expected shapes of the ``smpl`` sub-keys (``N`` samples), as text and as
#: accepted trailing shapes.
_SMPL_SHAPES: Dict[str, Tuple[str, Tuple[Tuple[int, ...], ...]]] = {
    'body_pose': ('(N, 23, 3) or (N, 69)', ((23, 3), (69, ))),
    'global_orient': ('(N, 3)', ((3, ), )),
    'betas': ('(N, 10)', ((10, ), )),
    'transl': ('(N, 3)', ((3, ), )),
}
_SMPL_REQUIRED = ('body_pose', 'global_orient', 'betas')

_BODY_MODEL_KEYS = ('smpl', 'smplh', 'smplx')


class HumanDataFormatError(ValueError):
    """A HumanData file or dict does not follow mmhuman3d's layout."""


# ---------------------------------------------------------------------------
# Plain-data check of unpickled members
# ---------------------------------------------------------------------------


def _plain_data_problem(value: Any, where: str) -> Optional[str]:
    """Returns a description of the first value that is not plain data
    (dict/list/tuple with str/number keys and values, str, bytes, numbers,
    None, non-object arrays), or None when all of it is plain."""
    if value is None or isinstance(value, (str, bytes, bool, Number,
                                           np.generic)):
        if isinstance(value, np.generic) and value.dtype == object:
            return f'{where} is a numpy object scalar'
        return None
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            return None
        for i, item in enumerate(value.ravel()):
            problem = _plain_data_problem(item, f'{where}[{i}]')
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, bytes, Number)):
                return f'{where} has a key of type {type(k).__name__}'
            problem = _plain_data_problem(v, f'{where}[{k!r}]')
            if problem:
                return problem
        return None
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            problem = _plain_data_problem(item, f'{where}[{i}]')
            if problem:
                return problem
        return None
    return (f'{where} is a {type(value).__module__}.'
            f'{type(value).__qualname__} object')


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _archive_keys(path: str) -> Tuple[str, ...]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise HumanDataFormatError(
            f'{path}: not a readable HumanData .npz (zip) archive ({e})'
        ) from e
    return tuple(n[:-4] if n.endswith('.npy') else n for n in names)


def _read_member(path: str, key: str) -> Any:
    """One archive member through the restricted unpickler; 0-d arrays are
    unwrapped like ``HumanData.load`` does (dict, str, bool, int)."""
    try:
        value = load_npz_safe(path, keys=(key, ))[key]
    except BodyModelFileError as e:
        raise HumanDataFormatError(
            f'{path}: key "{key}": refused or unreadable member: {e}') from e
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    problem = _plain_data_problem(value, key)
    if problem:
        raise HumanDataFormatError(
            f'{path}: key "{key}": refused pickled object: {problem}; a '
            'HumanData member may only hold dicts, lists, strings, numbers '
            'and numeric/str arrays')
    return value


def load_human_data(path: PathLike,
                    keys: Optional[Iterable[str]] = None,
                    decompress: bool = True,
                    required: Sequence[str] = REQUIRED_IMAGE_KEYS
                    ) -> Dict[str, Any]:
    """Reads and validates a HumanData ``.npz`` without plain pickle.

    Args:
        path (str | os.PathLike): The ``.npz`` file.
        keys (Iterable[str], optional): Read only these members (those the
            file lacks are skipped; ``required`` ones are then reported as
            missing). The masks of requested keypoint arrays and the
            ``__*__`` attributes are always read. Defaults to all members.
        decompress (bool): Expand compressed keypoints to the full
            ``(N, 190, C)`` with zeros where the mask is 0. With False the
            arrays stay ``(N, mask.sum(), C)`` (columns = ascending
            ``np.flatnonzero(mask)``), which saves memory for large files.
            Defaults to True.
        required (Sequence[str]): Top-level keys that must be present.
            Defaults to :data:`REQUIRED_IMAGE_KEYS`.

    Returns:
        dict: The file's entries: arrays as stored (``image_path`` a
        ``(N,)`` str array), dicts (``smpl``, ``meta``, ...) and strings
        (``config``) unwrapped from their 0-d arrays, ``bbox_xywh`` as
        stored (4 or 5 columns), keypoint masks ``(190,)`` uint8 (all ones
        when a file has keypoints but no mask), and the attributes
        ``__data_len__`` (int ``N``), ``__key_strict__`` (bool) and
        ``__keypoints_compressed__`` (bool, describing the returned arrays).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        HumanDataFormatError: Unreadable archive, a pickled member naming a
            refused global or holding a non-plain object, or a layout error
            (see :func:`validate_human_data`).
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'HumanData file not found: {path}')
    members = _archive_keys(path)
    if keys is None:
        wanted = list(members)
    else:
        wanted = [k for k in keys if k in members]
        for k in list(wanted):
            if k in KEYPOINT_KEYS and f'{k}_mask' in members:
                wanted.append(f'{k}_mask')
        wanted += [k for k in HUMAN_DATA_DUNDER_KEYS if k in members]
    data = {key: _read_member(path, key) for key in dict.fromkeys(wanted)}
    for key in KEYPOINT_KEYS:
        if key in data and f'{key}_mask' not in data:
            if data.get('__keypoints_compressed__', False):
                raise HumanDataFormatError(
                    f'{path}: key "{key}_mask" is missing but "{key}" is '
                    'stored compressed; the mask (190,) is needed to '
                    'place its columns')
            data[f'{key}_mask'] = np.ones(NUM_HUMAN_DATA_JOINTS, np.uint8)
    validate_human_data(data, path, required=required)
    data['__data_len__'] = _data_len(data, path)[0]
    data['__key_strict__'] = bool(data.get('__key_strict__', False))
    compressed = bool(data.get('__keypoints_compressed__', False))
    for key in KEYPOINT_KEYS:
        if key in data:
            mask = np.asarray(data[f'{key}_mask'])
            data[f'{key}_mask'] = mask.astype(np.uint8)
            if compressed and decompress:
                data[key] = _decompress(data[key], mask)
            elif not compressed and not decompress:
                data[key] = np.ascontiguousarray(
                    data[key][:, np.flatnonzero(mask == 1)])
    data['__keypoints_compressed__'] = not decompress
    return data


def _decompress(raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(N, mask.sum(), C)`` -> ``(N, 190, C)`` with zeros where mask 0."""
    full = np.zeros((raw.shape[0], mask.shape[0], raw.shape[2]), raw.dtype)
    full[:, np.flatnonzero(mask == 1)] = raw
    return full


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _data_len(data: Dict[str, Any], path: str) -> Tuple[int, str]:
    """Number of samples ``N`` and the key it was taken from."""
    if 'image_path' in data:
        return len(np.atleast_1d(np.asarray(data['image_path']))), \
            'image_path'
    for key in ('bbox_xywh', 'keypoints2d', 'keypoints3d'):
        if key in data and np.ndim(data[key]) >= 1:
            return int(np.shape(data[key])[0]), key
    for key in _BODY_MODEL_KEYS:
        body = data.get(key)
        if isinstance(body, dict) and np.ndim(body.get('betas')) >= 1:
            return int(np.shape(body['betas'])[0]), f'{key}.betas'
    length = data.get('__data_len__', -1)
    if isinstance(length, (int, np.integer)) and length >= 0:
        return int(length), '__data_len__'
    raise HumanDataFormatError(
        f'{path}: cannot tell the number of samples N: no "image_path", '
        '"bbox_xywh", keypoints, body-model betas or "__data_len__"')


def validate_human_data(data: Dict[str, Any],
                        path: PathLike = '<HumanData>',
                        required: Sequence[str] = REQUIRED_IMAGE_KEYS
                        ) -> None:
    """Checks a HumanData dict against mmhuman3d's layout.

    Checks: ``required`` keys; one sample count ``N`` for ``image_path``,
    ``bbox_xywh``, keypoints, ``has_smpl``, ``smpl``/``smplh``/``smplx``
    sub-arrays, ``meta['gender']`` and ``__data_len__``; ``bbox_xywh``
    ``(N, 4|5)`` numeric; ``keypoints2d`` ``(N, 190, 3)`` /
    ``keypoints3d`` ``(N, 190, 4)`` numeric (``(N, mask.sum(), C)`` when
    ``__keypoints_compressed__`` is True), masks ``(190,)`` of 0/1,
    ``keypoints*_convention`` ``'human_data'``; ``smpl`` ``body_pose`` /
    ``global_orient`` / ``betas`` present with the shapes of
    the module docstring (``transl`` optional); dict-valued keys are dicts
    and ``config`` a str; every value plain data (no pickled objects).

    Args:
        data (dict): As read from a file (0-d members unwrapped), or as
            passed to :func:`save_human_data`.
        path (str | os.PathLike): Named in error messages.
        required (Sequence[str]): Keys that must be present.
            Defaults to :data:`REQUIRED_IMAGE_KEYS`.

    Raises:
        HumanDataFormatError: The first problem found, naming ``path``, the
            key and what was expected.
    """
    path = os.fspath(path)

    def fail(key: str, expected: str, got: Any) -> None:
        raise HumanDataFormatError(
            f'{path}: key "{key}" expected {expected}, got {got}')

    missing = [k for k in required if k not in data]
    if missing:
        raise HumanDataFormatError(
            f'{path}: missing required key(s) {missing}; file holds '
            f'{sorted(data)}')
    for key, value in data.items():
        problem = _plain_data_problem(value, key)
        if problem:
            raise HumanDataFormatError(
                f'{path}: key "{key}": refused object: {problem}')

    num, num_key = _data_len(data, path)
    n_text = f'N = {num} (from "{num_key}")'

    def check_len(key: str, value: Any, expected: str) -> np.ndarray:
        arr = np.asarray(value)
        if arr.ndim < 1 or arr.shape[0] != num:
            fail(key, f'{expected} with {n_text}', f'shape {arr.shape}')
        return arr

    def check_numeric(key: str, arr: np.ndarray) -> None:
        if not (np.issubdtype(arr.dtype, np.number)
                or arr.dtype == np.bool_):
            fail(key, 'a numeric array', f'dtype {arr.dtype}')

    length = data.get('__data_len__', -1)
    if length is not None and not isinstance(length, (int, np.integer)):
        fail('__data_len__', 'an int', type(length).__name__)
    if length is not None and 0 <= int(length) != num:
        fail('__data_len__', n_text, int(length))

    if 'image_path' in data:
        arr = np.asarray(data['image_path'])
        if arr.ndim != 1 or arr.dtype.kind not in 'US':
            fail('image_path', 'shape (N,) of str', f'{arr.dtype} {arr.shape}')
    if 'config' in data and not isinstance(data['config'], str):
        fail('config', 'a str', type(data['config']).__name__)
    for key in ('meta', 'misc') + _BODY_MODEL_KEYS:
        if key in data and not isinstance(data[key], dict):
            fail(key, 'a dict (stored as a 0-d object array)',
                 type(data[key]).__name__)

    if 'bbox_xywh' in data:
        arr = check_len('bbox_xywh', data['bbox_xywh'], 'shape (N, 4|5)')
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            fail('bbox_xywh', 'shape (N, 4) or (N, 5) [x, y, w, h(, conf)]',
                 f'shape {arr.shape}')
        check_numeric('bbox_xywh', arr)
    if 'has_smpl' in data:
        arr = check_len('has_smpl', data['has_smpl'], 'shape (N,)')
        if arr.ndim != 1:
            fail('has_smpl', 'shape (N,)', f'shape {arr.shape}')
        check_numeric('has_smpl', arr)

    compressed = bool(data.get('__keypoints_compressed__', False))
    for key, channels in KEYPOINT_KEYS.items():
        mask_key = f'{key}_mask'
        mask = None
        if mask_key in data:
            mask = np.asarray(data[mask_key])
            if mask.shape != (NUM_HUMAN_DATA_JOINTS, ) or not np.isin(
                    mask, (0, 1)).all():
                fail(mask_key, f'shape ({NUM_HUMAN_DATA_JOINTS},) of 0/1',
                     f'{mask.dtype} {mask.shape}')
        conv = data.get(f'{key}_convention', 'human_data')
        if conv != 'human_data':
            fail(f'{key}_convention', "'human_data' (the only layout "
                 'mmhuman3d stores)', repr(conv))
        if key not in data:
            continue
        arr = np.asarray(data[key])
        if compressed and mask is None:
            fail(mask_key, f'shape ({NUM_HUMAN_DATA_JOINTS},) since "{key}" '
                 'is compressed', 'no such key')
        width = int(mask.sum()) if compressed else NUM_HUMAN_DATA_JOINTS
        width_text = (f'mask.sum() = {width} (compressed)'
                      if compressed else str(width))
        expected = f'shape (N, {width_text}, {channels})'
        check_len(key, arr, expected)
        if arr.ndim != 3 or arr.shape[1:] != (width, channels):
            fail(key, f'{expected} with {n_text}', f'shape {arr.shape}')
        check_numeric(key, arr)

    for body_key in _BODY_MODEL_KEYS:
        body = data.get(body_key)
        if not body:
            continue
        if body_key == 'smpl':
            absent = [k for k in _SMPL_REQUIRED if k not in body]
            if absent:
                fail('smpl', f'sub-keys {list(_SMPL_REQUIRED)}',
                     f'sub-keys {sorted(body)} (missing {absent})')
        for sub, value in body.items():
            key = f'{body_key}.{sub}'
            arr = np.asarray(value)
            if body_key == 'smpl' and sub in _SMPL_SHAPES:
                text, shapes = _SMPL_SHAPES[sub]
                check_len(key, arr, f'shape {text}')
                if arr.shape[1:] not in shapes:
                    fail(key, f'shape {text} with {n_text}',
                         f'shape {arr.shape}')
                check_numeric(key, arr)
            elif arr.ndim >= 1 and arr.dtype != object:
                check_len(key, arr, 'leading dimension N')

    meta = data.get('meta')
    if isinstance(meta, dict) and 'gender' in meta:
        arr = check_len('meta.gender', meta['gender'], 'shape (N,)')
        if arr.ndim != 1:
            fail('meta.gender', 'shape (N,)', f'shape {arr.shape}')


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def save_human_data(path: PathLike,
                    data: Dict[str, Any],
                    compress_keypoints: bool = True) -> None:
    """Writes ``data`` in mmhuman3d's HumanData ``.npz`` layout.

    The file is what ``HumanData.dump`` writes (``np.savez_compressed`` of
    the entries plus ``__key_strict__``, ``__data_len__`` and
    ``__keypoints_compressed__``; dicts become 0-d object arrays, ``config``
    a 0-d str array, ``image_path`` a str array), so mmhuman3d's
    ``HumanData.fromfile`` and :func:`load_human_data` both read it.

    Args:
        path (str | os.PathLike): Output ``.npz`` path (parent directories
            are created).
        data (dict): HumanData entries. Keypoints ``(N, 190, C)`` in the
            ``human_data`` convention, or already compressed when
            ``data['__keypoints_compressed__']`` is True. A keypoint array
            without ``*_mask`` gets an all-ones mask. Other ``__*__``
            entries are recomputed (``__key_strict__`` is kept if given).
        compress_keypoints (bool): Store only the mask == 1 columns, as
            mmhuman3d's converters do. Defaults to True.

    Raises:
        ValueError: ``path`` does not end with ``.npz``.
        HumanDataFormatError: ``data`` breaks the layout (checked before
            anything is written).
    """
    path = os.fspath(path)
    if not path.endswith('.npz'):
        raise ValueError(f'{path}: a HumanData file must end with .npz')
    data = dict(data)
    was_compressed = bool(data.pop('__keypoints_compressed__', False))
    key_strict = bool(data.pop('__key_strict__', False))
    data.pop('__data_len__', None)
    for key in KEYPOINT_KEYS:
        if key in data and f'{key}_mask' not in data:
            if was_compressed:
                raise HumanDataFormatError(
                    f'{path}: key "{key}_mask" is required for a '
                    f'compressed "{key}"')
            data[f'{key}_mask'] = np.ones(NUM_HUMAN_DATA_JOINTS, np.uint8)
    check = dict(data, __keypoints_compressed__=was_compressed)
    validate_human_data(check, path, required=())
    num = _data_len(check, path)[0]
    for key in KEYPOINT_KEYS:
        if key not in data:
            continue
        mask = np.asarray(data[f'{key}_mask']).astype(np.uint8)
        data[f'{key}_mask'] = mask
        kps = np.asarray(data[key])
        if was_compressed and not compress_keypoints:
            kps = _decompress(kps, mask)
        elif compress_keypoints and not was_compressed:
            kps = kps[:, np.flatnonzero(mask == 1)]
        data[key] = kps
    to_dump = {
        '__key_strict__': key_strict,
        '__data_len__': num,
        '__keypoints_compressed__': bool(compress_keypoints),
    }
    to_dump.update(data)
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    np.savez_compressed(path, **to_dump)
