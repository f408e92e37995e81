"""Mesh streams: the mesh estimators PC-HMR calibrates, behind one
interface (``forward(inputs, data_samples) -> dict``, ``param_dim``; see
``pc_hmr_key2mesh_stream``). Their ground truth is the batch's targets,
built by the data preprocessor."""
from .pc_hmr_key2mesh_stream import PCHMRKey2MeshStream
from .pc_hmr_mpt_mesh_stream import PCHMRMPTMeshStream

__all__ = ['PCHMRKey2MeshStream', 'PCHMRMPTMeshStream']
