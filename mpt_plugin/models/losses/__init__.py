from .key2mesh_loss import Key2MeshLoss
from .mpt_mesh_loss import MPTMeshLoss

__all__ = ['Key2MeshLoss', 'MPTMeshLoss']
