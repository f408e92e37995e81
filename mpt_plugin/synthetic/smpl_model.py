"""Deterministic synthetic body model in the SMPL file format.

The real SMPL model cannot be redistributed, so the project embeds this
generator: it builds an SMPL-*format* model (same keys, shapes, dtypes,
kinematic tree and vertex-id landmarks as ``SMPL_{NEUTRAL,MALE,FEMALE}``) of
a plausible adult human in SMPL's rest T-pose, so that every pipeline (LBS
through :mod:`smplx`, joint regressors, keypoint conventions, mesh
down-sampling) runs end to end without the licensed files. It is a stand-in
for plumbing and learning experiments, not an anatomical model.

Construction (all in metres, y up, the body faces +z, the subject's left at
+x, SMPL's template frame: pelvis joint near y = -0.22, soles near
y = -1.18, head top near y = +0.515; 1.70 m tall for the neutral body), one
module per step:

1. :mod:`~mpt_plugin.synthetic.body_proportions`: a skeleton of the 24 SMPL
   joints from a few proportions (gender preset, optional per-seed jitter).
2. :mod:`~mpt_plugin.synthetic.body_sdf`: a smooth implicit surface (signed
   distance, smooth union of a swept elliptical torso, tapered capsules,
   ellipsoids and rounded boxes).
3. :mod:`~mpt_plugin.synthetic.body_remeshing`: one canonical mesh topology
   shared by all genders and seeds (6890 vertices, 13776 faces, the SMPL(-H)
   landmark ids used by :mod:`smplx` at their places: nose 332, eyes, ears,
   finger tips, toes, heels). Per gender/seed the canonical mesh is carried
   by a skeleton-driven deformation to the new proportions and re-projected
   onto that body's surface.
4. :mod:`~mpt_plugin.synthetic.body_rigging`: skinning weights (diffused part
   labels) and the joint regressor (rings of vertices around each joint,
   solved so that it reproduces the skeleton exactly);
   :mod:`~mpt_plugin.synthetic.body_blend_shapes`: 10 shape directions
   (skeleton-driven displacement fields) and pose correctives (bulges near
   joints, linear in ``R - I``).

This module assembles them: :func:`make_synthetic_smpl` and
:func:`save_smpl_npz` (the H36M regressor is
:func:`mpt_plugin.synthetic.body_rigging.make_synthetic_h36m_regressor`).
"""
import functools
import os
import tempfile
from typing import Dict, Tuple, Union

import numpy as np

from mpt_plugin.body_models.conventions import SMPL_PARENTS

from .body_blend_shapes import pose_dirs, shape_dirs
from .body_proportions import (GENDERS, NUM_JOINTS, BodyParams, gender_params,
                               jitter_params)
from .body_remeshing import build_body_mesh, fit_body
from .body_rigging import skinning_weights, smpl_regressor
from .body_sdf import BodySDF

__all__ = ['GENERATOR_VERSION', 'make_synthetic_smpl', 'save_smpl_npz']

#: Bumped whenever the generated numbers change.
GENERATOR_VERSION = '1.0.1'

#: Root parent as stored in the official SMPL ``kintree_table`` (uint32 -1).
_ROOT_PARENT = 4294967295


@functools.lru_cache(maxsize=1)
def _canonical() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical mesh shared by all genders and seeds (neutral, seed 0).

    Returns:
        tuple: read-only ``(V, 3)`` vertices (metres), ``(F, 3)`` int64
        faces and ``(V, 24)`` skinning weights.
    """
    sdf = BodySDF(BodyParams())
    verts, faces = build_body_mesh(sdf)
    weights = skinning_weights(verts, faces, sdf)
    for arr in (verts, faces, weights):
        arr.setflags(write=False)
    return verts, faces, weights


def _check_gender_seed(gender: str, seed: int) -> Tuple[str, int]:
    if not isinstance(gender, str) or gender.lower() not in GENDERS:
        raise ValueError(f'gender must be one of {GENDERS}, got {gender!r}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
            seed < 0):
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    return gender.lower(), int(seed)


def make_synthetic_smpl(gender: str = 'neutral',
                        seed: int = 0) -> Dict[str, np.ndarray]:
    """Generate a synthetic SMPL-format body model.

    All genders and seeds share one mesh topology (faces, landmark vertex
    ids, skinning weights), like the official male/female/neutral files;
    the gender sets the proportions (male taller and broader, female
    smaller with a larger hip-to-shoulder ratio) and a non-zero ``seed``
    varies bone lengths and girths by a few percent. Same arguments, same
    bytes.

    Args:
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``.
        seed (int): Non-negative seed of the small per-body variation
            (0: the reference proportions).

    Returns:
        dict: The keys of the official SMPL file (metres, T-pose, y up,
        facing +z, the subject's left at +x):

        - ``v_template`` ``(6890, 3)`` float64,
        - ``f`` ``(13776, 3)`` uint32, a closed genus-0 outward-oriented
          triangle mesh,
        - ``J_regressor`` ``(24, 6890)`` float64 (dense), non-negative rows
          summing to 1,
        - ``weights`` ``(6890, 24)`` float64 skinning weights,
        - ``kintree_table`` ``(2, 24)`` uint32 (parents with the root's as
          4294967295, then joint ids),
        - ``shapedirs`` ``(6890, 3, 10)`` float64 (displacement per unit
          beta),
        - ``posedirs`` ``(6890, 3, 207)`` float64 (per entry of the
          flattened ``R_j - I``, joints 1..23),
        - ``J`` ``(24, 3)`` float64 rest joints (``J_regressor @
          v_template``),
        - ``bs_style`` ``'lbs'`` and ``bs_type`` ``'lrotmin'`` (str).

    Raises:
        ValueError: For an unknown gender or a negative seed.
    """
    gender, seed = _check_gender_seed(gender, seed)
    verts_c, faces, weights = _canonical()
    params = jitter_params(gender_params(gender), seed)
    sdf = BodySDF(params)
    if params == BodyParams():
        verts = np.array(verts_c)
    else:
        verts = fit_body(np.array(verts_c), faces, weights,
                         BodySDF(BodyParams()), sdf)
    weights = np.array(weights)
    regressor = smpl_regressor(verts, weights, sdf.J, params.scale)
    joints = regressor @ verts
    kintree = np.stack([SMPL_PARENTS, np.arange(NUM_JOINTS)])
    kintree[0, 0] = _ROOT_PARENT
    return {
        'v_template': verts,
        'f': faces.astype(np.uint32),
        'J_regressor': regressor,
        'weights': weights,
        'kintree_table': kintree.astype(np.uint32),
        'shapedirs': shape_dirs(verts, weights, joints, sdf.ends,
                                params.scale),
        'posedirs': pose_dirs(verts, faces, weights, params.scale),
        'J': joints,
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }


def save_smpl_npz(path: Union[str, os.PathLike],
                  model: Dict[str, np.ndarray]) -> None:
    """Write an SMPL-format model as an smplx-style ``.npz``.

    Plain (compressed) arrays only, so ``np.load`` reads it without pickle;
    the string entries become 0-d unicode arrays. The file is written to a
    temporary file in the same folder and renamed, so an interrupted call
    never leaves a partial file at ``path``. Read it with
    :func:`mpt_plugin.body_models.io.load_body_model_file`, or for smplx:
    ``smplx.SMPL('', data_struct=Struct(**dict(np.load(path))))``.

    Args:
        path (str | os.PathLike): Output path; ``.npz`` is appended if the
            name lacks it.
        model (dict): Output of :func:`make_synthetic_smpl`.

    Raises:
        KeyError: If a required SMPL key is missing.
    """
    required = ('v_template', 'f', 'J_regressor', 'weights', 'kintree_table',
                'shapedirs', 'posedirs')
    missing = [k for k in required if k not in model]
    if missing:
        raise KeyError(f'cannot save {os.fspath(path)!r}: model lacks '
                       f'{missing}')
    path = os.fspath(path)
    if not path.endswith('.npz'):
        path += '.npz'
    arrays = {k: np.asarray(v) for k, v in model.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise ValueError(f'cannot save {path!r}: entry {k!r} is an '
                             'object array (only plain arrays are written)')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.npz', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
