from .mesh_errors import (batch_similarity_transform, mpjpe, pa_mpjpe,
                          per_vertex_error)

__all__ = ['batch_similarity_transform', 'mpjpe', 'pa_mpjpe',
           'per_vertex_error']
