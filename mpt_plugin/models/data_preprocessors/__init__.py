from .key2mesh_pairs_preprocessor import Key2MeshPairsPreprocessor
from .masked_heatmap_modeling import MPTMaskedHeatmapModeling
from .mocap_data_preprocessor import MPTMoCapDataPreprocessor

__all__ = [
    'Key2MeshPairsPreprocessor', 'MPTMaskedHeatmapModeling',
    'MPTMoCapDataPreprocessor'
]
