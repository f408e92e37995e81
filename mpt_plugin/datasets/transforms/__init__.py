from .mesh_affine import MeshAffine
from .mesh_color_noise import MeshColorNoise
from .mesh_random_flip import MeshRandomFlip
from .mesh_random_scale_rotation import MeshRandomScaleRotation
from .mesh_sequence_align import MeshSequenceAlign
from .pack_mesh_inputs import PackMeshInputs
from .pack_mesh_sequence_inputs import PackMeshSequenceInputs

__all__ = [
    'MeshAffine', 'MeshColorNoise', 'MeshRandomFlip',
    'MeshRandomScaleRotation', 'MeshSequenceAlign', 'PackMeshInputs',
    'PackMeshSequenceInputs'
]
