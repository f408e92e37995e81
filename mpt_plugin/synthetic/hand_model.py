"""Deterministic synthetic hand models in the MANO file format.

The real MANO model cannot be redistributed; this generator builds
``MANO_RIGHT``/``MANO_LEFT``-*format* models (the official keys, shapes and
kinematic tree: 778 vertices, 1538 faces open at the wrist with one 16-edge
boundary loop, 16 joints in MANO's order, 10 shape and 135 pose blend
shapes, a 45 x 45 PCA hand-pose basis, FreiHAND's fingertip vertex ids) of
a plausible adult hand in a flat rest pose, so that the hand pipelines run
end to end without the licensed files. A stand-in for plumbing, not an
anatomical model.

One module per step (metres; frame of
:mod:`~mpt_plugin.synthetic.hand_proportions`):

1. :mod:`.hand_proportions`: the skeleton.
2. :mod:`.hand_mesh`: the canonical open mesh.
3. :mod:`.hand_rigging`: skinning weights and the joint regressor.
4. :mod:`.hand_blend_shapes`: shape and pose blend shapes, PCA pose space.

Its ``mano_downsampling.npz`` hierarchy: :mod:`.hand_mesh_sampling`.

The left model is the mirror image (x negated) of the right one, stored with
the official ``MANO_LEFT.pkl`` convention: its ``shapedirs`` are the right
hand's, unmirrored, so that loaders apply ``shapedirs[:, 0, :] *= -1``
(:class:`~mpt_plugin.body_models.MPTMANO`'s ``fix_left_shapedirs``).
"""
import functools
import os
from typing import Dict, Union

import numpy as np

from mpt_plugin.body_models.conventions import MANO_PARENTS

from .hand_blend_shapes import hand_pose_dirs, hand_pose_space, \
    hand_shape_dirs
from .hand_mesh import build_hand_mesh
from .hand_proportions import NUM_HAND_JOINTS, hand_skeleton
from .hand_rigging import hand_regressor, hand_skinning_weights
from .smpl_model import save_smpl_npz

__all__ = [
    'HAND_GENERATOR_VERSION', 'make_synthetic_mano', 'mirror_mano',
    'save_mano_npz'
]

#: Bumped whenever the generated numbers change.
HAND_GENERATOR_VERSION = '1.0.0'

_ROOT_PARENT = 4294967295
_MIRROR = np.array([-1.0, 1.0, 1.0])
#: axis-angle of the mirrored rotation ``M R M``: ``(x, -y, -z)``
_AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0])


@functools.lru_cache(maxsize=1)
def _right_hand() -> Dict[str, np.ndarray]:
    """Geometry and rigging of the right hand (read-only arrays)."""
    skel = hand_skeleton()
    mesh = build_hand_mesh()
    verts, faces = mesh['verts'], mesh['faces']
    weights = hand_skinning_weights(verts, faces, skel['J'], skel['tips'])
    reg = hand_regressor(verts, weights, skel['J'], skel['tips'])
    out = {
        'v_template': verts,
        'f': faces,
        'J_regressor': reg,
        'weights': weights,
        'shapedirs': hand_shape_dirs(verts, weights, reg @ verts,
                                     skel['dirs']),
        'posedirs': hand_pose_dirs(verts, faces, weights),
    }
    for arr in out.values():
        arr.setflags(write=False)
    return out


def _mirror_axis_angle(pose: np.ndarray) -> np.ndarray:
    return pose * np.tile(_AXIS_ANGLE_MIRROR, pose.shape[-1] // 3)


def mirror_mano(model: Dict[str, np.ndarray],
                shapedirs_fixed: bool = False) -> Dict[str, np.ndarray]:
    """The mirror image (x negated) of a MANO-format model.

    Same joints, weights and regressor; mirrored template and joints, faces
    with reversed winding, pose blend shapes (entry ``(r, c)`` of ``R - I``
    changes sign with ``s_r s_c``) and PCA pose space (axis-angle
    ``(x, -y, -z)``). ``shapedirs`` is mirrored only with
    ``shapedirs_fixed`` (the official left file stores it unmirrored).

    Args:
        model (dict): A MANO-format model.
        shapedirs_fixed (bool): Mirror ``shapedirs`` too.

    Returns:
        dict: The mirrored model (new arrays).
    """
    sign_pose = np.tile(np.outer(_MIRROR, _MIRROR).ravel(),
                        NUM_HAND_JOINTS - 1)
    out = {k: (np.array(v) if isinstance(v, np.ndarray) else v)
           for k, v in model.items()}
    out['v_template'] = model['v_template'] * _MIRROR
    out['J'] = model['J'] * _MIRROR
    out['f'] = np.ascontiguousarray(model['f'][:, [0, 2, 1]])
    out['posedirs'] = (model['posedirs'] * _MIRROR[None, :, None] *
                       sign_pose[None, None])
    if shapedirs_fixed:
        out['shapedirs'] = model['shapedirs'] * _MIRROR[None, :, None]
    out['hands_mean'] = _mirror_axis_angle(model['hands_mean'])
    out['hands_components'] = _mirror_axis_angle(model['hands_components'])
    out['hands_coeffs'] = np.array(model['hands_coeffs'])
    return out


def make_synthetic_mano(is_rhand: bool = True,
                        seed: int = 0) -> Dict[str, np.ndarray]:
    """Generate a synthetic MANO-format hand model.

    Same arguments, same bytes. The geometry is fixed; ``seed`` only sets
    the higher PCA components and ``hands_coeffs``.

    Args:
        is_rhand (bool): The right hand, or its mirror image stored as the
            official ``MANO_LEFT`` (``shapedirs`` unmirrored).
        seed (int): Non-negative seed.

    Returns:
        dict: The official keys (metres, flat hand, fingers along +y, back
        of the hand towards +z):

        - ``v_template`` ``(778, 3)`` float64; ``f`` ``(1538, 3)`` uint32
          (one 16-edge boundary loop at the wrist, outward winding),
        - ``J_regressor`` ``(16, 778)`` float64 (dense, rows convex),
          ``J`` ``(16, 3)`` its rest joints,
        - ``weights`` ``(778, 16)`` float64,
        - ``kintree_table`` ``(2, 16)`` uint32 (root parent 4294967295),
        - ``shapedirs`` ``(778, 3, 10)``, ``posedirs`` ``(778, 3, 135)``,
        - ``hands_components`` ``(45, 45)``, ``hands_mean`` ``(45,)``,
          ``hands_coeffs`` ``(1554, 45)`` float64,
        - ``bs_style`` ``'lbs'``, ``bs_type`` ``'lrotmin'``.

    Raises:
        ValueError: For a negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
            seed < 0):
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    right = _right_hand()
    kintree = np.stack([MANO_PARENTS, np.arange(NUM_HAND_JOINTS)])
    kintree[0, 0] = _ROOT_PARENT
    kintree = kintree.astype(np.uint32)
    model = {
        'v_template': np.array(right['v_template']),
        'f': right['f'].astype(np.uint32),
        'J_regressor': np.array(right['J_regressor']),
        'J': right['J_regressor'] @ right['v_template'],
        'weights': np.array(right['weights']),
        'kintree_table': kintree,
        'shapedirs': np.array(right['shapedirs']),
        'posedirs': np.array(right['posedirs']),
        **hand_pose_space(int(seed)),
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }
    return model if is_rhand else mirror_mano(model)


def save_mano_npz(path: Union[str, os.PathLike],
                  model: Dict[str, np.ndarray]) -> None:
    """Write a MANO-format model as a plain-array ``.npz`` (atomically;
    see :func:`mpt_plugin.synthetic.smpl_model.save_smpl_npz`); read it
    with ``load_body_model_file(path, model_type='mano')`` or
    :class:`~mpt_plugin.body_models.MPTMANO`."""
    for key in ('hands_components', 'hands_mean'):
        if key not in model:
            raise KeyError(f'cannot save {os.fspath(path)!r}: model lacks '
                           f'{key!r}')
    save_smpl_npz(path, model)
