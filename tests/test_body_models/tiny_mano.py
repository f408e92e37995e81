"""A deterministic tiny MANO model in the official file layout (tests only).

The model has the real sizes and layout (778 vertices, 1538 faces, 16
joints in MANO's kinematic tree, 10 shape and 135 pose blend shapes, a
45 x 45 PCA hand-pose basis) on a simple open tube closed at the finger end:
one boundary loop of 16 edges at the wrist, ``V - E + F = 1``, consistently
oriented, as the real mesh. Its values are synthetic.

:func:`write_mano_pkl` lays the file out as the official ``MANO_*.pkl``:
a protocol-2 pickle of a dict whose ``shapedirs`` is a
``chumpy.reordering.Select`` of a ``chumpy.ch.Ch`` (what ``ch[:, :, :10]``
pickles to), with a ``scipy.sparse`` ``J_regressor`` and Python-2 style
strings. chumpy is never imported: stand-in classes carry chumpy's module
and class names only while pickling.

The left model is the mirror image of the right one (x negated) except for
``shapedirs``, which, like the official ``MANO_LEFT.pkl``, holds the right
hand's unmirrored blend shapes unless ``shapedirs_fixed=True``.
"""
import pickle
import sys
import types
from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np
import scipy.sparse as sp

from mpt_plugin.body_models.conventions import MANO_PARENTS

NUM_VERTS, NUM_FACES, NUM_JOINTS, NUM_BETAS = 778, 1538, 16, 10
NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)
NUM_COEFFS = 24  # rows of hands_coeffs (1554 in the official files)
#: the pickled Select picks ``[:, :, :10]`` of a Ch with this many columns
SOURCE_BETAS = 12
#: x is negated by the mirror between the right and the left hand
MIRROR = np.array([-1.0, 1.0, 1.0])
#: axis-angle of a mirrored rotation: (x, -y, -z) per joint
AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0])

_RING, _RINGS = 16, 48  # tube: 48 rings of 16 vertices (768 vertices)

# Rest positions (metres) the weights and the regressor are built around:
# wrist, then index, middle, pinky, ring, thumb (base to tip).
_FINGER_X = {'index': -0.012, 'middle': 0.0, 'pinky': 0.024, 'ring': 0.012}
_JOINT_TARGETS = np.array(
    [[0.0, 0.01, 0.0]] +
    [[_FINGER_X[f], y, 0.0] for f in ('index', 'middle', 'pinky', 'ring')
     for y in (0.09, 0.12, 0.15)] +
    [[-0.022, 0.035, 0.0], [-0.028, 0.055, 0.0], [-0.031, 0.075, 0.0]])


def tube_faces() -> np.ndarray:
    """``(1538, 3)`` faces: a tube of 48 rings of 16 vertices, open at ring
    0, closed by a cap of an 8-vertex ring and two centre vertices."""
    def ring(k: int, i: int) -> int:
        return k * _RING + i % _RING

    faces = []
    for k in range(_RINGS - 1):
        for i in range(_RING):
            a, b = ring(k, i), ring(k, i + 1)
            c, d = ring(k + 1, i), ring(k + 1, i + 1)
            faces += [(a, b, d), (a, d, c)]
    top, inner = (_RINGS - 1) * _RING, _RINGS * _RING
    for j in range(8):  # 16-ring -> 8-ring band
        b0, b1, b2 = top + 2 * j, top + 2 * j + 1, top + (2 * j + 2) % _RING
        r0, r1 = inner + j, inner + (j + 1) % 8
        faces += [(b0, b1, r0), (b1, r1, r0), (b1, b2, r1)]
    c0, c1 = inner + 8, inner + 9
    faces += [(inner + j, inner + j + 1, c0) for j in range(4)]
    faces += [(inner + j, inner + (j + 1) % 8, c1) for j in range(4, 8)]
    faces += [(inner + 4, c1, c0), (inner, c0, c1)]
    return np.asarray(faces, dtype=np.int64)


def _tube_vertices() -> np.ndarray:
    """``(778, 3)`` rest vertices (metres), the wrist ring at y = 0."""
    theta = 2 * np.pi * np.arange(_RING) / _RING
    heights = np.linspace(0.0, 0.17, _RINGS)
    radius = 0.03 + 0.012 * np.sin(np.pi * heights / 0.17)
    verts = [
        np.stack([r * np.cos(theta), np.full(_RING, y),
                  0.4 * r * np.sin(theta)], axis=1)
        for y, r in zip(heights, radius)
    ]
    r_top = radius[-1] / 2
    theta8 = 2 * np.pi * np.arange(8) / 8
    verts.append(np.stack([r_top * np.cos(theta8), np.full(8, 0.175),
                           0.4 * r_top * np.sin(theta8)], axis=1))
    verts.append(np.array([[r_top / 2, 0.178, 0.0], [-r_top / 2, 0.178, 0.0]]))
    return np.concatenate(verts)


def mirror_hand_pose(pose: np.ndarray) -> np.ndarray:
    """Axis-angle poses ``(..., 3k)`` of the mirrored hand."""
    pose = np.asarray(pose)
    return pose * np.tile(AXIS_ANGLE_MIRROR, pose.shape[-1] // 3)


def make_tiny_mano(seed: int = 0,
                   is_rhand: bool = True,
                   shapedirs_fixed: bool = False) -> dict:
    """The arrays of a tiny MANO file.

    Args:
        seed (int): Seed of the synthetic values. Defaults to 0.
        is_rhand (bool): Right hand, or its mirror image. Defaults to True.
        shapedirs_fixed (bool): Left hand only: mirror ``shapedirs`` too
            (True), or keep the right hand's as the official
            ``MANO_LEFT.pkl`` does (False). Defaults to False.

    Returns:
        dict: The official keys with plain arrays (``J_regressor`` dense,
        ``f``/``kintree_table`` uint32 with the root parent 4294967295).
    """
    rng = np.random.default_rng(seed)
    verts = _tube_vertices()
    verts = verts + rng.normal(size=verts.shape) * 1e-3
    # skinning weights: the 3 joints nearest to each vertex
    dist2 = ((verts[:, None] - _JOINT_TARGETS[None]) ** 2).sum(-1)
    logits = -(dist2 - dist2.min(1, keepdims=True)) / 0.02 ** 2
    weights = np.exp(logits)
    weights[weights < np.sort(weights, axis=1)[:, -3:-2]] = 0.0
    weights /= weights.sum(1, keepdims=True)
    # regressor: 6 vertices near each joint target, random positive weights
    j_reg = np.zeros((NUM_JOINTS, NUM_VERTS))
    for j in range(NUM_JOINTS):
        near = np.argsort(dist2[:, j])[:6]
        w = rng.uniform(0.5, 1.5, size=6)
        j_reg[j, near] = w / w.sum()
    shapedirs = rng.normal(size=(NUM_VERTS, 3, NUM_BETAS)) * 3e-3
    shapedirs[:, :, 0] += 0.1 * (verts - verts.mean(0))
    components, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    kintree = np.stack([np.array(MANO_PARENTS) % 2**32,
                        np.arange(NUM_JOINTS)]).astype(np.uint32)
    model = {
        'v_template': verts,
        'f': tube_faces().astype(np.uint32),
        'J_regressor': j_reg,
        'J': j_reg @ verts,
        'weights': weights,
        'kintree_table': kintree,
        'shapedirs': shapedirs,
        'posedirs': rng.normal(size=(NUM_VERTS, 3, NUM_POSE_BASIS)) * 2e-3,
        'hands_components': components.T.copy(),  # orthonormal rows
        'hands_mean': rng.normal(size=45) * 0.15,
        'hands_coeffs': rng.normal(size=(NUM_COEFFS, 45)),
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }
    if is_rhand:
        return model
    return mirror_model(model, shapedirs_fixed)


def mirror_model(model: dict, shapedirs_fixed: bool = False) -> dict:
    """The mirror image (x negated) of a MANO model's arrays: the same
    joints, weights and regressor, mirrored template, faces (winding
    reversed), pose blend shapes and PCA pose space; ``shapedirs`` mirrored
    only with ``shapedirs_fixed``."""
    sign_pose = np.einsum('i,j->ij', MIRROR, MIRROR).ravel()  # (9,) s_i s_j
    sign_pose = np.tile(sign_pose, NUM_JOINTS - 1)  # (135,)
    out = dict(model)
    out['v_template'] = model['v_template'] * MIRROR
    out['J'] = model['J'] * MIRROR
    out['f'] = model['f'][:, [0, 2, 1]].copy()
    out['posedirs'] = (model['posedirs'] * MIRROR[None, :, None] *
                       sign_pose[None, None, :])
    if shapedirs_fixed:
        out['shapedirs'] = model['shapedirs'] * MIRROR[None, :, None]
    out['hands_mean'] = mirror_hand_pose(model['hands_mean'])
    out['hands_components'] = mirror_hand_pose(model['hands_components'])
    return out


class _ChumpyLike:
    """Pickles as a chumpy object: its ``__dict__`` is chumpy's pickled
    state (``Ch.__getstate__`` drops ``_parents`` and ``_cache``)."""

    @classmethod
    def make(cls, **terms):
        obj = cls.__new__(cls)
        obj.__dict__.update({
            '_dirty_vars': set(terms),
            '_itr': None,
            '_depends_on_deps': {},
            '_make_dense': False,
            '_make_sparse': False,
            **terms
        })
        return obj


_MISSING = object()


@contextmanager
def fake_chumpy() -> Iterator[Tuple[type, type]]:
    """``(Ch, Select)`` stand-ins named ``chumpy.ch.Ch`` and
    ``chumpy.reordering.Select``, importable by pickle only inside the
    block (chumpy itself is never imported)."""
    names = ('chumpy', 'chumpy.ch', 'chumpy.reordering')
    saved = {n: sys.modules.get(n, _MISSING) for n in names}
    pkg = types.ModuleType('chumpy')
    ch_mod = types.ModuleType('chumpy.ch')
    reordering = types.ModuleType('chumpy.reordering')
    ch_cls = type('Ch', (_ChumpyLike, ), {'__module__': 'chumpy.ch'})
    select_cls = type('Select', (_ChumpyLike, ),
                      {'__module__': 'chumpy.reordering'})
    ch_mod.Ch, reordering.Select = ch_cls, select_cls
    pkg.ch, pkg.reordering = ch_mod, reordering
    sys.modules.update({'chumpy': pkg, 'chumpy.ch': ch_mod,
                        'chumpy.reordering': reordering})
    try:
        yield ch_cls, select_cls
    finally:
        for name, module in saved.items():
            if module is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def chumpy_select(ch_cls: type, select_cls: type, value: np.ndarray,
                  extra: int = SOURCE_BETAS - NUM_BETAS):
    """``Ch(x=source)[:, ..., :n]`` as chumpy pickles it, where ``source``
    is ``value`` with ``extra`` more columns on the last axis: a ``Select``
    whose flat ``idxs`` pick ``value`` back out of ``source``."""
    pad = np.full(value.shape[:-1] + (extra, ), 7.0)
    source = np.concatenate([value, pad], axis=-1)
    idxs = np.arange(source.size).reshape(source.shape)[..., :value.shape[-1]]
    return select_cls.make(
        a=ch_cls.make(x=source), idxs=idxs.ravel(),
        preferred_shape=tuple(value.shape))


def write_mano_pkl(path, model: dict, protocol: int = 2) -> str:
    """Writes ``model`` laid out as the official ``MANO_*.pkl``:
    ``shapedirs`` a chumpy ``Select`` of a ``Ch``, ``J_regressor`` a
    ``scipy.sparse.csc_matrix``, everything else plain arrays / strings."""
    with fake_chumpy() as (ch_cls, select_cls):
        obj = dict(model)
        obj['shapedirs'] = chumpy_select(ch_cls, select_cls,
                                         model['shapedirs'])
        obj['J_regressor'] = sp.csc_matrix(model['J_regressor'])
        with open(path, 'wb') as f:
            pickle.dump(obj, f, protocol=protocol)
    return str(path)


def write_mano_npz(path, model: dict) -> str:
    """Writes ``model`` as a plain ``.npz`` (smplx-style conversion)."""
    np.savez(path, **model)
    return str(path)


def write_mano_dir(folder, ext: str = 'pkl', seed: int = 0,
                   shapedirs_fixed: bool = False) -> str:
    """Writes ``MANO_RIGHT.<ext>`` and ``MANO_LEFT.<ext>`` into ``folder``
    (the left one the mirror of the right one) and returns ``folder``."""
    writer = write_mano_pkl if ext == 'pkl' else write_mano_npz
    writer(f'{folder}/MANO_RIGHT.{ext}', make_tiny_mano(seed))
    writer(f'{folder}/MANO_LEFT.{ext}',
           make_tiny_mano(seed, is_rhand=False,
                          shapedirs_fixed=shapedirs_fixed))
    return str(folder)
