"""Blend shapes and PCA pose space of the synthetic hand."""
import numpy as np
import pytest

from mpt_plugin.synthetic.hand_blend_shapes import (NUM_BETAS,
                                                    NUM_POSE_BASIS,
                                                    hand_pose_space)
from mpt_plugin.synthetic.hand_model import make_synthetic_mano


@pytest.fixture(scope='module')
def model():
    return make_synthetic_mano()


def test_shape_dirs(model):
    dirs = model['shapedirs']
    assert dirs.shape == (778, 3, NUM_BETAS) == (778, 3, 10)
    # ten independent, smooth, millimetre-scale directions
    flat = dirs.reshape(-1, NUM_BETAS)
    assert np.linalg.matrix_rank(flat) == NUM_BETAS
    rms = np.sqrt((dirs**2).sum(1).mean(0))
    assert np.all((rms > 2e-4) & (rms < 1e-2))
    # beta 0 scales the hand: +1 makes it longer
    verts = model['v_template']
    longer = verts + dirs[:, :, 0]
    assert np.ptp(longer[:, 1]) > np.ptp(verts[:, 1]) * 1.02


def test_pose_dirs_diagonal_only(model):
    dirs = model['posedirs']
    assert dirs.shape == (778, 3, NUM_POSE_BASIS) == (778, 3, 135)
    used = np.flatnonzero(np.abs(dirs).sum((0, 1)) > 0)
    assert set(used % 9) <= {0, 4, 8}  # diagonal entries of R - I
    assert np.abs(dirs).max() < 0.003


def test_pose_space():
    space = hand_pose_space(0)
    comps = space['hands_components']
    assert comps.shape == (45, 45) and space['hands_mean'].shape == (45, )
    assert space['hands_coeffs'].shape == (1554, 45)
    np.testing.assert_allclose(comps @ comps.T, np.eye(45), atol=1e-12)
    # first component: every finger curls (rotation about -x)
    first = comps[0].reshape(15, 3)
    fingers = np.arange(12)  # index, middle, pinky, ring joints
    assert np.all(first[fingers, 0] < 0)
    np.testing.assert_allclose(first[fingers, 1:], 0.0, atol=1e-12)
    # a relaxed, slightly curled mean hand
    mean = space['hands_mean'].reshape(15, 3)
    assert np.all(mean[fingers, 0] < 0) and np.abs(mean).max() < 0.5
    again = hand_pose_space(0)
    for key in space:
        assert space[key].tobytes() == again[key].tobytes()
