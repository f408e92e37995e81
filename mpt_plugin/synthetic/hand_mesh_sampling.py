"""The ``mano_downsampling.npz`` hierarchy of a MANO-format hand model.

778 -> 195 -> 49 -> 13 -> 4 vertices, the levels of Mesh Graphormer's and
METRO's ``mano_downsampling.npz`` (keys ``A, D, U, F`` and the vertices of
each level ``V``), built by QEM decimation of the template mesh, which is
open at the wrist (:func:`~mpt_plugin.synthetic.mesh_downsampling.\
build_mesh_sampling` with ``allow_boundary=True``: the wrist loop survives
every level). Write it with
:func:`~mpt_plugin.synthetic.mesh_downsampling.save_mesh_downsampling`;
read it with :func:`mpt_plugin.body_models.io.load_mesh_downsampling` or
:meth:`mpt_plugin.body_models.mesh_sampler.MeshSampler.from_file`, as the
real file.
"""
from typing import Dict, Sequence

import numpy as np

from .mesh_downsampling import build_mesh_sampling

__all__ = ['MANO_DOWNSAMPLING_FACTORS', 'build_hand_mesh_sampling']

#: 778 -> 195 -> 49 -> 13 -> 4 vertices.
MANO_DOWNSAMPLING_FACTORS = (4, 4, 4, 4)


def build_hand_mesh_sampling(
        model: Dict[str, np.ndarray],
        factors: Sequence[float] = MANO_DOWNSAMPLING_FACTORS) -> dict:
    """The sampling hierarchy of a MANO-format model.

    Args:
        model (dict): A MANO-format model (``v_template`` ``(778, 3)``,
            ``f`` ``(1538, 3)``), e.g. from
            :func:`~mpt_plugin.synthetic.hand_model.make_synthetic_mano`.
        factors (Sequence[float]): Down-sampling factor per level.

    Returns:
        dict: ``A``, ``D``, ``U``, ``F`` as
        :func:`~mpt_plugin.synthetic.mesh_downsampling.build_mesh_sampling`
        returns them, and ``V``: float64 ``(V_i, 3)`` vertices per level
        (the template's vertices kept at that level).
    """
    verts = np.asarray(model['v_template'], dtype=np.float64)
    sampling = build_mesh_sampling(verts,
                                   np.asarray(model['f'], dtype=np.int64),
                                   factors=factors, allow_boundary=True)
    levels = [verts]
    for down in sampling['D']:
        levels.append(down @ levels[-1])
    sampling['V'] = levels
    return sampling
