from .domain_critic import MPTDomainCritic
from .key2mesh_regressor import Key2MeshRegressor
from .mesh_transformer_head import MPTMeshTransformerHead

__all__ = [
    'MPTDomainCritic', 'Key2MeshRegressor', 'MPTMeshTransformerHead'
]
