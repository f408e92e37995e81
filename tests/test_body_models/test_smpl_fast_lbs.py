"""MPTSMPL's inference fast path (fast_lbs) equals the smplx reference."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import MPTSMPL
from mpt_plugin.body_models.smpl import kinematic_levels
from .test_smpl import SMPL_PARENTS, make_tiny_smpl, save_model

SMPL_LEVELS = [(1, 4), (4, 7), (7, 10), (10, 15), (15, 18), (18, 20),
               (20, 22), (22, 24)]


def run(smpl, fast, **inputs):
    """Forward without autograd through the fast or the reference path."""
    smpl.fast_inference = fast
    with torch.no_grad():
        return smpl(**inputs)


def random_inputs(batch, dtype, seed=0, num_betas=10):
    rng = np.random.default_rng(seed)
    aa = rng.normal(size=(batch, 24, 3)) * 0.5
    rotmat = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(
        batch, 24, 3, 3)
    return dict(
        aa=torch.tensor(aa, dtype=dtype),
        rotmat=torch.tensor(rotmat, dtype=dtype),
        betas=torch.tensor(rng.normal(size=(batch, num_betas)), dtype=dtype),
        transl=torch.tensor(rng.normal(size=(batch, 3)), dtype=dtype))


def test_kinematic_levels():
    assert kinematic_levels(SMPL_PARENTS) == SMPL_LEVELS
    assert kinematic_levels([-1, 0, 1, 2]) == [(1, 2), (2, 3), (3, 4)]
    assert kinematic_levels([-1]) == []
    # not breadth first (joint 2 deeper than joint 3), parent after child,
    # no root at 0: no level cut
    assert kinematic_levels([-1, 0, 1, 0]) is None
    assert kinematic_levels([-1, 2, 0]) is None
    assert kinematic_levels([0, -1]) is None


@pytest.fixture(scope='module')
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp('fast') / 'SMPL_NEUTRAL.npz'
    return save_model(path, make_tiny_smpl(num_verts=40))


@pytest.mark.parametrize('pose2rot', [True, False])
def test_fast_path_equals_reference_float64(tiny_path, tmp_path, pose2rot):
    reg = np.random.default_rng(1).random((17, 40))
    np.save(tmp_path / 'reg.npy', reg)
    smpl = MPTSMPL(tiny_path, dtype=torch.float64,
                   joints_regressor=tmp_path / 'reg.npy')
    assert smpl.fast_levels == SMPL_LEVELS
    x = random_inputs(3, torch.float64)
    if pose2rot:
        pose = dict(global_orient=x['aa'][:, 0], body_pose=x['aa'][:, 1:])
    else:
        pose = dict(global_orient=x['rotmat'][:, :1],
                    body_pose=x['rotmat'][:, 1:])
    for extra in (dict(), dict(transl=x['transl']),
                  dict(betas=x['betas'][:, :4])):
        fast = run(smpl, True, pose2rot=pose2rot, **pose, **extra)
        ref = run(smpl, False, pose2rot=pose2rot, **pose, **extra)
        assert set(fast) == set(ref) == {'vertices', 'joints',
                                         'joints_regressed'}
        for key in ref:
            torch.testing.assert_close(fast[key], ref[key], rtol=0,
                                       atol=1e-12)


def test_fast_path_float32_smpl_topology(tmp_path):
    # 6890 vertices (smpl_45 joints), float32, SMPL-like magnitudes
    path = save_model(tmp_path / 'SMPL_NEUTRAL.npz',
                      make_tiny_smpl(num_verts=6890, seed=7))
    smpl = MPTSMPL(path)
    assert smpl.joint_convention == 'smpl_45'
    x = random_inputs(4, torch.float32, seed=2)
    kwargs = dict(betas=x['betas'], global_orient=x['rotmat'][:, :1],
                  body_pose=x['rotmat'][:, 1:], pose2rot=False)
    fast = run(smpl, True, **kwargs)
    ref = run(smpl, False, **kwargs)
    assert fast['joints'].shape == (4, 45, 3)
    for key in ('vertices', 'joints'):
        err = (fast[key] - ref[key]).abs().max().item()
        assert err < 1e-5, (key, err)


def test_fast_path_only_without_autograd(tiny_path, monkeypatch):
    smpl = MPTSMPL(tiny_path)
    calls = []
    original = smpl.fast_lbs

    def spy(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(smpl, 'fast_lbs', spy)
    pose = torch.randn(2, 69) * 0.3
    smpl(body_pose=pose)  # autograd on: reference path
    assert calls == []
    with torch.no_grad():
        smpl(body_pose=pose)
    with torch.inference_mode():
        out = smpl(body_pose=pose)
    assert len(calls) == 2 and out['vertices'].shape == (2, 40, 3)
    with torch.no_grad():  # smplx-only keyword arguments: reference path
        smpl(body_pose=pose, return_full_pose=True)
    smpl.fast_inference = False
    with torch.no_grad():
        smpl(body_pose=pose)
    assert len(calls) == 2
    no_fast = MPTSMPL(tiny_path, fast_inference=False)
    assert no_fast.fast_inference is False


def test_fast_path_with_module_parameters_and_defaults(tiny_path):
    smpl = MPTSMPL(tiny_path, create_transl=True, create_betas=True,
                   dtype=torch.float64)
    with torch.no_grad():
        smpl.transl.fill_(0.5)
        smpl.betas.normal_()
    for kwargs in (dict(), dict(body_pose=torch.zeros(3, 69,
                                                      dtype=torch.float64))):
        fast = run(smpl, True, **kwargs)
        ref = run(smpl, False, **kwargs)
        torch.testing.assert_close(fast['vertices'], ref['vertices'],
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(fast['joints'], ref['joints'], rtol=0,
                                   atol=1e-12)


def test_fast_buffers_follow_dtype_and_are_not_saved(tiny_path):
    smpl = MPTSMPL(tiny_path)
    assert smpl.state_dict() == {}
    assert smpl.posedirs.is_contiguous()
    assert smpl.fast_shapedirs.shape == (10, 40 * 3)
    assert smpl.fast_joint_template.shape == (1, 24 * 3)
    assert smpl.fast_joint_shapedirs.shape == (10, 24 * 3)
    smpl = smpl.double()
    x = random_inputs(2, torch.float64, seed=3)
    fast = run(smpl, True, betas=x['betas'], body_pose=x['aa'][:, 1:])
    assert fast['vertices'].dtype == torch.float64
    ref = run(smpl, False, betas=x['betas'], body_pose=x['aa'][:, 1:])
    torch.testing.assert_close(fast['vertices'], ref['vertices'], rtol=0,
                               atol=1e-6)


def test_single_sync_finite_check(tiny_path):
    smpl = MPTSMPL(tiny_path)
    nan = float('nan')
    bad = {
        'betas': dict(betas=torch.tensor([[nan] + [0.0] * 9])),
        'body_pose': dict(body_pose=torch.full((1, 69), float('inf'))),
        'global_orient': dict(global_orient=torch.tensor([[0.0, nan, 0.0]])),
        'transl': dict(transl=torch.tensor([[0.0, 0.0, -float('inf')]])),
    }
    for name, kwargs in bad.items():
        with pytest.raises(ValueError, match=f'{name} contains non-finite'):
            with torch.no_grad():
                smpl(**dict(dict(betas=torch.zeros(1, 10)), **kwargs))
    # huge finite values overflow the sum but are not rejected
    huge = torch.full((1, 10), 3e38)
    with torch.no_grad():
        out = smpl(betas=huge)
    assert out['vertices'].shape == (1, 40, 3)
    unchecked = MPTSMPL(tiny_path, check_finite=False)
    with torch.no_grad():
        unchecked(transl=torch.tensor([[nan, 0.0, 0.0]]))
