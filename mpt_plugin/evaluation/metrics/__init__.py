from .mesh_metric import MeshMetric
from .mocap_mesh_metric import MPTMoCapMeshMetric

__all__ = ['MeshMetric', 'MPTMoCapMeshMetric']
