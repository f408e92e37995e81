"""A tiny map-style dataset of tagged indices, for the pairing tests of
MPTDomainAdaptationDataset and MPTDatasetEpochHook."""
import torch


class Range(torch.utils.data.Dataset):
    """``n`` items ``dict(tag=tag, index=i)``."""

    def __init__(self, n, tag):
        self.n, self.tag = n, tag

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return dict(tag=self.tag, index=i)
