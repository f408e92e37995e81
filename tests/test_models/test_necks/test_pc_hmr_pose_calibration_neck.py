import math

import numpy as np
import pytest
import torch

from mpt_plugin.models.necks.pc_hmr_pose_calibration_neck import \
    PCHMRPoseCalibrationNeck
from mpt_plugin.geometry.rotations import axis_angle_to_matrix
from mpt_plugin.registry import MODELS

# A chain of 3 bones along +y: joints 0 -> 1 -> 2 -> 3, 0.3 m apart.
PARENTS = [-1, 0, 1, 2]
SEG = 0.3


def _chain_mesh():
    """(V, 3) cylinder around the chain, (J, 3) joints, (V, J) skinning."""
    ring = 10
    ys = np.linspace(0.0, 3 * SEG - 1e-3, 21)  # 21 rings -> 210 vertices
    ang = np.linspace(0.0, 2 * np.pi, ring, endpoint=False)
    yy, aa = np.meshgrid(ys, ang, indexing='ij')
    verts = np.stack([0.05 * np.cos(aa), yy, 0.05 * np.sin(aa)],
                     -1).reshape(-1, 3)
    joints = np.array([[0.0, i * SEG, 0.0] for i in range(4)])
    seg_id = np.minimum((verts[:, 1] // SEG).astype(int), 2)
    skin = np.zeros((len(verts), 4))
    skin[np.arange(len(verts)), seg_id] = 1.0  # vertex moves with its joint
    return (torch.tensor(verts, dtype=torch.float32),
            torch.tensor(joints, dtype=torch.float32),
            torch.tensor(skin, dtype=torch.float32), seg_id)


def _pose(verts, joints, seg_id, rotvecs, lengths=(SEG, SEG, SEG)):
    """Hard-skinned forward kinematics of the chain.

    Segment ``k`` (joint k -> k+1) gets global rotation
    ``R_0 ... R_k`` (local axis-angle ``rotvecs[k]``) and length
    ``lengths[k]`` (its vertices stretch along the bone). Returns posed
    vertices (V, 3) and joints (4, 3).
    """
    rots = axis_angle_to_matrix(torch.as_tensor(rotvecs,
                                                dtype=torch.float32))
    glob, g = [], torch.eye(3)
    for k in range(3):
        g = g @ rots[k]
        glob.append(g)
    new_joints = [joints[0]]
    for k in range(3):
        new_joints.append(new_joints[-1] +
                          glob[k] @ torch.tensor([0.0, lengths[k], 0.0]))
    out = torch.empty_like(verts)
    for k in range(3):
        m = torch.as_tensor(seg_id == k)
        rel = verts[m] - joints[k]
        rel = rel * torch.tensor([1.0, lengths[k] / SEG, 1.0])
        out[m] = new_joints[k] + rel @ glob[k].T
    return out, torch.stack(new_joints)


def _neck(**kwargs):
    verts, joints, skin, _ = _chain_mesh()
    cfg = dict(parents=PARENTS, num_vertices=len(verts),
               skinning_weights=skin, rest_vertices=verts,
               rest_joints=joints)
    cfg.update(kwargs)
    return PCHMRPoseCalibrationNeck(**cfg)


def test_registered_and_init():
    verts, joints, skin, seg_id = _chain_mesh()
    neck = MODELS.build(
        dict(type='PCHMRPoseCalibrationNeck', parents=PARENTS,
             num_vertices=len(verts), skinning_weights=skin,
             rest_vertices=verts, rest_joints=joints))
    assert neck.num_bones == 3
    assert neck.bone_parent.tolist() == [0, 1, 2]
    assert neck.bone_child.tolist() == [1, 2, 3]
    a = neck.blend_weights()
    assert a.shape == (len(verts), 3)
    # vertex skinned to joint k belongs to bone k (the bone starting at k)
    assert torch.equal(a.argmax(-1), torch.as_tensor(seg_id))
    assert torch.allclose(a.sum(-1), torch.ones(len(verts)))
    # W = projection along each bone, 0 at the parent, 1 at the child
    t = (verts[:, 1] - 0.3) / 0.3
    assert torch.allclose(neck.W[:, 1], t.clamp(0, 1), atol=1e-6)
    assert neck.W.min() >= 0 and neck.W.max() <= 1


def test_identity_target_keeps_mesh():
    verts, joints, _, _ = _chain_mesh()
    for mode in ('normalize', 'softmax', 'none'):
        neck = _neck(blend_mode=mode)
        if mode != 'none':  # any normalised A reproduces the mesh
            with torch.no_grad():
                neck.A.add_(torch.rand_like(neck.A))
        posed = verts[None] + torch.tensor([0.1, -0.2, 0.3])
        jnt = joints[None] + torch.tensor([0.1, -0.2, 0.3])
        out = neck(posed.repeat(2, 1, 1), jnt.repeat(2, 1, 1),
                   jnt.repeat(2, 1, 1))
        assert out['vertices'].shape == (2, len(verts), 3)
        assert torch.allclose(out['vertices'], posed.expand(2, -1, -1),
                              atol=1e-6)
        assert torch.equal(out['joints'], jnt.repeat(2, 1, 1))


def test_rotating_one_bone_moves_only_its_vertices():
    verts, joints, _, seg_id = _chain_mesh()
    neck = _neck()
    rotvecs = torch.zeros(3, 3)
    rotvecs[2] = torch.tensor([0.0, 0.0, math.pi / 3])
    target_verts, target_joints = _pose(verts, joints, seg_id, rotvecs)
    out = neck(verts[None], joints[None], target_joints[None])['vertices'][0]
    moved = torch.as_tensor(seg_id == 2)
    assert torch.allclose(out[~moved], verts[~moved], atol=1e-6)
    assert torch.allclose(out[moved], target_verts[moved], atol=1e-5)
    assert (out[moved] - verts[moved]).norm(dim=-1).max() > 0.1


def test_posed_source_to_new_pose():
    """Source and target both articulated (not the rest pose)."""
    verts, joints, _, seg_id = _chain_mesh()
    neck = _neck()
    src_v, src_j = _pose(verts, joints, seg_id,
                         [[0.2, 0, 0.1], [0, 0, 0.5], [0.3, 0, 0]])
    tgt_v, tgt_j = _pose(verts, joints, seg_id,
                         [[0.2, 0, 0.1], [0, 0, -0.4], [0.3, 0, 0]])
    out = neck(src_v[None], src_j[None], tgt_j[None])['vertices'][0]
    # segment 0 unchanged; segment 1 exact (axis perpendicular to bone)
    for k in (0, 1):
        m = torch.as_tensor(seg_id == k)
        assert torch.allclose(out[m], tgt_v[m], atol=1e-5)
    # segment 2 inherits the rotation of joint 1 -> the minimal rotation
    # of bone 2 matches the target up to twist about the bone only
    m = torch.as_tensor(seg_id == 2)
    err = (out[m] - tgt_v[m]).norm(dim=-1)
    assert err.max() < 0.1  # bounded by 2 * radius (twist) = 0.1 m


def test_bone_length_change_is_absorbed_by_delta():
    verts, joints, _, seg_id = _chain_mesh()
    rotvecs = torch.zeros(3, 3)
    rotvecs[2] = torch.tensor([0.5, 0.0, 0.0])
    lengths = (SEG, SEG, 1.5 * SEG)
    target_verts, target_joints = _pose(verts, joints, seg_id, rotvecs,
                                        lengths)
    errs = {}
    for rigid in (False, True):
        neck = _neck(rigid_only=rigid)
        tf = neck.bone_transforms(joints[None], target_joints[None])
        delta_norm = tf['delta'][0].norm(dim=-1)
        if rigid:
            assert torch.all(delta_norm == 0)
        else:  # Eq. 10: gap at the child joint = 0.5 * 0.3 m on bone 2
            assert torch.allclose(delta_norm, torch.tensor([0, 0, 0.15]),
                                  atol=1e-6)
        out = neck(verts[None], joints[None], target_joints[None])
        errs[rigid] = (out['vertices'][0] - target_verts).norm(dim=-1)
    assert errs[False].max() < 1e-5  # W = projection -> exact stretch
    assert errs[True].mean() > 10 * errs[False].mean() + 1e-3
    assert errs[True].max() > 0.1


def test_gradients_reach_w_a_and_inputs():
    verts, joints, _, seg_id = _chain_mesh()
    neck = _neck()
    target_verts, target_joints = _pose(
        verts, joints, seg_id, [[0, 0, 0.3], [0.4, 0, 0], [0, 0, -0.6]],
        (SEG, 0.8 * SEG, 1.3 * SEG))
    src = verts[None].clone().requires_grad_(True)
    tgt_j = target_joints[None].clone().requires_grad_(True)
    out = neck(src, joints[None], tgt_j)
    loss = ((out['vertices'] - target_verts[None] - 0.01)**2).mean() + \
        out['joints'].sum() * 0
    loss.backward()
    for grad in (neck.W.grad, neck.A.grad, src.grad, tgt_j.grad):
        assert grad is not None and torch.isfinite(grad).all()
        assert grad.abs().sum() > 0
    # zero entries of A still receive gradient (clamp passes at 0)
    assert neck.A.grad[neck.A.detach() == 0].abs().sum() > 0


def test_opposite_and_degenerate_bones():
    verts, joints, _, seg_id = _chain_mesh()
    neck = _neck()
    # flip bone 2 by 180 degrees: opposite direction, deterministic result
    rotvecs = torch.zeros(3, 3)
    rotvecs[2] = torch.tensor([0.0, 0.0, math.pi])
    _, target_joints = _pose(verts, joints, seg_id, rotvecs)
    out1 = neck(verts[None], joints[None], target_joints[None])['vertices']
    out2 = neck(verts[None], joints[None], target_joints[None])['vertices']
    assert torch.isfinite(out1).all() and torch.equal(out1, out2)
    m = torch.as_tensor(seg_id == 2)
    dist = (out1[0, m] - target_joints[2]).norm(dim=-1)
    assert torch.allclose(dist, (verts[m] - joints[2]).norm(dim=-1),
                          atol=1e-5)  # rigid about the parent joint
    # zero-length target bone 2: identity rotation, no stretch, translation
    # of the parent joint only
    collapsed = joints.clone()
    collapsed[3] = collapsed[2]
    shifted = collapsed + torch.tensor([0.0, 0.0, 0.2])
    src = joints[None].clone().requires_grad_(True)
    tf = neck.bone_transforms(src, shifted[None])
    assert tf['valid'][0].tolist() == [True, True, False]
    assert torch.equal(tf['rotation'][0, 2], torch.eye(3))
    assert torch.all(tf['delta'][0, 2] == 0)
    out = neck(verts[None], src, shifted[None])['vertices'][0]
    assert torch.allclose(out[m], verts[m] + torch.tensor([0, 0, 0.2]),
                          atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(src.grad).all()
    # zero-length source bone
    out = neck(verts[None], collapsed[None], joints[None])['vertices']
    assert torch.isfinite(out).all()


def test_bad_inputs_raise():
    verts, joints, skin, _ = _chain_mesh()
    neck = _neck()
    bad = joints[None].clone()
    bad[0, 1, 0] = float('nan')
    with pytest.raises(ValueError, match='target_joints'):
        neck(verts[None], joints[None], bad)
    with pytest.raises(ValueError, match='^joints'):
        neck(verts[None], bad, joints[None])
    with pytest.raises(ValueError, match='vertices'):
        neck(verts[None, :10], joints[None], joints[None])
    with pytest.raises(ValueError, match='batch'):
        neck(verts[None].repeat(2, 1, 1), joints[None], joints[None])
    with pytest.raises(ValueError, match='parents'):
        PCHMRPoseCalibrationNeck(parents=[-1, 5], num_vertices=3)
    with pytest.raises(ValueError, match='rest_vertices'):
        PCHMRPoseCalibrationNeck(parents=PARENTS, num_vertices=len(verts),
                                 rest_vertices=verts)
    with pytest.raises(ValueError, match='skinning_weights'):
        PCHMRPoseCalibrationNeck(parents=PARENTS, num_vertices=len(verts),
                                 skinning_weights=skin[:, :2])
    with pytest.raises(ValueError, match='blend_mode'):
        _neck(blend_mode='max')


def test_init_without_geometry_and_smpl_tree():
    smpl_parents = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14,
                    16, 17, 18, 19, 20, 21]
    skin = torch.zeros(5, 24)
    skin[0, 0] = 1.0  # pelvis: 3 child bones -> split evenly
    skin[1, 15] = 1.0  # head (leaf): bone neck -> head
    skin[2, 4] = 1.0  # left knee -> bone knee -> ankle
    skin[3, 4] = skin[3, 7] = 0.5
    skin[4, 22] = 1.0  # left hand (leaf): bone wrist -> hand
    neck = PCHMRPoseCalibrationNeck(smpl_parents, 5, skinning_weights=skin)
    a = neck.blend_weights().detach()
    child = neck.bone_child.tolist()
    assert neck.num_bones == 23
    assert torch.allclose(a[0, [child.index(c) for c in (1, 2, 3)]],
                          torch.full((3, ), 1 / 3))
    assert a[1, child.index(15)] == 1
    assert a[2, child.index(7)] == 1
    assert a[3, child.index(7)] == 0.5 and a[3, child.index(10)] == 0.5
    assert a[4, child.index(22)] == 1
    assert torch.all(neck.W == 0)
    # kintree uint32 root sentinel accepted
    neck2 = PCHMRPoseCalibrationNeck([2**32 - 1] + smpl_parents[1:], 5)
    assert neck2.num_bones == 23
    assert torch.allclose(neck2.blend_weights(), torch.full((5, 23), 1 / 23))


# ----------------------------------------------------------------------
# shape compensation (paper Sec. 4.2 (VI))
# ----------------------------------------------------------------------
def _compensation_cfg(**kwargs):
    """Tiny SMPL-like body model on the chain: 4 joints, hard skinning."""
    verts, _, skin, _ = _chain_mesh()
    gen = torch.Generator().manual_seed(0)
    posedirs = 0.01 * torch.randn(len(verts), 3, 27, generator=gen)
    cfg = dict(posedirs=posedirs, lbs_weights=skin, parents=PARENTS)
    cfg.update(kwargs)
    return cfg


def _randomise_last_layer(neck):
    gen = torch.Generator().manual_seed(1)
    last = neck.shape_compensation.mlp[2]
    with torch.no_grad():
        last.weight.copy_(0.5 * torch.randn(last.weight.shape, generator=gen))
        last.bias.copy_(0.5 * torch.randn(last.bias.shape, generator=gen))


def test_shape_compensation_off_by_default_and_no_op_at_init():
    verts, joints, _, seg_id = _chain_mesh()
    plain = _neck()
    assert plain.shape_compensation is None
    assert set(plain.state_dict()) == {'W', 'A'}
    comp = _neck(shape_compensation=_compensation_cfg(param_dim=5))
    assert {k for k in comp.state_dict() if k.startswith('shape_')} == {
        'shape_compensation.mlp.0.weight', 'shape_compensation.mlp.0.bias',
        'shape_compensation.mlp.2.weight', 'shape_compensation.mlp.2.bias'}
    _, target = _pose(verts, joints, seg_id, [[0, 0, .3], [.4, 0, 0],
                                              [0, 0, -.6]])
    ref = plain(verts[None], joints[None], target[None])
    out = comp(verts[None], joints[None], target[None],
               mesh_params=torch.randn(1, 5))
    # the last MLP layer starts at zero: exactly the plain calibration
    assert torch.equal(out['vertices'], ref['vertices'])
    assert torch.all(out['shape_offsets'] == 0)


def test_shape_compensation_identity_stays_identity():
    verts, joints, _, _ = _chain_mesh()
    for params in (0, 6):
        neck = _neck(shape_compensation=_compensation_cfg(param_dim=params))
        _randomise_last_layer(neck)
        shift = torch.tensor([0.1, -0.2, 0.3])
        posed, jnt = verts[None] + shift, joints[None] + shift
        mesh_params = torch.randn(2, params) if params else None
        out = neck(posed.repeat(2, 1, 1), jnt.repeat(2, 1, 1),
                   jnt.repeat(2, 1, 1), mesh_params=mesh_params)
        assert torch.allclose(out['vertices'], posed.expand(2, -1, -1),
                              atol=1e-6)
        assert out['shape_offsets'].abs().max() < 1e-6
    # the literal reading (no reference subtraction) is not an identity
    neck = _neck(shape_compensation=_compensation_cfg(
        subtract_reference=False))
    _randomise_last_layer(neck)
    out = neck(verts[None], joints[None], joints[None])
    assert out['shape_offsets'].abs().max() > 1e-3


def test_shape_compensation_matches_skinned_pose_blend_shapes():
    """Offsets = sum_k w_vk G_k (sum_j (R_j - I) P_j) for known rotations."""
    verts, joints, skin, seg_id = _chain_mesh()
    cfg = _compensation_cfg(subtract_reference=False)
    neck = _neck(shape_compensation=cfg)
    aa = torch.tensor([[0.1, 0.2, 0.0], [0.0, 0.5, 0.1], [0.3, 0.0, 0.0],
                       [0.0, 0.0, -0.4]])
    with torch.no_grad():  # constant MLP output: the bias
        neck.shape_compensation.mlp[2].bias.copy_(aa.reshape(-1))
    rotvecs = [[0, 0, 0.5], [0, 0, 0], [0, 0, 0]]
    _, target = _pose(verts, joints, seg_id, rotvecs)
    out = neck(verts[None], joints[None], target[None])
    rots = axis_angle_to_matrix(aa)
    glob = [rots[0]]
    for j in range(1, 4):
        glob.append(glob[PARENTS[j]] @ rots[j])
    feat = (rots[1:] - torch.eye(3)).reshape(-1)  # (27,)
    rest = torch.einsum('p,vcp->vc', feat, cfg['posedirs'])
    expected = torch.stack([
        sum(skin[v, k] * glob[k] for k in range(4)) @ rest[v]
        for v in range(len(verts))
    ])
    assert torch.allclose(out['shape_offsets'][0], expected, atol=1e-6)
    plain = _neck()(verts[None], joints[None], target[None])['vertices']
    assert torch.allclose(out['vertices'], plain + expected, atol=1e-6)


def test_shape_compensation_gradients_reach_new_parameters():
    verts, joints, _, seg_id = _chain_mesh()
    neck = _neck(shape_compensation=_compensation_cfg(param_dim=4))
    target_verts, target_joints = _pose(
        verts, joints, seg_id, [[0, 0, 0.3], [0.4, 0, 0], [0, 0, -0.6]])
    params = torch.randn(2, 4, requires_grad=True)
    opt = torch.optim.SGD(neck.parameters(), lr=0.1)
    grads = []
    for _ in range(2):  # step 0: only the (zero) last layer moves
        opt.zero_grad()
        out = neck(verts[None].repeat(2, 1, 1), joints[None].repeat(2, 1, 1),
                   target_joints[None].repeat(2, 1, 1), mesh_params=params)
        loss = ((out['vertices'] - target_verts - 0.01)**2).mean()
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in neck.named_parameters()})
        opt.step()
    last = 'shape_compensation.mlp.2.weight'
    assert grads[0][last].abs().sum() > 0
    for name in ('shape_compensation.mlp.0.weight',
                 'shape_compensation.mlp.0.bias', last,
                 'shape_compensation.mlp.2.bias', 'W', 'A'):
        assert torch.isfinite(grads[1][name]).all()
        assert grads[1][name].abs().sum() > 0, name
    assert params.grad is not None and params.grad.abs().sum() > 0


def test_shape_compensation_bad_config_and_inputs():
    verts, joints, _, _ = _chain_mesh()
    with pytest.raises(KeyError, match='model_path'):
        _neck(shape_compensation=dict(param_dim=2))
    with pytest.raises(KeyError, match='unknown'):
        _neck(shape_compensation=_compensation_cfg(width=3))
    cfg = _compensation_cfg()
    cfg['posedirs'] = cfg['posedirs'][:10]
    cfg['lbs_weights'] = cfg['lbs_weights'][:10]
    with pytest.raises(ValueError, match='vertices'):
        _neck(shape_compensation=cfg)
    with pytest.raises(ValueError, match='posedirs'):
        _neck(shape_compensation=_compensation_cfg(
            posedirs=torch.zeros(len(verts), 3, 9)))
    neck = _neck(shape_compensation=_compensation_cfg(param_dim=3))
    with pytest.raises(ValueError, match='mesh_params'):
        neck(verts[None], joints[None], joints[None])
    with pytest.raises(ValueError, match='mesh_params'):
        neck(verts[None], joints[None], joints[None],
             mesh_params=torch.zeros(1, 2))
    with pytest.raises(FileNotFoundError):
        _neck(shape_compensation=dict(model_path='/nonexistent/SMPL.npz'))
