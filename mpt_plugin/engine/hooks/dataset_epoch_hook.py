"""Tell epoch-aware datasets which epoch is starting."""
from mmengine.hooks import Hook

from mpt_plugin.registry import HOOKS

__all__ = ['MPTDatasetEpochHook']


@HOOKS.register_module()
class MPTDatasetEpochHook(Hook):
    """Calls ``dataset.set_epoch(epoch)`` on the training dataset before
    every epoch, e.g. for :class:`MPTMixedHumanDataDataset`, whose fixed
    index -> sample mapping shifts with the epoch so that a dataset with more
    samples than mixing slots is covered over the epochs.

    The call happens in the main process. Data-loader workers hold copies of
    the dataset, so the loader must re-create them every epoch
    (``persistent_workers=False``, which the mixed-dataset configs set) or
    use ``num_workers=0``; with persistent workers the hook raises instead
    of being silently ineffective.
    """
    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_dataloader
        dataset = loader.dataset
        if not hasattr(dataset, 'set_epoch'):
            return
        if getattr(loader, 'persistent_workers', False) and \
                loader.num_workers > 0:
            raise RuntimeError(
                'MPTDatasetEpochHook: the training loader keeps persistent '
                'workers, which would never see set_epoch(); set '
                'train_dataloader.persistent_workers=False')
        dataset.set_epoch(runner.epoch)
