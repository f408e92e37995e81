from .gradient_penalty import MPTGradientPenalty, wasserstein_estimate
from .key2mesh_loss import Key2MeshLoss
from .mesh_loss import MPTMeshLoss
from .wasserstein_critic_loss import WassersteinCriticLoss

__all__ = [
    'MPTGradientPenalty', 'Key2MeshLoss', 'MPTMeshLoss',
    'WassersteinCriticLoss', 'wasserstein_estimate'
]
