"""Tests for MPTSMPL on small SMPL-layout models, and its inference fast
path."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import MPTSMPL, load_body_model_file
from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.body_models.smpl import kinematic_levels
from mpt_plugin.registry import MODELS
from .tiny_smpl import J, make_tiny_smpl, save_model


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp('smpl') / 'SMPL_NEUTRAL.npz'
    model = make_tiny_smpl()
    save_model(path, model)
    return str(path), load_body_model_file(path)


def test_rest_pose_and_shape(tiny):
    path, data = tiny
    smpl = MPTSMPL(path, dtype=torch.float64)
    assert smpl.num_vertices == 30 and smpl.num_betas == 10
    assert smpl.joint_convention == 'smpl_24' and smpl.num_joints == 24
    betas = torch.tensor(np.random.default_rng(1).normal(size=(3, 10)))
    out = smpl(betas=betas)
    assert set(out) == {'vertices', 'joints'}
    assert out['vertices'].shape == (3, 30, 3)
    assert out['joints'].shape == (3, 24, 3)
    expected = data['v_template'][None] + np.einsum(
        'vcs,bs->bvc', data['shapedirs'], betas.numpy())
    np.testing.assert_allclose(out['vertices'].numpy(), expected, atol=1e-10)
    joints = np.einsum('jv,bvc->bjc', data['J_regressor'], expected)
    np.testing.assert_allclose(out['joints'].numpy(), joints, atol=1e-10)


def test_defaults_transl_and_partial_betas(tiny):
    path, data = tiny
    smpl = MPTSMPL(path)
    out = smpl()  # no inputs: batch_size 1, zero pose/shape
    np.testing.assert_allclose(out['vertices'][0].numpy(),
                               data['v_template'], atol=1e-6)
    transl = torch.tensor([[0.1, -0.2, 2.0], [0.0, 0.0, 0.0]])
    betas4 = torch.randn(2, 4)
    padded = torch.cat([betas4, torch.zeros(2, 6)], dim=1)
    a = smpl(betas=betas4, transl=transl)
    b = smpl(betas=padded)
    torch.testing.assert_close(a['vertices'],
                               b['vertices'] + transl[:, None])
    torch.testing.assert_close(a['joints'], b['joints'] + transl[:, None])


def test_global_orient_rotates_about_root(tiny):
    path, data = tiny
    smpl = MPTSMPL(path, dtype=torch.float64)
    aa = np.array([[0.0, np.pi / 2, 0.0]])
    out = smpl(global_orient=torch.tensor(aa))
    rot = Rotation.from_rotvec(aa[0]).as_matrix()
    root = data['J_regressor'][0] @ data['v_template']
    expected = (data['v_template'] - root) @ rot.T + root
    # smplx's Rodrigues adds 1e-8 to the rotation vector
    np.testing.assert_allclose(out['vertices'][0].numpy(), expected,
                               atol=1e-7)


def test_rotation_matrix_input_matches_axis_angle(tiny):
    path, _ = tiny
    smpl = MPTSMPL(path, dtype=torch.float64)
    rng = np.random.default_rng(2)
    body_aa = rng.normal(size=(2, 23, 3)) * 0.4
    root_aa = rng.normal(size=(2, 3)) * 0.4
    a = smpl(body_pose=torch.tensor(body_aa.reshape(2, 69)),
             global_orient=torch.tensor(root_aa))
    body_rm = Rotation.from_rotvec(body_aa.reshape(-1, 3)).as_matrix()
    root_rm = Rotation.from_rotvec(root_aa).as_matrix()
    b = smpl(body_pose=torch.tensor(body_rm.reshape(2, 23, 3, 3)),
             global_orient=torch.tensor(root_rm.reshape(2, 1, 3, 3)),
             pose2rot=False)
    torch.testing.assert_close(a['vertices'], b['vertices'])
    # (B, 23, 3) axis-angle is accepted as well
    c = smpl(body_pose=torch.tensor(body_aa),
             global_orient=torch.tensor(root_aa))
    torch.testing.assert_close(a['joints'], c['joints'])
    # only body pose as rotation matrices: global orient defaults to I
    d = smpl(body_pose=torch.tensor(body_rm.reshape(2, 23, 3, 3)),
             pose2rot=False)
    e = smpl(body_pose=torch.tensor(body_aa.reshape(2, 69)))
    torch.testing.assert_close(d['vertices'], e['vertices'])


def test_joints_regressor(tiny, tmp_path):
    path, _ = tiny
    reg = np.random.default_rng(3).random((17, 30))
    np.save(tmp_path / 'J_regressor_h36m.npy', reg)
    smpl = MPTSMPL(path, joints_regressor=tmp_path / 'J_regressor_h36m.npy',
                   dtype=torch.float64)
    out = smpl(body_pose=torch.randn(2, 69, dtype=torch.float64) * 0.3,
               transl=torch.ones(2, 3, dtype=torch.float64))
    assert out['joints_regressed'].shape == (2, 17, 3)
    expected = np.einsum('jv,bvc->bjc', reg, out['vertices'].numpy())
    np.testing.assert_allclose(out['joints_regressed'].numpy(), expected)
    bad = np.zeros((17, 31))
    np.save(tmp_path / 'bad.npy', bad)
    with pytest.raises(ValueError, match=r'bad.npy.*\(J, 30\)'):
        MPTSMPL(path, joints_regressor=tmp_path / 'bad.npy')


def test_input_errors(tiny):
    path, _ = tiny
    smpl = MPTSMPL(path)
    with pytest.raises(ValueError, match='batch size'):
        smpl(betas=torch.zeros(2, 10), body_pose=torch.zeros(3, 69))
    with pytest.raises(ValueError, match=r'body_pose expected shape'):
        smpl(body_pose=torch.zeros(2, 72))
    with pytest.raises(ValueError, match=r'pose2rot=False.*\(B, 23, 3, 3\)'):
        smpl(body_pose=torch.zeros(2, 69), pose2rot=False)
    with pytest.raises(ValueError, match='global_orient expected shape'):
        smpl(global_orient=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r'betas.*S <= 10'):
        smpl(betas=torch.zeros(2, 11))
    with pytest.raises(ValueError, match='transl contains non-finite'):
        smpl(transl=torch.tensor([[0.0, float('nan'), 0.0]]))
    with pytest.raises(TypeError, match='body_pose must be a torch.Tensor'):
        smpl(body_pose=[[0.0] * 69])


def test_construction_errors_and_dir_lookup(tiny, tmp_path):
    path, _ = tiny
    with pytest.raises(ValueError, match="unknown SMPL gender 'other'"):
        MPTSMPL(path, gender='other')
    with pytest.raises(FileNotFoundError, match='SMPL_MALE.npz'):
        MPTSMPL(tmp_path, gender='male')
    smplh = make_tiny_smpl()
    smplh['J_regressor'] = np.vstack([smplh['J_regressor']] * 2)[:30]
    smplh['weights'] = np.hstack([smplh['weights']] * 2)[:, :30]
    smplh['weights'] /= smplh['weights'].sum(1, keepdims=True)  # rows sum 1
    smplh['kintree_table'] = np.stack([np.arange(30) - 1, np.arange(30)])
    smplh['kintree_table'][0, 0] = 0
    smplh['posedirs'] = np.zeros((30, 3, 9 * 29))
    save_model(tmp_path / 'SMPL_MALE.npz', smplh)
    with pytest.raises(ValueError, match='needs an SMPL model with 24 joints'):
        MPTSMPL(tmp_path, gender='male')
    save_model(tmp_path / 'SMPL_FEMALE.npz', make_tiny_smpl(seed=4))
    smpl = MPTSMPL(tmp_path, gender='female')
    assert smpl.model_file.endswith('SMPL_FEMALE.npz')
    assert smpl.gender == 'female'


def test_num_betas_clamped_and_registry(tiny):
    path, _ = tiny
    smpl = MODELS.build(dict(type='MPTSMPL', model_path=path, num_betas=16))
    assert isinstance(smpl, MPTSMPL)
    assert smpl.num_betas == 10 and smpl.shapedirs.shape == (30, 3, 10)
    small = MPTSMPL(path, num_betas=3)
    assert small.shapedirs.shape == (30, 3, 3)
    out = small(betas=torch.ones(1, 3))
    full = MPTSMPL(path)(betas=torch.cat([torch.ones(1, 3),
                                          torch.zeros(1, 7)], 1))
    torch.testing.assert_close(out['vertices'], full['vertices'])


def test_no_free_parameters_or_persistent_buffers(tiny):
    path, _ = tiny
    smpl = MPTSMPL(path)
    assert list(smpl.parameters()) == []
    assert smpl.state_dict() == {}
    with_params = MPTSMPL(path, create_transl=True, create_betas=True)
    names = {n for n, _ in with_params.named_parameters()}
    assert names == {'transl', 'betas'}
    with torch.no_grad():
        with_params.transl.fill_(1.0)
    out = with_params(body_pose=torch.zeros(2, 69))
    base = smpl(body_pose=torch.zeros(2, 69))
    torch.testing.assert_close(out['vertices'], base['vertices'] + 1.0)


def test_gradients_flow(tiny):
    path, _ = tiny
    smpl = MPTSMPL(path)
    pose = torch.zeros(2, 69, requires_grad=True)
    betas = torch.zeros(2, 10, requires_grad=True)
    out = smpl(betas=betas, body_pose=pose)
    (out['vertices'].square().sum() + out['joints'].sum()).backward()
    assert pose.grad is not None and betas.grad.abs().sum() > 0


def test_smpl_topology_adds_landmark_joints(tmp_path):
    # 6890 vertices: smplx's 21 vertex landmarks are appended ('smpl_45').
    num_verts = 6890
    rng = np.random.default_rng(5)
    j_reg = np.zeros((J, num_verts))
    j_reg[np.arange(J), np.arange(J) * 100] = 1.0
    weights = np.zeros((num_verts, J))
    weights[np.arange(num_verts), np.arange(num_verts) % J] = 1.0
    model = {
        'v_template': rng.normal(size=(num_verts, 3)).astype(np.float32),
        'f': np.array([[0, 1, 2]]),
        'J_regressor': j_reg.astype(np.float32),
        'weights': weights.astype(np.float32),
        'kintree_table': np.stack([np.maximum(SMPL_PARENTS, 0),
                                   np.arange(J)]),
        'shapedirs': np.zeros((num_verts, 3, 1), np.float32),
        'posedirs': np.zeros((num_verts, 3, 207), np.float32),
    }
    path = save_model(tmp_path / 'big.npz', model)
    smpl = MPTSMPL(path)
    assert smpl.joint_convention == 'smpl_45' and smpl.num_joints == 45
    out = smpl(body_pose=torch.randn(2, 69) * 0.2)
    assert out['joints'].shape == (2, 45, 3)
    # joint 24 is the nose landmark, vertex 332 (smplx/vertex_ids.py)
    torch.testing.assert_close(out['joints'][:, 24], out['vertices'][:, 332])
    torch.testing.assert_close(out['joints'][:, 44],
                               out['vertices'][:, 6133])  # right pinky tip


# ---------------------------------------------------------------------------
# The embedded synthetic 6890-vertex SMPL-format model
# ---------------------------------------------------------------------------


def test_synthetic_smpl_through_loader(tmp_path):
    from mpt_plugin.body_models.conventions import (convert_keypoints,
                                                    h36m_regressor_order)
    from mpt_plugin.synthetic.body_rigging import \
        make_synthetic_h36m_regressor
    from mpt_plugin.synthetic.smpl_model import (make_synthetic_smpl,
                                                 save_smpl_npz)
    model = make_synthetic_smpl('neutral')
    save_smpl_npz(tmp_path / 'SMPL_NEUTRAL.npz', model)
    reg = make_synthetic_h36m_regressor(model)
    np.save(tmp_path / 'J_regressor_h36m.npy', reg)
    assert h36m_regressor_order(reg, model['v_template']) == 'h36m'

    smpl = MPTSMPL(tmp_path, joints_regressor=tmp_path /
                   'J_regressor_h36m.npy')
    assert smpl.num_vertices == 6890 and smpl.joint_convention == 'smpl_45'
    rest = smpl()
    assert rest['joints'].shape == (1, 45, 3)
    assert rest['joints_regressed'].shape == (1, 17, 3)
    np.testing.assert_allclose(rest['joints'][0, :24].numpy(), model['J'],
                               atol=1e-5)
    joints = rest['joints'][0].numpy()
    assert joints[1, 0] > joints[2, 0]  # left hip at +x
    assert joints[15, 1] > joints[12, 1] > joints[0, 1]  # head > neck > root
    assert joints[24, 2] > joints[15, 2]  # the nose landmark faces +z
    # bending the left knee (joint 4) by 90 degrees moves only the left leg
    pose = torch.zeros(1, 69)
    pose[0, 3 * 3] = np.pi / 2
    bent = smpl(body_pose=pose)['joints'][0].numpy()
    assert np.linalg.norm(bent[7] - joints[7]) > 0.2  # left ankle moved
    np.testing.assert_allclose(bent[8], joints[8], atol=1e-6)  # right ankle
    lsp, mask = convert_keypoints(
        rest['joints_regressed'], 'h36m', 'lsp', approximate=True)
    assert lsp.shape == (1, 14, 3) and int(mask.sum()) == 14
    assert lsp[0, 3, 0] > lsp[0, 2, 0]  # lsp left hip at +x of right hip


# ---------------------------------------------------------------------------
# The inference fast path (fast_lbs) equals the smplx reference
# ---------------------------------------------------------------------------
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
