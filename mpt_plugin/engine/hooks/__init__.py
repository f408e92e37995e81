from .dataset_epoch_hook import MPTDatasetEpochHook
from .mesh_visualization_hook import MPTMeshVisualizationHook

__all__ = ['MPTDatasetEpochHook', 'MPTMeshVisualizationHook']
