from .freihand_metric import MPTFreiHANDMetric
from .mesh_metric import MPTMeshMetric
from .mocap_mesh_metric import MPTMoCapMeshMetric

__all__ = ['MPTFreiHANDMetric', 'MPTMeshMetric', 'MPTMoCapMeshMetric']
