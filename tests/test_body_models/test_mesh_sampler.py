"""Tests for mpt_plugin.body_models.mesh_sampler."""
import os.path as osp

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.mesh_sampler import MeshSampler
from mpt_plugin.synthetic.mesh_downsampling import build_mesh_sampling
from tests.meshes import icosphere, undirected_edges

REAL_FILE = '/work/shared/reference/assets/mesh_downsampling.npz'


@pytest.fixture(scope='module')
def mesh():
    return icosphere()


@pytest.fixture(scope='module')
def sampling(mesh):
    return build_mesh_sampling(*mesh, factors=(4, 4))


# ---------------------------------------------------------------------------
# MeshSampler
# ---------------------------------------------------------------------------
def test_sampler_matches_scipy(sampling):
    sampler = MeshSampler.from_matrices(sampling)
    assert sampler.num_vertices == [642, 161, 41]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 642, 5))
    ref = np.stack([sampling['D'][1] @ (sampling['D'][0] @ xi) for xi in x])
    for dtype in (torch.float32, torch.float64):
        out = sampler.downsample(torch.as_tensor(x, dtype=dtype))
        assert out.shape == (2, 41, 5) and out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    y = rng.normal(size=(3, 41, 4))
    ref = np.stack([sampling['U'][0] @ (sampling['U'][1] @ yi) for yi in y])
    out = sampler.upsample(torch.as_tensor(y))
    assert out.shape == (3, 642, 4) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    # single steps and the unbatched form
    assert sampler.downsample(torch.zeros(642, 3), 0, 1).shape == (161, 3)
    assert sampler.upsample(torch.zeros(1, 41, 3), 2, 1).shape == (1, 161, 3)
    same = torch.ones(1, 161, 3)
    assert sampler.downsample(same, 1, 1) is same


def test_sampler_roundtrip_and_grad(sampling):
    sampler = MeshSampler.from_matrices(sampling)
    coarse = torch.randn(4, 41, 3, dtype=torch.float64, requires_grad=True)
    back = sampler.downsample(sampler.upsample(coarse), 0, 2)
    torch.testing.assert_close(back, coarse)  # D @ U = I
    back.sum().backward()
    torch.testing.assert_close(coarse.grad, torch.ones_like(coarse))


def test_sampler_errors(sampling):
    sampler = MeshSampler.from_matrices(sampling)
    with pytest.raises(ValueError, match='642'):
        sampler.downsample(torch.zeros(2, 641, 3))
    with pytest.raises(ValueError, match='41'):
        sampler.upsample(torch.zeros(2, 40, 3))
    with pytest.raises(ValueError, match='n2 >= n1'):
        sampler.downsample(torch.zeros(2, 41, 3), 2, 0)
    with pytest.raises(ValueError, match='out of range'):
        sampler.downsample(torch.zeros(2, 642, 3), 0, 3)
    with pytest.raises(ValueError, match='floating'):
        sampler.downsample(torch.zeros(2, 642, 3, dtype=torch.long))
    bad = dict(sampling, D=sampling['D'][::-1])
    with pytest.raises(ValueError, match='D\\[0\\]|U\\[0\\]'):
        MeshSampler.from_matrices(bad)
    with pytest.raises(KeyError, match="'U'"):
        MeshSampler.from_matrices({'D': sampling['D']})


def test_sampler_buffers_move(sampling):
    sampler = MeshSampler.from_matrices(sampling).double()
    assert sampler.down_0_2.dtype == torch.float64
    assert sampler.down_0_2.is_sparse
    assert 'down_0_2' not in sampler.state_dict()  # non-persistent
    out = sampler.downsample(torch.zeros(1, 642, 3, dtype=torch.float32))
    assert out.dtype == torch.float32


def test_dense_upsampling_init_linear(sampling):
    sampler = MeshSampler.from_matrices(sampling)
    dense = sampler.dense_upsampling_matrices()
    assert [tuple(d.shape) for d in dense] == [(642, 161), (161, 41)]
    np.testing.assert_allclose(dense[0].numpy(), sampling['U'][0].toarray(),
                               rtol=1e-6)
    linear = torch.nn.Linear(41, 161)
    with torch.no_grad():
        linear.weight.copy_(dense[1])
        linear.bias.zero_()
    y = torch.randn(2, 41, 3)
    # Linear along the vertex axis, as Graphormer's upsampling layers
    out = linear(y.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, sampler.upsample(y, 2, 1))


def test_adjacency_normalised(sampling):
    sampler = MeshSampler.from_matrices(sampling)
    adj = sampler.adjacency(2).to_dense()
    num_edges = len(undirected_edges(sampling['F'][2])[0])
    assert int((adj != 0).sum()) == 41 + 2 * num_edges
    torch.testing.assert_close(adj.sum(1), torch.ones(41))
    raw = sampler.adjacency(0, add_self_loops=False, row_normalize=False)
    assert raw.to_dense().max() == 1.0


needs_real_file = pytest.mark.skipif(
    not osp.exists(REAL_FILE), reason=f'{REAL_FILE} not available')


@needs_real_file
def test_real_file_sampler():
    sampler = MeshSampler.from_file(REAL_FILE)
    assert sampler.num_vertices == [6890, 1723, 431]
    x = torch.randn(2, 6890, 3)
    assert sampler.downsample(x).shape == (2, 431, 3)
    assert sampler.downsample(x, 0, 1).shape == (2, 1723, 3)
    coarse = torch.randn(3, 431, 3, dtype=torch.float64)
    up = sampler.upsample(coarse)
    assert up.shape == (3, 6890, 3)
    # coarse vertices are fine vertices, reproduced by U: D U = I
    torch.testing.assert_close(sampler.downsample(up), coarse)
    dense = sampler.dense_upsampling_matrices()
    assert [tuple(d.shape) for d in dense] == [(6890, 1723), (1723, 431)]
    # Graphormer's graph-conv adjacency: row-normalised A_431 + I
    adj = sampler.adjacency(2)
    assert adj._nnz() == 3005
    torch.testing.assert_close(adj.to_dense().sum(1), torch.ones(431))
