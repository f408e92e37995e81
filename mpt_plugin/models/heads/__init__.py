from .key2mesh_domain_critic import Key2MeshDomainCritic
from .key2mesh_regressor import Key2MeshRegressor
from .mpt_mesh_transformer_head import MPTMeshTransformerHead

__all__ = [
    'Key2MeshDomainCritic', 'Key2MeshRegressor', 'MPTMeshTransformerHead'
]
