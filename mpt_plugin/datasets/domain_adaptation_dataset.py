"""Paired source/target samples for domain adaptation."""
from typing import Optional, Union

import numpy as np
from torch.utils.data import Dataset

from mpt_plugin.registry import DATASETS

__all__ = ['MPTDomainAdaptationDataset']

_PAIRINGS = ('random', 'aligned')


def _build(cfg: Union[dict, Dataset], name: str) -> Dataset:
    if isinstance(cfg, dict):
        return DATASETS.build(cfg)
    if not hasattr(cfg, '__getitem__') or not hasattr(cfg, '__len__'):
        raise TypeError(f'MPTDomainAdaptationDataset: {name} must be a dataset '
                        f'config or a dataset, got {type(cfg).__name__}')
    return cfg


@DATASETS.register_module()
class MPTDomainAdaptationDataset(Dataset):
    """Yields ``dict(source=source[j], target=target[i'])`` pairs.

    Item ``i`` holds target sample ``i % len(target)`` and a source sample
    chosen by ``pairing``: ``'random'`` draws it uniformly from a generator
    seeded by ``(seed, epoch, i)``, so every epoch pairs each target sample
    with a new source sample (over the epochs a target sample meets many
    source samples, as with independently shuffled source and target
    loaders), while the pairs of one epoch are the same for every
    worker, rank and read order, and a resumed run redraws exactly the
    pairs of the epoch it resumes; the source dataset's own randomness,
    e.g. random rotations, varies on top. ``'aligned'`` takes ``i %
    len(source)`` (every epoch). Collating a list of items gives
    ``dict(source=batch, target=batch)``, what
    :class:`MPTWGANDomainAdaptation` trains on.

    The epoch is set by :meth:`set_epoch`, which ``MPTDatasetEpochHook``
    (``mpt_plugin/engine/hooks/dataset_epoch_hook.py``) calls before every
    training epoch with ``runner.epoch``; the loader must then use
    ``persistent_workers=False`` or ``num_workers=0`` (workers hold copies
    of the dataset). Without the hook the epoch stays 0: one fixed pairing.

    Args:
        source (dict | Dataset): Labelled source-domain dataset (config).
        target (dict | Dataset): Target-domain dataset (config); for a
            label-free adaptation it should return no 3D label (e.g.
            ``Key2MeshAMASSPairsDataset(keypoints2d=..., return_3d=False)``
            or a detections-only ``Key2MeshKeypointsDataset``).
        length (int, optional): Dataset length (an epoch). Defaults to
            None: ``len(target)``.
        pairing (str): ``'random'`` or ``'aligned'``. Defaults to
            ``'random'``.
        seed (int): Seed of the random pairing. Defaults to 0.
        epoch (int): Initial epoch (see :meth:`set_epoch`). Defaults to 0.
    """

    def __init__(self,
                 source: Union[dict, Dataset],
                 target: Union[dict, Dataset],
                 length: Optional[int] = None,
                 pairing: str = 'random',
                 seed: int = 0,
                 epoch: int = 0) -> None:
        if pairing not in _PAIRINGS:
            raise ValueError(f'pairing must be one of {_PAIRINGS}, got '
                             f'{pairing!r}')
        self.source = _build(source, 'source')
        self.target = _build(target, 'target')
        for name, ds in (('source', self.source), ('target', self.target)):
            if len(ds) == 0:
                raise ValueError(f'MPTDomainAdaptationDataset: the {name} '
                                 'dataset is empty')
        if length is not None and (int(length) != length or length < 1):
            raise ValueError(f'length must be a positive integer, got '
                             f'{length!r}')
        self.length = len(self.target) if length is None else int(length)
        self.pairing = pairing
        self.seed = int(seed)
        self.epoch = 0
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the random pairing of ``epoch`` (0-based, as
        ``runner.epoch``).

        Args:
            epoch (int): Non-negative epoch index.
        """
        if int(epoch) != epoch or epoch < 0:
            raise ValueError('MPTDomainAdaptationDataset.set_epoch: epoch must '
                             f'be a non-negative integer, got {epoch!r}')
        self.epoch = int(epoch)

    @property
    def metainfo(self) -> dict:
        """The target dataset's metainfo plus both dataset sizes."""
        meta = dict(getattr(self.target, 'metainfo', {}) or {})
        meta.update(num_source=len(self.source),
                    num_target=len(self.target),
                    source_dataset=type(self.source).__name__,
                    target_dataset=type(self.target).__name__)
        return meta

    def __len__(self) -> int:
        return self.length

    def source_index(self, idx: int) -> int:
        """The source sample paired with item ``idx`` in the current epoch.
        """
        if self.pairing == 'aligned':
            return idx % len(self.source)
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        return int(rng.integers(len(self.source)))

    def __getitem__(self, idx: int) -> dict:
        if not -self.length <= idx < self.length:
            raise IndexError(f'index {idx} out of range for {self.length}')
        idx = int(idx) % self.length
        return dict(source=self.source[self.source_index(idx)],
                    target=self.target[idx % len(self.target)])
