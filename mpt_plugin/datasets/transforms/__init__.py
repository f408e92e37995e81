from .mesh_affine import MPTMeshAffine
from .mesh_color_noise import MPTMeshColorNoise
from .mesh_random_flip import MPTMeshRandomFlip
from .mesh_random_scale_rotation import MPTMeshRandomScaleRotation
from .mesh_sequence_align import MPTMeshSequenceAlign
from .pack_mesh_inputs import MPTPackMeshInputs
from .pack_mesh_sequence_inputs import MPTPackMeshSequenceInputs

__all__ = [
    'MPTMeshAffine', 'MPTMeshColorNoise', 'MPTMeshRandomFlip',
    'MPTMeshRandomScaleRotation', 'MPTMeshSequenceAlign', 'MPTPackMeshInputs',
    'MPTPackMeshSequenceInputs'
]
