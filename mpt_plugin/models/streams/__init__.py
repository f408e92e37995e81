"""Mesh streams: the mesh estimators PC-HMR calibrates, behind one
interface (``extract``, ``gather_gt``)."""
from .pc_hmr_key2mesh_stream import PCHMRKey2MeshStream
from .pc_hmr_mpt_mesh_stream import PCHMRMPTMeshStream

__all__ = ['PCHMRKey2MeshStream', 'PCHMRMPTMeshStream']
