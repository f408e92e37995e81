from .masked_heatmap_modeling import MPTMaskedHeatmapModeling
from .mocap_data_preprocessor import MPTMoCapDataPreprocessor

__all__ = ['MPTMaskedHeatmapModeling', 'MPTMoCapDataPreprocessor']
