from .camera import (norm_to_px, px_to_norm, weak_perspective_project,
                     weak_perspective_to_translation)
from .heatmap_patch_embed import HeatmapPatchEmbed, render_heatmaps
from .rotation_6d import (quaternion_to_axis_angle, rot6d_to_rotmat,
                          rotmat_to_axis_angle, rotmat_to_quaternion,
                          rotmat_to_rot6d)
from .rotation import (axis_angle_to_matrix, perpendicular_unit_vector,
                       rotation_between_vectors, skew)

__all__ = [
    'HeatmapPatchEmbed', 'render_heatmaps', 'norm_to_px', 'px_to_norm',
    'weak_perspective_project', 'weak_perspective_to_translation',
    'axis_angle_to_matrix', 'perpendicular_unit_vector',
    'rotation_between_vectors', 'skew', 'quaternion_to_axis_angle',
    'rot6d_to_rotmat', 'rotmat_to_axis_angle', 'rotmat_to_quaternion',
    'rotmat_to_rot6d'
]
