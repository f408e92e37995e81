"""The hand mesh sampler (``mano_downsampling.npz`` layout) and open-mesh
decimation."""
import os.path as osp
import zipfile

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.io import load_mesh_downsampling
from mpt_plugin.body_models.mesh_sampler import MeshSampler
from mpt_plugin.synthetic.hand_mesh import boundary_loops
from mpt_plugin.synthetic.hand_mesh_sampling import build_hand_mesh_sampling
from mpt_plugin.synthetic.hand_model import make_synthetic_mano
from mpt_plugin.synthetic.mesh_downsampling import (build_mesh_sampling,
                                                    save_mesh_downsampling)

REAL_FILE = '/work/shared/reference/assets/mano_downsampling.npz'
LEVELS = [778, 195, 49, 13, 4]


@pytest.fixture(scope='module')
def model():
    return make_synthetic_mano()


@pytest.fixture(scope='module')
def sampling(model):
    return build_hand_mesh_sampling(model)


def _check_layout(sampling, levels, partition_of_unity=True):
    assert [a.shape for a in sampling['A']] == [(n, n) for n in levels]
    for i, (d, u) in enumerate(zip(sampling['D'], sampling['U'])):
        d, u = d.tocsr(), u.tocsr()
        assert d.shape == (levels[i + 1], levels[i])
        assert u.shape == (levels[i], levels[i + 1])
        assert np.all(np.diff(d.indptr) == 1)
        np.testing.assert_array_equal(d.data, 1.0)
        assert np.all(np.diff(u.indptr) == 3)
        if partition_of_unity:  # psbody's real weights need not sum to 1
            np.testing.assert_allclose(np.asarray(u.sum(1)).ravel(), 1.0)
    for faces, n in zip(sampling['F'], levels):
        faces = np.asarray(faces, dtype=np.int64)
        assert faces.min() >= 0 and faces.max() < n


def test_counts_and_layout(sampling):
    _check_layout(sampling, LEVELS)
    assert len(sampling['F'][0]) == 1538
    for faces, verts in zip(sampling['F'], sampling['V']):
        loops = boundary_loops(faces)
        assert len(loops) == 1  # the wrist stays one open loop
        # a disk: V - E + F = 1
        edges = np.unique(np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(
            -1, 2), axis=1), axis=0)
        assert len(verts) - len(edges) + len(faces) == 1
    assert len(boundary_loops(sampling['F'][1])[0]) == 16


def test_coarse_vertices_are_template_vertices(model, sampling):
    kept = model['v_template']
    for i, d in enumerate(sampling['D']):
        kept = d @ kept
        np.testing.assert_array_equal(sampling['V'][i + 1], kept)


def test_save_load_round_trip_and_sampler(tmp_path, model, sampling):
    path = tmp_path / 'mano_downsampling.npz'
    save_mesh_downsampling(path, sampling)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ['A.npy', 'D.npy', 'F.npy', 'U.npy',
                                         'V.npy']
    loaded = load_mesh_downsampling(path)
    _check_layout(loaded, LEVELS)
    sampler = MeshSampler.from_file(path)
    assert sampler.num_vertices == LEVELS
    verts = torch.as_tensor(model['v_template'][None])
    coarse = sampler.downsample(verts, 0, 1)
    assert coarse.shape == (1, 195, 3)
    np.testing.assert_allclose(coarse[0].numpy(), sampling['V'][1])
    # up-sampling the kept vertices lands near the template (< 1 cm)
    up = sampler.upsample(coarse, 1, 0)
    assert (up - verts).norm(dim=-1).max() < 0.01


def test_deterministic(model, sampling):
    again = build_hand_mesh_sampling(model)
    for key in ('A', 'D', 'U'):
        for a, b in zip(sampling[key], again[key]):
            assert (a != b).nnz == 0
    for a, b in zip(sampling['F'], again['F']):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not osp.isfile(REAL_FILE), reason='no reference file')
def test_real_mano_downsampling_loads_through_the_same_reader():
    real = load_mesh_downsampling(REAL_FILE)
    _check_layout(real, LEVELS, partition_of_unity=False)
    assert [len(f) for f in real['F']] == [1538, 374, 88, 18, 3]
    sampler = MeshSampler.from_file(REAL_FILE)
    assert sampler.num_vertices == LEVELS
    x = torch.rand(2, 778, 3, dtype=torch.float64)
    assert sampler.downsample(x, 0, 1).shape == (2, 195, 3)
    assert sampler.upsample(sampler.downsample(x, 0, 1), 1, 0).shape == (
        2, 778, 3)
    # the real mesh is open at the wrist too: one 16-edge loop
    loops = boundary_loops(real['F'][0])
    assert [len(loop) for loop in loops] == [16]


def test_open_mesh_needs_allow_boundary(model):
    verts, faces = model['v_template'], model['f'].astype(np.int64)
    with pytest.raises(ValueError, match='not closed'):
        build_mesh_sampling(verts, faces, factors=(4, ))
    # a third face on an edge is refused even with allow_boundary
    loop = set(boundary_loops(faces)[0].tolist())
    a, b = next(f[:2] for f in faces if not loop & set(f.tolist()))
    other = next(v for v in range(778) if v not in (a, b))
    with pytest.raises(ValueError, match='manifold'):
        build_mesh_sampling(verts, np.concatenate([faces, [[a, b, other]]]),
                            factors=(4, ), allow_boundary=True)


def test_closed_mesh_unchanged_by_allow_boundary():
    # an octahedron subdivided: closed, so both modes agree
    verts = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0],
                      [0, 0, 1], [0, 0, -1]], dtype=np.float64)
    faces = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                      [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    a = build_mesh_sampling(verts, faces, factors=(1.2, ))
    b = build_mesh_sampling(verts, faces, factors=(1.2, ),
                            allow_boundary=True)
    np.testing.assert_array_equal(a['F'][1], b['F'][1])
    assert (a['D'][0] != b['D'][0]).nnz == 0
