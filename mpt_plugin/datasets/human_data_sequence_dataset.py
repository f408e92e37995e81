"""HumanData samples with a window of 2D keypoints of their video sequence
(the input of a temporal 2D-to-3D lifter such as VideoPose3D).

Sequences and frames come from ``image_path``, the way mmhuman3d's
converters encode them (its ``HumanVideoDataset`` also groups rows by the
image folder); the files store no sequence or frame keys in ``meta`` /
``misc``:

- ``'h36m'`` (``H36mConverter``):
  ``S9/images/S9_Directions.60457274/S9_Directions.60457274_000001.jpg``,
  sequence = the folder (subject, action, camera), frame id = the number
  after the folder name (``frame_i + 1``; the stock files keep every 5th
  frame, so ids advance by 5: 10 fps of the 50 fps videos);
- ``'pw3d'`` (``Pw3dConverter``): ``imageFiles/<seq>/image_00005.jpg``,
  sequence = the folder, frame id = the number (ids advance by 1, 30 fps);
- any regular expression with the named groups ``sequence`` and ``frame``
  (matched against the whole path) for other layouts.

A path that does not match raises a :class:`HumanDataFormatError` naming
the file, the sample and the expected pattern: image datasets (COCO, MPII)
have no sequences and must not be windowed as if they had.
"""
import re
from typing import Dict, Optional, Tuple

import numpy as np
from mmengine.dataset.base_dataset import force_full_init

from mpt_plugin.registry import DATASETS
from .human_data_dataset import MPTHumanDataDataset
from .human_data_io import HumanDataFormatError

__all__ = [
    'MPTHumanDataSequenceDataset', 'SEQUENCE_ID_FORMATS',
    'parse_sequence_frame_ids', 'sequence_windows'
]

#: ``id_format`` name -> regular expression over the whole ``image_path``.
SEQUENCE_ID_FORMATS: Dict[str, str] = {
    'h36m': r'(?P<sequence>(?:.*/)?(?P<name>[^/]+))/(?P=name)_'
            r'(?P<frame>\d+)\.[A-Za-z0-9]+',
    'pw3d': r'(?P<sequence>(?:.*/)?[^/]+)/image_(?P<frame>\d+)\.[A-Za-z0-9]+',
}


def parse_sequence_frame_ids(image_paths: np.ndarray,
                             id_format: str = 'h36m',
                             source: str = '<memory>'
                             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequence and frame ids of every row from its ``image_path``.

    Args:
        image_paths (np.ndarray): (N,) str, relative image paths.
        id_format (str): ``'h36m'``, ``'pw3d'`` (see the module docstring)
            or a regular expression with the groups ``sequence`` and
            ``frame`` matched against the whole path.
        source (str): File name used in error messages.

    Returns:
        tuple: ``seq_index`` (N,) int64 index into ``seq_names``,
        ``seq_names`` (S,) str (sorted), ``frame_ids`` (N,) int64.

    Raises:
        HumanDataFormatError: A path does not match (names the file, the
            sample index, the path and the pattern).
        ValueError: A regular expression without the two groups.
    """
    pattern = SEQUENCE_ID_FORMATS.get(id_format, id_format)
    regex = re.compile(pattern)
    if not {'sequence', 'frame'} <= set(regex.groupindex):
        raise ValueError('id_format must be one of '
                         f'{sorted(SEQUENCE_ID_FORMATS)} or a regular '
                         "expression with the groups 'sequence' and 'frame', "
                         f'got {id_format!r}')
    paths = np.asarray(image_paths).astype(str)
    seqs, frames = [], []
    for i, path in enumerate(paths):
        match = regex.fullmatch(path.replace('\\', '/'))
        if match is None:
            raise HumanDataFormatError(
                f'{source}: image_path[{i}] = {str(path)!r} carries no '
                f'sequence and frame id of format {id_format!r} (pattern '
                f'{pattern!r});'
                ' sequence sampling needs video frames named like '
                "mmhuman3d's h36m / pw3d files, or a regular expression with "
                "the groups 'sequence' and 'frame' as id_format")
        seqs.append(match.group('sequence'))
        frames.append(int(match.group('frame')))
    seq_names, seq_index = np.unique(np.asarray(seqs, dtype=str),
                                     return_inverse=True)
    return (seq_index.astype(np.int64).reshape(-1), seq_names,
            np.asarray(frames, dtype=np.int64))


def sequence_windows(seq_index: np.ndarray,
                     frame_ids: np.ndarray,
                     seq_len: int,
                     frame_stride: int = 1,
                     source: str = '<memory>',
                     seq_names: Optional[np.ndarray] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """For every row, the rows of its ``seq_len``-frame window.

    Within a sequence the rows are ordered by frame id; the window of the
    row at position ``p`` takes positions ``p + (t - seq_len // 2) *
    frame_stride`` for ``t = 0 .. seq_len - 1`` (the row itself in the
    centre). Positions beyond the sequence ends are clamped to its first /
    last frame: edge replication, as VideoPose3D pads its 2D sequences
    (``np.pad(..., 'edge')`` in its generators).

    Args:
        seq_index (np.ndarray): (N,) int sequence of each row.
        frame_ids (np.ndarray): (N,) int frame id of each row.
        seq_len (int): ``T`` (odd, >= 1).
        frame_stride (int): Step between window frames, in stored frames
            of the sequence (>= 1).
        source (str): File name used in error messages.
        seq_names (np.ndarray, optional): (S,) names for error messages.

    Returns:
        tuple: ``rows`` (N, T) int64 rows of each window, ``padded``
        (N, T) bool (True where a frame is an edge replica).

    Raises:
        ValueError: Even / non-positive ``seq_len``, bad ``frame_stride``,
            or two rows of one sequence with the same frame id (e.g.
            several people per frame).
    """
    if int(seq_len) != seq_len or seq_len < 1 or seq_len % 2 == 0:
        raise ValueError(f'seq_len must be an odd positive int (the centre '
                         f'frame is the target), got {seq_len!r}')
    if int(frame_stride) != frame_stride or frame_stride < 1:
        raise ValueError(
            f'frame_stride must be a positive int, got {frame_stride!r}')
    seq_index = np.asarray(seq_index, np.int64)
    frame_ids = np.asarray(frame_ids, np.int64)
    num = len(seq_index)
    order = np.lexsort((frame_ids, seq_index))  # by sequence, then frame
    s_sorted, f_sorted = seq_index[order], frame_ids[order]
    dup = np.flatnonzero((s_sorted[1:] == s_sorted[:-1])
                         & (f_sorted[1:] == f_sorted[:-1]))
    if len(dup):
        j = dup[0]
        name = (seq_names[s_sorted[j]]
                if seq_names is not None else int(s_sorted[j]))
        raise ValueError(
            f'{source}: sequence {name!r} has two rows (samples '
            f'{int(order[j])} and {int(order[j + 1])}) for frame '
            f'{int(f_sorted[j])}; several people per frame are not '
            'supported by sequence sampling (the rows carry no person id)')
    # start / end (exclusive) of each row's sequence in the sorted order
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], num]
    which = np.cumsum(np.r_[True, s_sorted[1:] != s_sorted[:-1]]) - 1
    offsets = (np.arange(seq_len) - seq_len // 2) * int(frame_stride)
    pos = np.arange(num)[:, None] + offsets[None]  # (N, T) sorted positions
    lo, hi = starts[which][:, None], ends[which][:, None] - 1
    clamped = np.clip(pos, lo, hi)
    rows_sorted = order[clamped]
    rows = np.empty_like(rows_sorted)
    rows[order] = rows_sorted
    padded = np.empty((num, seq_len), bool)
    padded[order] = clamped != pos
    return rows, padded


@DATASETS.register_module()
class MPTHumanDataSequenceDataset(MPTHumanDataDataset):
    """:class:`MPTHumanDataDataset` whose samples also carry the 2D keypoints
    of ``seq_len`` frames of their own sequence, centred on the sample.

    The sample itself (image, box, 2D/3D keypoints, SMPL) is the centre
    frame and provides the targets; the window is the lifter's input. The
    window is built over all usable rows of the file (before
    ``num_samples``, which only thins the centre frames), ordered by frame
    id inside each sequence (:func:`sequence_windows`): frames ``t`` steps
    from the centre are ``t * frame_stride`` stored frames away, and the
    ends are padded by edge replication as VideoPose3D pads. Rows dropped
    as bad by the parent class leave no gap in the window (their
    neighbours move up); ``expected_frame_step`` catches that if it
    matters.

    Args:
        seq_len (int): ``T``, odd (the lifter's receptive field, e.g. 243
            for VideoPose3D, 27 or 9 for short demos).
        frame_stride (int): Stored frames between window frames. Defaults
            to 1 (consecutive stored frames).
        id_format (str): How ``image_path`` encodes sequence and frame ids
            (module docstring). Defaults to ``'h36m'``.
        expected_frame_step (int, optional): When set, every two
            consecutive stored frames of a sequence must differ by exactly
            this many frame ids (e.g. 1 for a file holding every 50 fps
            Human3.6M frame, as VideoPose3D's windows assume; mmhuman3d's
            stock h36m files advance by 5). Defaults to None (not checked).
        **kwargs: :class:`MPTHumanDataDataset` arguments.

    ``get_data_info(idx)`` adds to the parent's keys:
        - ``keypoints2d_seq`` (T, K, 2) float32 px of each frame's original
          image (row ``T // 2`` equals ``keypoints2d``);
        - ``keypoints2d_seq_visible`` (T, K) float32;
        - ``seq_frame_ids`` (T,) int64 frame ids (repeated at padded ends);
        - ``seq_padded`` (T,) bool, True for edge replicas;
        - ``sequence_name`` str.

    Raises:
        HumanDataFormatError: An ``image_path`` without sequence / frame
            ids of ``id_format``.
        ValueError: Bad ``seq_len`` / ``frame_stride``, duplicate frames in
            a sequence, or a frame step other than ``expected_frame_step``.
    """

    def __init__(self,
                 seq_len: int,
                 frame_stride: int = 1,
                 id_format: str = 'h36m',
                 expected_frame_step: Optional[int] = None,
                 **kwargs) -> None:
        if int(seq_len) != seq_len or seq_len < 1 or seq_len % 2 == 0:
            raise ValueError(f'seq_len must be an odd positive int (the '
                             f'centre frame is the target), got {seq_len!r}')
        if int(frame_stride) != frame_stride or frame_stride < 1:
            raise ValueError(
                f'frame_stride must be a positive int, got {frame_stride!r}')
        if expected_frame_step is not None and expected_frame_step < 1:
            raise ValueError('expected_frame_step must be a positive int or '
                             f'None, got {expected_frame_step!r}')
        self.seq_len = int(seq_len)
        self.frame_stride = int(frame_stride)
        self.id_format = id_format
        self.expected_frame_step = expected_frame_step
        self._windows = np.zeros((0, self.seq_len), np.int64)
        self._padded = np.zeros((0, self.seq_len), bool)
        self._frame_ids = np.zeros(0, np.int64)
        self._seq_index = np.zeros(0, np.int64)
        self._seq_names = np.zeros(0, str)
        super().__init__(**kwargs)

    def full_init(self) -> None:
        """Reads the file (parent, all rows), indexes the sequences, then
        applies ``num_samples`` to the centre frames only."""
        if self._fully_initialized:
            return
        num_samples, self.num_samples = self.num_samples, None
        try:
            super().full_init()
        finally:
            self.num_samples = num_samples
        source = str(self.ann_file)
        seq_index, seq_names, frame_ids = parse_sequence_frame_ids(
            self._arrays['image_path'], self.id_format, source)
        self._windows, self._padded = sequence_windows(
            seq_index, frame_ids, self.seq_len, self.frame_stride, source,
            seq_names)
        if self.expected_frame_step is not None:
            self._check_frame_step(seq_index, seq_names, frame_ids, source)
        self._seq_index, self._seq_names = seq_index, seq_names
        self._frame_ids = frame_ids
        num = len(self._rows)
        if num_samples is not None and num_samples < num:
            self._rows = self._rows[np.arange(num_samples, dtype=np.int64) *
                                    num // num_samples]

    def _check_frame_step(self, seq_index: np.ndarray, seq_names: np.ndarray,
                          frame_ids: np.ndarray, source: str) -> None:
        order = np.lexsort((frame_ids, seq_index))
        same = seq_index[order][1:] == seq_index[order][:-1]
        step = np.diff(frame_ids[order])
        bad = np.flatnonzero(same & (step != self.expected_frame_step))
        if len(bad):
            j = bad[0]
            raise ValueError(
                f'{source}: sequence {seq_names[seq_index[order[j]]]!r} '
                f'goes from frame {int(frame_ids[order[j]])} to '
                f'{int(frame_ids[order[j + 1]])} (step {int(step[j])}), '
                f'expected_frame_step={self.expected_frame_step}; the file '
                'is subsampled (mmhuman3d keeps every 5th Human3.6M frame) or'
                ' has gaps, so a window would span more time than the lifter'
                ' was trained on. Use a file with every frame, or set '
                'expected_frame_step to the file\'s step and accept it')

    @property
    def num_sequences(self) -> int:
        """Number of sequences in the file (after loading)."""
        return len(self._seq_names)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The parent's sample plus its window (class docstring)."""
        info = super().get_data_info(idx)
        row = self._rows[info['sample_idx']]
        window = self._windows[row]
        a = self._arrays
        info['keypoints2d_seq'] = a['keypoints2d'][window].copy()
        info['keypoints2d_seq_visible'] = \
            a['keypoints2d_visible'][window].copy()
        info['seq_frame_ids'] = self._frame_ids[window].copy()
        info['seq_padded'] = self._padded[row].copy()
        info['sequence_name'] = str(self._seq_names[self._seq_index[row]])
        return info
