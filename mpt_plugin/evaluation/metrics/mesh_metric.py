"""mmhuman3d 0.11.0-compatible 3D joint and mesh metrics for image datasets.

Reproduces the evaluation protocol of mmhuman3d's
``HumanImageDataset.evaluate`` / ``_parse_result`` as an MMEngine metric:
joint selection by the number of GT joints, pelvis centring, millimetres,
and the metric functions of
:mod:`mpt_plugin.evaluation.functional.mmhuman3d_metrics`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mpt_plugin.body_models.conventions import H36M_TO_J14, SPIN24_TO_J14
from mpt_plugin.registry import METRICS
from ..functional.mmhuman3d_metrics import (auc_from_errors, keypoint_errors,
                                            mpjpe_from_errors,
                                            pck_from_errors)

__all__ = ['MPTMeshMetric', 'vertex_error_sums']

#: Metric name -> (function kind, alignment), as mmhuman3d's ``evaluate``.
_KEYPOINT_METRICS = {
    'mpjpe': ('mpjpe', 'none'),
    'pa-mpjpe': ('mpjpe', 'procrustes'),
    '3dpck': ('pck', 'none'),
    'pa-3dpck': ('pck', 'procrustes'),
    '3dauc': ('auc', 'none'),
    'pa-3dauc': ('auc', 'procrustes'),
}
#: Every accepted metric name (mmhuman3d's ``ALLOWED_METRICS`` minus 'ihmr').
ALLOWED_METRICS = tuple(_KEYPOINT_METRICS) + ('pve', )

_JOINT_KEYS = ('joints_h36m', 'keypoints3d')


@METRICS.register_module()
class MPTMeshMetric(BaseMetric):
    """MPJPE, PA-MPJPE, PVE, 3DPCK and 3DAUC as in mmhuman3d 0.11.0.

    Each data sample (a ``PoseDataSample`` as a dict, as MMEngine passes it)
    holds, in **metres**:

    - ``pred_instances.joints_h36m`` (or ``keypoints3d``): ``(1, K, 3)``
      predicted joints, with the same ``K`` as the GT. The key with the same
      name as the GT's is used when present, else the other one.
    - ``gt_instances.joints_h36m`` (or ``keypoints3d``): ``(1, K, 3)`` GT
      joints; ``joints_h36m`` is used when both are present.
    - ``gt_instances.keypoints3d_mask`` (optional): ``(1, K)`` GT joint
      validity (``> 0`` is valid). Default: all valid.
    - ``pred_instances.vertices`` and ``gt_instances.vertices``:
      ``(1, V, 3)`` meshes, needed only for ``'pve'``.

    Joint selection and centring follow mmhuman3d's ``_parse_result``, by
    the number ``K`` of GT joints:

    - ``K == 17`` (H3.6M regressor order, the shipped benchmarks): the
      pelvis is joint 0 of each of pred and GT, taken **before** selecting
      the LSP-14 joints :data:`H36M_TO_J14`.
    - ``K == 24`` (mmhuman3d's ``smpl_24``, SPIN's 24 joints, not the SMPL
      kinematic joints): keep :data:`SPIN24_TO_J14` (``0..12`` and
      ``head_extra`` 18), then the pelvis is the mean of the selected joints
      2 and 3 (right/left hip), taken after selection.

    Then ``(joints - pelvis) * 1000`` (mm) and ``mask[:, selection] > 0``.

    PVE compares the meshes directly in mm, without any root or pelvis
    alignment: mmhuman3d poses both with zero translation. For the 3DPW
    protocol, the GT vertices must come from the **gendered** SMPL (the
    subject's gender from the annotations) run on the GT pose and shape; the
    dataset pipeline produces them. mmhuman3d also re-poses the predicted
    pose/shape through that gendered model; here the prediction side is
    whatever the model predicts (``pred_instances.vertices``, usually the
    neutral SMPL, without camera translation), so PVE can differ slightly
    from mmhuman3d's number on 3DPW.

    To keep memory small only the 14 selected joints (pred and GT, mm) and
    their mask, packed in one ``(14, 7)`` array, and, for PVE, the per-sample sum of vertex errors (mm) and
    vertex count are kept per sample. PVE is the total error sum divided by
    the total vertex count, i.e. exactly mmhuman3d's mean over all vertices
    of all samples. The joint metrics are computed once on all gathered
    samples in :meth:`compute_metrics`, so masked means are over all valid
    joints of all samples, as in mmhuman3d.

    Args:
        metric (str | Sequence[str]): Metric names among
            :data:`ALLOWED_METRICS` (``'mpjpe'``, ``'pa-mpjpe'``, ``'pve'``,
            ``'3dpck'``, ``'pa-3dpck'``, ``'3dauc'``, ``'pa-3dauc'``).
            Default: ``('mpjpe', 'pa-mpjpe', 'pve')``.
        pck_threshold (float): 3DPCK threshold in mm (strict ``<``).
            Default: 150.
        collect_device (str): Device used to gather results across ranks,
            ``'cpu'`` or ``'gpu'``. Default: ``'cpu'``.
        prefix (str, optional): Prefix of the result keys; ``None`` uses
            :attr:`default_prefix` (``'mesh'``), giving e.g.
            ``'mesh/PA-MPJPE'``.

    The results are keyed by the upper-cased metric names: ``'MPJPE'``,
    ``'PA-MPJPE'``, ``'PVE'`` (mm), ``'3DPCK'``, ``'PA-3DPCK'``, ``'3DAUC'``,
    ``'PA-3DAUC'`` (%).
    """
    default_prefix: Optional[str] = 'mesh'

    def __init__(self,
                 metric: Union[str, Sequence[str]] = ('mpjpe', 'pa-mpjpe',
                                                      'pve'),
                 pck_threshold: float = 150.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if not metrics:
            raise ValueError(f'{type(self).__name__}: metric is empty, '
                             f'expected some of {ALLOWED_METRICS}')
        unknown = [m for m in metrics if m not in ALLOWED_METRICS]
        if unknown:
            raise KeyError(f'{type(self).__name__}: unknown metric(s) '
                           f'{unknown}, expected some of {ALLOWED_METRICS}')
        # drop duplicates, keep order
        self.metrics = list(dict.fromkeys(metrics))
        self.pck_threshold = float(pck_threshold)
        self._need_joints = any(m in _KEYPOINT_METRICS for m in self.metrics)
        self._need_vertices = 'pve' in self.metrics

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Select, centre and store the joints / vertex errors of a batch.

        Args:
            data_batch: Unused (the inputs of the batch).
            data_samples (Sequence[dict]): Per-sample dicts with
                ``pred_instances`` and ``gt_instances`` as described in the
                class docstring (metres; tensors or arrays).
        """
        n = len(data_samples)
        if n == 0:
            return
        per_sample: List[Dict[str, np.ndarray]] = [{} for _ in range(n)]
        if self._need_joints:
            pred_j, gt_j, mask = self._select_joints(data_samples)
            # one (14, 7) row per sample: pred xyz, GT xyz (mm), mask
            packed = np.concatenate([pred_j, gt_j, mask[..., None]], axis=-1)
            for i in range(n):
                per_sample[i]['joints'] = packed[i]
        if self._need_vertices:
            err_sum, num_verts = self._vertex_error_sums(data_samples)
            for i in range(n):
                per_sample[i].update(
                    pve_sum=np.float64(err_sum[i]),
                    pve_count=np.int64(num_verts))
        self.results.extend(per_sample)

    def _vertex_error_sums(self, data_samples: Sequence[dict]
                           ) -> Tuple[np.ndarray, int]:
        """Per-sample sums of vertex errors (mm), no alignment.

        Computed on the tensors' own device; only the ``(B,)`` sums are
        copied to the host. When the per-sample meshes of a group are
        consecutive rows of one tensor (as estimators produce them:
        ``vertices[i:i + 1]`` of the batch output) the whole batch is
        processed as that ``(B, V, 3)`` tensor without a copy; otherwise
        sample by sample (never concatenated: on a CPU the copy costs more
        than the errors). Distances are in the meshes' precision (float32
        for model outputs, as mmhuman3d), sums in float64.

        Returns:
            tuple: ``(B,)`` float64 error sums in mm and the vertex count V.
        """
        name = type(self).__name__
        meshes = {}
        for group in ('pred_instances', 'gt_instances'):
            tensors = []
            for i, sample in enumerate(data_samples):
                fields = _get_group(sample, group, name)
                if 'vertices' not in fields:
                    raise KeyError(f'{name}: data sample {i} has no '
                                   f'{group}.vertices (needed for PVE)')
                v = torch.as_tensor(fields['vertices']).detach()
                if v.dim() == 2:
                    v = v[None]
                if v.dim() != 3 or v.shape[0] != 1 or v.shape[2] != 3:
                    raise ValueError(f'{name}: {group}.vertices of sample {i}'
                                     ' must be (1, V, 3) in metres, got '
                                     f'{tuple(v.shape)}')
                tensors.append(v)
            meshes[group] = tensors
        preds, gts = meshes['pred_instances'], meshes['gt_instances']
        num_verts = preds[0].shape[1]
        for i, (pred_v, gt_v) in enumerate(zip(preds, gts)):
            if pred_v.shape != gt_v.shape or pred_v.shape[1] != num_verts:
                raise ValueError(
                    f'{name}: pred_instances.vertices and gt_instances.'
                    'vertices must have equal (1, V, 3) shapes in a batch, '
                    f'got {tuple(pred_v.shape)} and {tuple(gt_v.shape)} for '
                    f'sample {i}')
        pred_rows, gt_rows = _consecutive_rows(preds), _consecutive_rows(gts)
        if pred_rows is not None and gt_rows is not None:
            sums = vertex_error_sums(pred_rows, gt_rows)
        else:
            sums = torch.cat([
                vertex_error_sums(pred_v, gt_v)
                for pred_v, gt_v in zip(preds, gts)
            ])
        # one device -> host copy per batch
        return sums.cpu().numpy() * 1000., num_verts

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Computes the metrics on all gathered samples.

        Args:
            results (list): Per-sample dicts stored by :meth:`process`.

        Returns:
            Dict[str, float]: Upper-cased metric name -> value (mm or %).
        """
        if not results:
            raise ValueError(f'{type(self).__name__}: no sample was '
                             'processed')
        out: Dict[str, float] = {}
        if self._need_joints:
            packed = np.stack([r['joints'] for r in results])  # (N, 14, 7)
            pred, gt = packed[..., :3], packed[..., 3:6]  # mm
            mask = packed[..., 6] > 0  # (N, 14)
        errors = {}  # alignment -> (errors, mask): one Procrustes pass
        for name in self.metrics:
            if name == 'pve':
                total = np.sum([r['pve_sum'] for r in results])
                count = np.sum([r['pve_count'] for r in results])
                out['PVE'] = float(total / count)
                continue
            kind, alignment = _KEYPOINT_METRICS[name]
            if alignment not in errors:
                errors[alignment] = keypoint_errors(pred, gt, mask,
                                                    alignment)
            err, valid = errors[alignment]
            if kind == 'mpjpe':
                value = mpjpe_from_errors(err, valid)
            elif kind == 'pck':
                value = pck_from_errors(err, valid, self.pck_threshold)
            else:
                value = auc_from_errors(err, valid)
            out[name.upper()] = value
        return out

    def _select_joints(
        self, data_samples: Sequence[dict]
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """mmhuman3d's joint selection, pelvis centring and mm conversion.

        Returns:
            tuple: ``pred (B, 14, 3)`` mm, ``gt (B, 14, 3)`` mm and the
            ``(B, 14)`` bool mask.
        """
        name = type(self).__name__
        gt_key = _pick_key(data_samples[0], 'gt_instances', _JOINT_KEYS, name)
        pred_keys = (gt_key, ) + tuple(k for k in _JOINT_KEYS if k != gt_key)
        pred_key = _pick_key(data_samples[0], 'pred_instances', pred_keys,
                             name)
        gt = _stack_tensors(data_samples, 'gt_instances', gt_key,
                            name).cpu().double().numpy()
        pred = _stack_tensors(data_samples, 'pred_instances', pred_key,
                              name).cpu().double().numpy()
        num_gt = gt.shape[1]
        if pred.shape[1] != num_gt:
            raise ValueError(
                f'{name}: pred_instances.{pred_key} has {pred.shape[1]} '
                f'joints but gt_instances.{gt_key} has {num_gt}; mmhuman3d '
                'needs the same joint set on both sides')
        mask = self._stack_mask(data_samples, num_gt)  # (B, K)

        if num_gt == 17:
            # pelvis = H36M joint 0, taken BEFORE the selection
            pred_pelvis, gt_pelvis = pred[:, :1], gt[:, :1]
            selection = H36M_TO_J14
            pred, gt = pred[:, selection], gt[:, selection]
        elif num_gt == 24:
            selection = SPIN24_TO_J14
            pred, gt = pred[:, selection], gt[:, selection]
            # pelvis = mean of the selected right/left hips, AFTER selection
            pred_pelvis = (pred[:, 2:3] + pred[:, 3:4]) / 2
            gt_pelvis = (gt[:, 2:3] + gt[:, 3:4]) / 2
        else:
            raise ValueError(
                f'{name}: gt_instances.{gt_key} has {num_gt} joints; '
                'expected 17 (H3.6M order) or 24 (mmhuman3d smpl_24)')
        pred = (pred - pred_pelvis) * 1000.
        gt = (gt - gt_pelvis) * 1000.
        return pred, gt, mask[:, selection] > 0

    def _stack_mask(self, data_samples: Sequence[dict],
                    num_joints: int) -> np.ndarray:
        """``(B, K)`` GT masks; all ones where ``keypoints3d_mask`` is
        absent."""
        if not any('keypoints3d_mask' in _get_group(
                sample, 'gt_instances', type(self).__name__)
                   for sample in data_samples):
            return np.ones((len(data_samples), num_joints))
        masks = []
        for i, sample in enumerate(data_samples):
            gt = _get_group(sample, 'gt_instances', type(self).__name__)
            if 'keypoints3d_mask' not in gt:
                masks.append(np.ones(num_joints))
                continue
            m = _to_numpy(gt['keypoints3d_mask'])
            if m.size != num_joints or m.ndim not in (1, 2) or (
                    m.ndim == 2 and m.shape[0] != 1):
                raise ValueError(
                    f'{type(self).__name__}: gt_instances.keypoints3d_mask '
                    f'of sample {i} must be (1, {num_joints}) or '
                    f'({num_joints},), got {m.shape}')
            masks.append(m.reshape(num_joints))
        return np.stack(masks)


# ---------------------------------------------------------------- helpers
def vertex_error_sums(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Sum over vertices of the Euclidean vertex errors, per mesh.

    Args:
        pred (Tensor): ``(B, V, 3)`` predicted vertices.
        gt (Tensor): ``(B, V, 3)`` ground-truth vertices (same units; cast
            to ``pred``'s dtype and device).

    Returns:
        Tensor: ``(B,)`` float64 sums of ``||pred - gt||``, in the inputs'
        unit, on ``pred``'s device.
    """
    if not pred.is_floating_point():
        pred = pred.float()
    diff = pred - gt.to(pred)
    diff.mul_(diff)
    # x^2 + y^2 + z^2 as two strided adds: reducing a size-3 last dim with
    # sum(-1) or vector_norm is several times slower on a CPU
    sq_norm = diff[..., 0] + diff[..., 1]
    sq_norm.add_(diff[..., 2])
    return sq_norm.sqrt_().sum(-1, dtype=torch.float64)


def _consecutive_rows(tensors: Sequence[torch.Tensor]
                      ) -> Optional[torch.Tensor]:
    """``(B, V, 3)`` view of ``B`` ``(1, V, 3)`` tensors that are consecutive
    rows of one contiguous tensor (``batch[k:k + B]`` split sample by
    sample), or None when they are not.

    Only data pointers and strides are compared; nothing is copied.
    """
    first = tensors[0]
    if not first.is_contiguous():
        return None
    row = first[0].numel()
    step = row * first.element_size()
    storage_ptr = first.untyped_storage().data_ptr()
    ptr = first.data_ptr()
    for i, t in enumerate(tensors):
        if (t.data_ptr() != ptr + i * step or t.dtype != first.dtype
                or t.device != first.device or not t.is_contiguous()
                or t.untyped_storage().data_ptr() != storage_ptr):
            return None
    end = (first.storage_offset() + len(tensors) * row) * first.element_size()
    if end > first.untyped_storage().nbytes():
        return None
    num_verts = first.shape[1]
    return first.as_strided((len(tensors), num_verts, 3),
                            (num_verts * 3, 3, 1), first.storage_offset())


def _to_numpy(x) -> np.ndarray:
    """Tensor or array-like -> numpy array."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _get_group(sample: dict, group: str, owner: str) -> dict:
    """``sample[group]`` with a clear error when missing."""
    try:
        return sample[group]
    except (KeyError, TypeError) as e:
        raise KeyError(f'{owner}: each data sample needs {group!r}') from e


def _pick_key(sample: dict, group: str, keys: Sequence[str],
              owner: str) -> str:
    """First of ``keys`` present in ``sample[group]``."""
    fields = _get_group(sample, group, owner)
    for key in keys:
        if key in fields:
            return key
    raise KeyError(f'{owner}: each data sample needs {group}.{keys[0]} '
                   f'(or {group}.{keys[1]})')


def _stack_tensors(data_samples: Sequence[dict], group: str, key: str,
                   owner: str) -> torch.Tensor:
    """Stack ``sample[group][key]`` of a batch into a ``(B, K, 3)`` tensor.

    Each value is ``(1, K, 3)`` or ``(K, 3)`` (tensor or array). Tensors
    stay on their device (so vertex errors of a GPU model are computed on
    the GPU), float32 unless float64. The common case, equal-shaped
    ``(1, K, 3)`` tensors, is one ``torch.cat``; anything else is checked
    per sample with an error naming it.
    """
    values = []
    for i, sample in enumerate(data_samples):
        fields = _get_group(sample, group, owner)
        if key not in fields:
            raise KeyError(f'{owner}: data sample {i} has no {group}.{key}')
        values.append(fields[key])
    first = values[0]
    if (isinstance(first, torch.Tensor) and first.dim() == 3
            and first.shape[0] == 1 and first.shape[2] == 3):
        try:
            out = torch.cat(values).detach()
        except (TypeError, RuntimeError):
            out = None
        if out is not None and out.shape[0] == len(values):
            return out if out.dtype == torch.float64 else out.float()
    tensors = []
    for i, value in enumerate(values):
        t = torch.as_tensor(value).detach()
        if t.dim() == 3 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 2 or t.shape[-1] != 3:
            raise ValueError(f'{owner}: {group}.{key} of sample {i} must be '
                             f'(1, K, 3) in metres, got {tuple(t.shape)}')
        tensors.append(t.to(first.device if isinstance(first, torch.Tensor)
                            else 'cpu'))
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f'{owner}: {group}.{key} shapes differ within the '
                         f'batch: {sorted(shapes)}')
    out = torch.stack(tensors)
    return out if out.dtype == torch.float64 else out.float()
