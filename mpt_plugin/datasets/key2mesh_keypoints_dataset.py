"""Target-domain 2D detections for Key2Mesh domain adaptation / evaluation.

Key2Mesh adapts its feature extractor to a target domain using only 2D
keypoint *detections* of real images (its paper, sec. 3.4); the 3D labels of
the target set, when a file has them, may only be used for evaluation.
:class:`Key2MeshKeypointsDataset` reads such detections, converts them to
the regressor's input convention, drops (and counts) bad detections and
normalises the rest with :func:`normalize_keypoints_2d`, all at load time
(vectorised), so an item is only an index into a few arrays.

Input formats (``data_format``):

- ``'humandata'``: an mmhuman3d HumanData ``.npz`` read with
  :func:`~mpt_plugin.datasets.human_data_io.load_human_data` (restricted
  unpickler, layout validated, compressed keypoints expanded):
  ``keypoints2d`` ``(N, 190, 3)`` px + confidence in the ``human_data``
  convention (joints absent from ``keypoints2d_mask`` are treated as not
  detected), optional ``bbox_xywh`` ``(N, 4|5)`` px. Evaluation-only
  ground truth: ``smpl`` (``global_orient`` (N, 3), ``body_pose``
  (N, 69|23x3), ``betas`` (N, 10)), ``has_smpl`` (N,) and ``keypoints3d``
  (N, 190, 4) metres + confidence.
- ``'mmpose_json'``: MMPose 1.x predictions; ``ann_file`` is one ``.json``
  file or a directory whose ``*.json`` files are read in sorted order (what
  ``MMPoseInferencer(..., pred_out_dir=...)`` writes). Accepted layouts,
  ``K`` joints of ``keypoint_convention``:

  1. image file of the inferencer: a list of instances
     ``[{"keypoints": [[x, y]] * K, "keypoint_scores": [s] * K,
     "bbox": [[x1, y1, x2, y2]] (or [x1, y1, x2, y2]), "bbox_score": s},
     ...]`` (``bbox``/``bbox_score`` optional; ``[]`` = no person);
  2. video file of the inferencer: ``[{"frame_id": i, "instances":
     [<instances as in 1>]}, ...]``;
  3. ``demo/topdown_demo_with_mmdet.py --save-predictions``:
     ``{"meta_info": {...}, "instance_info": <layout 1 or 2>}``;
  4. the ``pred_instances`` dump of a ``PoseDataSample``: one dict or a
     list of dicts (one per image) ``{"pred_instances": {"keypoints":
     (M, K, 2), "keypoint_scores": (M, K), "bboxes": (M, 4) optional,
     "bbox_scores": (M,) optional}, ...}`` (other keys ignored);
  5. a list of per-image lists of layout 1 (several images in one file).

  Coordinates are pixels of the original image; JSON ``null``/``NaN``
  values become NaN and are filtered as non-finite. Every value must be a
  JSON number or ``null`` (a string or a boolean is a format error, never
  converted), nested exactly as above; ``keypoint_scores`` of
  ``pred_instances`` must be ``(M, K)`` (``(K,)`` only for one instance;
  one row is never broadcast to several instances). A file nested too
  deeply for Python's JSON parser is refused naming the file.

Conversion (``keypoint_convention`` -> ``target_convention``, by default
``'openpose_coco18'``, Key2Mesh's OpenPose BODY_COCO order): COCO-17
(``'coco'``, MMPose order) uses :func:`coco17_to_openpose18`; every other
convention is mapped by joint name (:func:`convert_keypoints`,
``approximate=True``, stand-ins chosen among the joints a HumanData file
has). When the target's neck has no source joint (COCO-17, or a HumanData
file without neck joints) it is synthesised as the midpoint of the two
shoulders with score ``min(score_LSho, score_RSho)``, and score 0 unless
both shoulders reach ``conf_threshold``.

Filtering (each dropped detection counted under its first failing reason,
in this order; see :attr:`Key2MeshKeypointsDataset.filter_stats`):

- ``non_finite``: a coordinate or score among the source joints that feed
  the target joints that is NaN/inf once cast to float32 (so 1e39 counts);
- ``bad_value``: any other bad value of the detection (the shared policy
  of :mod:`mpt_plugin.utils.value_checks`): a box that is given but
  non-finite in float32 or has ``w <= 0`` / ``h <= 0``, and, for HumanData
  files with ``load_gt=True``, a bad evaluation label (see
  :func:`~mpt_plugin.datasets.human_data_io.find_bad_samples`: non-finite
  ``smpl`` / ``keypoints3d``, ``has_smpl`` not 0/1, unknown gender);
- ``no_joints``: every target joint has score ``<= 0`` (all missing);
- ``few_joints``: fewer than ``min_visible_joints`` *detected* target
  joints (synthesised joints do not count) with score
  ``>= score_threshold``.

With ``instance_selection='largest'`` only the largest remaining instance
of each image / frame / HumanData row group is kept (bbox area, else the
extent of its confident joints), the others counted as ``not_selected``.
Images without any instance are counted as ``no_instances``.

With ``on_bad_sample='raise'`` a detection failing ``non_finite`` or
``bad_value`` raises instead (naming the file, the image / sample, the key
and what was expected); :attr:`Key2MeshKeypointsDataset.bad_value_counts`
counts the bad detections per key either way.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import MMLogger
from torch.utils.data import Dataset

from mpt_plugin.body_models.conventions import (coco17_to_openpose18,
                                                convert_keypoints,
                                                get_keypoint_names,
                                                get_mapping)
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.registry import DATASETS
from mpt_plugin.utils.value_checks import (bad_rows, cast_finite_mask,
                                           filter_bad_samples)
from .human_data_dataset import gender_codes
from .human_data_io import (BAD_SAMPLE_EXPECTED, HumanDataFormatError,
                            find_bad_samples, load_human_data)
from .human_data_split import check_split, select_split

__all__ = ['Key2MeshKeypointsDataset', 'Key2MeshKeypointsFormatError',
           'FILTER_REASONS']

#: Reasons a detection is dropped, in the order they are tested.
FILTER_REASONS = ('non_finite', 'bad_value', 'no_joints', 'few_joints')

_FORMATS = ('humandata', 'mmpose_json')
_TARGETS = ('openpose_coco18', 'coco')
_SELECTIONS = ('all', 'largest')
#: HumanData members read (``misc``, ``vertices``, ... are never loaded).
_HUMANDATA_KEYS = ('keypoints2d', 'bbox_xywh', 'smpl', 'has_smpl',
                   'keypoints3d', 'meta', 'image_path')
#: OpenPose-18 indices of the neck and the right / left shoulders.
_NECK, _RSHO, _LSHO = 1, 2, 5
#: Marks a JSON file too deeply nested to parse.
_TOO_DEEP = object()
#: Most list levels a JSON value may have (``pred_instances.keypoints``).
_MAX_JSON_LIST_DEPTH = 3
#: What each key checked for bad values must hold (JSON keys; HumanData
#: keys are in :data:`BAD_SAMPLE_EXPECTED`).
_EXPECTED = dict(
    BAD_SAMPLE_EXPECTED,
    keypoints='x, y finite in float32 px (joints used)',
    keypoint_scores='scores finite in float32 (joints used)',
    bbox='x1, y1, x2, y2 finite in float32 with x2 > x1 and y2 > y1 px')


def _take_rows(raw: Dict[str, Any], rows: np.ndarray) -> Dict[str, Any]:
    """The ``rows`` (file row numbers) of a HumanData ``raw`` read: per-row
    arrays are indexed, ``source_index`` and error locations keep the
    file's row numbers, everything else is shared."""
    out = dict(raw)
    for key in ('keypoints', 'scores', 'bboxes', 'groups', 'instance_ids',
                'source_index'):
        out[key] = raw[key][rows]
    out['bad_values'] = {k: v[rows] for k, v in raw['bad_values'].items()}
    if raw.get('eval_gt'):
        out['eval_gt'] = {k: v[rows] for k, v in raw['eval_gt'].items()}
    out['locate'] = lambda i: raw['locate'](int(rows[i]))
    return out


class Key2MeshKeypointsFormatError(ValueError):
    """A detection file does not follow an accepted layout."""


def _fail(path: str, where: str, expected: str, got: Any) -> None:
    raise Key2MeshKeypointsFormatError(
        f'{path}: {where}: expected {expected}, got {got}')


def _as_float(value: Any, path: str, where: str) -> np.ndarray:
    """float64 array of a JSON value (``null`` -> NaN).

    Only JSON numbers and ``null`` in at most :data:`_MAX_JSON_LIST_DEPTH`
    list levels are accepted: strings and booleans (which numpy would
    convert) are refused, as are ragged lists and integers beyond float64.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == 'f':
        return value.astype(np.float64)  # already checked
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth >= _MAX_JSON_LIST_DEPTH:
                _fail(path, where, 'numbers in at most '
                      f'{_MAX_JSON_LIST_DEPTH} nested lists', 'deeper lists')
            stack.extend((x, depth + 1) for x in reversed(item))
        elif item is not None and type(item) not in (int, float):
            _fail(path, where, 'JSON numbers or null',
                  f'a {type(item).__name__} ({repr(item)[:40]})')
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        _fail(path, where, 'numbers in regular (rectangular) lists, within '
              'the float64 range', f'{type(value).__name__} ({err})')


class _JsonInstances:
    """Collects instances of MMPose JSON files into flat lists."""

    def __init__(self, num_joints: int) -> None:
        self.num_joints = num_joints
        self.keypoints: List[np.ndarray] = []  # (K, 2) each
        self.scores: List[np.ndarray] = []  # (K,) each
        self.bboxes: List[np.ndarray] = []  # (4,) xyxy, NaN if absent
        self.bbox_given: List[bool] = []
        self.groups: List[int] = []  # image / frame id of each instance
        self.instance_ids: List[int] = []
        self.sources: List[str] = []  # one entry per group
        self.files: List[str] = []  # the file of each group
        self.num_empty = 0

    def add_image(self, instances: Any, path: str, name: str) -> None:
        """One image/frame: a list of instance dicts."""
        if not isinstance(instances, list):
            _fail(path, f'{name}', 'a list of instance dicts',
                  type(instances).__name__)
        group = len(self.sources)
        self.sources.append(name)
        self.files.append(path)
        if not instances:
            self.num_empty += 1
        for i, inst in enumerate(instances):
            where = f'{name} instance {i}'
            if not isinstance(inst, dict):
                _fail(path, where, 'a dict with "keypoints" and '
                      '"keypoint_scores"', type(inst).__name__)
            for key in ('keypoints', 'keypoint_scores'):
                if key not in inst:
                    _fail(path, f'{where} key "{key}"', 'to be present',
                          f'keys {sorted(inst)}')
            bbox = inst.get('bbox')
            if bbox is not None:
                bbox = _as_float(bbox, path, f'{where} key "bbox"')
                if bbox.shape not in ((4, ), (1, 4)):
                    _fail(path, f'{where} key "bbox"',
                          '[x1, y1, x2, y2] or [[x1, y1, x2, y2]]',
                          f'shape {bbox.shape}')
            self._add(inst['keypoints'], inst['keypoint_scores'], bbox,
                      path, where, group, i)

    def add_pred_instances(self, pred: Any, path: str, name: str) -> None:
        """One image in the ``pred_instances`` layout (arrays of M)."""
        if not isinstance(pred, dict):
            _fail(path, f'{name} key "pred_instances"', 'a dict',
                  type(pred).__name__)
        for key in ('keypoints', 'keypoint_scores'):
            if key not in pred:
                _fail(path, f'{name} key "pred_instances.{key}"',
                      'to be present', f'keys {sorted(pred)}')
        kps = _as_float(pred['keypoints'], path,
                        f'{name} key "pred_instances.keypoints"')
        scores = _as_float(pred['keypoint_scores'], path,
                           f'{name} key "pred_instances.keypoint_scores"')
        if kps.ndim == 2 and kps.size:  # a single instance (K, 2)
            kps = kps[None]
            if scores.ndim == 1:
                scores = scores[None]
        num = kps.shape[0] if kps.ndim == 3 else 0
        bboxes = pred.get('bboxes')
        if bboxes is not None:
            bboxes = _as_float(bboxes, path,
                               f'{name} key "pred_instances.bboxes"')
            if bboxes.reshape(-1).size != 4 * num:
                _fail(path, f'{name} key "pred_instances.bboxes"',
                      f'shape ({num}, 4)', f'shape {bboxes.shape}')
            bboxes = bboxes.reshape(num, 4)
        group = len(self.sources)
        self.sources.append(name)
        self.files.append(path)
        if kps.size == 0:
            self.num_empty += 1
            return
        if kps.ndim != 3:
            _fail(path, f'{name} key "pred_instances.keypoints"',
                  f'shape (M, {self.num_joints}, 2)', f'shape {kps.shape}')
        if scores.shape != (num, self.num_joints):
            _fail(path, f'{name} key "pred_instances.keypoint_scores"',
                  f'shape (M, {self.num_joints}) with M = {num} instances '
                  '(one row per instance, never broadcast)',
                  f'shape {scores.shape}')
        for i in range(num):
            self._add(kps[i], scores[i],
                      None if bboxes is None else bboxes[i], path,
                      f'{name} instance {i}', group, i)

    def _add(self, kps: Any, scores: Any, bbox: Optional[np.ndarray],
             path: str, where: str, group: int, instance: int) -> None:
        k = self.num_joints
        kps = _as_float(kps, path, f'{where} key "keypoints"')
        if kps.shape != (k, 2) and kps.shape != (k, 3):
            _fail(path, f'{where} key "keypoints"', f'shape ({k}, 2)',
                  f'shape {kps.shape}')
        scores = _as_float(scores, path, f'{where} key "keypoint_scores"')
        if scores.shape != (k, ):
            _fail(path, f'{where} key "keypoint_scores"', f'shape ({k},)',
                  f'shape {scores.shape}')
        self.keypoints.append(kps[:, :2])
        self.scores.append(scores)
        self.bboxes.append(
            np.full(4, np.nan) if bbox is None else bbox.reshape(4))
        self.bbox_given.append(bbox is not None)
        self.groups.append(group)
        self.instance_ids.append(instance)


def _parse_json(obj: Any, path: str, out: _JsonInstances,
                base: str, nested: bool = False) -> None:
    """Dispatches one JSON document to the accepted layouts (``nested``:
    inside layout 3's ``instance_info``, which may not nest again)."""
    if isinstance(obj, dict):
        if 'instance_info' in obj and not nested:  # layout 3
            _parse_json(obj['instance_info'], path, out, base, nested=True)
            return
        if 'pred_instances' in obj:  # layout 4, one image
            out.add_pred_instances(obj['pred_instances'], path, base)
            return
        _fail(path, 'top level', 'a list, or a dict with "instance_info" '
              'or "pred_instances"', f'a dict with keys {sorted(obj)}')
    if not isinstance(obj, list):
        _fail(path, 'top level', 'a list or a dict', type(obj).__name__)
    if not obj or all(isinstance(x, dict) and 'keypoints' in x
                      for x in obj):  # layout 1
        out.add_image(obj, path, base)
        return
    first = obj[0]
    for i, item in enumerate(obj):
        name = f'{base}[{i}]'
        if isinstance(first, list):  # layout 5
            out.add_image(item, path, name)
        elif isinstance(item, dict) and 'instances' in item:  # layout 2
            frame = item.get('frame_id', i)
            out.add_image(item['instances'], path, f'{base} frame {frame}')
        elif isinstance(item, dict) and 'pred_instances' in item:
            out.add_pred_instances(item['pred_instances'], path, name)
        else:
            _fail(path, f'element {i}', 'an instance dict with "keypoints", '
                  'a frame dict with "instances", a dict with '
                  '"pred_instances" or a list of instances',
                  type(item).__name__ if not isinstance(item, dict) else
                  f'a dict with keys {sorted(item)}')


@DATASETS.register_module()
class Key2MeshKeypointsDataset(Dataset):
    """2D detections of a target domain, normalised for Key2Mesh.

    See the module docstring for the file layouts, the conversion and the
    filtering rules.

    Args:
        ann_file (str): HumanData ``.npz`` (``data_format='humandata'``), or
            a ``.json`` file / directory of ``.json`` files
            (``'mmpose_json'``). Relative paths are joined to
            ``data_root``.
        data_format (str): ``'humandata'`` or ``'mmpose_json'``. Defaults
            to ``'humandata'``.
        keypoint_convention (str, optional): Convention of the file's
            keypoints: ``'human_data'`` (HumanData; the default there),
            ``'coco'`` (MMPose COCO-17; the default for JSON),
            ``'openpose_coco18'`` or any other name of
            :data:`~mpt_plugin.body_models.conventions.KEYPOINT_CONVENTIONS`
            (JSON only; HumanData files are always ``'human_data'``).
        target_convention (str): The regressor's input convention,
            ``'openpose_coco18'`` (Key2Mesh) or ``'coco'`` (for
            ``Key2MeshRegressor(input_convention='coco')``). Defaults to
            ``'openpose_coco18'``.
        score_threshold (float): A target joint counts as detected for
            ``min_visible_joints`` when its score is ``>=`` this. Defaults
            to 0.1 (Key2Mesh's normalisation threshold; VIBE's 3DPW filter
            is ``score_threshold=0.3, min_visible_joints=7``).
        min_visible_joints (int): Keep a detection only with at least this
            many detected target joints (synthesised joints excluded).
            Defaults to 6 (the Key2Mesh paper drops frames with fewer than
            6 detected keypoints).
        conf_threshold (float): Threshold of
            :func:`normalize_keypoints_2d`: joints below it are set to 0.5
            and masked out. Defaults to 0.1 (Key2Mesh).
        instance_selection (str): ``'all'`` (every instance is a sample) or
            ``'largest'`` (Key2Mesh's demo: one per image). Defaults to
            ``'all'``.
        load_gt (bool): Read the evaluation-only ground truth of HumanData
            files (see below). Defaults to True.
        gt_keypoints3d_convention (str, optional): Convention of the
            evaluation ``keypoints3d``; None skips them. Defaults to
            ``'h36m'``.
        data_root (str): Prefix of a relative ``ann_file``. Defaults to
            ``''``.
        test_mode (bool): Accepted for MMEngine configs; no effect (items
            are deterministic). Defaults to False.
        verbose (bool): Log :attr:`filter_stats` once. Defaults to True.
        on_bad_sample (str): ``'skip'`` drops detections failing
            ``non_finite`` / ``bad_value`` and counts them;
            ``'raise'`` raises on the first one (a
            :class:`Key2MeshKeypointsFormatError` for JSON, a
            :class:`~mpt_plugin.datasets.human_data_io.HumanDataFormatError`
            for HumanData) naming the file, the image / sample, the key and
            what was expected. Defaults to ``'skip'``.
        split (dict, optional): HumanData only: read one part of the file,
            split by subject or sequence parsed from ``image_path``
            (``dict(held_out=[...], part='val' | 'train', by='subject' |
            'sequence')``, :mod:`~mpt_plugin.datasets.human_data_split`)
            before any filtering; ``source_index`` keeps the file's row
            numbers. None reads every row. Defaults to None.

    Attributes:
        filter_stats (dict[str, int]): ``total`` detections read, ``kept``,
            one count per :data:`FILTER_REASONS` entry, ``not_selected``
            and ``no_instances`` (images / frames without any detection;
            not part of ``total``).
        sources (list[str]): HumanData: ``image_path`` per row (or the row
            number); JSON: ``file[...]`` / ``file frame i`` per image.
        bad_value_counts (dict[str, int]): Per key, the number of read
            detections with a bad value there (JSON: ``keypoints``,
            ``keypoint_scores``, ``bbox``; HumanData: ``keypoints2d``,
            ``bbox_xywh``, ``smpl.*``, ``has_smpl``, ``keypoints3d``,
            ``meta.gender``); a detection may count under several keys.

    Each item is ``dict(inputs, data_samples)`` (``K`` = 18 target joints,
    or 17 with ``target_convention='coco'``), the keypoint-batch contract of
    :class:`~mpt_plugin.models.data_preprocessors.Key2MeshDataPreprocessor`:

    - ``inputs``: dict of ``keypoints2d_norm`` (K, 2) float32 normalised
      keypoints (joints below ``conf_threshold`` are 0.5) and
      ``keypoints2d_mask`` (K,) bool (``score >= conf_threshold``);
    - ``data_samples``: dict of ``keypoints2d_px`` (K, 2) float32 pixels
      (x right, y down; 0 where the source has no joint),
      ``keypoint_scores`` (K,) float32, ``bbox_xyxy`` (4,) float32 px
      (zeros when ``has_bbox`` is False), ``has_bbox`` () bool,
      ``sample_index`` () int64 (this dataset), ``source_index`` () int64
      (into :attr:`sources`), ``instance_index`` () int64 (within its
      image), and, only for HumanData files with labels and
      ``load_gt=True``, ``eval_gt``: a separate dict of evaluation-only
      labels that domain adaptation must never read: ``pose_aa`` (72,)
      float32 axis-angle radians, ``betas`` (10,) float32, ``has_smpl``
      () bool, ``gender`` () int64 (-1 neutral/unknown, 0 male, 1 female),
      and with ``keypoints3d`` in the file ``keypoints3d`` (J, 3) float32
      metres + ``keypoints3d_mask`` (J,) bool in
      ``gt_keypoints3d_convention``.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist / has no ``.json``.
        HumanDataFormatError: A HumanData file breaks its layout (names
            the file and the key).
        Key2MeshKeypointsFormatError: A JSON file breaks every accepted
            layout (names the file, the image/instance and the key), or a
            bad value with ``on_bad_sample='raise'``.
        ValueError: Bad arguments.
    """

    METAINFO = dict(dataset_name='key2mesh_keypoints')

    def __init__(self,
                 ann_file: str,
                 data_format: str = 'humandata',
                 keypoint_convention: Optional[str] = None,
                 target_convention: str = 'openpose_coco18',
                 score_threshold: float = 0.1,
                 min_visible_joints: int = 6,
                 conf_threshold: float = 0.1,
                 instance_selection: str = 'all',
                 load_gt: bool = True,
                 gt_keypoints3d_convention: Optional[str] = 'h36m',
                 data_root: str = '',
                 test_mode: bool = False,
                 verbose: bool = True,
                 on_bad_sample: str = 'skip',
                 split: Optional[dict] = None) -> None:
        self.split = check_split(split)
        if self.split is not None and data_format != 'humandata':
            raise ValueError('split needs data_format=\'humandata\' (groups '
                             f'come from image_path), got {data_format!r}')
        if on_bad_sample not in ('skip', 'raise'):
            raise ValueError("on_bad_sample must be 'skip' or 'raise', got "
                             f'{on_bad_sample!r}')
        self.on_bad_sample = on_bad_sample
        if data_format not in _FORMATS:
            raise ValueError(f'data_format must be one of {_FORMATS}, got '
                             f'{data_format!r}')
        if target_convention not in _TARGETS:
            raise ValueError(f'target_convention must be one of {_TARGETS}, '
                             f'got {target_convention!r}')
        if instance_selection not in _SELECTIONS:
            raise ValueError(f'instance_selection must be one of '
                             f'{_SELECTIONS}, got {instance_selection!r}')
        if keypoint_convention is None:
            keypoint_convention = ('human_data' if data_format == 'humandata'
                                   else 'coco')
        if data_format == 'humandata' and keypoint_convention != 'human_data':
            raise ValueError('HumanData keypoints are always in the '
                             "'human_data' convention, got "
                             f'keypoint_convention={keypoint_convention!r}')
        get_keypoint_names(keypoint_convention)  # KeyError if unknown
        if gt_keypoints3d_convention is not None:
            get_keypoint_names(gt_keypoints3d_convention)
        if int(min_visible_joints) < 0:
            raise ValueError('min_visible_joints must be >= 0, got '
                             f'{min_visible_joints}')
        if not (np.isfinite(score_threshold)
                and np.isfinite(conf_threshold)):
            raise ValueError('score_threshold and conf_threshold must be '
                             f'finite, got {score_threshold}, '
                             f'{conf_threshold}')
        self.ann_file = (ann_file if not data_root or osp.isabs(ann_file)
                         else osp.join(data_root, ann_file))
        self.data_format = data_format
        self.keypoint_convention = keypoint_convention
        self.target_convention = target_convention
        self.score_threshold = float(score_threshold)
        self.min_visible_joints = int(min_visible_joints)
        self.conf_threshold = float(conf_threshold)
        self.instance_selection = instance_selection
        self.load_gt = bool(load_gt)
        self.gt_keypoints3d_convention = gt_keypoints3d_convention
        self.test_mode = bool(test_mode)

        if data_format == 'humandata':
            raw = self._read_humandata(self.ann_file)
            if self.split is not None:
                raw = _take_rows(raw, np.flatnonzero(select_split(
                    raw['sources'], source=self.ann_file, **self.split)))
        else:
            raw = self._read_json(self.ann_file)
        self._build(raw)
        if verbose:
            self._log_stats()

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    def _read_humandata(self, path: str) -> Dict[str, Any]:
        keys = _HUMANDATA_KEYS if self.load_gt else (
            'keypoints2d', 'bbox_xywh', 'image_path')
        data = load_human_data(path, keys=keys, required=('keypoints2d', ))
        num = int(data['__data_len__'])
        bboxes = np.full((num, 4), np.nan)
        if 'bbox_xywh' in data:
            xywh = np.asarray(data['bbox_xywh'], dtype=np.float64)[:, :4]
            with np.errstate(all='ignore'):
                bboxes = np.concatenate(
                    [xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        checked = ['bbox_xywh']
        joints = {}
        if self.load_gt:
            checked += ['has_smpl', 'smpl.body_pose', 'smpl.global_orient',
                        'smpl.betas', 'meta.gender']
            if 'keypoints3d' in data and self.gt_keypoints3d_convention:
                checked.append('keypoints3d')
                joints['keypoints3d'] = get_mapping(
                    'human_data', self.gt_keypoints3d_convention,
                    approximate=True,
                    src_mask=np.asarray(data['keypoints3d_mask']))[1]
            if not data.get('smpl'):
                checked.remove('has_smpl')  # not read without smpl
        if 'image_path' in data:
            sources = [str(p) for p in np.asarray(data['image_path'])]
        else:
            sources = [str(i) for i in range(num)]
        kp2d = np.asarray(data['keypoints2d'], dtype=np.float64)
        raw = dict(
            keypoints=kp2d[..., :2],
            scores=kp2d[..., 2],
            joint_mask=np.asarray(data['keypoints2d_mask']) > 0,
            bboxes=bboxes,
            # A HumanData row is one person; rows of one image share a
            # group (same image path) for instance_selection='largest'.
            groups=np.unique(np.asarray(sources), return_inverse=True)[1],
            instance_ids=np.zeros(num, np.int64),
            source_index=np.arange(num),
            sources=sources,
            num_empty=0,
            bad_values=find_bad_samples(data, keypoint_joints=joints,
                                        keys=checked),
            keypoint_keys=('keypoints2d', 'keypoints2d'),
            locate=lambda i: f'{path}: sample {i}',
            error_cls=HumanDataFormatError)
        if self.load_gt:
            # rows with bad labels are dropped (or raised on) in _build;
            # their float32 cast may overflow quietly here
            with np.errstate(over='ignore', invalid='ignore'):
                raw['eval_gt'] = self._humandata_gt(data, num)
        return raw

    def _humandata_gt(self, data: Dict[str, Any],
                      num: int) -> Optional[Dict[str, np.ndarray]]:
        """Evaluation-only labels of a HumanData file, or None."""
        gt: Dict[str, np.ndarray] = {}
        smpl = data.get('smpl')
        if smpl:
            orient = np.asarray(smpl['global_orient'], np.float32)
            body = np.asarray(smpl['body_pose'], np.float32).reshape(num, -1)
            gt['pose_aa'] = np.concatenate(
                [orient.reshape(num, 3), body[:, :69]], axis=1)
            gt['betas'] = np.asarray(smpl['betas'], np.float32)
            has = data.get('has_smpl')
            gt['has_smpl'] = (np.ones(num, bool) if has is None else
                              np.asarray(has).reshape(num) > 0)
            meta = data.get('meta') or {}
            gt['gender'] = gender_codes(meta.get('gender'),
                                        num).astype(np.int64)
        if 'keypoints3d' in data and self.gt_keypoints3d_convention:
            kp3d, mask = convert_keypoints(
                np.asarray(data['keypoints3d'], np.float32),
                'human_data',
                self.gt_keypoints3d_convention,
                mask=np.asarray(data['keypoints3d_mask']),
                approximate=True)
            gt['keypoints3d'] = np.ascontiguousarray(kp3d[..., :3])
            gt['keypoints3d_mask'] = (kp3d[..., 3] > 0) & (mask[None] > 0)
        return gt or None

    def _read_json(self, path: str) -> Dict[str, Any]:
        if osp.isdir(path):
            files = sorted(
                osp.join(path, f) for f in os.listdir(path)
                if f.endswith('.json'))
            if not files:
                raise FileNotFoundError(f'no .json file in {path}')
        elif osp.isfile(path):
            files = [path]
        else:
            raise FileNotFoundError(f'detection file not found: {path}')
        out = _JsonInstances(len(get_keypoint_names(
            self.keypoint_convention)))
        for file in files:
            try:
                with open(file, encoding='utf-8') as f:
                    obj = json.load(f)
            except RecursionError:
                # re-raised outside the handler, with the stack unwound
                obj = _TOO_DEEP
            except (ValueError, UnicodeDecodeError) as err:
                # JSONDecodeError, and ints beyond Python's digit limit
                raise Key2MeshKeypointsFormatError(
                    f'{file}: not valid JSON ({err})') from err
            if obj is _TOO_DEEP:
                raise Key2MeshKeypointsFormatError(
                    f'{file}: JSON nested too deeply for the parser (an '
                    'MMPose prediction file is at most 5 levels deep)')
            _parse_json(obj, file, out, osp.basename(file))
        num, k = len(out.keypoints), out.num_joints
        bboxes = np.stack(out.bboxes) if num else np.zeros((0, 4))
        given = np.asarray(out.bbox_given, bool)
        with np.errstate(all='ignore'):
            box32 = bboxes.astype(np.float32)
            ok = (cast_finite_mask(bboxes).all(-1)
                  & (box32[:, 2] > box32[:, 0]) & (box32[:, 3] > box32[:, 1]))
        groups = np.asarray(out.groups, np.int64)
        ids = np.asarray(out.instance_ids, np.int64)

        def locate(i: int) -> str:
            return (f'{out.files[groups[i]]}: {out.sources[groups[i]]} '
                    f'instance {ids[i]}')

        return dict(
            keypoints=(np.stack(out.keypoints) if num else np.zeros(
                (0, k, 2))),
            scores=np.stack(out.scores) if num else np.zeros((0, k)),
            joint_mask=np.ones(k, bool),
            bboxes=bboxes,
            groups=groups,
            instance_ids=ids,
            source_index=groups,
            sources=out.sources,
            num_empty=out.num_empty,
            bad_values=dict(bbox=given & ~ok),
            keypoint_keys=('keypoints', 'keypoint_scores'),
            locate=locate,
            error_cls=Key2MeshKeypointsFormatError)

    # ------------------------------------------------------------------
    # Conversion, filtering, normalisation (vectorised over N)
    # ------------------------------------------------------------------

    def _convert(self, kps: np.ndarray, scores: np.ndarray,
                 joint_mask: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Source -> target joints.

        Returns:
            tuple: ``(kps (N, K, 2), scores (N, K), detected (K,) bool:
            target joints with a real source joint, bad (N, 2) bool: a
            used source coordinate / score is not finite in float32)``.
        """
        src, dst = self.keypoint_convention, self.target_convention
        num_dst = len(get_keypoint_names(dst))
        stacked = np.concatenate([kps, scores[..., None]], axis=-1)
        if src == 'coco' and dst == 'openpose_coco18':
            used = np.arange(stacked.shape[1])
            out = coco17_to_openpose18(torch.from_numpy(stacked))[0].numpy()
            detected = np.ones(num_dst, bool)
            detected[_NECK] = False
        else:
            dst_idx, used = get_mapping(src, dst, approximate=True,
                                        src_mask=joint_mask)
            out, out_mask = convert_keypoints(
                stacked, src, dst, mask=joint_mask.astype(np.uint8),
                approximate=True)
            detected = out_mask > 0
            out[..., ~detected, 2] = 0.0  # absent from the file
            used = np.asarray(used, np.int64)
            used = used[joint_mask[used]]
        num = stacked.shape[0]
        bad = np.stack([
            bad_rows(kps[:, used]) if num else np.zeros(0, bool),
            bad_rows(scores[:, used]) if num else np.zeros(0, bool)
        ], axis=1)
        out = np.where(cast_finite_mask(out), out, 0.0)
        if dst == 'openpose_coco18' and not detected[_NECK]:
            out = self._synthesise_neck(out)
        return out[..., :2], out[..., 2], detected, bad

    def _synthesise_neck(self, out: np.ndarray) -> np.ndarray:
        """Neck = shoulder midpoint, score min of both (0 unless both reach
        ``conf_threshold``); ``out`` (N, 18, 3) [x, y, score]."""
        rsho, lsho = out[:, _RSHO], out[:, _LSHO]
        both = (rsho[:, 2] >= self.conf_threshold) & (lsho[:, 2] >=
                                                      self.conf_threshold)
        out = out.copy()
        out[:, _NECK, :2] = 0.5 * (rsho[:, :2] + lsho[:, :2])
        out[:, _NECK, 2] = np.where(both, np.minimum(rsho[:, 2], lsho[:, 2]),
                                    0.0)
        return out

    def _build(self, raw: Dict[str, Any]) -> None:
        kps, scores, detected, bad_kp = self._convert(
            raw['keypoints'], raw['scores'], raw['joint_mask'])
        num = kps.shape[0]
        kp_key, score_key = raw['keypoint_keys']
        values = {kp_key: bad_kp[:, 0]}
        values[score_key] = values.get(score_key, False) | bad_kp[:, 1]
        values.update(raw['bad_values'])
        # 'raise' stops here, naming the first bad detection; 'skip' counts
        _, self.bad_value_counts = filter_bad_samples(
            values, self.ann_file, self.on_bad_sample, num,
            expected=_EXPECTED, error_cls=raw['error_cls'],
            locate=raw['locate'])
        other = np.zeros(num, bool)
        for flag in raw['bad_values'].values():
            other |= flag
        visible = ((scores >= self.score_threshold) & detected).sum(-1)
        reasons = np.full(num, -1, np.int64)  # -1 = kept
        bad = [bad_kp.any(1), other, (scores <= 0).all(-1),
               visible < self.min_visible_joints]
        for code, flag in enumerate(bad):
            reasons[(reasons < 0) & flag] = code
        keep = reasons < 0
        stats = {'total': int(num), 'kept': 0}
        for code, name in enumerate(FILTER_REASONS):
            stats[name] = int((reasons == code).sum())
        stats['not_selected'] = 0
        stats['no_instances'] = int(raw['num_empty'])
        if self.instance_selection == 'largest':
            chosen = self._largest_per_group(kps, scores, raw['bboxes'],
                                             raw['groups'], keep)
            stats['not_selected'] = int(keep.sum() - chosen.sum())
            keep = chosen
        stats['kept'] = int(keep.sum())
        self.filter_stats: Dict[str, int] = stats

        rows = np.flatnonzero(keep)
        self.rows = rows  # (N_kept,) indices of the read detections
        self.sources: List[str] = list(raw['sources'])
        kp_px = torch.from_numpy(kps[rows].astype(np.float32))
        conf = torch.from_numpy(scores[rows].astype(np.float32))
        kp_norm, mask = normalize_keypoints_2d(kp_px, conf,
                                               self.conf_threshold)
        self.keypoints2d_px = kp_px  # (N, K, 2) px
        self.keypoint_scores = conf  # (N, K)
        self.keypoints2d_norm = kp_norm  # (N, K, 2)
        self.keypoints2d_mask = mask  # (N, K) bool
        bboxes = raw['bboxes'][rows]
        has_bbox = np.isfinite(bboxes).all(-1)
        self.has_bbox = torch.from_numpy(has_bbox)
        self.bbox_xyxy = torch.from_numpy(
            np.where(has_bbox[:, None], bboxes, 0.0).astype(np.float32))
        self.source_index = torch.from_numpy(
            np.asarray(raw['source_index'], np.int64)[rows])
        self.instance_index = torch.from_numpy(raw['instance_ids'][rows])
        self.eval_gt: Optional[Dict[str, torch.Tensor]] = None
        if raw.get('eval_gt'):
            self.eval_gt = {
                k: torch.from_numpy(np.ascontiguousarray(v[rows]))
                for k, v in raw['eval_gt'].items()
            }

    def _largest_per_group(self, kps: np.ndarray, scores: np.ndarray,
                           bboxes: np.ndarray, groups: np.ndarray,
                           keep: np.ndarray) -> np.ndarray:
        """(N,) bool: the kept instance of largest area in each group."""
        conf = (scores >= self.conf_threshold)[..., None]
        lo = np.where(conf, kps, np.inf).min(1)
        hi = np.where(conf, kps, -np.inf).max(1)
        kp_area = np.prod(np.clip(hi - lo, 0, None), axis=-1)
        box_area = np.prod(np.clip(bboxes[:, 2:] - bboxes[:, :2], 0, None),
                           axis=-1)
        area = np.where(np.isfinite(box_area), box_area,
                        np.nan_to_num(kp_area, posinf=0.0))
        area = np.where(keep, area, -1.0)
        # Sort by group, then by decreasing area; take each group's first.
        order = np.lexsort((-area, groups))
        first = np.ones(len(order), bool)
        first[1:] = groups[order][1:] != groups[order][:-1]
        chosen = np.zeros(len(keep), bool)
        chosen[order[first]] = True
        return chosen & keep

    def _log_stats(self) -> None:
        stats = self.filter_stats
        dropped = stats['total'] - stats['kept']
        msg = (f'Key2MeshKeypointsDataset: kept {stats["kept"]} of '
               f'{stats["total"]} detections from {self.ann_file} '
               f'({self.data_format}, {self.keypoint_convention} -> '
               f'{self.target_convention}); dropped: ' + ', '.join(
                   f'{k} {stats[k]}' for k in FILTER_REASONS +
                   ('not_selected', )) +
               f'; images without detections: {stats["no_instances"]}')
        if self.bad_value_counts:
            msg += '; bad values per key: ' + ', '.join(
                f'{k} {n}' for k, n in self.bad_value_counts.items())
        logger = MMLogger.get_current_instance()
        if stats['kept'] == 0:
            logger.warning(msg + ' -- the dataset is EMPTY')
        elif dropped or stats['no_instances']:
            logger.warning(msg)
        else:
            logger.info(msg)

    # ------------------------------------------------------------------
    # Dataset protocol
    # ------------------------------------------------------------------

    @property
    def metainfo(self) -> dict:
        return dict(
            self.METAINFO,
            keypoint_convention=self.target_convention,
            source_convention=self.keypoint_convention,
            num_keypoints=int(self.keypoints2d_norm.shape[1]),
            num_samples=len(self),
            filter_stats=dict(self.filter_stats),
            has_eval_gt=self.eval_gt is not None)

    def __len__(self) -> int:
        return int(self.keypoints2d_norm.shape[0])

    def __getitem__(self, idx: int) -> Dict[str, dict]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        idx = int(idx) % len(self)
        samples = dict(
            keypoints2d_px=self.keypoints2d_px[idx],
            keypoint_scores=self.keypoint_scores[idx],
            bbox_xyxy=self.bbox_xyxy[idx],
            has_bbox=self.has_bbox[idx],
            sample_index=torch.tensor(idx, dtype=torch.int64),
            source_index=self.source_index[idx],
            instance_index=self.instance_index[idx])
        if self.eval_gt is not None:
            samples['eval_gt'] = {k: v[idx] for k, v in self.eval_gt.items()}
        return dict(
            inputs=dict(keypoints2d_norm=self.keypoints2d_norm[idx],
                        keypoints2d_mask=self.keypoints2d_mask[idx]),
            data_samples=samples)
