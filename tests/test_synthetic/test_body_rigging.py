"""Tests of the synthetic body's skinning weights and joint regressors."""
import numpy as np
import pytest

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.synthetic.body_rigging import (H36M_JOINT_NAMES,
                                               make_synthetic_h36m_regressor)
from tests.test_synthetic.body_checks import winding_numbers


def test_h36m_regressor_needs_weights():
    with pytest.raises(KeyError, match='weights'):
        make_synthetic_h36m_regressor({'v_template': np.zeros((5, 3)),
                                       'J': np.zeros((24, 3))})


def test_joint_regressor_rings_inside_body(models):
    for gender, model in models.items():
        reg, verts = model['J_regressor'], model['v_template']
        assert (reg >= 0).all()
        np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(reg @ verts, model['J'], atol=1e-12)
        for j in range(24):
            ids = np.flatnonzero(reg[j])
            assert len(ids) >= 8, (gender, j)
            dist = np.linalg.norm(verts[ids] - model['J'][j], axis=1)
            assert dist.max() < 0.3, (gender, j)
        faces = model['f'].astype(np.int64)
        np.testing.assert_allclose(
            winding_numbers(model['J'], verts, faces), 1.0, atol=1e-3)
    # The regressor follows shape changes: a taller body has its joints
    # scaled the same way (beta 0 scales about the origin).
    model = models['neutral']
    shaped = model['v_template'] + model['shapedirs'][..., 0]
    ratio = (model['J_regressor'] @ shaped)[1:] / model['J'][1:]
    assert np.median(ratio) == pytest.approx(1.045, abs=0.005)


def test_skinning_weights(models):
    neutral = models['neutral']
    w, verts, J = neutral['weights'], neutral['v_template'], neutral['J']
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert (np.count_nonzero(w, axis=1) <= 8).all()  # local support
    # Limbs are weighted to their bones.
    for joint, child in ((1, 4), (4, 7), (16, 18), (18, 20), (2, 5),
                         (17, 19)):
        mid = 0.5 * (J[joint] + J[child])
        near = np.argsort(np.linalg.norm(verts - mid, axis=1))[:30]
        assert w[near, joint].min() > 0.9, joint
    head_top = np.argmax(verts[:, 1])
    assert w[head_top, 15] > 0.99
    # Smooth: neighbouring vertices have close weights, and every joint
    # blends with its parent somewhere.
    faces = neutral['f'].astype(np.int64)
    a = faces.reshape(-1)
    b = np.roll(faces, -1, axis=1).reshape(-1)
    jump = np.abs(w[a] - w[b]).max(axis=1)
    assert np.percentile(jump, 99) < 0.2 and jump.max() < 0.3
    for j in range(1, 24):
        blend = np.minimum(w[:, j], w[:, SMPL_PARENTS[j]])
        assert blend.max() > 0.2, j
    # Shared topology: same faces and weights for all genders.
    for gender in ('male', 'female'):
        np.testing.assert_array_equal(models[gender]['f'], neutral['f'])
        np.testing.assert_array_equal(models[gender]['weights'], w)


def test_h36m_regressor(neutral):
    reg = make_synthetic_h36m_regressor(neutral)
    verts, J = neutral['v_template'], neutral['J']
    assert reg.shape == (17, 6890) and reg.dtype == np.float64
    assert (reg >= 0).all()
    np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-12)
    h36m = reg @ verts
    names = H36M_JOINT_NAMES
    assert names[1] == 'left_hip' and names[4] == 'right_hip'
    lhip, rhip = h36m[1], h36m[4]
    assert lhip[0] > J[1, 0] + 0.02 and rhip[0] < J[2, 0] - 0.02  # wider
    assert lhip[1] < J[1, 1] and rhip[1] < J[2, 1]  # lower
    np.testing.assert_allclose(h36m[0], 0.5 * (lhip + rhip), atol=1e-4)
    for row, joint in ((2, 4), (3, 7), (5, 5), (6, 8), (12, 18), (13, 20),
                       (15, 19), (16, 21)):
        np.testing.assert_allclose(h36m[row], J[joint], atol=1e-4)
    assert h36m[11, 0] > 0 > h36m[14, 0]
    assert h36m[0, 1] < h36m[7, 1] < h36m[8, 1] < h36m[9, 1] < h36m[10, 1]
    assert J[15, 1] < h36m[9, 1]
    assert h36m[10, 1] > verts[:, 1].max() - 0.005  # on the skull surface
    faces = neutral['f'].astype(np.int64)
    inside = winding_numbers(h36m, verts, faces)
    assert (inside[:10] > 0.99).all() and (inside[11:] > 0.99).all()
