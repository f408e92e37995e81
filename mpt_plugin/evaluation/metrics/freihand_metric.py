"""FreiHAND's official evaluation as an MMEngine metric.

The numbers of ``eval.py`` of lmb-freiburg/freihand (the benchmark's
scoring script), computed with
:mod:`mpt_plugin.evaluation.functional.freihand_metrics`, and optionally
the ``pred.json`` file that the benchmark's server scores.
"""
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mpt_plugin.registry import METRICS
from mpt_plugin.utils.file_io import write_atomic
from ..functional.freihand_metrics import (DEFAULT_BLOCK_BYTES,
                                           FREIHAND_AUC_MAX,
                                           FREIHAND_AUC_STEPS,
                                           FREIHAND_FSCORE_THRESHOLDS,
                                           freihand_align, freihand_auc,
                                           freihand_fscore,
                                           freihand_pck_counts,
                                           freihand_pck_thresholds,
                                           freihand_point_errors)
from .mesh_metric import _get_group

__all__ = ['MPTFreiHANDMetric', 'FREIHAND_METRICS']

#: Every accepted metric name -> (points, aligned, kind).
_METRICS = {
    'mpjpe': ('joints', False, 'mean'),
    'pa-mpjpe': ('joints', True, 'mean'),
    'mpvpe': ('vertices', False, 'mean'),
    'pa-mpvpe': ('vertices', True, 'mean'),
    'auc-j': ('joints', False, 'auc'),
    'pa-auc-j': ('joints', True, 'auc'),
    'auc-v': ('vertices', False, 'auc'),
    'pa-auc-v': ('vertices', True, 'auc'),
    'f-score': ('vertices', False, 'fscore'),
    'pa-f-score': ('vertices', True, 'fscore'),
}
#: The accepted metric names, in output order (also the default).
FREIHAND_METRICS = tuple(_METRICS)

#: Candidate keys of the 21 joints, in ``pred_instances`` and
#: ``gt_instances`` alike; the first present one is used.
_JOINT_KEYS = ('joints_freihand', 'keypoints3d')


@METRICS.register_module()
class MPTFreiHANDMetric(BaseMetric):
    """FreiHAND's official evaluation (``eval.py`` of lmb-freiburg/freihand).

    Each data sample (a ``PoseDataSample`` as a dict, as MMEngine passes it)
    holds, in **metres**, in the camera frame as FreiHAND's annotations:

    - ``pred_instances.joints_freihand``: ``(1, 21, 3)`` predicted joints in
      FreiHAND's order (wrist, thumb 1-4, index, middle, ring, pinky; tips
      at FreiHAND's vertex ids). ``keypoints3d`` is read when
      ``joints_freihand`` is absent.
    - ``pred_instances.vertices``: ``(1, 778, 3)`` predicted MANO mesh.
    - ``gt_instances.joints_freihand`` (or ``keypoints3d``) and
      ``gt_instances.vertices``: the GT, same shapes.

    ``(21, 3)`` / ``(778, 3)`` without the leading 1 are accepted too.
    Predicted meshes of another topology (which the official script aligns
    with the joints' transform and scores by F-score only) are rejected.
    Every joint counts (the official script feeds all-ones visibility; a
    ``keypoints3d_mask`` is ignored). Only the keys the chosen metrics (and
    ``pred_json``) need are read.

    Per sample, as the official script: the joints and the mesh are aligned
    **separately** onto the GT with FreiHAND's scale-normalised orthogonal
    Procrustes (reflections allowed, see
    :func:`~mpt_plugin.evaluation.functional.freihand_align`); errors are
    Euclidean per point, averaged over all points of all samples. The
    unaligned errors compare the raw predictions with the GT, without any
    root centring, so they need camera-frame predictions (with translation).

    Results, keyed as below (with the prefix, e.g. ``'freihand/PA-MPJPE'``);
    the official ``scores.txt`` name in brackets:

    - ``'MPJPE'`` (``xyz_mean3d``), ``'PA-MPJPE'`` (``xyz_al_mean3d``),
      ``'MPVPE'`` (``mesh_mean3d``), ``'PA-MPVPE'`` (``mesh_al_mean3d``):
      **mm** (the script writes cm);
    - ``'AUC-J'`` (``xyz_auc3d``), ``'PA-AUC-J'`` (``xyz_al_auc3d``),
      ``'AUC-V'`` (``mesh_auc3d``), ``'PA-AUC-V'`` (``mesh_al_auc3d``): area
      under the PCK curve over ``0..auc_max`` (100 thresholds, ``<=``),
      normalised, a **fraction** in [0, 1];
    - ``'F@5mm'``, ``'F@15mm'`` (``f_score_5``, ``f_score_15``) and
      ``'PA-F@5mm'``, ``'PA-F@15mm'`` (``f_al_score_5``, ...): F-scores of
      the raw / aligned mesh, **fractions**, one key per threshold of
      ``fscore_thresholds`` (named in mm).

    To keep memory small each sample keeps only its mean errors, its
    ``(100,)`` PCK counts and its F-scores (plus its raw predictions when
    ``pred_json`` is set); the totals are formed in :meth:`compute_metrics`
    on all gathered samples, so any split over processes gives the same
    numbers.

    Args:
        metrics (str | Sequence[str]): Names among :data:`FREIHAND_METRICS`
            (``'mpjpe'``, ``'pa-mpjpe'``, ``'mpvpe'``, ``'pa-mpvpe'``,
            ``'auc-j'``, ``'pa-auc-j'``, ``'auc-v'``, ``'pa-auc-v'``,
            ``'f-score'``, ``'pa-f-score'``). Default: all. An empty
            sequence computes nothing and needs no GT; then ``pred_json``
            must be set (prediction only, e.g. for the test server).
        fscore_thresholds (Sequence[float]): F-score thresholds in metres.
            Default: ``(0.005, 0.015)``.
        auc_max (float): Last PCK threshold in metres. Default: 0.05.
        pred_json (str, optional): Path of the official submission file to
            write in :meth:`compute_metrics` (on the main process): the JSON
            list ``[joints, vertices]``, ``joints`` one ``21 x 3`` list and
            ``vertices`` one ``778 x 3`` list per sample, raw predictions in
            metres, in the order of the gathered results (MMEngine restores
            the dataset order). Written to a temporary file, then renamed.
            Default: None (no file).
        max_block_bytes (int): Memory budget of the nearest-neighbour
            distance blocks of the F-score, see
            :func:`~mpt_plugin.evaluation.functional.freihand_nn_distances`.
            Default: 32 MiB.
        num_joints (int): Expected joint count. Default: 21.
        num_vertices (int): Expected vertex count. Default: 778.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Default: ``'cpu'``.
        prefix (str, optional): Prefix of the result keys; ``None`` uses
            :attr:`default_prefix` (``'freihand'``).
    """
    default_prefix: Optional[str] = 'freihand'

    def __init__(self,
                 metrics: Union[str, Sequence[str]] = FREIHAND_METRICS,
                 fscore_thresholds: Sequence[float] = (
                     FREIHAND_FSCORE_THRESHOLDS),
                 auc_max: float = FREIHAND_AUC_MAX,
                 pred_json: Optional[str] = None,
                 max_block_bytes: int = DEFAULT_BLOCK_BYTES,
                 num_joints: int = 21,
                 num_vertices: int = 778,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        name = type(self).__name__
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in names if m not in _METRICS]
        if unknown:
            raise KeyError(f'{name}: unknown metric(s) {unknown}, expected '
                           f'some of {FREIHAND_METRICS}')
        if not names and pred_json is None:
            raise ValueError(f'{name}: metrics is empty and pred_json is '
                             'None: nothing to compute')
        self.metrics = list(dict.fromkeys(names))
        thresholds = tuple(float(t) for t in fscore_thresholds)
        if any(m.endswith('f-score') for m in self.metrics):
            if not thresholds or not all(
                    np.isfinite(t) and t > 0 for t in thresholds):
                raise ValueError(f'{name}: fscore_thresholds must be '
                                 f'positive metres, got {fscore_thresholds}')
            labels = [_mm_label(t) for t in thresholds]
            if len(set(labels)) != len(labels):
                raise ValueError(f'{name}: fscore_thresholds give duplicate '
                                 f'keys {labels}')
        self.fscore_thresholds = thresholds
        self.auc_max = float(auc_max)
        self.pck_thresholds = freihand_pck_thresholds(self.auc_max,
                                                      FREIHAND_AUC_STEPS)
        self.pred_json = None if pred_json is None else os.fspath(pred_json)
        self.max_block_bytes = int(max_block_bytes)
        self.num_points = dict(joints=int(num_joints),
                               vertices=int(num_vertices))
        # (points, aligned) -> which per-sample statistics are needed
        self._needs: Dict[Tuple[str, bool], set] = {}
        for m in self.metrics:
            points, aligned, kind = _METRICS[m]
            self._needs.setdefault((points, aligned), set()).add(kind)

    # ------------------------------------------------------------ process
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Compute and store the per-sample statistics of a batch.

        Args:
            data_batch: Unused (the inputs of the batch).
            data_samples (Sequence[dict]): Per-sample dicts with
                ``pred_instances`` and ``gt_instances`` as described in the
                class docstring (metres; tensors or arrays).
        """
        n = len(data_samples)
        if n == 0:
            return
        per_sample: List[dict] = [{} for _ in range(n)]
        preds = {}
        for points in ('joints', 'vertices'):
            needed = {a: k for (p, a), k in self._needs.items()
                      if p == points}
            if not needed and self.pred_json is None:
                continue
            pred_raw = self._stack(data_samples, 'pred_instances', points)
            preds[points] = pred_raw
            if not needed:
                continue
            pred = pred_raw.astype(np.float64)
            gt = self._stack(data_samples, 'gt_instances',
                             points).astype(np.float64)
            for aligned, kinds in sorted(needed.items()):
                tag = ('pa-' if aligned else '') + points
                moved = freihand_align(pred, gt) if aligned else pred
                if kinds & {'mean', 'auc'}:
                    err = freihand_point_errors(moved, gt)  # (B, K) metres
                    means = err.mean(axis=1)
                    counts = (freihand_pck_counts(err, self.pck_thresholds)
                              if 'auc' in kinds else None)
                    for i in range(n):
                        per_sample[i][tag] = means[i]
                        if counts is not None:
                            per_sample[i][tag + '-pck'] = counts[i]
                if 'fscore' in kinds:
                    fscore = freihand_fscore(moved, gt,
                                             self.fscore_thresholds,
                                             self.max_block_bytes)[0]
                    for i in range(n):
                        per_sample[i][tag + '-fscore'] = fscore[i]
        if self.pred_json is not None:
            for i in range(n):
                per_sample[i]['pred_joints'] = preds['joints'][i]
                per_sample[i]['pred_vertices'] = preds['vertices'][i]
        self.results.extend(per_sample)

    def _stack(self, data_samples: Sequence[dict], group: str,
               points: str) -> np.ndarray:
        """``(B, K, 3)`` array of one key of a batch, checked.

        float32 or float64 as given (other dtypes become float64), on the
        CPU; every sample must be ``(1, K, 3)`` or ``(K, 3)`` with the
        expected ``K`` and finite.
        """
        name = type(self).__name__
        expected = self.num_points[points]
        out = []
        for i, sample in enumerate(data_samples):
            fields = _get_group(sample, group, name)
            key = points if points == 'vertices' else next(
                (k for k in _JOINT_KEYS if k in fields), None)
            if key is None or key not in fields:
                wanted = ' or '.join(f'{group}.{k}' for k in (
                    _JOINT_KEYS if points == 'joints' else ('vertices', )))
                raise KeyError(f'{name}: data sample {i} has no {wanted} '
                               f'(needed for {self._purpose(points)})')
            arr = _to_numpy(fields[key])
            shape = tuple(arr.shape)
            if arr.ndim == 3 and arr.shape[0] == 1:
                arr = arr[0]
            if arr.shape != (expected, 3):
                raise ValueError(
                    f'{name}: {group}.{key} of sample {i} must be (1, '
                    f'{expected}, 3) in metres, got {shape}')
            if not np.isfinite(arr).all():
                raise ValueError(f'{name}: {group}.{key} of sample {i} has '
                                 'NaN or inf values')
            out.append(arr)
        return np.stack(out)

    def _purpose(self, points: str) -> str:
        """The metrics (or pred_json) that read ``points``."""
        users = [m for m in self.metrics if _METRICS[m][0] == points]
        if self.pred_json is not None:
            users.append('pred_json')
        return ', '.join(users)

    # ------------------------------------------------------------ compute
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Computes the metrics on all gathered samples (and writes
        ``pred_json``).

        Args:
            results (list): Per-sample dicts stored by :meth:`process`.

        Returns:
            Dict[str, float]: Result key -> value (mm or fraction).
        """
        name = type(self).__name__
        if not results:
            raise ValueError(f'{name}: no sample was processed')
        if self.pred_json is not None:
            self._write_pred_json(results)
        out: Dict[str, float] = {}
        for metric in self.metrics:
            points, aligned, kind = _METRICS[metric]
            tag = ('pa-' if aligned else '') + points
            upper = 'PA-' if aligned else ''
            if kind == 'mean':
                # mean over samples of per-sample means = the official mean
                # per keypoint over samples, then over keypoints
                value = np.mean([r[tag] for r in results]) * 1000.
                out[upper + ('MPJPE' if points == 'joints' else 'MPVPE')] = \
                    float(value)
            elif kind == 'auc':
                counts = np.sum([r[tag + '-pck'] for r in results], axis=0)
                pck = counts / (len(results) * self.num_points[points])
                out[upper + ('AUC-J' if points == 'joints' else 'AUC-V')] = \
                    freihand_auc(pck, self.pck_thresholds)
            else:
                fscores = np.mean([r[tag + '-fscore'] for r in results],
                                  axis=0)
                for t, value in zip(self.fscore_thresholds, fscores):
                    out[f'{upper}F@{_mm_label(t)}'] = float(value)
        return out

    def _write_pred_json(self, results: list) -> None:
        """Write ``[joints, vertices]`` lists (metres) atomically."""
        content = [[r['pred_joints'].tolist() for r in results],
                   [r['pred_vertices'].tolist() for r in results]]

        def writer(path: str) -> None:
            with open(path, 'w') as f:
                json.dump(content, f)

        write_atomic(self.pred_json, writer)


# ---------------------------------------------------------------- helpers
def _mm_label(threshold: float) -> str:
    """``0.005`` (metres) -> ``'5mm'``."""
    return f'{threshold * 1000:g}mm'


def _to_numpy(x) -> np.ndarray:
    """Tensor or array-like -> CPU numpy array, float32 or float64."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.double()
        return x.numpy()
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


