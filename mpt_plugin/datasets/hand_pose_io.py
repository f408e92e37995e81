"""Hand pose sets: the on-disk format of the MANO articulations that stand
in for MobRecon's "Complement" hand poses in MPT's hand pre-training
(read by :class:`~mpt_plugin.datasets.MPTHandPoseDataset`).

Format (this docstring is the reference). One ``.npz`` archive (stored or
deflated members, as ``np.savez`` / ``np.savez_compressed`` write them)
holding plain arrays only, no object (pickled) member:

=============  =========  =======  ==========================================
key            shape      dtype    meaning
=============  =========  =======  ==========================================
``hand_pose``  (N, 45)    float32  axis-angle rotations of MANO's 15 finger
                                   joints, radians, **relative to the flat
                                   hand** (``MPTMANO(flat_hand_mean=True)``),
                                   ``mano_16`` order without the wrist:
                                   index1-3, middle1-3, pinky1-3, ring1-3,
                                   thumb1-3; no global orientation (the hand
                                   is posed wrist-centred, orientation 0)
``betas``      (N, 10)    float32  MANO shape coefficients
``is_rhand``   ()         bool     the set's hand (True: right)
``format``     ()         str      ``'mpt_hand_poses'``
``version``    ()         int      ``1``
=============  =========  =======  ==========================================

``N >= 1``. Other float dtypes are accepted for ``hand_pose`` / ``betas``
and cast to float32 (values are judged after the cast, see
:mod:`mpt_plugin.utils.value_checks`); ``is_rhand`` may be any bool or
integer 0/1 scalar, ``format`` a str or bytes scalar, ``version`` any
integer scalar. Other members are ignored and never read. A set is written
by :func:`mpt_plugin.synthetic.hand_poses.save_hand_pose_set` (or by hand
with ``np.savez``).

Reading (:func:`load_hand_pose_set`) never unpickles and refuses, with a
:class:`HandPoseFormatError` naming the file, the key and the expected
shape: a missing key, a wrong shape or dtype kind, ``N`` differing between
``hand_pose`` and ``betas``, an empty set, non-finite values (naming the
rows), absurd values (``|angle| >`` :data:`MAX_ABS_ANGLE` = 2 pi,
``|betas| >`` :data:`MAX_ABS_BETAS` = 10; naming the rows), an object
member, a wrong ``format`` or ``version``, and any unreadable, truncated or
forged member. Members are read through the size-checked reader of
:func:`mpt_plugin.body_models.io.read_npz_arrays`: only stored or deflated
members, each no larger uncompressed than its compressed bytes can expand
to (1:1 stored, so at most the file size; 1032:1 deflated) and with an
``.npy`` header whose ``shape * itemsize`` matches that size, all checked
before anything is allocated, so a header claiming a huge shape is refused
without allocating it.
"""
import os
import stat
import zipfile
from typing import Dict, Union

import numpy as np

from mpt_plugin.body_models.io import NpzMemberError, read_npz_arrays
from mpt_plugin.utils.value_checks import bad_rows

__all__ = [
    'HandPoseFormatError', 'load_hand_pose_set', 'HAND_POSE_FORMAT',
    'HAND_POSE_VERSION', 'HAND_POSE_KEYS', 'MAX_ABS_ANGLE', 'MAX_ABS_BETAS'
]

PathLike = Union[str, os.PathLike]

#: ``format`` string of a hand pose set.
HAND_POSE_FORMAT = 'mpt_hand_poses'
#: ``version`` of the format described in the module doc.
HAND_POSE_VERSION = 1
#: Expected layout per key (for messages).
HAND_POSE_KEYS = {
    'hand_pose': '(N, 45) float32 axis-angle, radians, relative to the flat '
    'hand',
    'betas': '(N, 10) float32 MANO shape coefficients',
    'is_rhand': '() bool',
    'format': f"() str {HAND_POSE_FORMAT!r}",
    'version': f'() int {HAND_POSE_VERSION}',
}
#: Largest accepted |axis-angle component| of ``hand_pose``, radians.
MAX_ABS_ANGLE = 2 * np.pi
#: Largest accepted |shape coefficient|.
MAX_ABS_BETAS = 10.0
_WIDTHS = dict(hand_pose=45, betas=10)
_BOUNDS = dict(hand_pose=MAX_ABS_ANGLE, betas=MAX_ABS_BETAS)


class HandPoseFormatError(ValueError):
    """A hand pose set file that cannot be read or breaks the format."""


def _error(path: str, key: str, msg: str) -> HandPoseFormatError:
    return HandPoseFormatError(
        f'{path}: key {key!r}: {msg}; expected {HAND_POSE_KEYS[key]}')


def _rows_text(rows: np.ndarray, num: int) -> str:
    shown = ', '.join(str(int(r)) for r in rows[:10])
    more = ', ...' if len(rows) > 10 else ''
    return f'{len(rows)} of {num} row(s) [{shown}{more}]'


def _float_table(path: str, arrays: Dict[str, np.ndarray],
                 key: str) -> np.ndarray:
    arr = arrays[key]
    width = _WIDTHS[key]
    if arr.dtype.kind != 'f':
        raise _error(path, key, f'dtype {arr.dtype} is not a float dtype')
    if arr.ndim != 2 or arr.shape[1] != width:
        raise _error(path, key, f'shape {arr.shape} is not (N, {width})')
    if len(arr) == 0:
        raise _error(path, key, 'the set holds no pose (N = 0)')
    with np.errstate(over='ignore'):  # too large for float32 -> inf, bad
        out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = bad_rows(out)
    if bad.any():
        rows = _rows_text(np.flatnonzero(bad), len(out))
        raise _error(path, key, 'non-finite values (NaN/inf after the cast '
                     f'to float32) in {rows}')
    bound = _BOUNDS[key]
    big = (np.abs(out) > bound).any(axis=1)
    if big.any():
        raise _error(path, key, f'absurd values (|x| > {bound:g}) in '
                     f'{_rows_text(np.flatnonzero(big), len(out))}')
    return out


def _scalar(path: str, arrays: Dict[str, np.ndarray], key: str,
            kinds: str) -> np.generic:
    arr = arrays[key]
    if arr.shape != () or arr.dtype.kind not in kinds:
        raise _error(path, key, f'got dtype {arr.dtype} shape {arr.shape}')
    return arr[()]


def _missing_keys(path: str) -> list:
    """Format keys absent from the archive's member list (only the zip
    directory is read); ``[]`` when it cannot be listed, so that the
    member reader reports the damage."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n[:-4] if n.endswith('.npy') else n
                     for n in archive.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return []
    return [key for key in HAND_POSE_KEYS if key not in names]


def load_hand_pose_set(path: PathLike) -> Dict[str, np.ndarray]:
    """Reads and validates a hand pose set (format in the module doc).

    Args:
        path (str | os.PathLike): The ``.npz`` file.

    Returns:
        dict[str, np.ndarray]: ``hand_pose`` ``(N, 45)`` float32,
        ``betas`` ``(N, 10)`` float32 (C-contiguous, owned arrays),
        ``is_rhand`` ``()`` bool array, ``format`` ``()`` str array and
        ``version`` ``()`` int64 array.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        HandPoseFormatError: Anything the module doc lists; the message
            names the file, the key and the expected layout.
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise FileNotFoundError(
            f'hand pose set not found: {path} ({err.strerror or err})'
        ) from err
    if not stat.S_ISREG(mode):
        raise HandPoseFormatError(
            f'{path}: not a regular file (folder, FIFO or device)')
    missing = _missing_keys(path)
    if missing:
        raise _error(path, missing[0],
                     f'missing (the archive lacks {missing})')
    try:
        arrays = read_npz_arrays(path, keys=list(HAND_POSE_KEYS),
                                 allow_pickle=False)
    except NpzMemberError as err:
        if err.key is None:
            raise HandPoseFormatError(
                f'{path}: not a readable hand pose set (.npz with keys '
                f'{list(HAND_POSE_KEYS)}): {err.reason}') from err
        raise HandPoseFormatError(
            f'{path}: key {err.key!r}: cannot read the array (truncated, '
            f'corrupt, forged header or pickled object data): {err.reason}'
            f'; expected {HAND_POSE_KEYS[err.key]}') from err

    fmt = _scalar(path, arrays, 'format', 'US')
    if isinstance(fmt, bytes):
        fmt = fmt.decode('utf-8', errors='replace')
    if str(fmt) != HAND_POSE_FORMAT:
        raise _error(path, 'format', f'got {str(fmt)!r}')
    version = _scalar(path, arrays, 'version', 'iu')
    if int(version) != HAND_POSE_VERSION:
        raise _error(path, 'version', f'got {int(version)} (this reader '
                     f'knows version {HAND_POSE_VERSION})')
    is_rhand = _scalar(path, arrays, 'is_rhand', 'biu')
    if int(is_rhand) not in (0, 1):
        raise _error(path, 'is_rhand', f'got {is_rhand.item()!r}')

    hand_pose = _float_table(path, arrays, 'hand_pose')
    betas = _float_table(path, arrays, 'betas')
    if len(betas) != len(hand_pose):
        raise _error(path, 'betas', f'{len(betas)} rows, but hand_pose has '
                     f'N = {len(hand_pose)}')
    return dict(hand_pose=hand_pose, betas=betas,
                is_rhand=np.array(bool(is_rhand)),
                format=np.array(HAND_POSE_FORMAT),
                version=np.array(HAND_POSE_VERSION, dtype=np.int64))
