"""Tests of the synthetic body's proportions, sides and genders."""
import numpy as np

from mpt_plugin.synthetic.body_remeshing import SMPLH_LANDMARK_VERTEX_IDS
from tests.test_synthetic.body_checks import height

LANDMARKS = SMPLH_LANDMARK_VERTEX_IDS


def test_template_frame_and_bone_lengths(neutral):
    verts, J = neutral['v_template'], neutral['J']
    assert 1.65 < height(verts) < 1.75
    assert -0.26 < J[0, 1] < -0.18
    assert -1.20 < verts[:, 1].min() < -1.12
    assert 0.47 < verts[:, 1].max() < 0.55

    def bone(a, b):
        return np.linalg.norm(J[a] - J[b])

    for left, right in ((1, 2), (4, 5), (7, 8), (16, 17), (18, 19),
                        (20, 21)):
        np.testing.assert_allclose(J[left] * [-1, 1, 1], J[right],
                                   atol=1e-3)
    for a, b, lo, hi in ((1, 4, 0.36, 0.44), (4, 7, 0.36, 0.44),
                         (16, 18, 0.24, 0.30), (18, 20, 0.22, 0.28),
                         (16, 17, 0.31, 0.39), (1, 2, 0.11, 0.17)):
        assert lo < bone(a, b) < hi, (a, b, bone(a, b))
    # T-pose: arms straight out sideways, legs slightly apart.
    arm = J[20] - J[16]
    assert abs(arm[1]) < 0.03 * np.linalg.norm(arm)
    assert J[7, 0] > J[1, 0] > 0.0
    # Spine chain goes up, head on top.
    assert J[0, 1] < J[3, 1] < J[6, 1] < J[9, 1] < J[12, 1] < J[15, 1]


def test_left_is_plus_x_and_feet_point_forward(neutral):
    J, verts = neutral['J'], neutral['v_template']
    for left in (1, 4, 7, 10, 13, 16, 18, 20, 22):
        assert J[left, 0] > 0.0 > J[left + 1, 0]
    weights = neutral['weights']
    left_arm = weights[:, [16, 18, 20, 22]].sum(axis=1) > 0.9
    assert (verts[left_arm, 0] > 0.15).all()
    for side, ankle in (('L', 7), ('R', 8)):
        toe = verts[LANDMARKS[side + 'BigToe']]
        heel = verts[LANDMARKS[side + 'Heel']]
        assert toe[2] - J[ankle, 2] > 0.12 and J[ankle, 2] - heel[2] > 0.03


def test_genders_differ_sensibly(models):
    stats = {}
    for gender, model in models.items():
        verts, J = model['v_template'], model['J']
        hips = verts[np.abs(verts[:, 1] - J[1, 1] + 0.02) < 0.02]
        hips = hips[np.abs(hips[:, 0]) < 0.3]
        stats[gender] = dict(height=height(verts),
                             shoulders=J[16, 0] - J[17, 0],
                             hips=np.ptp(hips[:, 0]))
    male, female, neutral = (stats[g] for g in ('male', 'female', 'neutral'))
    assert male['height'] > neutral['height'] + 0.05
    assert female['height'] < neutral['height'] - 0.04
    assert 1.70 < male['height'] < 1.85 and 1.55 < female['height'] < 1.70
    assert male['shoulders'] > neutral['shoulders'] > female['shoulders']
    assert female['hips'] / female['shoulders'] > \
        male['hips'] / male['shoulders'] + 0.15
