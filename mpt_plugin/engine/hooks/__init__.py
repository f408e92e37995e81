from .atomic_checkpoint_hook import (MPTAtomicCheckpointHook,
                                     MPTAtomicLocalBackend, atomic_write)
from .dataset_epoch_hook import MPTDatasetEpochHook
from .mesh_visualization_hook import MPTMeshVisualizationHook

__all__ = [
    'MPTAtomicCheckpointHook', 'MPTAtomicLocalBackend', 'atomic_write',
    'MPTDatasetEpochHook', 'MPTMeshVisualizationHook'
]
