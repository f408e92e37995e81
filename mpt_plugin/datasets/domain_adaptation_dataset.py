"""Paired source/target samples for domain adaptation."""
from typing import Optional, Union

import numpy as np
from torch.utils.data import Dataset

from mpt_plugin.registry import DATASETS

__all__ = ['DomainAdaptationDataset']

_PAIRINGS = ('random', 'aligned')


def _build(cfg: Union[dict, Dataset], name: str) -> Dataset:
    if isinstance(cfg, dict):
        return DATASETS.build(cfg)
    if not hasattr(cfg, '__getitem__') or not hasattr(cfg, '__len__'):
        raise TypeError(f'DomainAdaptationDataset: {name} must be a dataset '
                        f'config or a dataset, got {type(cfg).__name__}')
    return cfg


@DATASETS.register_module()
class DomainAdaptationDataset(Dataset):
    """Yields ``dict(source=source[j], target=target[i'])`` pairs.

    Item ``i`` holds target sample ``i % len(target)`` and a source sample
    chosen by ``pairing``: ``'random'`` draws it uniformly from a generator
    seeded by ``(seed, i)`` (the same pairs for every epoch, worker and
    rank, whatever the order; the source dataset's own randomness, e.g.
    random rotations, still varies), ``'aligned'`` takes ``i %
    len(source)``. Collating a list of items gives ``dict(source=batch,
    target=batch)``, what :class:`WGANDomainAdaptation` trains on.

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
    """

    def __init__(self,
                 source: Union[dict, Dataset],
                 target: Union[dict, Dataset],
                 length: Optional[int] = None,
                 pairing: str = 'random',
                 seed: int = 0) -> None:
        if pairing not in _PAIRINGS:
            raise ValueError(f'pairing must be one of {_PAIRINGS}, got '
                             f'{pairing!r}')
        self.source = _build(source, 'source')
        self.target = _build(target, 'target')
        for name, ds in (('source', self.source), ('target', self.target)):
            if len(ds) == 0:
                raise ValueError(f'DomainAdaptationDataset: the {name} '
                                 'dataset is empty')
        if length is not None and (int(length) != length or length < 1):
            raise ValueError(f'length must be a positive integer, got '
                             f'{length!r}')
        self.length = len(self.target) if length is None else int(length)
        self.pairing = pairing
        self.seed = int(seed)

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
        """The source sample paired with item ``idx``."""
        if self.pairing == 'aligned':
            return idx % len(self.source)
        rng = np.random.default_rng([self.seed, idx])
        return int(rng.integers(len(self.source)))

    def __getitem__(self, idx: int) -> dict:
        if not -self.length <= idx < self.length:
            raise IndexError(f'index {idx} out of range for {self.length}')
        idx = int(idx) % self.length
        return dict(source=self.source[self.source_index(idx)],
                    target=self.target[idx % len(self.target)])
