"""A synthetic regression dataset for testing the training machinery.

It exists only so that the train/test tools, distributed launch and
checkpoint resume can be exercised in seconds on a CPU; it has nothing to do
with human pose or meshes.
"""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement

from mpt_plugin.registry import DATASETS


@DATASETS.register_module()
class MPTToyRegressionDataset(BaseDataset):
    """Deterministic synthetic linear-regression pairs ``y = W x + b + e``.

    This dataset exists for testing the training machinery (``tools/train.py``,
    distributed launch, checkpoint resume); it is not a real dataset.

    ``W`` (shape ``(C_out, C_in)``) and ``b`` (shape ``(C_out,)``) are drawn
    from ``weight_seed``; the inputs ``x`` and the noise ``e`` from
    ``sample_seed``, so a train and a val split of the same task share ``W``
    and differ in their samples. Everything is float32 and unitless.

    Each item is ``dict(inputs=x, data_samples=BaseDataElement(gt_values=y))``
    with ``x`` a ``(C_in,)`` tensor and ``y`` a ``(C_out,)`` tensor; the
    sample's index is in the data sample's metainfo (``sample_idx``).

    Args:
        num_samples (int): Number of pairs. Defaults to 32.
        in_channels (int): ``C_in``. Defaults to 4.
        out_channels (int): ``C_out``. Defaults to 2.
        noise_std (float): Standard deviation of the additive Gaussian noise
            ``e``. Defaults to 0.01.
        weight_seed (int): Seed of ``W`` and ``b``. Defaults to 0.
        sample_seed (int, optional): Seed of ``x`` and ``e``. Defaults to
            ``weight_seed + 1`` when None.
        test_mode (bool): Passed to :class:`mmengine.dataset.BaseDataset`.
            Defaults to False.
        indices (int | Sequence[int], optional): Subset of the samples, as in
            :class:`mmengine.dataset.BaseDataset`. Defaults to None.

    The dataset's ``metainfo`` holds ``weight`` (``(C_out, C_in)`` float32
    ndarray) and ``bias`` (``(C_out,)`` float32 ndarray), so Runner
    checkpoints carry numpy arrays in ``meta['dataset_meta']`` as they do with
    MMPose datasets.
    """

    METAINFO: dict = dict(dataset_name='mpt_toy_regression')

    def __init__(self,
                 num_samples: int = 32,
                 in_channels: int = 4,
                 out_channels: int = 2,
                 noise_std: float = 0.01,
                 weight_seed: int = 0,
                 sample_seed: Optional[int] = None,
                 test_mode: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None) -> None:
        sizes = dict(
            num_samples=num_samples,
            in_channels=in_channels,
            out_channels=out_channels)
        for name, value in sizes.items():
            if int(value) != value or value < 1:
                raise ValueError(f'{type(self).__name__}: {name} must be a '
                                 f'positive integer, got {value!r}')
        if noise_std < 0:
            raise ValueError(f'{type(self).__name__}: noise_std must be '
                             f'>= 0, got {noise_std!r}')
        if sample_seed is None:
            sample_seed = weight_seed + 1
        weight_rng = np.random.default_rng(weight_seed)
        weight = weight_rng.standard_normal(
            (out_channels, in_channels)) / np.sqrt(in_channels)
        bias = weight_rng.standard_normal(out_channels)
        sample_rng = np.random.default_rng(sample_seed)
        x = sample_rng.standard_normal((num_samples, in_channels))
        noise = noise_std * sample_rng.standard_normal(
            (num_samples, out_channels))
        # (N, C_in) and (N, C_out), float32
        self._x = x.astype(np.float32)
        self._y = (x @ weight.T + bias + noise).astype(np.float32)
        metainfo = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            weight_seed=weight_seed,
            sample_seed=sample_seed,
            noise_std=float(noise_std),
            weight=weight.astype(np.float32),
            bias=bias.astype(np.float32))
        super().__init__(
            metainfo=metainfo,
            serialize_data=False,
            test_mode=test_mode,
            indices=indices)

    def load_data_list(self) -> List[dict]:
        """Build one info dict per sample.

        Returns:
            list[dict]: ``x`` ``(C_in,)``, ``y`` ``(C_out,)`` float32 arrays
            and ``sample_idx``.
        """
        return [
            dict(x=self._x[i], y=self._y[i], sample_idx=i)
            for i in range(len(self._x))
        ]

    def prepare_data(self, idx: int) -> dict:
        """Pack the ``idx``-th sample for the model.

        Args:
            idx (int): Index in the (possibly sub-sampled) dataset.

        Returns:
            dict: ``inputs`` ``(C_in,)`` tensor and ``data_samples``, a
            :class:`BaseDataElement` with ``gt_values`` ``(C_out,)``.
        """
        info = self.get_data_info(idx)
        data_sample = BaseDataElement(
            metainfo=dict(sample_idx=info['sample_idx']))
        data_sample.gt_values = torch.from_numpy(info['y'].copy())
        return dict(
            inputs=torch.from_numpy(info['x'].copy()),
            data_samples=data_sample)
