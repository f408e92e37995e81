"""Canonical mesh and skeleton of the synthetic MANO-format hand."""
import numpy as np
import pytest

from mpt_plugin.body_models.conventions import MANO_PARENTS
from mpt_plugin.body_models.mano import FINGERTIP_VERTEX_IDS
from mpt_plugin.synthetic.hand_mesh import (MANO_NUM_FACES,
                                            MANO_NUM_VERTICES,
                                            boundary_loops, build_hand_mesh,
                                            catmull_clark)
from mpt_plugin.synthetic.hand_proportions import (FINGER_JOINTS, FINGERS,
                                                   hand_skeleton)


@pytest.fixture(scope='module')
def mesh():
    return build_hand_mesh()


def test_exact_counts_and_dtypes(mesh):
    assert mesh['verts'].shape == (MANO_NUM_VERTICES, 3) == (778, 3)
    assert mesh['faces'].shape == (MANO_NUM_FACES, 3) == (1538, 3)
    assert mesh['verts'].dtype == np.float64
    assert mesh['faces'].dtype == np.int64
    assert np.unique(mesh['faces']).size == 778


def test_one_16_edge_wrist_loop_manifold_oriented(mesh):
    faces = mesh['faces']
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    # consistent winding: every directed edge at most once
    directed = src * 778 + dst
    assert np.unique(directed).size == directed.size
    undirected = np.minimum(src, dst) * 778 + np.maximum(src, dst)
    _, counts = np.unique(undirected, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    assert np.sum(counts == 1) == 16
    loops = boundary_loops(faces)
    assert len(loops) == 1 and len(loops[0]) == 16
    assert np.array_equal(np.sort(loops[0]), np.sort(mesh['wrist_loop']))
    num_v, num_e, num_f = 778, counts.size, len(faces)
    assert num_v - num_e + num_f == 1
    # the loop is at the wrist end, the lowest part of the hand
    verts = mesh['verts']
    assert verts[loops[0], 1].max() < verts[:, 1].min() + 0.005
    # outward winding: positive volume of the surface closed at the loop
    c = verts[loops[0]].mean(0)
    tri = verts[faces] - c
    vol = np.einsum('ij,ij->i', tri[:, 0], np.cross(tri[:, 1],
                                                    tri[:, 2])).sum() / 6
    assert 2e-4 < vol < 6e-4  # m^3: an adult hand is ~0.4 litre


def test_fingertips_at_freihand_ids(mesh):
    ids = FINGERTIP_VERTEX_IDS['freihand']
    assert tuple(mesh['tip_ids']) == ids
    skel = hand_skeleton()
    tips = mesh['verts'][list(ids)]
    order = [FINGERS.index(n) for n in ('thumb', 'index', 'middle', 'ring',
                                        'pinky')]
    np.testing.assert_allclose(tips, skel['tips'][order], atol=1e-12)
    # each tip is the extreme vertex of its finger along the finger
    for f, vid in zip(order, ids):
        d = skel['dirs'][f]
        near = np.linalg.norm(mesh['verts'] - tips[order.index(f)],
                              axis=1) < 0.012
        assert (mesh['verts'][near] @ d).max() == pytest.approx(
            mesh['verts'][vid] @ d)


def test_adult_proportions(mesh):
    skel = hand_skeleton()
    J, tips = skel['J'], skel['tips']
    middle_tip = tips[FINGERS.index('middle')]
    assert 0.17 <= np.linalg.norm(middle_tip - J[0]) <= 0.20  # hand length
    verts = mesh['verts']
    # breadth across the knuckles (metacarpal heads), 7.5-9.5 cm
    knuckles = np.abs(verts[:, 1] - J[[1, 4, 7, 10], 1].mean()) < 0.004
    breadth = np.ptp(verts[knuckles & (verts[:, 0] > -0.05), 0])
    assert 0.075 <= breadth <= 0.095
    # palm thickness 2-3.5 cm, finger widths 1.3-2.3 cm
    mid_palm = (np.abs(verts[:, 1] - 0.045) < 0.006) & (np.abs(
        verts[:, 0]) < 0.03)
    assert 0.02 <= np.ptp(verts[mid_palm, 2]) <= 0.035
    for name in ('index', 'middle', 'ring', 'pinky'):
        j1, j2, _ = FINGER_JOINTS[name]
        mid = 0.5 * (J[j1] + J[j2])
        d = skel['dirs'][FINGERS.index(name)]
        rel = verts - mid
        ring = (np.abs(rel @ d) < 0.003) & (np.linalg.norm(rel, axis=1) <
                                             0.0125)
        width = np.ptp(verts[ring, 0])
        assert 0.013 <= width <= 0.023, (name, width)
    # finger length order: middle > ring > index > pinky
    length = {n: np.linalg.norm(tips[FINGERS.index(n)] -
                                J[FINGER_JOINTS[n][0]]) for n in FINGERS}
    assert length['middle'] > length['ring'] > length['index'] > \
        length['pinky']


def test_skeleton_follows_mano_tree():
    J = hand_skeleton()['J']
    for j in range(1, 16):
        parent = MANO_PARENTS[j]
        bone = np.linalg.norm(J[j] - J[parent])
        assert 0.015 < bone < 0.1
    for name, ids in FINGER_JOINTS.items():
        assert MANO_PARENTS[ids[0]] == 0
        assert MANO_PARENTS[ids[1]] == ids[0]
        assert MANO_PARENTS[ids[2]] == ids[1]


def test_deterministic():
    a, b = build_hand_mesh(), build_hand_mesh()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes()


def test_catmull_clark_polygons():
    # a cube with one face split into a pentagon/triangle pair is not quad:
    # use a square pyramid (4 triangles + 1 quad), closed and oriented
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                      [0.5, 0.5, 1.0]])
    faces = [[0, 3, 2, 1], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]
    new_v, quads = catmull_clark(verts, faces)
    assert new_v.shape == (5 + 8 + 5, 3) and quads.shape == (16, 4)
    src, dst = quads.reshape(-1), np.roll(quads, -1, axis=1).reshape(-1)
    assert np.unique(src * 100 + dst).size == src.size
    assert np.array_equal(np.sort(src * 100 + dst),
                          np.sort(dst * 100 + src))
