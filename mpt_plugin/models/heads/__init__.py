from .mpt_mesh_transformer_head import MPTMeshTransformerHead

__all__ = ['MPTMeshTransformerHead']
