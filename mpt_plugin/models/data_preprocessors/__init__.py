from .crop_jitter import MPTCropJitter
from .domain_adaptation_preprocessor import MPTDomainAdaptationPreprocessor
from .key2mesh_data_preprocessor import Key2MeshDataPreprocessor
from .key2mesh_pairs_preprocessor import Key2MeshPairsPreprocessor
from .masked_heatmap_modeling import MPTMaskedHeatmapModeling
from .mesh_data_preprocessor import MPTMeshDataPreprocessor
from .mocap_data_preprocessor import MPTMoCapDataPreprocessor

__all__ = [
    'MPTCropJitter', 'MPTDomainAdaptationPreprocessor', 'Key2MeshDataPreprocessor',
    'Key2MeshPairsPreprocessor', 'MPTMaskedHeatmapModeling',
    'MPTMeshDataPreprocessor',
    'MPTMoCapDataPreprocessor'
]
