"""Geometry floor: rotations, cameras, crops, keypoint normalisation.

Pure functions (numpy and torch) with no registry and no import of any
other floor of the package but :mod:`mpt_plugin.utils`.
"""
from .cameras import (SMPL_TO_CAMERA_ROTATION, camera_crop_to_image,
                      camera_image_to_crop, fit_weak_perspective_camera,
                      project_fixed_camera,
                      project_points, smpl_to_camera_axes,
                      weak_perspective_project,
                      weak_perspective_to_translation)
from .crop import (crop_norm_to_image, crop_to_norm, fit_square_crop,
                   get_crop_affine, image_to_crop, image_to_crop_norm,
                   norm_to_crop, norm_to_px, px_to_norm, screen_normalize)
from .keypoints import normalize_keypoints_2d
from .rotations import (axis_angle_to_euler, axis_angle_to_matrix,
                        camera_z_rotation, euler_to_axis_angle,
                        euler_xyz_to_rotmat, perpendicular_unit_vector,
                        quaternion_to_axis_angle, rot6d_to_rotmat, rot_x,
                        rot_y, rot_z, rotate_smpl_root,
                        rotation_between_vectors, rotmat_to_axis_angle,
                        rotmat_to_quaternion, rotmat_to_rot6d, skew)
from .virtual_cameras import (H36M_S1_CAMERAS, VirtualCameras,
                              build_virtual_cameras, interpolate_cameras,
                              load_h36m_cameras)
from .view_sphere import look_at_cameras, uniform_rotations

__all__ = [
    'fit_weak_perspective_camera', 'project_fixed_camera', 'project_points',
    'smpl_to_camera_axes', 'SMPL_TO_CAMERA_ROTATION', 'camera_crop_to_image',
    'camera_image_to_crop',
    'weak_perspective_project', 'weak_perspective_to_translation',
    'crop_norm_to_image', 'crop_to_norm', 'fit_square_crop',
    'get_crop_affine', 'image_to_crop', 'image_to_crop_norm', 'norm_to_crop',
    'norm_to_px',
    'px_to_norm', 'screen_normalize', 'normalize_keypoints_2d',
    'axis_angle_to_euler', 'axis_angle_to_matrix', 'camera_z_rotation',
    'euler_to_axis_angle', 'euler_xyz_to_rotmat', 'perpendicular_unit_vector',
    'quaternion_to_axis_angle', 'rot6d_to_rotmat', 'rot_x', 'rot_y', 'rot_z',
    'rotate_smpl_root', 'rotation_between_vectors', 'rotmat_to_axis_angle',
    'rotmat_to_quaternion', 'rotmat_to_rot6d', 'skew', 'H36M_S1_CAMERAS',
    'VirtualCameras', 'build_virtual_cameras', 'interpolate_cameras',
    'load_h36m_cameras', 'look_at_cameras', 'uniform_rotations'
]
