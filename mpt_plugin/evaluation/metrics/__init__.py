from .mocap_mesh_metric import MPTMoCapMeshMetric

__all__ = ['MPTMoCapMeshMetric']
