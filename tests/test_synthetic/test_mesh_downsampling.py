"""Tests for mpt_plugin.synthetic.mesh_downsampling."""
import os.path as osp
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from mpt_plugin.body_models.io import load_mesh_downsampling
from mpt_plugin.body_models.mesh_sampler import MeshSampler
from mpt_plugin.synthetic import mesh_downsampling
from mpt_plugin.synthetic.mesh_downsampling import (
    _adjacency_matrix, _closest_points_on_triangles, build_mesh_sampling,
    save_mesh_downsampling)
from tests.meshes import icosphere, undirected_edges, uv_sphere

REAL_FILE = '/work/shared/reference/assets/mesh_downsampling.npz'


@pytest.fixture(scope='module')
def mesh():
    return icosphere()


@pytest.fixture(scope='module')
def sampling(mesh):
    return build_mesh_sampling(*mesh, factors=(4, 4))


def _level_vertices(mesh, sampling):
    verts = [mesh[0]]
    for d_mat in sampling['D']:
        verts.append(d_mat @ verts[-1])
    return verts


# ---------------------------------------------------------------------------
# build_mesh_sampling
# ---------------------------------------------------------------------------
def test_counts_and_types(mesh, sampling):
    assert set(sampling) == {'A', 'D', 'U', 'F'}
    counts = [642, 161, 41]  # ceil(642 / 4) = 161, ceil(161 / 4) = 41
    assert [a.shape for a in sampling['A']] == [(n, n) for n in counts]
    assert [d.shape for d in sampling['D']] == [(161, 642), (41, 161)]
    assert [u.shape for u in sampling['U']] == [(642, 161), (161, 41)]
    # closed genus-0 triangle mesh: F = 2V - 4
    assert [f.shape for f in sampling['F']] == [(2 * n - 4, 3)
                                               for n in counts]
    for key in ('A', 'D', 'U'):
        assert all(isinstance(m, sp.csr_matrix) for m in sampling[key])
    assert all(f.dtype == np.int64 for f in sampling['F'])
    np.testing.assert_array_equal(sampling['F'][0], mesh[1])


def test_downsampling_is_selection(mesh, sampling):
    verts = _level_vertices(mesh, sampling)
    for level, d_mat in enumerate(sampling['D']):
        assert np.all(np.diff(d_mat.indptr) == 1)
        np.testing.assert_array_equal(d_mat.data, 1.0)
        cols = d_mat.indices
        assert np.all(np.diff(cols) > 0)  # distinct, ascending
        np.testing.assert_array_equal(verts[level + 1], verts[level][cols])
        faces = sampling['F'][level + 1]
        assert faces.min() == 0 and faces.max() == d_mat.shape[0] - 1


def test_coarse_meshes_closed_manifold(mesh, sampling):
    verts = _level_vertices(mesh, sampling)
    for level, (v, f) in enumerate(zip(verts, sampling['F'])):
        edges, counts = undirected_edges(f)
        assert np.all(counts == 2), level
        assert len(v) - len(edges) + len(f) == 2  # Euler characteristic
        # consistently oriented: every directed edge occurs once
        directed = f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
        assert len(np.unique(directed, axis=0)) == len(directed)
        # no flipped faces: all normals point away from the centre
        tri = v[f]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        assert np.all(np.einsum('ij,ij->i', normal, tri.mean(1)) > 0), level
        # each vertex keeps at least 3 neighbours
        assert np.bincount(edges.ravel()).min() >= 3
        # no slivers: compactness 4 sqrt(3) area / sum of squared edges
        sq_len = np.sum((tri - np.roll(tri, 1, axis=1))**2, axis=(1, 2))
        compact = 2 * np.sqrt(3) * np.linalg.norm(normal, axis=1) / sq_len
        assert compact.min() > 0.2


def test_adjacency_convention(sampling):
    for a_mat, faces in zip(sampling['A'], sampling['F']):
        assert (a_mat != a_mat.T).nnz == 0
        assert a_mat.diagonal().sum() == 0
        np.testing.assert_array_equal(a_mat.data, 2.0)  # as the real file
        edges, _ = undirected_edges(faces)
        assert a_mat.nnz == 2 * len(edges)
        assert np.all(np.asarray(a_mat[edges[:, 0], edges[:, 1]]) == 2.0)


def test_upsampling_barycentric(mesh, sampling):
    verts = _level_vertices(mesh, sampling)
    for level, u_mat in enumerate(sampling['U']):
        assert np.all(np.diff(u_mat.indptr) == 3)
        assert u_mat.data.min() >= 0.0
        np.testing.assert_allclose(u_mat.sum(axis=1), 1.0, atol=1e-12)
        # the three columns of every row form a face of the coarse mesh
        coarse_faces = {tuple(sorted(f)) for f in sampling['F'][level + 1]}
        cols = u_mat.indices.reshape(-1, 3)
        assert all(tuple(sorted(c)) in coarse_faces for c in cols.tolist())
        # up-sampled coarse positions approximate the fine surface
        err = np.linalg.norm(u_mat @ verts[level + 1] - verts[level], axis=1)
        assert err.mean() < 0.05 and err.max() < 0.2  # semi-axes 0.6-1
        # coarse vertices are reproduced exactly: D @ U = I
        np.testing.assert_allclose(
            (sampling['D'][level] @ u_mat).toarray(),
            np.eye(u_mat.shape[1]), atol=1e-12)


def test_upsampling_matches_brute_force(mesh, sampling):
    verts = _level_vertices(mesh, sampling)
    fine, coarse = verts[0], verts[1]
    tri = coarse[sampling['F'][1]]
    num_f, num_t = len(fine), len(tri)
    d2_all, _ = _closest_points_on_triangles(
        np.repeat(fine, num_t, axis=0), np.tile(tri, (num_f, 1, 1)))
    best = np.sqrt(d2_all.reshape(num_f, num_t).min(axis=1))
    got = np.linalg.norm(sampling['U'][0] @ coarse - fine, axis=1)
    np.testing.assert_allclose(got, best, atol=1e-10)


def test_closest_point_on_triangle_against_sampling():
    rng = np.random.default_rng(1)
    num = 200
    tri = rng.normal(size=(num, 3, 3))
    pts = rng.normal(size=(num, 3)) * 2.0
    d2, bary = _closest_points_on_triangles(pts, tri)
    assert np.all(bary >= 0)
    np.testing.assert_allclose(bary.sum(1), 1.0)
    np.testing.assert_allclose(
        np.sum((np.einsum('pk,pkd->pd', bary, tri) - pts)**2, axis=1), d2)
    # dense barycentric grid: nothing on the triangle is closer
    n = 60
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing='ij')
    keep = i + j <= n
    grid = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n
    samples = np.einsum('gk,pkd->pgd', grid, tri)
    d2_grid = np.sum((samples - pts[:, None])**2, axis=2).min(axis=1)
    assert np.all(d2 <= d2_grid + 1e-12)


def test_deterministic(mesh, sampling):
    again = build_mesh_sampling(*mesh, factors=(4, 4))
    for key in ('A', 'D', 'U'):
        for m1, m2 in zip(sampling[key], again[key]):
            assert (m1 != m2).nnz == 0
    for f1, f2 in zip(sampling['F'], again['F']):
        np.testing.assert_array_equal(f1, f2)


def test_single_level_and_float_factor(mesh):
    out = build_mesh_sampling(*mesh, factors=(2.5, ))
    assert [a.shape[0] for a in out['A']] == [642, 257]  # ceil(642 / 2.5)
    assert len(out['D']) == len(out['U']) == 1


def test_two_components_stay_closed():
    v1, f1 = icosphere(1, noise=0.0)  # 42 vertices each
    # a tiny second sphere is cheap to decimate and ends as a tetrahedron
    v2, f2 = icosphere(1, noise=0.0, axes=(0.05, 0.05, 0.05))
    verts = np.concatenate([v1, v2 + 3.0])
    faces = np.concatenate([f1, f2 + len(v1)])
    out = build_mesh_sampling(verts, faces, factors=(6, ))
    assert out['D'][0].shape == (14, 84)
    coarse_faces = out['F'][1]
    edges, counts = undirected_edges(coarse_faces)
    assert np.all(counts == 2)
    assert 14 - len(edges) + len(coarse_faces) == 4  # two spheres
    # no component collapsed below a tetrahedron
    kept = out['D'][0].indices
    assert np.sum(kept < 42) == 10 and np.sum(kept >= 42) == 4


def test_build_errors(mesh):
    verts, faces = mesh
    with pytest.raises(ValueError, match='not closed'):
        build_mesh_sampling(verts, faces[1:])
    with pytest.raises(ValueError, match=r'\(V, 3\)'):
        build_mesh_sampling(verts[:, :2], faces)
    with pytest.raises(ValueError, match='outside'):
        build_mesh_sampling(verts, faces + 1)
    with pytest.raises(ValueError, match='factors must be > 1'):
        build_mesh_sampling(verts, faces, factors=(1, ))
    with pytest.raises(ValueError, match='at least 4'):
        build_mesh_sampling(verts, faces, factors=(300, ))


def test_quality_check_relaxed_then_stuck(monkeypatch):
    small = icosphere(2)  # 162 vertices
    # An unreachable face-quality bound is dropped once it blocks progress.
    monkeypatch.setattr(mesh_downsampling, '_MIN_COMPACTNESS', 0.999)
    out = build_mesh_sampling(*small, factors=(4, ))
    assert out['D'][0].shape == (41, 162)
    edges, counts = undirected_edges(out['F'][1])
    assert np.all(counts == 2) and 41 - len(edges) + len(out['F'][1]) == 2
    # An unreachable normal bound blocks every collapse.
    monkeypatch.setattr(mesh_downsampling, '_MIN_NORMAL_COS', 1.0)
    with pytest.raises(RuntimeError, match='stuck'):
        build_mesh_sampling(*small, factors=(4, ))


# ---------------------------------------------------------------------------
# save_mesh_downsampling
# ---------------------------------------------------------------------------
def test_save_layout(tmp_path, sampling):
    path = tmp_path / 'mesh_downsampling.npz'
    save_mesh_downsampling(path, sampling)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ['A.npy', 'D.npy', 'F.npy', 'U.npy']
        for name in zf.namelist():
            with zf.open(name) as f:
                assert np.lib.format.read_magic(f) == (1, 0)
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            assert dtype == np.dtype(object)
            assert shape == ((3, ) if name[0] in 'AF' else (2, ))
    with pytest.raises(KeyError, match="'F'"):
        save_mesh_downsampling(tmp_path / 'bad.npz',
                               {k: sampling[k]
                                for k in ('A', 'D', 'U')})


# ---------------------------------------------------------------------------
# SMPL-sized build (6890 -> 1723 -> 431; ~1-2 s)
# ---------------------------------------------------------------------------
def test_smpl_sized_build_matches_real_structure():
    verts, faces = uv_sphere()
    assert verts.shape == (6890, 3) and faces.shape == (13776, 3)
    out = build_mesh_sampling(verts, faces)
    # vertex, face and adjacency counts of GraphCMR's mesh_downsampling.npz
    assert [a.shape[0] for a in out['A']] == [6890, 1723, 431]
    assert [len(f) for f in out['F']] == [13776, 3442, 858]
    assert [a.nnz for a in out['A']] == [41328, 10326, 2574]
    assert [u.nnz for u in out['U']] == [3 * 6890, 3 * 1723]
    coarse = out['D'][1] @ (out['D'][0] @ verts)
    np.testing.assert_allclose(np.linalg.norm(coarse, axis=1), 1.0)
    err = np.linalg.norm(out['U'][0] @ (out['D'][0] @ verts) - verts, axis=1)
    assert err.mean() < 0.005


# ---------------------------------------------------------------------------
# Real SMPL file and save/load round trip (body_models.io)
# ---------------------------------------------------------------------------
def _assert_same_sampling(s1, s2):
    assert set(s1) == set(s2) == {'A', 'D', 'U', 'F'}
    for key in ('A', 'D', 'U'):
        assert len(s1[key]) == len(s2[key])
        for m1, m2 in zip(s1[key], s2[key]):
            assert isinstance(m2, sp.csr_matrix)
            assert m1.shape == m2.shape and m1.nnz == m2.nnz
            assert (m1 != m2).nnz == 0
    for f1, f2 in zip(s1['F'], s2['F']):
        assert f2.dtype == np.int64
        np.testing.assert_array_equal(f1, f2)


def test_save_load_round_trip(tmp_path, sampling):
    path = tmp_path / 'sampling.npz'
    save_mesh_downsampling(path, sampling)
    loaded = load_mesh_downsampling(path)
    _assert_same_sampling(sampling, loaded)
    # explicit zero weights survive: still 3 stored entries per row
    assert all(np.all(np.diff(u.indptr) == 3) for u in loaded['U'])
    sampler = MeshSampler.from_file(path)
    assert sampler.num_vertices == [642, 161, 41]
    with pytest.raises(FileNotFoundError):
        MeshSampler.from_file(tmp_path / 'missing.npz')


needs_real_file = pytest.mark.skipif(
    not osp.exists(REAL_FILE), reason=f'{REAL_FILE} not available')


@needs_real_file
def test_real_file_conventions_and_round_trip(tmp_path):
    real = load_mesh_downsampling(REAL_FILE)
    # our adjacency convention reproduces the real A from the real F
    for a_mat, faces in zip(real['A'], real['F']):
        assert (_adjacency_matrix(a_mat.shape[0], faces) != a_mat).nnz == 0
        edges, counts = undirected_edges(faces)
        assert np.all(counts == 2)  # closed, as build_mesh_sampling makes
        assert a_mat.shape[0] - len(edges) + len(faces) == 2
    for d_mat in real['D']:
        assert np.all(np.diff(d_mat.indptr) == 1)
        np.testing.assert_array_equal(d_mat.data, 1.0)
    assert all(np.all(np.diff(u.indptr) == 3) for u in real['U'])
    path = tmp_path / 'copy.npz'
    save_mesh_downsampling(path, real)
    _assert_same_sampling(real, load_mesh_downsampling(path))
