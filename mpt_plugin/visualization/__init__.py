from .mesh_figure import (compute_view_fit, render_mesh_image,
                          save_mesh_comparison, view_rotation)
from .mesh_visualizer import MPTMeshVisualizer, draw_mesh_overlay
from .rasterizer import RasterOutput, rasterize_triangles, render_mesh

__all__ = [
    'compute_view_fit', 'render_mesh_image', 'save_mesh_comparison',
    'view_rotation', 'MPTMeshVisualizer', 'draw_mesh_overlay', 'RasterOutput',
    'rasterize_triangles', 'render_mesh'
]
