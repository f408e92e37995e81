"""Skinning weights and joint regressor of the synthetic hand."""
import numpy as np
import pytest

from mpt_plugin.synthetic.hand_mesh import build_hand_mesh
from mpt_plugin.synthetic.hand_proportions import (FINGER_JOINTS, FINGERS,
                                                   hand_skeleton)
from mpt_plugin.synthetic.hand_rigging import (hand_bones, hand_regressor,
                                               hand_skinning_weights)


@pytest.fixture(scope='module')
def rig():
    skel, mesh = hand_skeleton(), build_hand_mesh()
    w = hand_skinning_weights(mesh['verts'], mesh['faces'], skel['J'],
                              skel['tips'])
    reg = hand_regressor(mesh['verts'], w, skel['J'], skel['tips'])
    return skel, mesh, w, reg


def test_bones():
    skel = hand_skeleton()
    starts, ends, owner = hand_bones(skel['J'], skel['tips'])
    assert starts.shape == ends.shape == (20, 3)
    assert sorted(set(owner.tolist())) == list(range(16))
    assert np.sum(owner == 0) == 5  # the palm bones


def test_weights(rig):
    skel, mesh, w, _ = rig
    assert w.shape == (778, 16) and w.min() >= 0
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    assert np.all(w.max(0) > 0.85)  # every joint drives some vertices
    # a fingertip is not moved by the other fingers
    for name, tip in zip(('thumb', 'index', 'middle', 'ring', 'pinky'),
                         mesh['tip_ids']):
        others = [j for n in FINGERS if n != name for j in FINGER_JOINTS[n]]
        assert w[tip, others].sum() == 0
    # the wrist loop follows the wrist (the thumb's base pulls a little)
    assert np.all(w[mesh['wrist_loop'], 0] > 0.85)
    assert np.median(w[mesh['wrist_loop'], 0]) > 0.99


def test_regressor_reproduces_skeleton(rig):
    skel, mesh, _, reg = rig
    assert reg.shape == (16, 778) and reg.min() >= 0
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(reg @ mesh['verts'], skel['J'], atol=1e-4)
    assert np.all((reg > 0).sum(1) >= 8)  # rings, not single vertices
