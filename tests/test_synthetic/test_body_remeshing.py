"""Tests of the synthetic body's mesh: topology, quality, landmarks."""
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from mpt_plugin.synthetic.body_remeshing import SMPLH_LANDMARK_VERTEX_IDS
from tests.test_synthetic.body_checks import face_normals, winding_numbers

LANDMARKS = SMPLH_LANDMARK_VERTEX_IDS


def test_landmark_table_matches_smplx():
    from smplx.vertex_ids import vertex_ids
    assert SMPLH_LANDMARK_VERTEX_IDS == vertex_ids['smplh']


def test_closed_oriented_genus0_manifold(neutral):
    faces = neutral['f'].astype(np.int64)
    verts = neutral['v_template']
    nv, nf = len(verts), len(faces)
    # Every directed edge exactly once, and its reverse exists: each edge is
    # in exactly two faces with opposite orientation.
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    directed = src * nv + dst
    assert len(np.unique(directed)) == len(directed)
    assert np.isin(dst * nv + src, directed).all()
    undirected = np.unique(np.minimum(src, dst) * nv + np.maximum(src, dst))
    assert nv - len(undirected) + nf == 2  # Euler characteristic -> genus 0
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == nf
    assert (np.sort(faces, axis=1)[:, :-1] != np.sort(faces,
                                                      axis=1)[:, 1:]).all()
    adj = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(nv, nv))
    assert connected_components(adj, directed=False)[0] == 1
    # Vertex manifold: each vertex's faces form a single fan (one cycle).
    fan_edges = {}
    for f in faces:
        for k in range(3):
            fan_edges.setdefault(f[k], {})[f[(k + 1) % 3]] = f[(k + 2) % 3]
    for v, nxt in fan_edges.items():
        start = next(iter(nxt))
        cur, steps = nxt[start], 1
        while cur != start:
            cur, steps = nxt[cur], steps + 1
        assert steps == len(nxt), v
    # Outward orientation: positive volume of an adult (~65 litres) and
    # points just outside / inside sampled faces have winding 0 / 1.
    volume = np.einsum('ij,ij->i', verts[faces[:, 0]],
                       np.cross(verts[faces[:, 1]], verts[faces[:, 2]]))
    assert 0.05 < volume.sum() / 6.0 < 0.09
    normals = face_normals(verts, faces)
    area = np.linalg.norm(normals, axis=1)
    assert area.min() > 1e-8
    sample = np.random.default_rng(0).choice(nf, 150, replace=False)
    centre = verts[faces[sample]].mean(axis=1)
    offset = 1e-3 * normals[sample] / area[sample, None]
    np.testing.assert_allclose(
        winding_numbers(centre + offset, verts, faces), 0.0, atol=0.05)
    np.testing.assert_allclose(
        winding_numbers(centre - offset, verts, faces), 1.0, atol=0.05)


def test_mesh_quality(models):
    for gender, model in models.items():
        verts, faces = model['v_template'], model['f'].astype(np.int64)
        tri = verts[faces]
        edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2)
        assert 0.002 < edges.min() and edges.max() < 0.05, gender
        # No sliver triangles (smallest angle > 10 degrees).
        cos = []
        for k in range(3):
            u = tri[:, (k + 1) % 3] - tri[:, k]
            w = tri[:, (k + 2) % 3] - tri[:, k]
            cos.append(np.einsum('ij,ij->i', u, w) /
                       np.linalg.norm(u, axis=1) / np.linalg.norm(w, axis=1))
        assert np.degrees(np.arccos(np.max(cos, axis=0))).min() > 10, gender
        # No fold-overs: neighbouring faces never point in opposite ways.
        normals = face_normals(verts, faces)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        src = faces.reshape(-1)
        dst = np.roll(faces, -1, axis=1).reshape(-1)
        key = np.minimum(src, dst) * len(verts) + np.maximum(src, dst)
        order = np.argsort(key, kind='stable')
        fid = np.repeat(np.arange(len(faces)), 3)[order]
        dots = np.einsum('ij,ij->i', normals[fid[0::2]], normals[fid[1::2]])
        assert dots.min() > 0.0, gender


def test_landmark_vertices(neutral):
    verts, J = neutral['v_template'], neutral['J']

    def lm(name):
        return verts[LANDMARKS[name]]

    head = verts[:, 1] > J[12, 1] + 0.03
    nose = lm('nose')
    assert abs(nose[0]) < 0.01
    assert nose[2] > verts[head, 2].max() - 0.005  # nose tip is frontmost
    assert nose[2] > J[15, 2] + 0.08
    for eye, sign in (('leye', 1), ('reye', -1)):
        p = lm(eye)
        assert 0.02 < sign * p[0] < 0.05
        assert nose[1] < p[1] < verts[:, 1].max() - 0.05
        assert p[2] > J[15, 2] + 0.05
    for ear, sign in (('lear', 1), ('rear', -1)):
        p = lm(ear)  # the most lateral point of the head, at eye height
        assert sign * p[0] > (sign * verts[head, 0]).max() - 0.01
        assert abs(p[2] - J[15, 2]) < 0.05
        assert abs(p[1] - lm('leye')[1]) < 0.05
    for side, sign, wrist, hand in (('l', 1, 20, 22), ('r', -1, 21, 23)):
        tips = [lm(side + f) for f in ('thumb', 'index', 'middle', 'ring',
                                       'pinky')]
        for tip in tips:
            assert sign * (tip[0] - J[wrist, 0]) > 0.04
        for tip in tips[1:]:
            assert sign * (tip[0] - J[hand, 0]) > 0.04  # beyond knuckles
        z = [tip[2] for tip in tips]  # thumb forward, then index..pinky
        assert z == sorted(z, reverse=True), side
        assert z[0] - z[1] > 0.03
    for side, sign in (('L', 1), ('R', -1)):
        big, small = lm(side + 'BigToe'), lm(side + 'SmallToe')
        heel = lm(side + 'Heel')
        assert sign * big[0] < sign * small[0]  # big toe medial
        assert max(big[1], small[1], heel[1]) < verts[:, 1].min() + 0.03
        assert big[2] > small[2] - 0.03 > heel[2]
