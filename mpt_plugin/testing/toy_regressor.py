"""A tiny regression model for testing the training machinery."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from mpt_plugin.registry import MODELS
from .toy_data_preprocessor import MPTToyDataPreprocessor


@MODELS.register_module()
class MPTToyRegressor(BaseModel):
    """Two-layer MLP regressing ``(B, C_out)`` targets from ``(B, C_in)``.

    This model exists for testing the training machinery (``tools/train.py``,
    ``tools/test.py``, distributed launch, checkpoint resume) with
    :class:`MPTToyRegressionDataset`; it is small so that tests are fast.

    Targets are read from ``data_sample.gt_values`` (``(C_out,)`` each);
    predictions are written to ``data_sample.pred_values``.

    Args:
        in_channels (int): ``C_in``. Defaults to 4.
        hidden_channels (int): Width of the hidden layer. Defaults to 16.
        out_channels (int): ``C_out``. Defaults to 2.
        data_preprocessor (dict | nn.Module, optional): A config (built in
            the current registry scope, e.g. ``mmpose``) or a module.
            Defaults to a :class:`MPTToyDataPreprocessor`.
        init_cfg (dict, optional): MMEngine weight init config. Defaults to
            None.
    """

    def __init__(self,
                 in_channels: int = 4,
                 hidden_channels: int = 16,
                 out_channels: int = 2,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            # an instance, so the model also builds outside a registry scope
            data_preprocessor = MPTToyDataPreprocessor()
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.ReLU(),
            nn.Linear(hidden_channels, out_channels))

    def _targets(self, data_samples: Optional[List[BaseDataElement]],
                 batch_size: int) -> torch.Tensor:
        """Stack ``gt_values`` of the data samples into ``(B, C_out)``."""
        if data_samples is None or len(data_samples) != batch_size:
            got = None if data_samples is None else len(data_samples)
            raise ValueError(f'{type(self).__name__}: loss mode needs one '
                             f'data sample per input ({batch_size}), got '
                             f'{got}')
        if not all('gt_values' in ds for ds in data_samples):
            raise KeyError(f'{type(self).__name__}: every data sample '
                           "needs 'gt_values' of shape (C_out,)")
        return torch.stack([ds.gt_values for ds in data_samples]).float()

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[BaseDataElement]] = None,
        mode: str = 'tensor'
    ) -> Union[Dict[str, torch.Tensor], list, torch.Tensor]:
        """Run the MLP in one of MMEngine's three modes.

        Args:
            inputs (torch.Tensor): ``(B, C_in)`` inputs.
            data_samples (list[BaseDataElement], optional): ``B`` samples
                with ``gt_values`` ``(C_out,)``; needed for ``'loss'``.
            mode (str): ``'loss'`` (dict with ``loss_mse``), ``'predict'``
                (data samples with ``pred_values`` ``(C_out,)``) or
                ``'tensor'`` (``(B, C_out)`` predictions).

        Returns:
            dict | list | torch.Tensor: See ``mode``.
        """
        if inputs.dim() != 2 or inputs.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__}: inputs must have shape '
                             f'(B, {self.in_channels}), got '
                             f'{tuple(inputs.shape)}')
        preds = self.mlp(inputs)  # (B, C_out)
        if mode == 'tensor':
            return preds
        if mode == 'loss':
            targets = self._targets(data_samples, preds.shape[0])
            return dict(loss_mse=F.mse_loss(preds, targets))
        if mode == 'predict':
            if data_samples is None:
                data_samples = [BaseDataElement() for _ in range(len(preds))]
            for data_sample, pred in zip(data_samples, preds.detach()):
                data_sample.pred_values = pred
            return data_samples
        raise ValueError(f'{type(self).__name__}: mode must be "loss", '
                         f'"predict" or "tensor", got {mode!r}')
