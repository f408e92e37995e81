from .mpt_mesh_loss import MPTMeshLoss

__all__ = ['MPTMeshLoss']
