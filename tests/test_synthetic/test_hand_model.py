"""Synthetic MANO-format hand models: layout, loading, posing, left hand."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.body_models.conventions import MANO_PARENTS
from mpt_plugin.body_models.io import MANO_KEY_SHAPES, load_body_model_file
from mpt_plugin.body_models.mano import FINGERTIP_VERTEX_IDS
from mpt_plugin.synthetic.hand_model import (make_synthetic_mano,
                                             mirror_mano, save_mano_npz)
from mpt_plugin.synthetic.hand_proportions import hand_skeleton

AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0])


@pytest.fixture(scope='module')
def right():
    return make_synthetic_mano(is_rhand=True)


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory, right):
    folder = tmp_path_factory.mktemp('mano')
    save_mano_npz(folder / 'MANO_RIGHT.npz', right)
    save_mano_npz(folder / 'MANO_LEFT.npz', make_synthetic_mano(False))
    return folder


def _layer(model_dir, is_rhand, **kwargs):
    return MPTMANO(model_dir, is_rhand=is_rhand, dtype=torch.float64,
                   **kwargs)


def test_exact_official_shapes_and_dtypes(right):
    for key, shape in MANO_KEY_SHAPES.items():
        if key == 'hands_coeffs':
            assert right[key].shape == (1554, 45)
        else:
            assert right[key].shape == shape, key
    assert right['f'].dtype == np.uint32
    assert right['kintree_table'].dtype == np.uint32
    assert right['kintree_table'][0, 0] == 4294967295
    assert np.array_equal(right['kintree_table'][0, 1:], MANO_PARENTS[1:])
    assert np.array_equal(right['kintree_table'][1], np.arange(16))
    for key in ('v_template', 'J_regressor', 'J', 'weights', 'shapedirs',
                'posedirs', 'hands_components', 'hands_mean'):
        assert right[key].dtype == np.float64, key
        assert np.all(np.isfinite(right[key])), key
    assert right['bs_style'] == 'lbs' and right['bs_type'] == 'lrotmin'


def test_rigging(right):
    w, reg = right['weights'], right['J_regressor']
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    assert w.min() >= 0 and reg.min() >= 0
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(reg @ right['v_template'], right['J'])
    # the regressor reproduces the skeleton (to 0.1 mm)
    np.testing.assert_allclose(right['J'], hand_skeleton()['J'], atol=1e-4)
    # fingertips are skinned to the distal joints
    for tip, joint in zip(FINGERTIP_VERTEX_IDS['freihand'],
                          (15, 3, 6, 12, 9)):
        assert w[tip].argmax() == joint


def test_pca_basis_orthonormal_and_round_trip(right, model_dir):
    comps = right['hands_components']
    np.testing.assert_allclose(comps @ comps.T, np.eye(45), atol=1e-12)
    layer = _layer(model_dir, True, use_pca=True, num_pca_comps=45)
    coeffs = torch.as_tensor(np.random.default_rng(1).normal(size=(2, 45)))
    full = layer.hand_pose_to_axis_angle(coeffs).numpy()
    np.testing.assert_allclose(full, right['hands_mean'] +
                               coeffs.numpy() @ comps)
    back = (full - right['hands_mean']) @ comps.T
    np.testing.assert_allclose(back, coeffs.numpy(), atol=1e-12)


def test_loads_through_the_official_loader(right, model_dir):
    data = load_body_model_file(model_dir / 'MANO_RIGHT.npz',
                                model_type='mano')
    for key in ('v_template', 'J_regressor', 'weights', 'shapedirs',
                'posedirs', 'hands_components', 'hands_mean'):
        np.testing.assert_array_equal(data[key], right[key])
    np.testing.assert_array_equal(data['f'], right['f'])


def _fk(model, betas, pose):
    """Numpy forward kinematics of the regressed joints of the shaped
    rest mesh; ``pose`` (16, 3) axis-angle incl. the global rotation."""
    shaped = model['v_template'] + model['shapedirs'] @ betas
    J = model['J_regressor'] @ shaped
    R = Rotation.from_rotvec(pose).as_matrix()
    G_R, G_t = [R[0]], [J[0]]
    for j in range(1, 16):
        p = MANO_PARENTS[j]
        G_R.append(G_R[p] @ R[j])
        G_t.append(G_R[p] @ (J[j] - J[p]) + G_t[p])
    return np.stack(G_t)


def test_posed_joints_are_fk_of_regressed_joints(right, model_dir):
    layer = _layer(model_dir, True)
    rng = np.random.default_rng(0)
    betas = rng.normal(size=10)
    hand_pose = rng.normal(size=45) * 0.3
    orient = np.array([0.2, -0.4, 0.1])
    out = layer(betas=torch.as_tensor(betas[None]),
                global_orient=torch.as_tensor(orient[None]),
                hand_pose=torch.as_tensor(hand_pose[None]))
    pose = np.concatenate([orient, hand_pose + right['hands_mean']])
    expect = _fk(right, betas, pose.reshape(16, 3))
    np.testing.assert_allclose(out['joints_mano'][0].numpy(), expect,
                               atol=1e-10)
    # fingertip joints (hand_21 ids 4, 8, 12, 16, 20) are the tip vertices
    verts = out['vertices'][0].numpy()
    np.testing.assert_array_equal(
        out['joints'][0, [4, 8, 12, 16, 20]].numpy(),
        verts[list(FINGERTIP_VERTEX_IDS['freihand'])])
    # the rest hand: zero pose with flat_hand_mean gives the template
    flat = _layer(model_dir, True, flat_hand_mean=True)()
    np.testing.assert_allclose(flat['vertices'][0].numpy(),
                               right['v_template'], atol=1e-12)


def test_left_hand_is_the_mirror_through_the_loader(right, model_dir):
    left_file = np.load(model_dir / 'MANO_LEFT.npz')
    # official left convention: shapedirs stored unmirrored
    np.testing.assert_array_equal(left_file['shapedirs'], right['shapedirs'])
    np.testing.assert_array_equal(left_file['v_template'],
                                  right['v_template'] * [-1, 1, 1])
    rng = np.random.default_rng(3)
    betas = torch.as_tensor(rng.normal(size=(1, 10)))
    pose = rng.normal(size=(1, 45)) * 0.3
    orient = rng.normal(size=(1, 3)) * 0.3
    out_r = _layer(model_dir, True)(
        betas=betas, global_orient=torch.as_tensor(orient),
        hand_pose=torch.as_tensor(pose))
    out_l = _layer(model_dir, False)(
        betas=betas, global_orient=torch.as_tensor(orient * AXIS_ANGLE_MIRROR),
        hand_pose=torch.as_tensor(pose * np.tile(AXIS_ANGLE_MIRROR, 15)))
    mirror = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(out_l['vertices'], out_r['vertices'] * mirror)
    torch.testing.assert_close(out_l['joints'], out_r['joints'] * mirror)


def test_mirror_twice_is_identity(right):
    back = mirror_mano(mirror_mano(right, shapedirs_fixed=True),
                       shapedirs_fixed=True)
    for key in ('v_template', 'f', 'posedirs', 'shapedirs',
                'hands_components', 'hands_mean', 'J'):
        np.testing.assert_array_equal(back[key], right[key])


def test_deterministic_bytes(tmp_path, model_dir):
    save_mano_npz(tmp_path / 'MANO_RIGHT.npz', make_synthetic_mano(True))
    assert (tmp_path / 'MANO_RIGHT.npz').read_bytes() == \
        (model_dir / 'MANO_RIGHT.npz').read_bytes()
    other = make_synthetic_mano(True, seed=1)
    assert not np.array_equal(other['hands_components'],
                              make_synthetic_mano(True)['hands_components'])
    with pytest.raises(ValueError, match='seed'):
        make_synthetic_mano(True, seed=-1)
