from .mesh_figure import (compute_view_fit, render_mesh_image,
                          save_mesh_comparison, view_rotation)

__all__ = [
    'compute_view_fit', 'render_mesh_image', 'save_mesh_comparison',
    'view_rotation'
]
