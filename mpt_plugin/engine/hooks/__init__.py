from .dataset_epoch_hook import MPTDatasetEpochHook

__all__ = ['MPTDatasetEpochHook']
