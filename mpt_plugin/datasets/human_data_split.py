"""Held-out validation parts of HumanData files, split by subject/sequence.

Model selection must read labelled frames that the run neither trains nor
adapts on, and never the benchmark (test) files. A training file is
therefore split by *group*: a Human3.6M subject or a 3DPW sequence, never
by frame (neighbouring frames of one sequence are near duplicates). The
held-out groups form the validation part (``part='val'``); every other
group the training part (``part='train'``). A config selects the two parts
of one file with the same ``split`` dict and a different ``part``, so they
are disjoint by construction (:func:`splits_overlap` checks it from the
configs alone).

Groups are parsed from ``image_path`` (mmhuman3d: relative to
``{data_prefix}/datasets/{dataset_name}/``), from its directory part
(everything before the last ``/``; for subjects and patterns the whole
path when it has no ``/``), so all frames of one folder always fall in the
same group:

- ``by='subject'``: Human3.6M subject ``'S<n>'`` from a folder ``S<n>/``
  or ``S<n>_...`` (mmhuman3d, ``S1/images/S1_Directions_1.54138969/...``)
  or ``s_<nn>_act_...`` (the H36M-Toolbox / SPIN / METRO naming,
  ``images/s_01_act_02_subact_01_ca_01/...``). Leading zeros are dropped
  (``s_09`` -> ``'S9'``); ``held_out`` may say ``'S9'``, ``'s9'`` or ``9``.
- ``by='sequence'``: the name of the image's folder (3DPW:
  ``imageFiles/<sequence>/image_00000.jpg`` -> ``'<sequence>'``).
- ``pattern='<regex>'``: the first capturing group of ``re.search`` on the
  directory part (any other layout).
"""
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'SPLIT_BY', 'SPLIT_PARTS', 'check_split', 'split_groups', 'select_split',
    'splits_overlap'
]

#: Group kinds understood without a ``pattern``.
SPLIT_BY = ('subject', 'sequence')
#: ``'val'``: the held-out groups; ``'train'``: all the other groups.
SPLIT_PARTS = ('val', 'train')

_SUBJECT = re.compile(r'(?:^|/)(?:S(\d+)(?=[/_.]|$)|s_(\d+)_act)')
_SHOWN = 20  # groups listed in an error message


def _norm_subject(value: Any) -> str:
    """``'S09'``, ``'s9'``, ``9`` -> ``'S9'``; anything else unchanged."""
    text = str(value).strip()
    match = re.fullmatch(r'[Ss]_?0*(\d+)', text)
    if match:
        return f'S{int(match.group(1))}'
    if text.isdigit():
        return f'S{int(text)}'
    return text


def check_split(split: Optional[dict]) -> Optional[Dict[str, Any]]:
    """Validates a ``split`` config and fills its defaults.

    Args:
        split (dict, optional): ``held_out`` (list of str, required: the
            validation groups), ``part`` (``'val'`` or ``'train'``,
            required), ``by`` (``'subject'`` or ``'sequence'``; default
            ``'subject'``), ``pattern`` (str regex with one capturing
            group; overrides ``by``; default None). None: no split.

    Returns:
        dict | None: ``dict(held_out=tuple[str], part, by, pattern)`` with
        Human3.6M subjects normalised to ``'S<n>'``, or None.

    Raises:
        TypeError: ``split`` is not a dict, ``held_out`` not a list.
        ValueError: Unknown keys, ``part`` or ``by``, an empty
            ``held_out``, or a ``pattern`` without one capturing group.
    """
    if split is None:
        return None
    if not isinstance(split, dict):
        raise TypeError(f'split must be a dict or None, got '
                        f'{type(split).__name__}')
    unknown = set(split) - {'held_out', 'part', 'by', 'pattern'}
    if unknown:
        raise ValueError(f'split: unknown key(s) {sorted(unknown)}; expected '
                         'held_out, part, by, pattern')
    part = split.get('part')
    if part not in SPLIT_PARTS:
        raise ValueError(f'split.part must be one of {SPLIT_PARTS}, got '
                         f'{part!r}')
    by = split.get('by', 'subject')
    if by not in SPLIT_BY:
        raise ValueError(f'split.by must be one of {SPLIT_BY}, got {by!r}')
    pattern = split.get('pattern')
    if pattern is not None and re.compile(pattern).groups < 1:
        raise ValueError(f'split.pattern {pattern!r} needs a capturing '
                         'group')
    held = split.get('held_out')
    if isinstance(held, (str, bytes)) or not isinstance(held, (list, tuple)):
        raise TypeError('split.held_out must be a list of group names, got '
                        f'{held!r}')
    if len(held) == 0:
        raise ValueError('split.held_out is empty: name the validation '
                         'subjects/sequences')
    norm = _norm_subject if (by == 'subject' and pattern is None) else str
    return dict(
        held_out=tuple(sorted({norm(h) for h in held})),
        part=part,
        by=by,
        pattern=pattern)


def split_groups(image_paths: Sequence[str],
                 by: str = 'subject',
                 pattern: Optional[str] = None,
                 source: str = '') -> np.ndarray:
    """The group (subject / sequence) of every row.

    Args:
        image_paths (Sequence[str]): ``(N,)`` HumanData ``image_path``.
        by (str): ``'subject'`` or ``'sequence'`` (see the module
            docstring). Defaults to ``'subject'``.
        pattern (str, optional): Regex whose first group is the group
            name; overrides ``by``. Defaults to None.
        source (str): Name of the file, for error messages.

    Returns:
        np.ndarray: ``(N,)`` str group names.

    Raises:
        ValueError: A path holds no group (names the file, the row and
            the path).
    """
    if by not in SPLIT_BY:
        raise ValueError(f'by must be one of {SPLIT_BY}, got {by!r}')
    paths = np.asarray(image_paths).astype(str).reshape(-1)
    if paths.size == 0:
        return paths
    paths = np.char.replace(paths, '\\', '/')
    head, sep, _ = np.char.rpartition(paths, '/').T
    # a sequence needs a folder: a bare file name would make every frame
    # its own group
    whole = '' if (by == 'sequence' and pattern is None) else paths
    folders = np.where(sep == '/', head, whole)
    uniq, inverse = np.unique(folders, return_inverse=True)
    regex = re.compile(pattern) if pattern is not None else None
    names: List[Optional[str]] = []
    for folder in uniq:
        if regex is not None:
            match = regex.search(folder)
            name = match.group(1) if match else None
        elif by == 'subject':
            match = _SUBJECT.search(folder)
            name = (f'S{int(match.group(1) or match.group(2))}'
                    if match else None)
        else:
            name = folder.rsplit('/', 1)[-1] if folder else None
        names.append(name)
    missing = [i for i, n in enumerate(names) if not n]
    if missing:
        row = int(np.flatnonzero(inverse == missing[0])[0])
        what = (f'pattern {pattern!r}' if pattern is not None else
                {'subject': "a subject ('S<n>/', 'S<n>_...' or "
                 "'s_<nn>_act')", 'sequence': 'a folder'}[by])
        raise ValueError(f'{source or "HumanData"}: image_path[{row}] = '
                         f'{str(paths[row])!r} holds no {by} '
                         f'(expected {what})')
    return np.asarray(names, dtype=str)[inverse.reshape(-1)]


def select_split(image_paths: Sequence[str],
                 held_out: Sequence[Any],
                 part: str,
                 by: str = 'subject',
                 pattern: Optional[str] = None,
                 source: str = '') -> np.ndarray:
    """Rows of the held-out (``'val'``) or training (``'train'``) part.

    Args:
        image_paths (Sequence[str]): ``(N,)`` HumanData ``image_path``.
        held_out (Sequence): Validation groups (``'S8'``,
            ``'courtyard_backpack_00'``...).
        part (str): ``'val'`` (rows of ``held_out``) or ``'train'`` (all
            the other rows).
        by, pattern: See :func:`split_groups`.
        source (str): Name of the file, for error messages.

    Returns:
        np.ndarray: ``(N,)`` bool, True for the selected rows. The two
        parts of one ``held_out`` are complementary.

    Raises:
        ValueError: See :func:`check_split`; a held-out group absent from
            the file (a typo, or the wrong file); an empty selection.
    """
    cfg = check_split(
        dict(held_out=list(held_out), part=part, by=by, pattern=pattern))
    groups = split_groups(image_paths, cfg['by'], cfg['pattern'], source)
    present = np.unique(groups)
    absent = sorted(set(cfg['held_out']) - set(present.tolist()))
    name = source or 'HumanData'
    if absent:
        shown = ', '.join(present[:_SHOWN].tolist()) + (
            ', ...' if len(present) > _SHOWN else '')
        raise ValueError(f'{name}: held-out {cfg["by"]}(s) {absent} not in '
                         f'the file; it has {len(present)}: {shown}')
    held = np.isin(groups, np.asarray(cfg['held_out'], dtype=str))
    mask = held if cfg['part'] == 'val' else ~held
    if not mask.any():
        raise ValueError(f'{name}: split part {cfg["part"]!r} is empty '
                         f'(held_out={list(cfg["held_out"])} covers every '
                         f'{cfg["by"]} of the file)')
    return mask


def splits_overlap(a: Optional[dict], b: Optional[dict]) -> bool:
    """Whether two selections of the SAME file may share a group.

    Decided from the ``split`` configs alone (no file is read): None
    selects the whole file; two selections with different ``by`` /
    ``pattern`` are assumed to overlap.

    Args:
        a, b (dict, optional): ``split`` configs (see :func:`check_split`).

    Returns:
        bool: False only when the selections are disjoint for every file:
        ``val`` vs ``train`` with the ``train`` side holding out every
        group of the ``val`` side, or two ``val`` parts with disjoint
        ``held_out``.
    """
    a, b = check_split(a), check_split(b)
    if a is None or b is None:
        return True
    if (a['by'], a['pattern']) != (b['by'], b['pattern']):
        return True
    if a['part'] == b['part'] == 'train':
        return True
    if a['part'] == b['part'] == 'val':
        return bool(set(a['held_out']) & set(b['held_out']))
    val, train = (a, b) if a['part'] == 'val' else (b, a)
    return not set(val['held_out']) <= set(train['held_out'])
