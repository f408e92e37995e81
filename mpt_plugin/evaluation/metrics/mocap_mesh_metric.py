"""Mesh errors on held-out MoCap samples (no images needed)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.registry import METRICS
from ..functional import mpjpe, pa_mpjpe, per_vertex_error

__all__ = ['MPTMoCapMeshMetric']


@METRICS.register_module()
class MPTMoCapMeshMetric(BaseMetric):
    """MPJPE, PA-MPJPE and PVE (mm) of predicted meshes against MoCap meshes.

    Joints follow mmhuman3d's protocol: the 17 H3.6M joints regressed from
    each mesh, centred on their pelvis (joint 0, taken before selection), then
    the 14 LSP joints (``H36M_TO_J14``). PVE compares the full meshes after
    the same pelvis centring. Per-sample errors are computed batch by batch
    in :meth:`process` (vectorised), so only three floats per sample are kept
    and gathered across ranks.

    Each data sample (``PoseDataSample`` as a dict) must hold, in metres:
    ``pred_instances.joints_h36m`` and ``gt_instances.joints_h36m``
    (1, 17, 3), ``pred_instances.vertices`` and ``gt_instances.vertices``
    (1, V, 3), as :class:`MPTPretrainEstimator` predicts them.
    """
    default_prefix = 'mocap'

    def __init__(self, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        def stack(group, key):
            try:
                arrs = [_to_numpy(s[group][key]) for s in data_samples]
            except (KeyError, TypeError) as e:
                raise KeyError(f'{type(self).__name__} needs {group}.{key} in '
                               'each data sample') from e
            return np.concatenate(arrs).astype(np.float64)

        pj = stack('pred_instances', 'joints_h36m')
        gj = stack('gt_instances', 'joints_h36m')
        if pj.shape[1:] != (17, 3) or gj.shape[1:] != (17, 3):
            raise ValueError('pred/gt_joints_h36m must be (17, 3), got '
                             f'{pj.shape[1:]} and {gj.shape[1:]}')
        pelvis_p, pelvis_g = pj[:, :1], gj[:, :1]
        pj = (pj - pelvis_p)[:, H36M_TO_J14] * 1000.0
        gj = (gj - pelvis_g)[:, H36M_TO_J14] * 1000.0
        pv = (stack('pred_instances', 'vertices') - pelvis_p) * 1000.0
        gv = (stack('gt_instances', 'vertices') - pelvis_g) * 1000.0
        errs = np.stack([mpjpe(pj, gj), pa_mpjpe(pj, gj),
                         per_vertex_error(pv, gv)], axis=1)
        self.results.extend(list(errs))

    def compute_metrics(self, results: list) -> dict:
        errs = np.stack(results)
        return dict(mpjpe=float(errs[:, 0].mean()),
                    pa_mpjpe=float(errs[:, 1].mean()),
                    pve=float(errs[:, 2].mean()))


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
