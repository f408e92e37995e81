"""FreiHAND's files (Zimmermann et al., ICCV 2019): streaming, checked reads.

The official layout under ``data_root``::

    training_K.json      (N, 3, 3)  camera intrinsics, px
    training_mano.json   (N, 1, 61) MANO pose 48 (relative to hands_mean),
                                    shape 10, uv_root 2 (projection of
                                    xyz[9], the middle MCP), scale 1
                                    (focal / xyz[9].z; official utils/
                                    model.py, not the bone length below)
    training_xyz.json    (N, 21, 3) joints, metres, camera frame
    training_verts.json  (N, 778, 3) MANO vertices, metres, camera frame
    training_scale.json  (N,)       |xyz[9] - xyz[10]|, metres
    training/rgb/%08d.jpg           N x 4 versions: id + N * version
    evaluation_{K,scale}.json       (+ evaluation_{xyz,verts,mano}.json,
    evaluation/rgb/%08d.jpg          public since 2020), one version

Each file is one JSON array with one row per sample. :func:`read_json_rows`
reads it row by row (``json.JSONDecoder.raw_decode`` over a 4 MiB window),
so memory stays at the output array (float32, about a third of the text)
plus one window, whatever the file holds: a row of the wrong shape, a
non-finite number, a row far larger than its shape allows or nesting that
is not the expected array raise :class:`FreiHANDFormatError` naming the
file, the row and the expected shape.
"""
import codecs
import json
import os
import os.path as osp
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'FreiHANDFormatError', 'FREIHAND_ROW_SHAPES', 'FREIHAND_NUM_VERSIONS',
    'read_json_rows', 'load_freihand_annotations', 'freihand_image_paths'
]

PathLike = Union[str, os.PathLike]

#: Per-sample shape of each annotation file (the ``{split}_{key}.json``).
FREIHAND_ROW_SHAPES = {
    'K': (3, 3),
    'mano': (1, 61),
    'xyz': (21, 3),
    'verts': (778, 3),
    'scale': (),
}
#: Image versions per training sample (green screen, auto-coloured,
#: sample-coloured and one more background); evaluation has one.
FREIHAND_NUM_VERSIONS = {'training': 4, 'evaluation': 1}
_REQUIRED = {'training': ('K', 'mano', 'xyz', 'verts', 'scale'),
             'evaluation': ('K', 'scale')}
_WINDOW = 1 << 22  # bytes read at a time
_WS = ' \t\n\r'


class FreiHANDFormatError(ValueError):
    """A FreiHAND file breaks the official layout (names file and row)."""


def _row_limit(shape: Tuple[int, ...]) -> int:
    """Most characters a row of ``shape`` may take: 64 per number plus the
    brackets (a float's repr is at most 24 characters)."""
    return 64 * int(np.prod(shape, dtype=np.int64)) + 4096


def read_json_rows(path: PathLike, row_shape: Sequence[int],
                   dtype=np.float32,
                   max_rows: Optional[int] = None) -> np.ndarray:
    """A JSON array of N rows, each of ``row_shape``, as one (N, ...) array.

    Args:
        path: The ``.json`` file.
        row_shape: Shape of one row, e.g. ``(778, 3)``; ``()`` for numbers.
        dtype: Output dtype. Defaults to float32.
        max_rows: Refuse files with more rows (None: no limit).

    Returns:
        np.ndarray: ``(N, *row_shape)``.

    Raises:
        FileNotFoundError: No such file.
        FreiHANDFormatError: Not a JSON array, a row of another shape, a
            non-finite or non-numeric value, a row longer than
            ``row_shape`` allows, or more than ``max_rows`` rows.
    """
    path = os.fspath(path)
    shape = tuple(int(s) for s in row_shape)
    limit = _row_limit(shape)
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder('utf-8')()
    blocks, rows = [], []
    buf, pos, eof = '', 0, False
    index = 0

    def fail(why: str) -> FreiHANDFormatError:
        return FreiHANDFormatError(f'{path}: {why}')

    with open(path, 'rb') as fh:

        def more() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            raw = fh.read(_WINDOW)
            eof = not raw
            try:
                chunk = text.decode(raw, final=eof)
            except UnicodeDecodeError as exc:
                raise fail(f'is not UTF-8 text ({exc.reason})') from None
            buf, pos = buf[pos:] + chunk, 0
            return bool(chunk) or not eof

        def skip_ws() -> Optional[str]:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not more() and pos >= len(buf):
                    return None

        if skip_ws() != '[':
            raise fail('expected a JSON array of rows (the file must start '
                       "with '[')")
        pos += 1
        while True:
            char = skip_ws()
            if char is None:
                raise fail(f'ends inside the array after {index} rows '
                           '(truncated?)')
            if char == ']' and index == 0 and not rows and not blocks:
                pos += 1
                break
            # decode one row; widen the window until it is whole (and holds
            # any number whole: none is longer than 64 characters)
            while len(buf) - pos < 64 and more():
                pass
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if len(buf) - pos > limit:
                        raise fail(f'row {index} is longer than a '
                                   f'{shape} row can be ({limit} '
                                   'characters) or is not JSON: '
                                   f'{exc.msg}') from None
                    if not more():
                        raise fail(f'row {index} is not valid JSON: '
                                   f'{exc.msg}') from None
                    continue
                except RecursionError:
                    raise fail(f'row {index} is nested too deeply for a '
                               f'{shape} row') from None
                break
            if end - pos > limit:
                raise fail(f'row {index} is longer than a {shape} row can '
                           f'be ({limit} characters)')
            piece = buf[pos:end]
            if 'true' in piece or 'false' in piece or '"' in piece:
                raise fail(f'row {index} holds a boolean or a string, '
                           'expected numbers')
            pos = end
            try:
                row = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                raise fail(f'row {index} is not a numeric array of shape '
                           f'{shape}') from None
            if row.shape != shape:
                raise fail(f'row {index} has shape {row.shape}, expected '
                           f'{shape}')
            if not np.isfinite(row).all():
                raise fail(f'row {index} holds a non-finite value')
            rows.append(row.astype(dtype))
            index += 1
            if max_rows is not None and index > max_rows:
                raise fail(f'has more than {max_rows} rows')
            if len(rows) == 4096:
                blocks.append(np.stack(rows))
                rows = []
            char = skip_ws()
            if char == ',':
                pos += 1
                continue
            if char == ']':
                pos += 1
                break
            raise fail(f"expected ',' or ']' after row {index - 1}, got "
                       + ('the end of the file' if char is None else
                          repr(char)))
        if skip_ws() is not None:
            raise fail('has data after the closing bracket')
    if rows:
        blocks.append(np.stack(rows))
    if not blocks:
        return np.zeros((0, ) + shape, dtype)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def load_freihand_annotations(
        data_root: PathLike,
        split: str = 'training',
        keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """The annotation arrays of one split, checked against each other.

    Args:
        data_root: The FreiHAND folder (``training_*.json``, ...).
        split: ``'training'`` or ``'evaluation'``.
        keys: Files to read (:data:`FREIHAND_ROW_SHAPES` keys). Default: all
            that exist, the split's required ones (training: all five;
            evaluation: ``K``, ``scale``) must.

    Returns:
        dict: key -> float32 ``(N, *row_shape)`` array (``mano`` squeezed to
        (N, 61)); metres, pixels for ``K``.

    Raises:
        FileNotFoundError: A required or requested file is missing.
        FreiHANDFormatError: A bad file (see :func:`read_json_rows`), or
            files of different lengths (each named with its length).
    """
    if split not in FREIHAND_NUM_VERSIONS:
        raise ValueError(f'split must be one of {sorted(FREIHAND_NUM_VERSIONS)}'
                         f', got {split!r}')
    root = os.fspath(data_root)
    files = {k: osp.join(root, f'{split}_{k}.json')
             for k in FREIHAND_ROW_SHAPES}
    if keys is None:
        keys = [k for k in FREIHAND_ROW_SHAPES
                if k in _REQUIRED[split] or osp.isfile(files[k])]
    keys = list(keys)
    unknown = sorted(set(keys) - set(FREIHAND_ROW_SHAPES))
    if unknown:
        raise KeyError(f'unknown FreiHAND files {unknown}; known: '
                       f'{sorted(FREIHAND_ROW_SHAPES)}')
    missing = [files[k] for k in keys if not osp.isfile(files[k])]
    if missing:
        raise FileNotFoundError(f'FreiHAND {split} files missing: {missing}')
    out = {k: read_json_rows(files[k], FREIHAND_ROW_SHAPES[k]) for k in keys}
    lengths = {osp.basename(files[k]): len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise FreiHANDFormatError(
            f'{root}: the {split} files hold different numbers of samples: '
            f'{lengths}')
    if 'mano' in out:
        out['mano'] = out['mano'][:, 0]
    return out


def freihand_image_paths(data_root: PathLike, split: str, num_samples: int,
                         versions: Optional[Sequence[int]] = None,
                         check: bool = True) -> np.ndarray:
    """Image paths ``{split}/rgb/%08d.jpg`` of ``num_samples`` samples.

    Args:
        data_root: The FreiHAND folder.
        split: ``'training'`` or ``'evaluation'``.
        num_samples: N, the annotation length.
        versions: Image versions to list (training: 0-3, file id = id +
            N * version). Default: all of the split's.
        check: Raise when images are missing.

    Returns:
        np.ndarray: ``(len(versions) * N,)`` str paths, version-major (the
        annotation of entry ``j`` is row ``j % N``).

    Raises:
        FileNotFoundError: With ``check``, images are missing (the count and
            the first few are named).
    """
    num_versions = FREIHAND_NUM_VERSIONS[split]
    versions = list(range(num_versions)) if versions is None else \
        [int(v) for v in versions]
    bad = [v for v in versions if not 0 <= v < num_versions]
    if bad:
        raise ValueError(f'{split} has image versions 0..{num_versions - 1}, '
                         f'got {bad}')
    folder = osp.join(os.fspath(data_root), split, 'rgb')
    ids = (np.arange(num_samples)[None] +
           num_samples * np.asarray(versions)[:, None]).reshape(-1)
    paths = np.array([osp.join(folder, f'{i:08d}.jpg') for i in ids])
    if check:
        present = set(os.listdir(folder)) if osp.isdir(folder) else set()
        absent = [p for p in paths if osp.basename(p) not in present]
        if absent:
            raise FileNotFoundError(
                f'{folder}: {len(absent)} of {len(paths)} FreiHAND images '
                f'missing, e.g. {[osp.basename(p) for p in absent[:3]]}')
    return paths
