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
- :func:`find_bad_samples`: per key, the samples whose values break the
  project's value policy (:mod:`mpt_plugin.utils.value_checks`), for the
  datasets' ``on_bad_sample`` filter; :data:`BAD_SAMPLE_EXPECTED` says what
  each key must hold.
- :func:`image_path_escapes`: which ``image_path`` entries leave the image
  folder (absolute, ``..`` above it, empty, NUL byte).

Layout errors (wrong shape, dtype, missing key, refused pickle) make the
whole file unusable and raise :class:`HumanDataFormatError`. Bad *values*
in well-formed arrays (NaN/inf after the cast to float32, a box with
``w <= 0`` or ``h <= 0``, ``has_smpl`` not 0/1, an unknown gender) are a
per-sample matter: :func:`load_human_data` returns them as stored and the
datasets filter them with :func:`find_bad_samples`.
"""
import os
import os.path as osp
import zipfile
from numbers import Number
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from mpt_plugin.body_models.conventions import NUM_HUMAN_DATA_JOINTS
from mpt_plugin.body_models.io import BodyModelFileError, load_npz_safe
from mpt_plugin.utils.value_checks import bad_rows, cast_finite_mask

__all__ = [
    'HumanDataFormatError', 'load_human_data', 'validate_human_data',
    'save_human_data', 'find_bad_samples', 'image_path_escapes',
    'KEYPOINT_KEYS', 'HUMAN_DATA_DUNDER_KEYS', 'REQUIRED_IMAGE_KEYS',
    'BAD_SAMPLE_EXPECTED', 'GENDER_MALE', 'GENDER_FEMALE', 'GENDER_NEUTRAL'
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

#: Accepted ``meta['gender']`` spellings (compared lower-cased, stripped).
GENDER_MALE = ('m', 'male')
GENDER_FEMALE = ('f', 'female')
GENDER_NEUTRAL = ('', 'n', 'neutral', 'none', 'unknown', 'u')

#: What each key checked by :func:`find_bad_samples` must hold per sample.
BAD_SAMPLE_EXPECTED: Dict[str, str] = {
    'bbox_xywh': 'x, y, w, h finite in float32 with w > 0 and h > 0 px',
    'has_smpl': '0 or 1',
    'keypoints2d': 'x, y, conf finite in float32 (joints used)',
    'keypoints3d': 'x, y, z, conf finite in float32 (joints used)',
    'meta.gender': (f'one of {GENDER_MALE + GENDER_FEMALE + GENDER_NEUTRAL} '
                    '(any case) or an integer code -1/0/1'),
}
for _sub, (_text, _) in _SMPL_SHAPES.items():
    BAD_SAMPLE_EXPECTED[f'smpl.{_sub}'] = (f'{_text} finite in float32 '
                                           '(axis-angle rad / metres)')

#: Nesting depth beyond which a pickled member is refused.
MAX_NESTING = 32


class HumanDataFormatError(ValueError):
    """A HumanData file or dict does not follow mmhuman3d's layout."""


# ---------------------------------------------------------------------------
# Plain-data check of unpickled members
# ---------------------------------------------------------------------------


def _plain_data_problem(value: Any, where: str,
                        depth: int = 0) -> Optional[str]:
    """Returns a description of the first value that is not plain data
    (dict/list/tuple with str/number keys and values, str, bytes, numbers,
    None, non-object arrays, nested at most :data:`MAX_NESTING` deep), or
    None when all of it is plain."""
    if depth > MAX_NESTING:
        return f'{where} is nested deeper than {MAX_NESTING} levels'
    if value is None or isinstance(value, (str, bytes, bool, Number,
                                           np.generic)):
        if isinstance(value, np.generic) and value.dtype == object:
            return f'{where} is a numpy object scalar'
        return None
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            return None
        for i, item in enumerate(value.ravel()):
            problem = _plain_data_problem(item, f'{where}[{i}]', depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, bytes, Number)):
                return f'{where} has a key of type {type(k).__name__}'
            problem = _plain_data_problem(v, f'{where}[{k!r}]', depth + 1)
            if problem:
                return problem
        return None
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            problem = _plain_data_problem(item, f'{where}[{i}]', depth + 1)
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
# Per-sample value checks (the dataset half of the value policy)
# ---------------------------------------------------------------------------


def _bad_gender(gender: Any) -> np.ndarray:
    """``(N,)`` bool: ``meta['gender']`` entries that are not an accepted
    spelling (:data:`GENDER_MALE` / ``_FEMALE`` / ``_NEUTRAL``, any case,
    None) or integer code -1/0/1."""
    arr = np.asarray(gender)
    if arr.dtype.kind in 'iub':
        return ~np.isin(arr, (-1, 0, 1))
    if arr.dtype.kind == 'f':
        return ~(cast_finite_mask(arr) & np.isin(arr, (-1, 0, 1)))
    if arr.dtype == object:
        bad_type = np.array(
            [g is not None and not isinstance(g, (str, bytes)) for g in arr],
            bool)
        text = np.array([
            '' if g is None or not isinstance(g, (str, bytes)) else
            (g.decode('latin1') if isinstance(g, bytes) else g) for g in arr
        ], dtype=str)
    elif arr.dtype.kind in 'SU':
        bad_type = np.zeros(arr.shape, bool)
        text = (np.char.decode(arr, 'latin1')
                if arr.dtype.kind == 'S' else arr)
    else:
        return np.ones(arr.shape, bool)
    text = np.char.lower(np.char.strip(text.astype(str)))
    allowed = GENDER_MALE + GENDER_FEMALE + GENDER_NEUTRAL
    return bad_type | ~np.isin(text, allowed)


def _keypoint_columns(data: Dict[str, Any], key: str,
                      joints: Optional[Sequence[int]]) -> np.ndarray:
    """Stored ``(N, J, C)`` values of the ``human_data`` joints ``joints``
    (default: every joint of the mask) that the file has."""
    mask = np.asarray(data[f'{key}_mask']).astype(bool)
    joints = (np.flatnonzero(mask) if joints is None else np.asarray(
        joints, np.int64))
    joints = joints[mask[joints]]
    if data.get('__keypoints_compressed__', False):
        columns = (np.cumsum(mask) - 1)[joints]
    else:
        columns = joints
    return np.asarray(data[key])[:, columns]


def find_bad_samples(data: Dict[str, Any],
                     keypoint_joints: Optional[Dict[str, Sequence[int]]]
                     = None,
                     keys: Optional[Iterable[str]] = None
                     ) -> Dict[str, np.ndarray]:
    """Per key, which samples hold a bad value (the value policy of
    :mod:`mpt_plugin.utils.value_checks`, judged after the cast to
    float32).

    A sample is bad under:

    - ``'bbox_xywh'``: a non-finite x, y, w or h, or ``w <= 0`` or
      ``h <= 0`` (the confidence column is not used and not checked);
    - ``'has_smpl'``: a value other than 0 or 1 (NaN included);
    - ``'smpl.body_pose'`` / ``'smpl.global_orient'`` / ``'smpl.betas'`` /
      ``'smpl.transl'``: a non-finite value;
    - ``'keypoints2d'`` / ``'keypoints3d'``: a non-finite coordinate or
      confidence among the joints used (see ``keypoint_joints``);
    - ``'meta.gender'``: not an accepted spelling (:data:`GENDER_MALE`,
      :data:`GENDER_FEMALE`, :data:`GENDER_NEUTRAL`, any case; None) nor an
      integer code -1/0/1.

    :data:`BAD_SAMPLE_EXPECTED` holds the matching expectations (for
    :func:`~mpt_plugin.utils.value_checks.filter_bad_samples`).

    Args:
        data (dict): A validated HumanData dict (as returned by
            :func:`load_human_data`, compressed or not).
        keypoint_joints (dict[str, Sequence[int]], optional): Per keypoint
            key, the ``human_data`` joint indices whose values are used;
            joints outside the file's mask are ignored. Defaults to every
            joint of the mask.
        keys (Iterable[str], optional): Check only these keys (names as
            above). Defaults to every key above that ``data`` has.

    Returns:
        dict[str, np.ndarray]: For each checked key present, ``(N,)`` bool
        (True = bad sample).
    """
    keypoint_joints = keypoint_joints or {}
    wanted = None if keys is None else set(keys)
    out: Dict[str, np.ndarray] = {}

    def want(key: str) -> bool:
        return wanted is None or key in wanted

    if 'bbox_xywh' in data and want('bbox_xywh'):
        box = np.asarray(data['bbox_xywh'])[:, :4]
        bad = bad_rows(box) if len(box) else np.zeros(0, bool)
        with np.errstate(all='ignore'):
            size = box[:, 2:4].astype(np.float32)
            bad |= ~(size > 0).all(axis=1)
        out['bbox_xywh'] = bad
    if 'has_smpl' in data and want('has_smpl'):
        arr = np.asarray(data['has_smpl'])
        out['has_smpl'] = ~(cast_finite_mask(arr) & np.isin(arr, (0, 1)))
    smpl = data.get('smpl') or {}
    for sub in _SMPL_SHAPES:
        if sub in smpl and want(f'smpl.{sub}'):
            arr = np.asarray(smpl[sub])
            out[f'smpl.{sub}'] = (bad_rows(arr)
                                  if len(arr) else np.zeros(0, bool))
    for key in KEYPOINT_KEYS:
        if key in data and want(key):
            values = _keypoint_columns(data, key, keypoint_joints.get(key))
            out[key] = (bad_rows(values) if len(values) else np.zeros(
                0, bool))
    meta = data.get('meta') or {}
    if meta.get('gender') is not None and want('meta.gender'):
        out['meta.gender'] = _bad_gender(meta['gender'])
    return out


def image_path_escapes(paths: Any) -> np.ndarray:
    """Which image paths do not stay inside the folder they are relative to.

    Judged on the text alone (``os.path.normpath``), so a symbolic link
    inside the folder may point anywhere: a path escapes when it is
    absolute, goes above the folder with ``..`` (``a/../../x``), is empty
    or ``.``, or holds a NUL byte.

    Args:
        paths (Any): ``(N,)`` str (or bytes, read as UTF-8) array.

    Returns:
        np.ndarray: ``(N,)`` bool, True where the path escapes.
    """
    arr = np.asarray(paths)
    if arr.dtype.kind == 'S':
        arr = np.char.decode(arr, 'utf-8', 'replace')
    arr = arr.astype(str).reshape(-1)
    if not arr.size:
        return np.zeros(0, bool)
    # An embedded NUL: fewer non-zero code points than the length (numpy
    # treats NUL as padding: the length ends at the last non-NUL).
    length = np.char.str_len(arr)
    has_nul = (arr.view(np.uint32).reshape(arr.size, -1) != 0).sum(1) < length
    # Cheap vectorised pre-filter; only candidates are normalised.
    suspect = ((np.char.find(arr, '..') >= 0)
               | np.char.startswith(arr, os.sep)
               | (length == 0)
               | has_nul
               | np.isin(arr, ('.', './')))
    if osp.altsep:
        suspect |= np.char.startswith(arr, osp.altsep) | (
            np.char.find(arr, ':') >= 0)
    out = np.zeros(arr.shape, bool)
    for i in np.flatnonzero(suspect):
        p = str(arr[i])
        norm = osp.normpath(p) if p else ''
        out[i] = (not p or has_nul[i] or osp.isabs(p)
                  or bool(osp.splitdrive(p)[0]) or norm in ('.', '..')
                  or norm.startswith('..' + os.sep)
                  or bool(osp.altsep and norm.startswith('..' + osp.altsep)))
    return out


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
