"""Tests for mpt_plugin.body_models.mano (MPTMANO) and the MANO file support
of mpt_plugin.body_models.io, on the tiny official-layout MANO files of
``tiny_mano.py``."""
import os
import pickle
import re
import sys

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import (MANO21_TO_HAND21,
                                                MANO_PARENTS,
                                                get_keypoint_names)
from mpt_plugin.body_models.io import (BodyModelFileError, ChumpyStub,
                                       UnsafePickleError,
                                       load_body_model_file, restricted_loads)
from mpt_plugin.body_models.mano import (FINGERTIP_VERTEX_IDS, MPTMANO,
                                         resolve_mano_model_file)
from mpt_plugin.registry import MODELS
from tests.test_body_models.test_io import make_model_dict
from tests.test_body_models.tiny_mano import (MIRROR, NUM_FACES, NUM_VERTS,
                                              chumpy_select, fake_chumpy,
                                              make_tiny_mano,
                                              mirror_hand_pose, write_mano_dir,
                                              write_mano_npz, write_mano_pkl)

F64 = torch.float64
TIP_COLUMNS = [4, 8, 12, 16, 20]  # thumb, index, middle, ring, pinky tips


@pytest.fixture(scope='module')
def pkl_dir(tmp_path_factory):
    return write_mano_dir(tmp_path_factory.mktemp('mano_pkl'), 'pkl')


@pytest.fixture(scope='module')
def npz_dir(tmp_path_factory):
    return write_mano_dir(tmp_path_factory.mktemp('mano_npz'), 'npz')


@pytest.fixture(scope='module')
def right64(pkl_dir):
    return MPTMANO(pkl_dir, dtype=F64)


def _t(x):
    return torch.as_tensor(np.asarray(x), dtype=F64)


def _random_inputs(seed, batch=3, num_betas=10):
    rng = np.random.default_rng(seed)
    return dict(betas=rng.normal(size=(batch, num_betas)),
                global_orient=rng.normal(size=(batch, 3)) * 0.6,
                hand_pose=rng.normal(size=(batch, 45)) * 0.4,
                transl=rng.normal(size=(batch, 3)) * 0.1)


# ---------------------------------------------------------------------------
# numpy references: Rodrigues, forward kinematics, linear blend skinning
# ---------------------------------------------------------------------------


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle -> (N, 3, 3): R = I + sin t K + (1 - cos t) K^2."""
    theta = np.linalg.norm(aa, axis=-1)
    axis = aa / np.where(theta > 0, theta, 1.0)[:, None]
    x, y, z = axis.T
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(-1, 3,
                                                                      3)
    s, c = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def forward_kinematics(rest: np.ndarray, rots: np.ndarray) -> np.ndarray:
    """(16, 4, 4) world transforms of MANO's tree: G_0 = [R_0 | j_0],
    G_k = G_parent(k) [R_k | j_k - j_parent(k)]."""
    out = np.zeros((len(MANO_PARENTS), 4, 4))
    for k, parent in enumerate(MANO_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rots[k]
        local[:3, 3] = rest[k] - (rest[parent] if parent >= 0 else 0.0)
        out[k] = local if parent < 0 else out[parent] @ local
    return out


def reference_mano(model: dict, betas, global_aa, hand_aa, transl):
    """One sample of MANO by hand: vertices (778, 3), posed joints (16, 3)
    and the regressed rest joints (16, 3); ``hand_aa`` is the full 45-D
    pose (mean already added)."""
    v_shaped = model['v_template'] + model['shapedirs'] @ betas
    rest = model['J_regressor'] @ v_shaped
    rots = rodrigues(np.concatenate([global_aa, hand_aa]).reshape(16, 3))
    pose_feature = (rots[1:] - np.eye(3)).ravel()
    v_posed = v_shaped + model['posedirs'] @ pose_feature
    world = forward_kinematics(rest, rots)
    rel = world.copy()
    rel[:, :3, 3] -= np.einsum('kij,kj->ki', world[:, :3, :3], rest)
    blend = np.einsum('vk,kab->vab', model['weights'], rel)
    verts = np.einsum('vab,vb->va', blend[:, :3, :3], v_posed) + \
        blend[:, :3, 3]
    return verts + transl, world[:, :3, 3] + transl, rest


# ---------------------------------------------------------------------------
# The tiny files: layout of the real ones
# ---------------------------------------------------------------------------


def test_tiny_mano_mesh_is_open_at_the_wrist():
    faces = make_tiny_mano()['f'].astype(np.int64)
    assert faces.shape == (NUM_FACES, 3) and faces.max() == NUM_VERTS - 1
    directed = {(int(a), int(b)) for f in faces for a, b in
                ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    assert len(directed) == 3 * NUM_FACES  # consistently oriented
    edges = {tuple(sorted(e)) for e in directed}
    assert NUM_VERTS - len(edges) + NUM_FACES == 1
    boundary = [e for e in directed if (e[1], e[0]) not in directed]
    assert len(boundary) == 16  # one wrist loop
    nxt = dict(boundary)
    start, loop = boundary[0][0], [boundary[0][0]]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
    assert len(loop) == 16


def test_official_pkl_layout_loads_without_chumpy(pkl_dir, monkeypatch):
    path = os.path.join(pkl_dir, 'MANO_RIGHT.pkl')
    raw = open(path, 'rb').read()
    assert raw[:2] == b'\x80\x02'
    for name in (b'chumpy.reordering\nSelect', b'chumpy.ch\nCh',
                 b'scipy.sparse'):
        assert name in raw, name
    for name in ('chumpy', 'chumpy.ch', 'chumpy.reordering'):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    data = load_body_model_file(path, model_type='mano')
    model = make_tiny_mano()
    for key, value in model.items():
        if key in ('bs_style', 'bs_type'):
            assert str(data[key]) == value
        else:
            np.testing.assert_array_equal(data[key], value, err_msg=key)
    assert data['shapedirs'].shape == (778, 3, 10)
    assert data['shapedirs'].dtype == np.float64
    assert data['kintree_table'][0, 0] == 4294967295
    # the generic SMPL-family checks accept the same file
    generic = load_body_model_file(path)
    np.testing.assert_array_equal(generic['shapedirs'], model['shapedirs'])
    with pytest.raises(ValueError, match="unknown model_type 'flame'"):
        load_body_model_file(path, model_type='flame')


def test_pkl_and_npz_give_the_same_hand(pkl_dir, npz_dir):
    inputs = {k: _t(v) for k, v in _random_inputs(0).items()}
    for is_rhand in (True, False):
        a = MPTMANO(pkl_dir, is_rhand=is_rhand, dtype=F64)(**inputs)
        b = MPTMANO(npz_dir, is_rhand=is_rhand, dtype=F64)(**inputs)
        for key in ('vertices', 'joints', 'joints_mano'):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-15)


def test_model_path_resolution(pkl_dir, npz_dir, tmp_path):
    assert resolve_mano_model_file(pkl_dir, True).endswith('MANO_RIGHT.pkl')
    assert resolve_mano_model_file(npz_dir, False).endswith('MANO_LEFT.npz')
    both = write_mano_dir(tmp_path, 'npz')
    write_mano_pkl(tmp_path / 'MANO_RIGHT.pkl', make_tiny_mano())
    assert resolve_mano_model_file(both, True).endswith('.npz')
    left = os.path.join(pkl_dir, 'MANO_LEFT.pkl')
    assert MPTMANO(left, is_rhand=False).is_rhand is False
    with pytest.raises(ValueError, match='left hand.*is_rhand=True'):
        MPTMANO(left)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match=r'MANO_RIGHT\.npz'):
        MPTMANO(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='not found'):
        MPTMANO(tmp_path / 'MANO_RIGHT_missing.pkl')
    with pytest.raises(TypeError, match='data_struct'):
        MPTMANO(pkl_dir, data_struct=object())


# ---------------------------------------------------------------------------
# Hostile and broken MANO files
# ---------------------------------------------------------------------------


class _System:
    """Unpickles to ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_malicious_pkl_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    model = make_tiny_mano()
    model['hands_mean'] = _System(f'touch {marker}')
    folder = tmp_path / 'evil'
    folder.mkdir()
    path = folder / 'MANO_RIGHT.pkl'
    path.write_bytes(pickle.dumps(model, protocol=2))
    with pytest.raises(UnsafePickleError,
                       match=re.escape(str(path)) + r'.*"posix\.system"'):
        MPTMANO(folder)
    # hidden in the state of a chumpy Select
    with fake_chumpy() as (ch_cls, select_cls):
        model = make_tiny_mano()
        select = chumpy_select(ch_cls, select_cls, model['shapedirs'])
        select.__dict__['idxs'] = _System(f'touch {marker}')
        model['shapedirs'] = select
        payload = pickle.dumps(model, protocol=2)
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match='refused to unpickle'):
        load_body_model_file(path, model_type='mano')
    assert not marker.exists()


def _select_stub(**changes):
    """A pickled Select of a (2, 3, 4) Ch picking [:, :, :2], with state
    entries replaced (or deleted with None) by ``changes``."""
    with fake_chumpy() as (ch_cls, select_cls):
        select = chumpy_select(ch_cls, select_cls,
                               np.arange(12.0).reshape(2, 3, 2), extra=2)
        for key, value in changes.items():
            if value is None:
                del select.__dict__[key]
            else:
                select.__dict__[key] = value
        payload = pickle.dumps(select, protocol=2)
    return restricted_loads(payload, 's.pkl')


def test_select_stub_is_evaluated_with_checks():
    stub = _select_stub()
    assert isinstance(stub, ChumpyStub) and stub.op == 'select'
    where = ('s.pkl', 'shapedirs')
    np.testing.assert_array_equal(stub.to_array(where),
                                  np.arange(12.0).reshape(2, 3, 2))
    flat = _select_stub(preferred_shape=None).to_array(where)
    assert flat.shape == (12, )  # no preferred_shape: 1-D, as chumpy
    cases = [
        (dict(idxs=np.array([0, 24])), r'outside \[0, 24\).*index 1: 24'),
        (dict(idxs=np.array([-1, 0])), r'outside \[0, 24\)'),
        (dict(idxs=np.array([0.0, 1.0])), '"idxs" must be an integer'),
        (dict(preferred_shape=(2, 3, 3)), 'is not a shape of 12 values'),
        (dict(preferred_shape=(2.0, 6)), 'is not a shape of 12 values'),
        (dict(a=None), 'lacks "a"'),
        (dict(idxs=None), 'lacks "idxs"'),
        (dict(a=np.array(['x'] * 24)), '"a" must be a real numeric'),
    ]
    for changes, message in cases:
        with pytest.raises(BodyModelFileError,
                           match=r's\.pkl: key "shapedirs": .*' + message):
            _select_stub(**changes).to_array(where)
    with pytest.raises(BodyModelFileError, match='at most 10 are accepted'):
        stub.to_array(where, max_elements=10)


def test_select_cycle_is_refused(tmp_path):
    with fake_chumpy() as (ch_cls, select_cls):
        model = make_tiny_mano()
        select = chumpy_select(ch_cls, select_cls, model['shapedirs'])
        select.__dict__['a'] = select
        model['shapedirs'] = select
        path = tmp_path / 'MANO_RIGHT.pkl'
        path.write_bytes(pickle.dumps(model, protocol=2))
    with pytest.raises(BodyModelFileError,
                       match='key "shapedirs".*reference cycle'):
        load_body_model_file(path, model_type='mano')


BAD_SHAPES = [
    ('v_template', (777, 3), '(778, 3)'),
    ('f', (1538, 4), '(1538, 3)'),
    ('J_regressor', (16, 777), '(16, 778)'),
    ('weights', (778, 15), '(778, 16)'),
    ('kintree_table', (2, 15), '(2, 16)'),
    ('shapedirs', (778, 3, 9), '(778, 3, 10)'),
    ('posedirs', (778, 3, 134), '(778, 3, 135)'),
    ('hands_components', (45, 44), '(45, 45)'),
    ('hands_mean', (44, ), '(45,)'),
    ('hands_coeffs', (24, 44), '(N, 45)'),
    ('J', (15, 3), '(16, 3)'),
]


@pytest.mark.parametrize('key,shape,expected', BAD_SHAPES)
def test_wrong_shape_names_file_key_and_shape(tmp_path, key, shape,
                                              expected):
    model = make_tiny_mano()
    model[key] = np.ones(shape)
    path = write_mano_npz(tmp_path / 'MANO_RIGHT.npz', model)
    want = (f'{re.escape(path)}: key "{key}" expected shape '
            f'{re.escape(expected)} \\(MANO layout\\), got '
            f'{re.escape(str(shape))}')
    with pytest.raises(BodyModelFileError, match=want):
        MPTMANO(tmp_path)


def test_wrong_select_shape_and_missing_keys_in_pkl(tmp_path):
    model = make_tiny_mano()
    model['shapedirs'] = model['shapedirs'][:, :, :9]
    path = write_mano_pkl(tmp_path / 'MANO_RIGHT.pkl', model)
    with pytest.raises(BodyModelFileError,
                       match=re.escape(path) + r': key "shapedirs" expected '
                       r'shape \(778, 3, 10\) \(MANO layout\), got '
                       r'\(778, 3, 9\)'):
        MPTMANO(tmp_path)
    model = make_tiny_mano()
    del model['hands_mean'], model['hands_coeffs']
    path = write_mano_pkl(tmp_path / 'MANO_RIGHT.pkl', model)
    with pytest.raises(BodyModelFileError,
                       match=r"missing required MANO key\(s\) "
                       r"\['hands_mean'\]"):
        MPTMANO(tmp_path)
    model = make_tiny_mano()
    model['hands_mean'][3] = np.nan
    path = write_mano_npz(tmp_path / 'MANO_RIGHT.npz', model)
    with pytest.raises(BodyModelFileError,
                       match=re.escape(path) + ".*'hands_mean'.*index"):
        MPTMANO(tmp_path)
    # an SMPL file is not a MANO file
    smpl = write_mano_npz(tmp_path / 'smpl.npz', make_model_dict())
    with pytest.raises(BodyModelFileError, match='missing required MANO'):
        load_body_model_file(smpl, model_type='mano')


# ---------------------------------------------------------------------------
# Posing: forward kinematics, skinning, fingertips, joint order
# ---------------------------------------------------------------------------


def test_posed_joints_are_the_fk_of_the_regressed_joints(right64):
    model = make_tiny_mano()
    inputs = _random_inputs(1)
    out = right64(**{k: _t(v) for k, v in inputs.items()})
    for b in range(3):
        hand = inputs['hand_pose'][b] + model['hands_mean']
        verts, joints, rest = reference_mano(
            model, inputs['betas'][b], inputs['global_orient'][b], hand,
            inputs['transl'][b])
        np.testing.assert_allclose(out['joints_mano'][b].numpy(), joints,
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(out['vertices'][b].numpy(), verts,
                                   rtol=0, atol=1e-12)
        # the root stays at its regressed rest position (+ transl)
        np.testing.assert_allclose(joints[0], rest[0] + inputs['transl'][b],
                                   atol=1e-12)
    # float32 (default dtype) agrees to float precision
    out32 = MPTMANO(right64.model_file)(
        **{k: torch.as_tensor(v, dtype=torch.float32)
           for k, v in inputs.items()})
    np.testing.assert_allclose(out32['vertices'].numpy(),
                               out['vertices'].numpy(), atol=2e-6)


def test_fingertips_are_the_tip_vertices_in_hand_21_order(right64, pkl_dir):
    out = right64(**{k: _t(v) for k, v in _random_inputs(2).items()})
    joints, verts, mano = out['joints'], out['vertices'], out['joints_mano']
    assert joints.shape == (3, 21, 3) and mano.shape == (3, 16, 3)
    assert verts.shape == (3, 778, 3)
    tips = FINGERTIP_VERTEX_IDS['freihand']
    assert tips == (744, 320, 443, 555, 672)
    torch.testing.assert_close(joints[:, TIP_COLUMNS], verts[:, list(tips)],
                               rtol=0, atol=0)
    mano21 = torch.cat([mano, verts[:, list(tips)]], dim=1)
    torch.testing.assert_close(joints, mano21[:, list(MANO21_TO_HAND21)],
                               rtol=0, atol=0)
    # by name: hand_21 joint i is mano_21 joint MANO21_TO_HAND21[i]
    hand, mano_names = (get_keypoint_names('hand_21'),
                        get_keypoint_names('mano_21'))
    assert [mano_names[i] for i in MANO21_TO_HAND21] == hand
    assert right64.joint_convention == 'hand_21' and right64.num_joints == 21
    # other fingertip conventions
    for ids in ('smplx', (0, 1, 2, 3, 777)):
        m = MPTMANO(pkl_dir, fingertip_ids=ids, dtype=F64)
        want = FINGERTIP_VERTEX_IDS[ids] if isinstance(ids, str) else ids
        o = m(**{k: _t(v) for k, v in _random_inputs(2).items()})
        torch.testing.assert_close(o['joints'][:, TIP_COLUMNS],
                                   o['vertices'][:, list(want)])
    for bad, message in (((1, 2, 3), 'five vertex ids'),
                         ((0, 1, 2, 3, 778), r'outside \[0, 778\)'),
                         ('mmpose', 'unknown fingertip_ids')):
        with pytest.raises(ValueError, match=message):
            MPTMANO(pkl_dir, fingertip_ids=bad)


def test_joints_from_mesh_regresses_the_posed_mesh(pkl_dir, right64):
    inputs = {k: _t(v) for k, v in _random_inputs(3).items()}
    mesh = MPTMANO(pkl_dir, joints_from='mesh', dtype=F64)(**inputs)
    reg = torch.as_tensor(make_tiny_mano()['J_regressor'], dtype=F64)
    torch.testing.assert_close(mesh['joints_mano'],
                               torch.einsum('jv,bvc->bjc', reg,
                                            mesh['vertices']))
    kin = right64(**inputs)
    torch.testing.assert_close(mesh['vertices'], kin['vertices'])
    assert not torch.allclose(mesh['joints_mano'], kin['joints_mano'])
    with pytest.raises(ValueError, match='joints_from'):
        MPTMANO(pkl_dir, joints_from='vertices')
    # the (21, 778) regressor gives the same 21 joints from any mesh
    regressor = MPTMANO(pkl_dir, dtype=F64).mesh_joint_regressor()
    assert regressor.shape == (21, 778)
    torch.testing.assert_close(
        torch.einsum('jv,bvc->bjc', regressor, mesh['vertices']),
        mesh['joints'])


# ---------------------------------------------------------------------------
# Pose spaces: PCA, full 45-D, mean hand, rotation matrices
# ---------------------------------------------------------------------------


def test_pca_pose_equals_the_full_pose(pkl_dir, right64):
    model = make_tiny_mano()
    rng = np.random.default_rng(4)
    flat = MPTMANO(pkl_dir, flat_hand_mean=True, dtype=F64)
    for comps in (6, 12, 45):
        pca = MPTMANO(pkl_dir, use_pca=True, num_pca_comps=comps, dtype=F64)
        assert pca.hand_pose_dim == comps
        coeffs = rng.normal(size=(2, comps)) * 0.5
        full = coeffs @ model['hands_components'][:comps]  # (2, 45)
        a = pca(hand_pose=_t(coeffs))
        b = right64(hand_pose=_t(full))
        c = flat(hand_pose=_t(model['hands_mean'] + full))
        for key in ('vertices', 'joints'):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-12)
            torch.testing.assert_close(a[key], c[key], rtol=0, atol=1e-12)
        torch.testing.assert_close(
            pca.hand_pose_to_axis_angle(_t(coeffs)),
            _t(model['hands_mean'] + full))
    # (B, 15, 3) axis-angle is the same pose as (B, 45)
    full = rng.normal(size=(2, 45)) * 0.3
    torch.testing.assert_close(
        right64(hand_pose=_t(full.reshape(2, 15, 3)))['vertices'],
        right64(hand_pose=_t(full))['vertices'])
    for bad in (0, 46):
        with pytest.raises(ValueError, match=r'num_pca_comps must be in '
                           r'\[1, 45\]'):
            MPTMANO(pkl_dir, use_pca=True, num_pca_comps=bad)
    with pytest.raises(ValueError, match=r'hand_pose \(PCA\) expected shape '
                       r'\(B, 6\)'):
        MPTMANO(pkl_dir, use_pca=True)(hand_pose=torch.zeros(1, 45))


def test_flat_hand_mean(pkl_dir, right64):
    model = make_tiny_mano()
    flat = MPTMANO(pkl_dir, flat_hand_mean=True, dtype=F64)
    rest = flat()['vertices'][0].numpy()  # pose 0: the template itself
    np.testing.assert_allclose(rest, model['v_template'], rtol=0,
                               atol=1e-15)
    mean = right64()  # pose 0: MANO's mean hand
    assert np.abs(mean['vertices'][0].numpy() - rest).max() > 1e-3
    same = flat(hand_pose=_t(model['hands_mean'][None]))
    torch.testing.assert_close(mean['vertices'], same['vertices'])
    torch.testing.assert_close(mean['joints'], same['joints'])


def test_rotation_matrix_input(right64):
    model = make_tiny_mano()
    inputs = _random_inputs(5)
    aa = right64(**{k: _t(v) for k, v in inputs.items()})
    hand = inputs['hand_pose'] + model['hands_mean']  # matrices: absolute
    hand_rot = rodrigues(hand.reshape(-1, 3)).reshape(3, 15, 3, 3)
    root_rot = rodrigues(inputs['global_orient'])
    mats = right64(betas=_t(inputs['betas']), transl=_t(inputs['transl']),
                   global_orient=_t(root_rot), hand_pose=_t(hand_rot),
                   pose2rot=False)
    for key in ('vertices', 'joints', 'joints_mano'):
        torch.testing.assert_close(aa[key], mats[key], rtol=0, atol=1e-12)
    # omitted hand_pose is the mean hand in both modes
    torch.testing.assert_close(
        right64(global_orient=_t(root_rot[:, None]),
                pose2rot=False)['vertices'],
        right64(global_orient=_t(inputs['global_orient']))['vertices'])


# ---------------------------------------------------------------------------
# The left hand and its shapedirs fix
# ---------------------------------------------------------------------------


def test_left_hand_mirrors_the_right_hand(pkl_dir, right64, tmp_path):
    inputs = _random_inputs(6)
    right = right64(**{k: _t(v) for k, v in inputs.items()})
    mirrored = dict(betas=inputs['betas'],
                    global_orient=mirror_hand_pose(inputs['global_orient']),
                    hand_pose=mirror_hand_pose(inputs['hand_pose']),
                    transl=inputs['transl'] * MIRROR)
    mirrored = {k: _t(v) for k, v in mirrored.items()}
    mirror = _t(MIRROR)

    left = MPTMANO(pkl_dir, is_rhand=False, dtype=F64)
    assert left.joint_convention == 'hand_21_left'
    file_dirs = make_tiny_mano(is_rhand=False)['shapedirs']
    np.testing.assert_array_equal(left.shapedirs[:, 0].numpy(),
                                  -file_dirs[:, 0])
    np.testing.assert_array_equal(left.shapedirs[:, 1:].numpy(),
                                  file_dirs[:, 1:])
    out = left(**mirrored)
    for key in ('vertices', 'joints', 'joints_mano'):
        torch.testing.assert_close(out[key], right[key] * mirror, rtol=0,
                                   atol=1e-12)
    # without the fix the official left file's shapes do not mirror
    unfixed = MPTMANO(pkl_dir, is_rhand=False, fix_left_shapedirs=False,
                      dtype=F64)
    gap = (unfixed(**mirrored)['vertices'] - right['vertices'] * mirror)
    assert gap.abs().max() > 1e-3
    no_shape = {k: v for k, v in mirrored.items() if k != 'betas'}
    torch.testing.assert_close(unfixed(**no_shape)['vertices'],
                               left(**no_shape)['vertices'])
    # a left file that is already fixed: pass fix_left_shapedirs=False
    fixed_dir = write_mano_dir(tmp_path, 'npz', shapedirs_fixed=True)
    fixed = MPTMANO(fixed_dir, is_rhand=False, fix_left_shapedirs=False,
                    dtype=F64)
    torch.testing.assert_close(fixed(**mirrored)['vertices'],
                               right['vertices'] * mirror, rtol=0,
                               atol=1e-12)
    # the right hand ignores the flag
    torch.testing.assert_close(
        MPTMANO(pkl_dir, fix_left_shapedirs=False, dtype=F64).shapedirs,
        right64.shapedirs)


# ---------------------------------------------------------------------------
# Inputs, parameters, registry, gradients
# ---------------------------------------------------------------------------


def test_bad_inputs(right64):
    with pytest.raises(ValueError, match=r'hand_pose expected shape '
                       r'\(B, 45\) or \(B, 15, 3\), got \(2, 44\)'):
        right64(hand_pose=torch.zeros(2, 44))
    with pytest.raises(ValueError, match=r'hand_pose \(pose2rot=False\)'):
        right64(hand_pose=torch.zeros(2, 45), pose2rot=False)
    with pytest.raises(ValueError, match='disagree on the batch size'):
        right64(hand_pose=torch.zeros(2, 45), betas=torch.zeros(3, 10))
    with pytest.raises(ValueError, match='hand_pose contains non-finite'):
        right64(hand_pose=torch.full((1, 45), float('nan')))
    with pytest.raises(ValueError, match=r'S <= 10'):
        right64(betas=torch.zeros(1, 11))
    with pytest.raises(TypeError, match='must be a torch.Tensor'):
        right64(transl=[0.0, 0.0, 0.0])
    short = right64(betas=torch.ones(1, 4, dtype=F64))
    padded = right64(betas=torch.cat([torch.ones(1, 4, dtype=F64),
                                      torch.zeros(1, 6, dtype=F64)], 1))
    torch.testing.assert_close(short['vertices'], padded['vertices'])


def test_num_betas_and_module_parameters(pkl_dir):
    assert MPTMANO(pkl_dir, num_betas=16).num_betas == 10
    assert MPTMANO(pkl_dir, num_betas=4).shapedirs.shape == (778, 3, 4)
    inputs = {k: _t(v[:1]) for k, v in _random_inputs(7).items()}
    stateful = MPTMANO(pkl_dir, dtype=F64, create_betas=True,
                       create_global_orient=True, create_hand_pose=True,
                       create_transl=True)
    with torch.no_grad():
        for name, value in inputs.items():
            getattr(stateful, name).copy_(value)
    torch.testing.assert_close(stateful()['vertices'],
                               stateful(**inputs)['vertices'])
    assert MPTMANO(pkl_dir).state_dict() == {}  # defined by the file only


def test_registry_build_and_gradients(pkl_dir):
    model = MODELS.build(dict(type='MPTMANO', model_path=pkl_dir,
                              is_rhand=False, use_pca=True,
                              num_pca_comps=10))
    assert isinstance(model, MPTMANO) and not model.is_rhand
    assert 'MANO_LEFT.pkl' in repr(model)
    pose = torch.zeros(2, 10, requires_grad=True)  # zero pose: finite grads
    root = torch.zeros(2, 3, requires_grad=True)
    out = model(hand_pose=pose, global_orient=root)
    (out['vertices'].square().sum() + out['joints'].sum()).backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    assert torch.isfinite(root.grad).all()
