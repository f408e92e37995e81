from . import transforms  # noqa: F401
from .amass_io import (AMASSFormatError, AMASSSequence, find_amass_sequences,
                       read_amass_sequence, scan_amass_tree,
                       split_amass_sequences)
from .key2mesh_pairs_dataset import Key2MeshAMASSPairsDataset
from .mocap_heatmap_dataset import MPTMoCapHeatmapDataset
from .mocap_mesh_cache import MoCapMeshCache, select_frames

__all__ = [
    'AMASSFormatError', 'AMASSSequence', 'find_amass_sequences',
    'read_amass_sequence', 'scan_amass_tree', 'split_amass_sequences',
    'Key2MeshAMASSPairsDataset',
    'MPTMoCapHeatmapDataset',
    'MoCapMeshCache', 'select_frames'
]
