"""Metric of the toy regressor used to test the training tools."""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mpt_plugin.registry import METRICS


@METRICS.register_module()
class MPTToyMSEMetric(BaseMetric):
    """Mean squared and mean absolute error of ``pred_values``.

    Exists for testing the training machinery (validation/test loops,
    ``tools/test.py``) with :class:`MPTToyRegressor`.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to ``'toy'``.
    """

    default_prefix: Optional[str] = 'toy'

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store ``(C_out,)`` predictions and targets of a batch.

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): Outputs of the model's predict
                mode as dicts with ``pred_values`` and ``gt_values``.
        """
        for data_sample in data_samples:
            for key in ('pred_values', 'gt_values'):
                if key not in data_sample:
                    raise KeyError(f'{type(self).__name__}: data sample has '
                                   f'no {key!r} (keys: {sorted(data_sample)})')
            self.results.append((data_sample['pred_values'].cpu().numpy(),
                                 data_sample['gt_values'].cpu().numpy()))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Average the errors over all samples.

        Args:
            results (list[tuple]): ``(pred, gt)`` pairs of ``(C_out,)``
                arrays.

        Returns:
            dict: ``mse`` and ``mae`` as Python floats.
        """
        preds = np.stack([r[0] for r in results])  # (N, C_out)
        gts = np.stack([r[1] for r in results])  # (N, C_out)
        diff = preds - gts
        return dict(
            mse=float(np.mean(diff**2)), mae=float(np.mean(np.abs(diff))))
