"""Tests for MPTDatasetEpochHook (the epoch reaches the dataset's pairing)."""
import pytest

from mpt_plugin.datasets.domain_adaptation_dataset import \
    MPTDomainAdaptationDataset
from tests.test_datasets.range_dataset import Range


def test_epoch_hook_drives_the_pairing_and_resume_redraws_it():
    """MPTDatasetEpochHook -> set_epoch(runner.epoch), reaching the
    loader's (non-persistent) workers; a resumed run gets the same pairs."""
    from types import SimpleNamespace

    from torch.utils.data import DataLoader

    from mpt_plugin.engine.hooks.dataset_epoch_hook import \
        MPTDatasetEpochHook

    def run_epochs(epochs, num_workers):
        ds = MPTDomainAdaptationDataset(Range(500, 's'), Range(12, 't'),
                                        seed=2)
        loader = DataLoader(ds, batch_size=4, shuffle=False,
                            num_workers=num_workers,
                            persistent_workers=False,
                            collate_fn=lambda items: [
                                it['source']['index'] for it in items])
        runner = SimpleNamespace(train_dataloader=loader, epoch=0)
        hook, seen = MPTDatasetEpochHook(), {}
        for epoch in epochs:
            runner.epoch = epoch
            hook.before_train_epoch(runner)
            seen[epoch] = [i for batch in loader for i in batch]
        return seen

    full = run_epochs([0, 1, 2], num_workers=2)
    assert full[0] != full[1] != full[2]
    # resuming at epoch 2 (a fresh process, fresh dataset) = same pairs
    resumed = run_epochs([2], num_workers=0)
    assert resumed[2] == full[2]
    # persistent workers would never see set_epoch: the hook refuses
    ds = MPTDomainAdaptationDataset(Range(5, 's'), Range(4, 't'))
    loader = DataLoader(ds, num_workers=1, persistent_workers=True)
    with pytest.raises(RuntimeError, match='persistent_workers=False'):
        MPTDatasetEpochHook().before_train_epoch(
            SimpleNamespace(train_dataloader=loader, epoch=1))
