from .gradient_penalty import MPTGradientPenalty, wasserstein_estimate
from .key2mesh_loss import Key2MeshLoss
from .mesh_loss import MPTMeshLoss
from .pc_hmr_loss import PCHMRLoss
from .wasserstein_critic_loss import WassersteinCriticLoss

__all__ = [
    'MPTGradientPenalty', 'Key2MeshLoss', 'MPTMeshLoss', 'PCHMRLoss',
    'WassersteinCriticLoss', 'wasserstein_estimate'
]
