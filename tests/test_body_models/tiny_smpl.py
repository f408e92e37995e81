"""Small random SMPL-layout models shared by the body-model tests."""
import numpy as np

from mpt_plugin.body_models.conventions import SMPL_PARENTS

J = 24


def make_tiny_smpl(num_verts: int = 30,
                   num_betas: int = 10,
                   seed: int = 0,
                   offset: float = 0.0) -> dict:
    """A small SMPL-layout model: ``num_verts`` vertices, 24 joints."""
    rng = np.random.default_rng(seed)
    v_template = rng.normal(size=(num_verts, 3)) * 0.3
    v_template[:, 0] += offset
    j_reg = rng.random((J, num_verts))
    weights = rng.random((num_verts, J))
    faces = np.stack([np.arange(num_verts), np.roll(np.arange(num_verts), 1),
                      np.roll(np.arange(num_verts), 2)], axis=1)
    kintree = np.stack([np.array(SMPL_PARENTS) % 2**32,
                        np.arange(J)]).astype(np.uint32)
    return {
        'v_template': v_template,
        'f': faces.astype(np.uint32),
        'J_regressor': j_reg / j_reg.sum(1, keepdims=True),
        'weights': weights / weights.sum(1, keepdims=True),
        'kintree_table': kintree,
        'shapedirs': rng.normal(size=(num_verts, 3, num_betas)) * 0.02,
        'posedirs': rng.normal(size=(num_verts, 3, 9 * (J - 1))) * 0.01,
    }


def save_model(path, model: dict) -> str:
    np.savez(path, **model)
    return str(path)
