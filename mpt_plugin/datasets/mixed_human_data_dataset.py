"""Several HumanData datasets mixed with fixed sampling shares."""
import copy
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from mpt_plugin.registry import DATASETS

__all__ = ['MPTMixedHumanDataDataset']


@DATASETS.register_module()
class MPTMixedHumanDataDataset(Dataset):
    """Mixes datasets with given sampling shares, deterministically.

    The counterpart of mmhuman3d's ``MixedDataset(configs, partition,
    num_data)``: an epoch of ``length`` samples draws a share
    ``partition[d] / sum(partition)`` from dataset ``d``. Where mmhuman3d
    draws each sample at random (``WeightedRandomSampler``, ignoring the
    index), the mapping here is a fixed function of the index:

    - dataset ``d`` gets ``n_d`` slots, ``length * share_d`` rounded by the
      largest-remainder rule (so ``sum(n_d) == length``);
    - the slots are interleaved: slot ``k`` of dataset ``d`` sits at time
      ``(k + 0.5) / n_d`` and all slots are ordered by time (ties by ``d``),
      so every contiguous range of indices follows the shares;
    - slot ``k`` of dataset ``d`` reads sample
      ``(floor(k * len_d / n_d) + epoch) % len_d``: evenly strided over the
      whole dataset when ``n_d < len_d`` (each sample repeated about
      ``n_d / len_d`` times otherwise). ``epoch`` is 0 unless
      :meth:`set_epoch` is called; stepping it lets successive epochs visit
      the samples a stride skips (nothing in MMEngine calls it
      automatically, and with persistent workers it must be called before
      the workers start).

    Every sub-dataset must produce the same keys: HumanData datasets must
    share their ``convention`` (same ``K`` joints); missing ground truth is
    marked by ``keypoints*_visible`` and ``has_smpl`` so losses can be
    masked per sample.

    Args:
        datasets (Sequence[dict | Dataset]): Dataset configs (built from
            ``DATASETS``) or built datasets.
        partition (Sequence[float]): Non-negative sampling shares, one per
            dataset, normalised to sum 1.
        length (int, optional): Samples per epoch. Defaults to the length
            of the largest dataset (as mmhuman3d).
        lazy_init (bool): Defer the index table to :meth:`full_init` (the
            sub-datasets follow their own ``lazy_init``). Defaults to False.

    Raises:
        ValueError: Mismatched/negative/all-zero ``partition``, bad
            ``length``, an empty dataset with a positive share, or
            sub-datasets with different conventions.
    """

    def __init__(self,
                 datasets: Sequence[Union[dict, Dataset]],
                 partition: Sequence[float],
                 length: Optional[int] = None,
                 lazy_init: bool = False) -> None:
        if len(datasets) == 0:
            raise ValueError('MPTMixedHumanDataDataset needs at least one '
                             'dataset')
        if len(partition) != len(datasets):
            raise ValueError(f'partition has {len(partition)} entries for '
                             f'{len(datasets)} datasets')
        shares = np.asarray(partition, dtype=np.float64)
        if shares.ndim != 1 or not np.isfinite(shares).all() or (
                shares < 0).any() or shares.sum() <= 0:
            raise ValueError('partition must be finite, non-negative and '
                             f'not all zero, got {list(partition)}')
        if length is not None and (not isinstance(length, (int, np.integer))
                                   or length < 1):
            raise ValueError(
                f'length must be a positive int or None, got {length!r}')
        self.datasets: List[Dataset] = [
            DATASETS.build(d) if isinstance(d, dict) else d for d in datasets
        ]
        self.partition = shares / shares.sum()
        self._length_arg = None if length is None else int(length)
        self._epoch = 0
        self._fully_initialized = False
        conventions = {
            getattr(d, 'metainfo', {}).get('convention')
            for d in self.datasets
        } - {None}
        if len(conventions) > 1:
            raise ValueError('all datasets must share one keypoint '
                             f'convention, got {sorted(conventions)}')
        meta = copy.deepcopy(getattr(self.datasets[0], 'metainfo', {}))
        meta['dataset_name'] = 'mixed'
        meta['dataset_names'] = [
            getattr(d, 'metainfo', {}).get('dataset_name',
                                           type(d).__name__)
            for d in self.datasets
        ]
        meta['partition'] = self.partition.tolist()
        self._metainfo = meta
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The first dataset's meta information with ``dataset_name``
        ``'mixed'``, ``dataset_names`` and the normalised ``partition``."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Initialises the sub-datasets and builds the index table."""
        if self._fully_initialized:
            return
        for d in self.datasets:
            if hasattr(d, 'full_init'):
                d.full_init()
        self.dataset_lengths = np.array([len(d) for d in self.datasets],
                                        dtype=np.int64)
        empty = [
            i for i, (n, p) in enumerate(
                zip(self.dataset_lengths, self.partition)) if n == 0 and p > 0
        ]
        if empty:
            raise ValueError(f'dataset(s) {empty} are empty but have a '
                             'positive share in partition')
        self.length = (self._length_arg if self._length_arg is not None else
                       int(self.dataset_lengths.max()))
        self.slot_counts = self._slot_counts(self.partition, self.length)
        self._slot_dataset, self._slot_rank = self._interleave(
            self.slot_counts)
        self._fully_initialized = True

    @staticmethod
    def _slot_counts(shares: np.ndarray, length: int) -> np.ndarray:
        """Largest-remainder rounding of ``length * shares`` (ties go to
        the lower dataset index)."""
        exact = shares * length
        counts = np.floor(exact).astype(np.int64)
        left = length - int(counts.sum())
        if left > 0:
            order = np.argsort(-(exact - counts), kind='stable')
            counts[order[:left]] += 1
        return counts

    @staticmethod
    def _interleave(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Per slot, its dataset and its rank among that dataset's slots."""
        dataset = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        rank = np.concatenate(
            [np.arange(c, dtype=np.int64) for c in counts])
        when = (rank + 0.5) / np.maximum(counts[dataset], 1)
        order = np.lexsort((dataset, when))
        return dataset[order].astype(np.int16), rank[order]

    def set_epoch(self, epoch: int) -> None:
        """Shifts which samples the strided slots read (see the class
        docstring)."""
        self._epoch = int(epoch)

    def __len__(self) -> int:
        self.full_init()
        return self.length

    def dataset_index(self, idx: int) -> Tuple[int, int]:
        """Maps a mixed index to ``(dataset index, sample index)``.

        Args:
            idx (int): Index in ``[-len(self), len(self))``.

        Returns:
            tuple[int, int]: The dataset and the index within it.

        Raises:
            IndexError: ``idx`` out of range.
        """
        self.full_init()
        if not -self.length <= idx < self.length:
            raise IndexError(f'index {idx} out of range for a '
                             f'MPTMixedHumanDataDataset of length {self.length}')
        idx = int(idx) % self.length
        d = int(self._slot_dataset[idx])
        num = int(self.dataset_lengths[d])
        k = int(self._slot_rank[idx])
        sample = (k * num // int(self.slot_counts[d]) + self._epoch) % num
        return d, sample

    def get_data_info(self, idx: int) -> dict:
        """The sub-dataset's ``get_data_info`` of the mapped sample."""
        d, sample = self.dataset_index(idx)
        return self.datasets[d].get_data_info(sample)

    def __getitem__(self, idx: int) -> Any:
        d, sample = self.dataset_index(idx)
        return self.datasets[d][sample]
