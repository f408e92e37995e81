from .freihand_metrics import (FREIHAND_AUC_MAX, FREIHAND_AUC_STEPS,
                               FREIHAND_FSCORE_THRESHOLDS, freihand_align,
                               freihand_auc, freihand_fscore,
                               freihand_nn_distances, freihand_pck_counts,
                               freihand_pck_thresholds,
                               freihand_point_errors)
from .mesh_errors import mpjpe, pa_mpjpe, per_vertex_error
from .mmhuman3d_metrics import (keypoint_3d_auc, keypoint_3d_pck,
                                keypoint_mpjpe, mmh3d_similarity_transform,
                                vertice_pve)

__all__ = [
    'mpjpe', 'pa_mpjpe', 'per_vertex_error',
    'keypoint_3d_auc', 'keypoint_3d_pck', 'keypoint_mpjpe',
    'mmh3d_similarity_transform', 'vertice_pve', 'FREIHAND_AUC_MAX',
    'FREIHAND_AUC_STEPS', 'FREIHAND_FSCORE_THRESHOLDS', 'freihand_align',
    'freihand_auc', 'freihand_fscore', 'freihand_nn_distances',
    'freihand_pck_counts', 'freihand_pck_thresholds', 'freihand_point_errors'
]
