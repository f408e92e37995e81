"""Tests for the mesh-target contract: stack, attach, require, levels."""
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.models.utils.mesh_targets import (MESH_TARGET_KEYS,
                                                  add_mesh_levels,
                                                  attach_targets,
                                                  require_targets,
                                                  stack_targets)


def _targets(bsz=3, num_verts=10):
    gen = torch.Generator().manual_seed(0)
    return dict(vertices=torch.randn(bsz, num_verts, 3, generator=gen),
                has_mesh=torch.tensor([True, False, True][:bsz]),
                joints_h36m=torch.randn(bsz, 17, 3, generator=gen),
                joints_h36m_weights=torch.rand(bsz, 17, generator=gen))


def test_list_round_trip_keeps_values_and_views():
    targets = _targets()
    samples = [PoseDataSample(gt_instances=InstanceData(
        keypoints3d=torch.zeros(1, 17, 3))) for _ in range(3)]
    attach_targets(samples, targets)
    # each sample holds its row, a view of the batch tensor
    assert samples[1].gt_instances.vertices.shape == (1, 10, 3)
    assert samples[1].gt_instances.vertices.data_ptr() == \
        targets['vertices'][1].data_ptr()
    back = stack_targets(samples)
    assert set(back) == set(targets)
    for key, value in targets.items():
        assert torch.equal(back[key], value)
    # a key missing in one sample is not a target of the batch
    samples[2].gt_instances.pop('has_mesh')
    assert 'has_mesh' not in stack_targets(samples)


def test_dict_batches_and_batches_without_targets():
    targets = _targets()
    batch = dict(other=torch.ones(3))
    assert attach_targets(batch, targets) is batch
    assert set(stack_targets(batch)) == set(targets)
    assert stack_targets(None) == {}
    assert stack_targets([]) == {}
    assert stack_targets([PoseDataSample()]) == {}
    with pytest.raises(KeyError, match=r"not target keys: \['verts'\]"):
        attach_targets(batch, dict(verts=torch.ones(3)))
    with pytest.raises(TypeError, match='got Tensor'):
        attach_targets(torch.ones(3), targets)
    assert len(MESH_TARGET_KEYS) == len(set(MESH_TARGET_KEYS)) == 10


def test_require_names_the_missing_keys_and_the_fix():
    require_targets(_targets(), ('vertices', 'joints_h36m'), 'X', 'hint')
    with pytest.raises(KeyError, match=r"Est needs the targets "
                       r"\['joints_2d_norm'\] built before the model "
                       r"\(got \['has_mesh', .*\]\): use Pre"):
        require_targets(_targets(), ('vertices', 'joints_2d_norm'), 'Est',
                        'use Pre')


class _HalvingSampler:
    """Level l keeps every 2**l-th vertex."""

    def downsample(self, verts, src, dst):
        return verts[:, ::2 ** (dst - src)]


def test_add_mesh_levels_in_dtype():
    targets = _targets(num_verts=8)
    out = add_mesh_levels(targets, _HalvingSampler(), torch.float64)
    assert out['vertices'].dtype == torch.float64
    assert torch.equal(out['vertices_mid'], out['vertices'][:, ::2])
    assert torch.equal(out['vertices_coarse'], out['vertices'][:, ::4])
    assert 'vertices_mid' not in targets  # the input is not modified


def test_add_mesh_levels_two_levels():
    """MANO's sampler: the coarse level is level 1, no mid level."""
    targets = _targets(num_verts=8)
    out = add_mesh_levels(targets, _HalvingSampler(), num_levels=2)
    assert 'vertices_mid' not in out
    assert torch.equal(out['vertices_coarse'], out['vertices'][:, ::2])
    with pytest.raises(ValueError, match='num_levels'):
        add_mesh_levels(targets, _HalvingSampler(), num_levels=4)
