"""Data preprocessor of the toy regressor used to test the training tools."""
from typing import Optional

import torch
from mmengine.model import BaseDataPreprocessor

from mpt_plugin.registry import MODELS


@MODELS.register_module()
class MPTToyDataPreprocessor(BaseDataPreprocessor):
    """Move a collated batch to the model's device and stack its inputs.

    Exists for testing the training machinery together with
    :class:`MPTToyRegressor`.

    The dataloader (``pseudo_collate``) gives ``inputs`` as a list of ``B``
    tensors of shape ``(C_in,)``; they become one ``(B, C_in)`` float tensor.
    ``data_samples`` are only moved to the device.

    Args:
        non_blocking (bool, optional): See
            :class:`mmengine.model.BaseDataPreprocessor`. Defaults to False.
    """

    def __init__(self, non_blocking: Optional[bool] = False) -> None:
        super().__init__(non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Stack the inputs of a collated batch.

        Args:
            data (dict): ``inputs`` (list of ``(C_in,)`` tensors or a
                ``(B, C_in)`` tensor) and optional ``data_samples``.
            training (bool): Unused. Defaults to False.

        Returns:
            dict: ``inputs`` ``(B, C_in)`` float tensor and ``data_samples``.
        """
        if 'inputs' not in data:
            raise KeyError(f'{type(self).__name__}: the batch has no '
                           f"'inputs' key (keys: {sorted(data)})")
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(f'{type(self).__name__}: all inputs must '
                                 f'share one shape, got {sorted(shapes)}')
            inputs = torch.stack(list(inputs))
        return dict(
            inputs=inputs.float(), data_samples=data.get('data_samples'))
