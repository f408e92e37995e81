"""Evaluate and visualise MoCap pre-training without a Runner.

Used by the demo and the learning benchmark to compare an untrained and a
trained model on the same held-out motions, with or without test-time joint
masking.
"""
import contextlib
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from mpt_plugin.evaluation.metrics import MPTMoCapMeshMetric

__all__ = ['evaluate_mocap_model', 'save_mocap_prediction_figure']


@contextlib.contextmanager
def _test_mask_ratio(model, ratio: Optional[float]):
    """Temporarily set the MHM module's test-time mask ratio."""
    mhm = getattr(model.data_preprocessor, 'mhm', None)
    if ratio is None:
        yield
        return
    if mhm is None:
        raise ValueError('test-time masking needs a data preprocessor with an '
                         'MPTMaskedHeatmapModeling module (mhm=...)')
    old = mhm.test_mask_ratio
    mhm.test_mask_ratio = float(ratio)
    try:
        yield
    finally:
        mhm.test_mask_ratio = old


@torch.no_grad()
def evaluate_mocap_model(model, dataset: Dataset, batch_size: int = 64,
                         num_workers: int = 0,
                         test_mask_ratio: Optional[float] = None) -> dict:
    """MPJPE, PA-MPJPE and PVE (mm) of ``model`` on every sample of
    ``dataset`` (an ``MPTMoCapHeatmapDataset``).

    Args:
        model: an ``MPTPretrainEstimator`` (its ``test_step`` is used).
        dataset: held-out MoCap samples.
        batch_size, num_workers: loader settings.
        test_mask_ratio: if given, mask exactly this fraction of joints of
            every sample (deterministically) for this evaluation.

    Returns:
        dict: ``mpjpe``, ``pa_mpjpe``, ``pve`` in millimetres and
        ``num_samples``.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=default_collate)
    metric = MPTMoCapMeshMetric()
    was_training = model.training
    model.eval()
    try:
        with _test_mask_ratio(model, test_mask_ratio):
            for batch in loader:
                outputs = model.test_step(batch)
                metric.process(batch, [o.to_dict() for o in outputs])
    finally:
        model.train(was_training)
    n = len(metric.results)
    return dict(metric.compute_metrics(metric.results), num_samples=n)


@torch.no_grad()
def save_mocap_prediction_figure(model, dataset: Dataset,
                                 indices: Sequence[int], faces: np.ndarray,
                                 path: str) -> str:
    """Write a PNG of input joints, GT and predicted meshes (front and side
    views) for ``indices`` of ``dataset``, with each sample's PVE."""
    from mpt_plugin.visualization import save_mesh_comparison
    batch = default_collate([dataset[int(i)] for i in indices])
    was_training = model.training
    model.eval()
    try:
        outputs = model.test_step(batch)
        # the 2D joints the model saw (posed and projected on the device)
        joints_hm = model.data_preprocessor(batch, False)['inputs'][
            'joints_px']
    finally:
        model.train(was_training)
    pred = torch.cat([o.pred_instances.vertices for o in outputs]).cpu()
    gt = torch.cat([o.gt_instances.vertices for o in outputs]).cpu()
    pve_mm = (pred - gt).norm(dim=-1).mean(dim=-1).numpy() * 1000.0
    return save_mesh_comparison(
        path, pred.numpy(), gt.numpy(), faces,
        titles=[f'held-out #{int(i)}' for i in indices],
        joints2d_hm=joints_hm.cpu().numpy(), errors_mm=pve_mm,
        hm_size=getattr(model.data_preprocessor, 'heatmap_size', None))
