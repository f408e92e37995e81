"""Tests of the synthetic body's shape and pose blend shapes (and of
posing it through smplx)."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.synthetic.body_remeshing import SMPLH_LANDMARK_VERTEX_IDS
from tests.test_synthetic.body_checks import face_normals, height

LANDMARKS = SMPLH_LANDMARK_VERTEX_IDS


def _forward_kinematics(joints, rotmats):
    """Posed joints ``(24, 3)`` of the LBS chain with root at its rest
    place: ``G_j = G_parent [R_j | J_j - J_parent]``."""
    rot = [None] * 24
    pos = np.zeros((24, 3))
    for j in range(24):
        p = SMPL_PARENTS[j]
        if p < 0:
            rot[j], pos[j] = rotmats[j], joints[j]
        else:
            rot[j] = rot[p] @ rotmats[j]
            pos[j] = rot[p] @ (joints[j] - joints[p]) + pos[p]
    return pos


def test_shape_directions(models):
    neutral = models['neutral']
    verts, sd, faces = (neutral['v_template'], neutral['shapedirs'],
                        neutral['f'].astype(np.int64))
    rms = np.sqrt((sd**2).sum(axis=1).mean(axis=0))
    assert (np.diff(rms) < 0).all() and rms[0] > 3 * rms[1]
    # beta 0 is size: +-3 gives plausible heights, the others keep height.
    for beta, lo, hi in ((3, 1.85, 2.0), (-3, 1.4, 1.55)):
        assert lo < height(verts + beta * sd[..., 0]) < hi
    assert abs(height(verts + 3 * sd[..., 1]) - height(verts)) < 0.02

    def width(v, y0, y1):
        band = (v[:, 1] > y0) & (v[:, 1] < y1) & (np.abs(v[:, 0]) < 0.25)
        return np.ptp(v[band, 0])

    waist = neutral['J'][3, 1]
    assert width(verts + 2 * sd[..., 1], waist - 0.02, waist + 0.02) > \
        1.1 * width(verts, waist - 0.02, waist + 0.02)
    shoulders = verts + 3 * sd[..., 3]
    J3 = neutral['J_regressor'] @ shoulders
    assert J3[16, 0] - J3[17, 0] > neutral['J'][16, 0] - neutral['J'][17,
                                                                      0]
    legs = neutral['J_regressor'] @ (verts + 3 * sd[..., 2])
    assert np.linalg.norm(legs[7] - legs[4]) > np.linalg.norm(
        neutral['J'][7] - neutral['J'][4])
    # Plausible bodies for |beta| <= 3: positive volume, no flipped faces.
    n0 = face_normals(verts, faces)
    rng = np.random.default_rng(0)
    for betas in [3 * np.eye(10)[k] * s for k in range(10)
                  for s in (-1, 1)] + list(rng.uniform(-3, 3, (5, 10))):
        v = verts + sd @ betas
        assert (np.einsum('ij,ij->i', face_normals(v, faces), n0) >
                0).mean() > 0.999
        assert 1.35 < height(v) < 2.05


def test_pose_directions(neutral):
    pd = neutral['posedirs']
    assert np.abs(pd).max() < 0.01  # small: millimetres per unit of R - I
    used = np.flatnonzero(np.abs(pd).sum(axis=(0, 1)) > 0)
    # Only the diagonal entries of each joint's (R - I).
    np.testing.assert_array_equal(
        used, np.sort([9 * j + 4 * r for j in range(23) for r in range(3)]))
    verts, J = neutral['v_template'], neutral['J']
    for j in range(1, 24):
        col = np.linalg.norm(pd[:, :, 9 * (j - 1)], axis=1)
        assert col.max() > 0.002, j
        active = col > 1e-4
        dist = np.linalg.norm(verts[active] - J[j], axis=1)
        assert dist.max() < 0.3, j  # near the joint only


def test_posing_through_smplx_matches_lbs_chain(neutral):
    smplx = pytest.importorskip('smplx')
    from smplx.utils import Struct
    body = smplx.SMPL('', data_struct=Struct(**neutral), dtype=torch.float64)
    with torch.no_grad():
        rest = body()
    verts0 = rest.vertices[0].numpy()
    np.testing.assert_allclose(verts0, neutral['v_template'], atol=1e-12)
    joints0 = rest.joints[0].numpy()
    # Zero pose: the 24 joints are exactly J_regressor @ vertices.
    np.testing.assert_allclose(joints0[:24], neutral['J_regressor'] @ verts0,
                               atol=1e-8)
    # The 21 extra smplx joints are our landmark vertices.
    order = ('nose', 'reye', 'leye', 'rear', 'lear', 'LBigToe', 'LSmallToe',
             'LHeel', 'RBigToe', 'RSmallToe', 'RHeel', 'lthumb', 'lindex',
             'lmiddle', 'lring', 'lpinky', 'rthumb', 'rindex', 'rmiddle',
             'rring', 'rpinky')
    np.testing.assert_allclose(joints0[24:],
                               verts0[[LANDMARKS[n] for n in order]])
    # Posed: smplx's joints are the forward kinematics of the (shaped) rest
    # joints, not J_regressor @ posed vertices: LBS blends the vertices of
    # a ring around a joint with different bone transforms (and adds pose
    # correctives), so the ring's average leaves the joint when it bends.
    rng = np.random.default_rng(1)
    pose = rng.normal(0.0, 0.35, (24, 3))
    betas = rng.normal(0.0, 1.0, 10)
    with torch.no_grad():
        out = body(global_orient=torch.tensor(pose[None, 0]),
                   body_pose=torch.tensor(pose[None, 1:].reshape(1, -1)),
                   betas=torch.tensor(betas[None]))
    joints = out.joints[0, :24].numpy()
    shaped = neutral['v_template'] + neutral['shapedirs'] @ betas
    rest_joints = neutral['J_regressor'] @ shaped
    fk = _forward_kinematics(rest_joints,
                             Rotation.from_rotvec(pose).as_matrix())
    np.testing.assert_allclose(joints, fk, atol=1e-8)
    regressed = neutral['J_regressor'] @ out.vertices[0].numpy()
    assert np.abs(regressed - joints).max() > 1e-3
