"""Tests of mpt_plugin.synthetic.hand_poses: finger articulations within
joint limits, on the synthetic right and left MANO-format hands."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.datasets import hand_pose_io
from mpt_plugin.synthetic import hand_poses as hp
from mpt_plugin.synthetic.hand_model import make_synthetic_mano, save_mano_npz

#: hand_21 columns of the fingertips in mano_16 finger order (index,
#: middle, pinky, ring, thumb), and of the wrist + four finger bases
TIPS_MANO_ORDER = [8, 12, 20, 16, 4]
PALM = [0, 5, 9, 13, 17]
F64 = torch.float64


@pytest.fixture(scope='module')
def hands(tmp_path_factory):
    """``{is_rhand: (model dict, MPTMANO flat_hand_mean=True float64)}``."""
    folder = tmp_path_factory.mktemp('mano_hand_poses')
    out = {}
    for is_rhand, name in ((True, 'MANO_RIGHT.npz'), (False, 'MANO_LEFT.npz')):
        model = make_synthetic_mano(is_rhand)
        save_mano_npz(folder / name, model)
        layer = MPTMANO(folder / name, is_rhand=is_rhand, flat_hand_mean=True,
                        dtype=F64)
        out[is_rhand] = (model, layer)
    return out


def _limits():
    return np.array([[hp.HAND_JOINT_LIMITS[k][n]
                      for n in ('flexion', 'abduction', 'twist')]
                     for k in hp.JOINT_KINDS])


def _joints(layer, hand_pose):
    pose = torch.as_tensor(np.asarray(hand_pose), dtype=F64).reshape(-1, 45)
    return layer(hand_pose=pose)['joints'].numpy()


def test_shapes_dtypes_and_determinism(hands):
    model = hands[True][0]
    poses = hp.sample_hand_articulations(model, 300, seed=5)
    assert poses.shape == (300, 45) and poses.dtype == np.float32
    np.testing.assert_array_equal(
        poses, hp.sample_hand_articulations(model, 300, seed=5))
    assert not np.allclose(poses, hp.sample_hand_articulations(model, 300, 6))
    assert hp.sample_hand_articulations(model, 0, 0).shape == (0, 45)
    pose_set = hp.make_hand_pose_set(model, 50, seed=1)
    assert pose_set['hand_pose'].shape == (50, 45)
    assert pose_set['hand_pose'].dtype == np.float32
    assert pose_set['betas'].shape == (50, 10)
    assert pose_set['betas'].dtype == np.float32
    assert np.abs(pose_set['betas']).max() <= 3.0
    assert 0.7 < pose_set['betas'].std() < 1.3
    assert pose_set['is_rhand'].shape == () and bool(pose_set['is_rhand'])
    assert str(pose_set['format']) == 'mpt_hand_poses'
    assert int(pose_set['version']) == 1
    # the shapes use their own stream: betas_std leaves the poses alone
    flat_shape = hp.make_hand_pose_set(model, 50, seed=1, betas_std=0.0)
    np.testing.assert_array_equal(flat_shape['hand_pose'],
                                  pose_set['hand_pose'])
    assert not flat_shape['betas'].any()
    wide = hp.make_hand_pose_set(model, 50, seed=1, betas_std=10.0)
    assert np.abs(wide['betas']).max() == 3.0


@pytest.mark.parametrize('bad', [dict(num=-1, seed=0), dict(num=2, seed=-3),
                                 dict(num=1.5, seed=0)])
def test_arguments_checked(bad):
    with pytest.raises(ValueError):
        hp.sample_hand_angles(**bad)


def test_axes_follow_the_model(hands):
    model = hands[True][0]
    axes = hp.hand_joint_axes(model, True)
    ax = axes['axes']
    assert ax.shape == (15, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(ax, axis=-1), 1.0, atol=1e-12)
    # flexion is orthogonal to abduction and twist: its angle is a projection
    np.testing.assert_allclose(np.einsum('jc,jc->j', ax[:, 0], ax[:, 1]), 0,
                               atol=1e-12)
    np.testing.assert_allclose(np.einsum('jc,jc->j', ax[:, 0], ax[:, 2]), 0,
                               atol=1e-12)
    # synthetic right hand: fingers +y, index at -x, palm towards -z
    np.testing.assert_allclose(axes['palm_normal'], [0, 0, -1], atol=1e-6)
    assert ax[0, 0] @ np.array([-1.0, 0, 0]) > 0.99  # index MCP flexion
    # nothing is hard-coded: a rotated model gets rotated axes
    c, s = np.cos(0.7), np.sin(0.7)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array(
        [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    turned = dict(model, v_template=model['v_template'] @ turn.T)
    turned_axes = hp.hand_joint_axes(turned, True)
    np.testing.assert_allclose(turned_axes['axes'], ax @ turn.T, atol=1e-9)
    np.testing.assert_allclose(turned_axes['palm_normal'],
                               axes['palm_normal'] @ turn.T, atol=1e-9)
    poses = hp.sample_hand_articulations(model, 20, 0)
    np.testing.assert_allclose(
        hp.sample_hand_articulations(turned, 20, 0).reshape(20, 15, 3),
        poses.reshape(20, 15, 3) @ turn.T.astype(np.float32), atol=1e-5)


def test_model_checked(hands):
    model = hands[True][0]
    with pytest.raises(KeyError, match='J_regressor'):
        hp.hand_joint_axes({k: v for k, v in model.items()
                            if k != 'J_regressor'})
    tree = np.array(model['kintree_table'])
    tree[0, 5] = 1
    with pytest.raises(ValueError, match='kintree_table'):
        hp.hand_joint_axes(dict(model, kintree_table=tree))
    with pytest.raises(ValueError, match='v_template'):
        hp.hand_joint_axes(dict(model, v_template=model['v_template'][:100]))


@pytest.mark.parametrize('is_rhand', [True, False])
def test_angles_within_limits(hands, is_rhand):
    model = hands[is_rhand][0]
    axes = hp.hand_joint_axes(model, is_rhand)['axes']
    poses = hp.sample_hand_articulations(model, 3000, seed=2,
                                         is_rhand=is_rhand)
    angles = hp.hand_pose_to_angles(poses, axes)
    lim = _limits()
    tol = 1e-5  # float32 storage
    assert (angles >= lim[..., 0] - tol).all()
    assert (angles <= lim[..., 1] + tol).all()
    # the flexion is the projection on the flexion axis
    np.testing.assert_allclose(
        angles[..., 0],
        np.einsum('njc,jc->nj', poses.reshape(-1, 15, 3), axes[:, 0]),
        atol=1e-6)
    # the same angles as sampled, and the inverse is exact
    ref = hp.sample_hand_angles(3000, seed=2)
    np.testing.assert_allclose(angles, ref, atol=1e-5)
    np.testing.assert_allclose(
        hp.hand_pose_to_angles(hp.angles_to_hand_pose(ref, axes), axes), ref,
        atol=1e-12)
    # the mixture covers flat hands, fists and everything between
    mean_flex = ref[:, :, 0].mean(axis=1)
    assert (mean_flex < 0.15).mean() > 0.05
    assert (mean_flex > 1.0).mean() > 0.1
    assert ((mean_flex > 0.4) & (mean_flex < 0.8)).mean() > 0.15
    # every flexion and twist limit is reached by some sample; abductions
    # fan out (index towards the thumb, pinky away), so they come within
    # a quarter of their range
    for k, share in ((0, 0.01), (1, 0.25), (2, 0.01)):
        lo, hi = lim[:, k, 0], lim[:, k, 1]
        span = np.maximum(hi - lo, 1e-9)
        assert ((ref[:, :, k].min(0) - lo) / span <= share).all()
        assert ((hi - ref[:, :, k].max(0)) / span <= share).all()


def test_left_poses_mirror_right_ones(hands):
    right = hp.sample_hand_articulations(hands[True][0], 200, 4, True)
    left = hp.sample_hand_articulations(hands[False][0], 200, 4, False)
    np.testing.assert_allclose(left, right * np.tile([1, -1, -1], 15),
                               atol=1e-6)
    # and the posed left hand is the mirror image of the posed right one
    jr = _joints(hands[True][1], right[:5])
    jl = _joints(hands[False][1], left[:5])
    np.testing.assert_allclose(jl, jr * [-1, 1, 1], atol=1e-5)


@pytest.mark.parametrize('is_rhand', [True, False])
def test_curled_finger_moves_towards_palm(hands, is_rhand):
    model, layer = hands[is_rhand]
    info = hp.hand_joint_axes(model, is_rhand)
    normal = info['palm_normal']
    np.testing.assert_allclose(normal, [0, 0, -1], atol=1e-6)
    lim = _limits()
    angles = np.zeros((6, 15, 3))
    for finger in range(5):  # half of each joint's flexion range
        rows = slice(3 * finger, 3 * finger + 3)
        angles[finger + 1, rows, 0] = 0.5 * lim[rows, 0, 1]
    joints = _joints(layer, hp.angles_to_hand_pose(angles, info['axes']))
    flat_tips = joints[0, TIPS_MANO_ORDER] @ normal
    for finger in range(5):
        tip = joints[finger + 1, TIPS_MANO_ORDER[finger]] @ normal
        assert tip > flat_tips[finger] + 0.02, (finger, tip)
        # the other fingers do not move
        others = [i for i in range(5) if i != finger]
        np.testing.assert_allclose(
            joints[finger + 1, np.array(TIPS_MANO_ORDER)[others]],
            joints[0, np.array(TIPS_MANO_ORDER)[others]], atol=1e-9)


@pytest.mark.parametrize('is_rhand', [True, False])
def test_fist_tips_closer_to_palm_centre(hands, is_rhand):
    model, layer = hands[is_rhand]
    axes = hp.hand_joint_axes(model, is_rhand)['axes']
    lim = _limits()
    angles = np.zeros((2, 15, 3))
    angles[1, :, 0] = lim[:, 0, 1]  # every joint fully flexed
    joints = _joints(layer, hp.angles_to_hand_pose(angles, axes))
    centre = joints[:, PALM].mean(axis=1, keepdims=True)
    dist = np.linalg.norm(joints[:, TIPS_MANO_ORDER] - centre, axis=-1)
    assert (dist[1] < dist[0] - 0.02).all(), dist
    # sampled poses: the more curled, the closer the tips
    poses = hp.sample_hand_articulations(model, 400, 3, is_rhand)
    curl = hp.hand_pose_to_angles(poses, axes)[:, :, 0].mean(axis=1)
    joints = _joints(layer, poses)
    centre = joints[:, PALM].mean(axis=1, keepdims=True)
    dist = np.linalg.norm(joints[:, TIPS_MANO_ORDER] - centre,
                          axis=-1).mean(axis=1)
    assert dist[curl > 1.0].mean() < dist[curl < 0.2].mean() - 0.04
    assert np.corrcoef(curl, dist)[0, 1] < -0.8


def test_save_round_trip(hands, tmp_path):
    assert hp.HAND_POSE_FORMAT == hand_pose_io.HAND_POSE_FORMAT
    assert hp.HAND_POSE_VERSION == hand_pose_io.HAND_POSE_VERSION
    pose_set = hp.make_hand_pose_set(hands[False][0], 40, seed=9,
                                     is_rhand=False)
    path = tmp_path / 'sub' / 'left.npz'
    hp.save_hand_pose_set(path, pose_set)
    assert [p.name for p in path.parent.iterdir()] == ['left.npz']
    loaded = hand_pose_io.load_hand_pose_set(path)
    np.testing.assert_array_equal(loaded['hand_pose'], pose_set['hand_pose'])
    np.testing.assert_array_equal(loaded['betas'], pose_set['betas'])
    assert not bool(loaded['is_rhand'])
    with np.load(path, allow_pickle=False) as data:  # plain arrays
        assert sorted(data.files) == ['betas', 'format', 'hand_pose',
                                      'is_rhand', 'version']
    with pytest.raises(KeyError, match='betas'):
        hp.save_hand_pose_set(tmp_path / 'x.npz',
                              dict(hand_pose=pose_set['hand_pose'],
                                   is_rhand=True))
    with pytest.raises(ValueError, match='betas'):
        hp.save_hand_pose_set(tmp_path / 'x.npz',
                              dict(pose_set, betas=pose_set['betas'][:3]))
    assert not (tmp_path / 'x.npz').exists()
