from .heatmap_patch_embed import HeatmapPatchEmbed, render_heatmaps

__all__ = ['HeatmapPatchEmbed', 'render_heatmaps']
