from .mesh_errors import mpjpe, pa_mpjpe, per_vertex_error
from .mmhuman3d_metrics import (keypoint_3d_auc, keypoint_3d_pck,
                                keypoint_mpjpe, mmh3d_similarity_transform,
                                vertice_pve)

__all__ = [
    'mpjpe', 'pa_mpjpe', 'per_vertex_error',
    'keypoint_3d_auc', 'keypoint_3d_pck', 'keypoint_mpjpe',
    'mmh3d_similarity_transform', 'vertice_pve'
]
