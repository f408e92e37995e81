from .crop import crop_to_norm, fit_square_crop, image_to_crop
from .virtual_cameras import (H36M_S1_CAMERAS, VirtualCameras, build_virtual_cameras,
                              interpolate_cameras, load_h36m_cameras)

__all__ = [
    'H36M_S1_CAMERAS',    'VirtualCameras', 'build_virtual_cameras', 'interpolate_cameras',
    'load_h36m_cameras', 'crop_to_norm', 'fit_square_crop', 'image_to_crop'
]
