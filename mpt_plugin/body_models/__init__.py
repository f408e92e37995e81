"""Body models: safe file loading, SMPL and MANO wrappers, joint
conventions."""
from .conventions import (H36M_TO_J14, KEYPOINT_CONVENTIONS,
                          convert_keypoints, get_flip_indices,
                          get_keypoint_names, get_keypoint_num, get_mapping,
                          h36m_regressor_order)
from .gendered_smpl import MPTGenderedSMPL
from .io import (BodyModelFileError, UnsafePickleError, load_body_model_file,
                 load_joint_regressor, load_mesh_downsampling,
                 load_npz_safe)
from .mano import MPTMANO
from .mesh_sampler import MeshSampler
from .smpl import MPTSMPL

__all__ = [
    'BodyModelFileError', 'UnsafePickleError', 'load_body_model_file',
    'load_joint_regressor', 'load_mesh_downsampling', 'load_npz_safe',
    'MPTSMPL', 'MPTMANO',
    'MPTGenderedSMPL', 'MeshSampler', 'KEYPOINT_CONVENTIONS', 'H36M_TO_J14',
    'get_keypoint_names', 'get_keypoint_num', 'get_mapping',
    'convert_keypoints', 'get_flip_indices', 'h36m_regressor_order'
]
