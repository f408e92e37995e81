"""mmhuman3d HumanData files served as an MMEngine dataset."""
import copy
import os.path as osp
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dataset.base_dataset import force_full_init
from mmengine.logging import MMLogger

from mpt_plugin.body_models.conventions import (get_flip_indices,
                                                get_keypoint_names,
                                                get_mapping)
from mpt_plugin.registry import DATASETS
from mpt_plugin.utils.value_checks import filter_bad_samples
from .human_data_split import check_split, select_split
from .human_data_io import (BAD_SAMPLE_EXPECTED, GENDER_MALE, GENDER_NEUTRAL,
                            KEYPOINT_KEYS, HumanDataFormatError,
                            find_bad_samples, image_path_escapes,
                            load_human_data)

__all__ = ['MPTHumanDataDataset', 'gender_codes']

#: Members read from the file; anything else (``misc``, ``cam_param``,
#: ``vertices``...) is never loaded.
_NEEDED_KEYS = ('image_path', 'bbox_xywh', 'keypoints2d', 'keypoints3d',
                'smpl', 'meta', 'has_smpl')

_NEUTRAL = GENDER_NEUTRAL
_MALE = GENDER_MALE


def gender_codes(gender: Any, num: int) -> np.ndarray:
    """mmhuman3d ``meta['gender']`` -> integer codes.

    Args:
        gender (Any): ``(N,)`` strings (``'m'``/``'f'``/...), integer codes
            or None.
        num (int): ``N``.

    Returns:
        np.ndarray: ``(N,)`` int8: 0 male (``'m'``/``'male'``), -1 neutral
        or unknown (empty, ``'n'``, ``'neutral'``, None), 1 anything else
        (mmhuman3d treats every non-``'m'`` gender as female). Integer input
        must already hold codes -1/0/1.

    Raises:
        ValueError: Integer codes outside -1/0/1.
    """
    if gender is None:
        return np.full(num, -1, np.int8)
    arr = np.asarray(gender)
    if arr.dtype.kind in 'iub':
        if not np.isin(arr, (-1, 0, 1)).all():
            raise ValueError('integer gender codes must be -1/0/1, got '
                             f'{sorted(set(arr.tolist()))[:10]}')
        return arr.astype(np.int8)
    if arr.dtype == object:
        arr = np.array(['' if g is None else str(g) for g in arr])
    if arr.dtype.kind == 'S':
        arr = np.char.decode(arr, 'latin1')
    text = np.char.lower(np.char.strip(arr.astype(str)))
    codes = np.ones(num, np.int8)
    codes[np.isin(text, _MALE)] = 0
    codes[np.isin(text, _NEUTRAL)] = -1
    return codes


@DATASETS.register_module()
class MPTHumanDataDataset(BaseDataset):
    """An mmhuman3d HumanData ``.npz`` as an MMEngine dataset.

    The file ``{data_prefix}/preprocessed_datasets/{ann_file}`` is read once
    with :func:`load_human_data` (restricted unpickler, validated) and kept
    as a few arrays; :meth:`get_data_info` slices them per index, so no
    per-sample dicts are built up front. Keypoints are converted from the
    190-joint ``human_data`` layout to ``convention`` at load time, as
    mmhuman3d's ``HumanImageDataset`` does (exact joint names), and stored
    as float32 ``(N, K, C)``.

    Args:
        ann_file (str): File name under
            ``{data_prefix}/preprocessed_datasets/`` (an absolute path is
            used as is).
        dataset_name (str): Images are under
            ``{data_prefix}/datasets/{dataset_name}/``; also
            ``data_info['dataset_name']``.
        data_prefix (str): mmhuman3d's data root. Defaults to ``'data'``.
        pipeline (list[dict | Callable]): Transforms. Defaults to ``[]``.
        convention (str): Joint order of the output keypoints (a key of
            :data:`KEYPOINT_CONVENTIONS`). Defaults to ``'h36m'`` (17 joints,
            left leg first, the rows of ``J_regressor_h36m``).
        approximate (bool): Let approximately equivalent joints stand in
            (e.g. SMPL ``pelvis`` for ``pelvis_extra``), chosen among the
            joints the file has (its mask). False reproduces mmhuman3d.
            Defaults to False.
        bbox_scale_factor (float): ``bbox_scale = max(w, h) *`` this.
            Defaults to 1.0.
        num_samples (int, optional): Keep ``num_samples`` rows evenly strided
            over the file (rows ``floor(i * N / num_samples)``), so a subset
            spans all subjects/sequences. None keeps all. Defaults to None.
        metainfo (dict, optional): Extra/overriding meta information.
            ``dataset_name``, ``convention``, ``num_keypoints``,
            ``keypoint_names`` and ``flip_indices`` are filled in.
        test_mode (bool): Defaults to False.
        lazy_init (bool): Defer reading the file to :meth:`full_init`.
            Defaults to False.
        max_refetch (int): See :class:`mmengine.dataset.BaseDataset`.
        on_bad_sample (str): What to do with a sample holding a bad value
            (:func:`~mpt_plugin.datasets.human_data_io.find_bad_samples`:
            NaN/inf after the cast to float32 in ``smpl``, the keypoints
            used or the box; a box with ``w <= 0`` or ``h <= 0``;
            ``has_smpl`` not 0/1; an unknown ``meta['gender']``).
            ``'skip'`` drops it before ``num_samples`` is applied, counts
            it per key in :attr:`bad_sample_counts` and logs one warning
            naming the file and the counts; ``'raise'`` raises
            :class:`HumanDataFormatError` naming the file, the key, the
            first bad sample index and what was expected. Defaults to
            ``'skip'``.
        allow_outside_data_root (bool): Follow ``image_path`` entries that
            leave ``{data_prefix}/datasets/{dataset_name}/`` (absolute,
            ``..`` above it, empty). The check is on the text only, so
            symbolic links inside the folder are followed either way.
            Defaults to False (such a file is refused).
        split (dict, optional): Keep one part of the file split by subject
            or sequence parsed from ``image_path``: ``dict(held_out=[...],
            part='val' | 'train', by='subject' | 'sequence')`` (see
            :mod:`~mpt_plugin.datasets.human_data_split`); applied before
            ``num_samples``. None keeps every row. Defaults to None.

    Attributes:
        bad_sample_counts (dict[str, int]): After loading, per key, the
            number of samples of the file that were bad under it (a sample
            may count under several keys); empty when none.
        num_bad_samples (int): Samples of the file dropped as bad.

    ``get_data_info(idx)`` returns (``K`` joints of ``convention``):
        - ``img_path`` str, ``sample_idx`` int (index in this dataset),
          ``dataset_name`` str;
        - ``bbox_xywh`` (4,) float32 px, ``bbox_center`` (2,) float32 px
          ``(x + w/2, y + h/2)``, ``bbox_scale`` float px;
        - ``keypoints2d`` (K, 2) float32 px of the original image,
          ``keypoints2d_visible`` (K,) float32 ``conf * mask``;
        - ``keypoints3d`` (K, 3) float32 metres as stored (camera frame),
          ``keypoints3d_visible`` (K,) float32 (zeros when the file has no
          ``keypoints3d``);
        - ``smpl_global_orient`` (3,), ``smpl_body_pose`` (69,),
          ``smpl_betas`` (10,) float32 axis-angle (zeros without SMPL),
          ``has_smpl`` float32: 0 without an ``smpl`` dict, else the file's
          ``has_smpl[i]`` if present, else 1 (as mmhuman3d);
        - ``gender`` int: -1 unknown/neutral, 0 male, 1 female.

    Raises:
        FileNotFoundError: The annotation file does not exist.
        HumanDataFormatError: The file breaks the HumanData layout, an
            ``image_path`` leaves the image folder (names the file, the
            sample index and the path), or a bad sample with
            ``on_bad_sample='raise'``.
        KeyError: Unknown ``convention``.
        ValueError: Bad ``num_samples``, ``bbox_scale_factor`` or
            ``on_bad_sample``.
    """

    METAINFO: dict = dict(dataset_name='human_data')

    def __init__(self,
                 ann_file: str,
                 dataset_name: str,
                 data_prefix: str = 'data',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 convention: str = 'h36m',
                 approximate: bool = False,
                 bbox_scale_factor: float = 1.0,
                 num_samples: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 on_bad_sample: str = 'skip',
                 allow_outside_data_root: bool = False,
                 split: Optional[dict] = None) -> None:
        if on_bad_sample not in ('skip', 'raise'):
            raise ValueError("on_bad_sample must be 'skip' or 'raise', got "
                             f'{on_bad_sample!r}')
        self.on_bad_sample = on_bad_sample
        self.allow_outside_data_root = bool(allow_outside_data_root)
        self.bad_sample_counts: Dict[str, int] = {}
        self.num_bad_samples = 0
        if not bbox_scale_factor > 0:
            raise ValueError('bbox_scale_factor must be > 0, got '
                             f'{bbox_scale_factor}')
        if num_samples is not None and (not isinstance(num_samples, int)
                                        or num_samples < 1):
            raise ValueError('num_samples must be a positive int or None, '
                             f'got {num_samples!r}')
        names = get_keypoint_names(convention)  # KeyError if unknown
        self.dataset_name = dataset_name
        self.convention = convention
        self.approximate = bool(approximate)
        self.bbox_scale_factor = float(bbox_scale_factor)
        self.num_samples = num_samples
        self.split = check_split(split)
        self.human_data_prefix = data_prefix
        self.img_dir = osp.join(data_prefix, 'datasets', dataset_name)
        ann_path = (ann_file if osp.isabs(ann_file) else osp.join(
            data_prefix, 'preprocessed_datasets', ann_file))
        meta = dict(
            dataset_name=dataset_name,
            convention=convention,
            num_keypoints=len(names),
            keypoint_names=names,
            flip_indices=get_flip_indices(convention))
        meta.update(metainfo or {})
        self._arrays: Dict[str, np.ndarray] = {}
        self._rows = np.zeros(0, np.int64)
        super().__init__(
            ann_file=ann_path,
            metainfo=meta,
            data_root='',
            data_prefix=dict(img_path=self.img_dir),
            serialize_data=False,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[dict] = None) -> dict:
        """``METAINFO`` updated by ``metainfo`` (str values are names, not
        files to parse as MMEngine's default does)."""
        meta = copy.deepcopy(cls.METAINFO)
        meta.update(copy.deepcopy(dict(metainfo or {})))
        return meta

    # ------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------

    def full_init(self) -> None:
        """Reads the annotation file into per-key arrays (once)."""
        if self._fully_initialized:
            return
        data = load_human_data(
            self.ann_file, keys=_NEEDED_KEYS, decompress=False)
        self._check_image_paths(data['image_path'])
        good = self._good_rows(data)
        if self.split is not None:  # before num_samples: a strided subset
            good = good[select_split(  # of the chosen part
                data['image_path'], source=self.ann_file, **self.split)[good]]
        num = len(good)
        if self.num_samples is None or self.num_samples >= num:
            rows = good
        else:
            rows = good[np.arange(self.num_samples, dtype=np.int64) * num //
                        self.num_samples]
        self._arrays = self._build_arrays(data, rows)
        self._rows = np.arange(len(rows), dtype=np.int64)
        self._fully_initialized = True

    def _check_image_paths(self, paths: np.ndarray) -> None:
        """Refuses ``image_path`` entries that leave :attr:`img_dir`
        (unless ``allow_outside_data_root``)."""
        if self.allow_outside_data_root:
            return
        escapes = image_path_escapes(paths)
        if escapes.any():
            idx = int(np.argmax(escapes))
            raise HumanDataFormatError(
                f'{self.ann_file}: key "image_path": sample {idx} path '
                f'{str(np.asarray(paths)[idx])!r} leaves the image folder '
                f'{self.img_dir!r} (absolute, ".." above it, empty or a NUL '
                f'byte; {int(escapes.sum())} of {len(escapes)} samples); '
                'pass allow_outside_data_root=True to follow such paths')

    def _used_joints(self,
                     mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(dst_idx, src_idx)`` int64 of the ``human_data`` joints (of
        ``mask``) that feed ``convention``."""
        dst_idx, src_idx = get_mapping('human_data', self.convention,
                                       self.approximate, src_mask=mask)
        return (np.asarray(dst_idx, np.int64), np.asarray(src_idx, np.int64))

    def _good_rows(self, data: Dict[str, Any]) -> np.ndarray:
        """Rows of the file without a bad value (``on_bad_sample``)."""
        num = int(data['__data_len__'])
        joints = {
            key: self._used_joints(data[f'{key}_mask'])[1]
            for key in KEYPOINT_KEYS if key in data
        }
        bad = find_bad_samples(data, keypoint_joints=joints)
        keep, counts = filter_bad_samples(
            bad, self.ann_file, self.on_bad_sample, num,
            expected=BAD_SAMPLE_EXPECTED, error_cls=HumanDataFormatError)
        self.bad_sample_counts = counts
        self.num_bad_samples = int(num - keep.sum())
        if counts:
            MMLogger.get_current_instance().warning(
                f'MPTHumanDataDataset: {self.ann_file}: dropped '
                f'{self.num_bad_samples} of {num} samples with bad values ('
                + ', '.join(f'{k} {n}' for k, n in counts.items()) +
                "; on_bad_sample='raise' names the first)")
        return np.flatnonzero(keep).astype(np.int64)

    def _build_arrays(self, data: Dict[str, Any],
                      rows: np.ndarray) -> Dict[str, np.ndarray]:
        """The per-sample arrays of ``rows`` of a compressed HumanData."""
        n = len(rows)
        num_kps = self.metainfo['num_keypoints']
        paths = np.asarray(data['image_path'])[rows]
        if paths.dtype.kind == 'S':
            paths = np.char.decode(paths, 'utf-8', 'replace')
        out: Dict[str, np.ndarray] = {
            'image_path': paths,
            'bbox_xywh': np.asarray(data['bbox_xywh'])[rows, :4].astype(
                np.float32),
        }
        for key, channels in KEYPOINT_KEYS.items():
            kps = np.zeros((n, num_kps, channels - 1), np.float32)
            vis = np.zeros((n, num_kps), np.float32)
            if key in data:
                mask = data[f'{key}_mask']
                dst_idx, src_idx = self._used_joints(mask)
                present = mask[src_idx] == 1
                # column of each human_data joint in the compressed array
                column = np.cumsum(mask.astype(np.int64)) - 1
                picked = data[key][np.ix_(rows, column[src_idx[present]])]
                kps[:, dst_idx[present]] = picked[..., :channels - 1]
                vis[:, dst_idx[present]] = picked[..., channels - 1]
            out[key] = kps
            out[f'{key}_visible'] = vis
        smpl = data.get('smpl') or {}
        if smpl:
            def pick(value: Any) -> np.ndarray:
                return np.asarray(value)[rows].astype(np.float32)

            out['smpl_body_pose'] = pick(smpl['body_pose']).reshape(n, 69)
            out['smpl_global_orient'] = pick(smpl['global_orient'])
            out['smpl_betas'] = pick(smpl['betas'])
            out['has_smpl'] = (pick(data['has_smpl']) if 'has_smpl' in data
                               else np.ones(n, np.float32))
        else:
            out['smpl_body_pose'] = np.zeros((n, 69), np.float32)
            out['smpl_global_orient'] = np.zeros((n, 3), np.float32)
            out['smpl_betas'] = np.zeros((n, 10), np.float32)
            out['has_smpl'] = np.zeros(n, np.float32)
        meta = data.get('meta') or {}
        gender = meta.get('gender')
        out['gender'] = gender_codes(
            None if gender is None else np.asarray(gender)[rows], n)
        return out

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    @force_full_init
    def __len__(self) -> int:
        return len(self._rows)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th sample (see the class docstring for the keys)."""
        num = len(self._rows)
        if not -num <= idx < num:
            raise IndexError(f'index {idx} out of range for a '
                             f'{self.__class__.__name__} of length {num}')
        sample_idx = int(idx) % num
        row = self._rows[sample_idx]
        a = self._arrays
        bbox = a['bbox_xywh'][row].copy()
        info = dict(
            img_path=osp.join(self.img_dir, str(a['image_path'][row])),
            sample_idx=sample_idx,
            dataset_name=self.dataset_name,
            bbox_xywh=bbox,
            bbox_center=bbox[:2] + bbox[2:] / 2,
            bbox_scale=float(max(bbox[2], bbox[3]) * self.bbox_scale_factor),
            gender=int(a['gender'][row]),
            has_smpl=np.float32(a['has_smpl'][row]))
        for key in ('keypoints2d', 'keypoints2d_visible', 'keypoints3d',
                    'keypoints3d_visible', 'smpl_global_orient',
                    'smpl_body_pose', 'smpl_betas'):
            info[key] = a[key][row].copy()
        return info

    def load_data_list(self) -> List[dict]:
        """Not used: samples are sliced from arrays by
        :meth:`get_data_info`. Returns ``[]``."""
        return []

    # ------------------------------------------------------------------
    # Subsets
    # ------------------------------------------------------------------

    def _subset_rows(self, indices: Union[Sequence[int], int]) -> np.ndarray:
        if isinstance(indices, int):
            return (self._rows[:indices]
                    if indices >= 0 else self._rows[indices:])
        return self._rows[np.asarray(indices, dtype=np.int64)]

    @force_full_init
    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        """Keeps only ``indices`` (an int ``n``: the first ``n``, or the
        last ``-n`` when negative), in place."""
        self._rows = self._subset_rows(indices)

    @force_full_init
    def get_subset(self, indices: Union[Sequence[int],
                                        int]) -> 'MPTHumanDataDataset':
        """A copy holding only ``indices`` (arrays are shared)."""
        sub = copy.copy(self)
        sub._rows = self._subset_rows(indices)
        return sub
