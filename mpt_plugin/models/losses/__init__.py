from .gradient_penalty import Key2MeshGradientPenalty, wasserstein_estimate
from .key2mesh_loss import Key2MeshLoss
from .mpt_mesh_loss import MPTMeshLoss

__all__ = [
    'Key2MeshGradientPenalty', 'Key2MeshLoss', 'MPTMeshLoss',
    'wasserstein_estimate'
]
