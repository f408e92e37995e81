"""One policy for bad numeric values in files the project reads.

Every reader (AMASS, HumanData, detection JSON, body models, mesh samplers)
judges values *after* the cast to the dtype the model uses (float32 unless
stated): a finite float64 of 1e39 is already ``inf`` in float32, so it is bad.
What a reader does with a bad value depends on what the file is:

- **model files** (body models, samplers, regressors): one bad value makes the
  whole file unusable, so the reader raises with :func:`require_finite`, which
  names the file, the key, the first bad index and the expected layout;
- **datasets** (AMASS sequences, HumanData samples, detections): the bad
  samples are found with :func:`bad_rows` and filtered and counted per file
  with :func:`filter_bad_samples`; the dataset's ``on_bad_*`` option chooses
  between dropping them (and reporting the count) and raising.

Functions here are pure numpy, no registry, no file access.
"""
from typing import Callable, Dict, Mapping, Optional, Tuple, Type

import numpy as np

__all__ = [
    'BadValueError', 'bad_rows', 'cast_finite_mask', 'filter_bad_samples',
    'require_finite', 'require_non_negative_int'
]


class BadValueError(ValueError):
    """A numeric value is non-finite or out of range after its cast."""


def cast_finite_mask(arr: np.ndarray,
                     dtype: np.dtype = np.float32) -> np.ndarray:
    """Element-wise: is the value finite once cast to ``dtype``?

    Args:
        arr (np.ndarray): Any shape; bool, integer, float or complex data.
        dtype (np.dtype): The floating dtype the model uses. Defaults to
            float32.

    Returns:
        np.ndarray: Bool array of ``arr``'s shape. Complex values are never
        finite here (no model input is complex); bools and integers within
        ``dtype``'s range are.

    Raises:
        TypeError: ``arr`` is not numeric (strings, objects).
    """
    arr = np.asarray(arr)
    kind = arr.dtype.kind
    if kind == 'c':
        return np.zeros(arr.shape, bool)
    if kind == 'b':
        return np.ones(arr.shape, bool)
    if kind not in 'iuf':
        raise TypeError(f'expected numeric data, got dtype {arr.dtype}')
    limit = np.finfo(dtype).max
    if kind in 'iu':
        return np.abs(arr.astype(np.float64)) <= limit
    with np.errstate(invalid='ignore', over='ignore'):
        return np.isfinite(arr) & (np.abs(arr) <= limit)


def bad_rows(arr: np.ndarray, dtype: np.dtype = np.float32) -> np.ndarray:
    """Per sample (first axis): does any value fail :func:`cast_finite_mask`?

    Args:
        arr (np.ndarray): ``(N, ...)`` numeric.
        dtype (np.dtype): The model dtype. Defaults to float32.

    Returns:
        np.ndarray: ``(N,)`` bool, True where the sample has a bad value.
    """
    arr = np.asarray(arr)
    if arr.ndim == 0:
        raise ValueError('bad_rows needs an array with a sample axis')
    ok = cast_finite_mask(arr, dtype)
    # reshape (N, -1) fails for an empty row shape; (N, 0) rows are good
    return ~ok.reshape(arr.shape[0], int(np.prod(arr.shape[1:]))).all(axis=1)


def require_finite(arr: np.ndarray,
                   source: str,
                   key: str,
                   expected: str = '',
                   dtype: np.dtype = np.float32,
                   error_cls: Type[Exception] = BadValueError,
                   max_abs: Optional[float] = None) -> None:
    """Raise unless every value is finite after the cast to ``dtype`` (and,
    if given, ``abs(value) <= max_abs``).

    Args:
        arr (np.ndarray): Any shape, numeric.
        source (str): The file, for the message.
        key (str): The key inside the file.
        expected (str): What the key should hold (shape, units), for the
            message.
        dtype (np.dtype): The model dtype. Defaults to float32.
        error_cls (type): Exception raised; readers pass their own format
            error (a ``ValueError`` subclass). Defaults to
            :class:`BadValueError`.
        max_abs (float, optional): A physical bound (e.g. 1e3 m).

    Raises:
        error_cls: Naming ``source``, ``key``, the first bad index (as a
            tuple), its value, the number of bad values and ``expected``.
    """
    arr = np.asarray(arr)
    try:
        ok = cast_finite_mask(arr, dtype)
    except TypeError as e:
        raise error_cls(f'{source}: key {key!r}: {e}'
                        + (f'; expected {expected}' if expected else ''))
    if max_abs is not None and arr.dtype.kind in 'iuf':
        with np.errstate(invalid='ignore'):
            ok &= np.abs(arr.astype(np.float64)) <= max_abs
    if ok.all():
        return
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    value = arr[first] if arr.ndim else arr[()]
    bound = (f'finite in {np.dtype(dtype).name}' if max_abs is None else
             f'finite in {np.dtype(dtype).name} with |x| <= {max_abs:g}')
    raise error_cls(
        f'{source}: key {key!r}: {len(bad)} value(s) not {bound}; first at '
        f'index {first}: {value!r}'
        + (f'; expected {expected}' if expected else ''))


def filter_bad_samples(bad: Mapping[str, np.ndarray],
                       source: str,
                       on_bad: str,
                       num: int,
                       expected: Optional[Mapping[str, str]] = None,
                       error_cls: Type[Exception] = BadValueError,
                       option: str = 'on_bad_sample',
                       locate: Optional[Callable[[int], str]] = None
                       ) -> Tuple[np.ndarray, Dict[str, int]]:
    """The dataset half of the policy: drop and count, or raise.

    Args:
        bad (Mapping[str, np.ndarray]): Per key, ``(num,)`` bool: True where
            the sample's value under that key is bad (e.g. from
            :func:`bad_rows`). A sample may be bad under several keys.
        source (str): The file, for the message.
        on_bad (str): ``'skip'`` (return the mask of good samples and the
            counts) or ``'raise'``.
        num (int): Number of samples ``N``.
        expected (Mapping[str, str], optional): Per key, what was expected
            (for the message).
        error_cls (type): Exception raised with ``'raise'`` (and for a
            mask of the wrong shape). Defaults to :class:`BadValueError`.
        option (str): Name of the caller's option, for messages. Defaults
            to ``'on_bad_sample'``.
        locate (Callable[[int], str], optional): Sample index -> where it
            is (e.g. ``'det/a.json: a.json instance 2'``), used instead of
            ``'{source}: sample {index}'`` in the message.

    Returns:
        tuple: ``keep`` ``(num,)`` bool (samples bad under no key) and
        ``counts`` dict: per key with at least one bad sample, the number of
        its bad samples (keys in the order of ``bad``).

    Raises:
        ValueError: ``on_bad`` is neither ``'skip'`` nor ``'raise'``.
        error_cls: With ``'raise'``, at the lowest bad sample index: names
            ``source``, the key, the sample index, what was expected, and
            how many samples are bad under that key.
    """
    if on_bad not in ('skip', 'raise'):
        raise ValueError(f"{option} must be 'skip' or 'raise', got "
                         f'{on_bad!r}')
    expected = expected or {}
    keep = np.ones(int(num), bool)
    counts: Dict[str, int] = {}
    first: Optional[Tuple[int, str]] = None
    for key, mask in bad.items():
        mask = np.asarray(mask, bool)
        if mask.shape != (int(num), ):
            raise error_cls(f'{source}: key {key!r}: bad-sample mask of shape '
                            f'{mask.shape}, expected ({num},)')
        n_bad = int(mask.sum())
        if not n_bad:
            continue
        counts[key] = n_bad
        keep &= ~mask
        idx = int(np.argmax(mask))
        if first is None or idx < first[0]:
            first = (idx, key)
    if on_bad == 'raise' and first is not None:
        idx, key = first
        text = expected.get(key, '')
        where = locate(idx) if locate else f'{source}: sample {idx}'
        raise error_cls(
            f'{where}: key {key!r}: bad value'
            + (f'; expected {text}' if text else '')
            + f' ({counts[key]} of {num} samples of {source} bad under this '
            f"key; {option}='skip' drops and counts them)")
    return keep, counts


def require_non_negative_int(value, name: str) -> int:
    """``value`` as an ``int`` if it is a non-negative integer (not a bool),
    else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 0:
        raise ValueError(f'{name} must be a non-negative int, got {value!r}')
    return int(value)
