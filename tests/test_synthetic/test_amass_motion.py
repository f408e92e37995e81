"""Tests for the synthetic AMASS-format motion generator.

Geometry is checked with a small, independent numpy forward kinematics on the
SMPL rest joint layout (y up, facing +z, subject's left at +x).
"""
import numpy as np
import pytest

from mpt_plugin.datasets.amass_io import read_amass_sequence
from mpt_plugin.geometry.rotations import (axis_angle_to_euler,
                                           euler_to_axis_angle)
from mpt_plugin.synthetic.amass_motion import (MOTION_KINDS, SMPL_JOINT_LIMITS,
                                               SMPL_REST_JOINTS, ZUP_FROM_YUP,
                                               clamp_to_joint_limits,
                                               make_synthetic_amass_tree)
from tests.kinematics import REST, fk, rodrigues

AMASS_TO_YUP = np.array([[1., 0, 0], [0, 0, 1], [0, -1, 0]])
L_KNEE, R_KNEE = 4, 5
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 18, 19, 20, 21


def euler_xyz(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> intrinsic XYZ Euler (R = Rx Ry Rz), |y| <= pi/2."""
    y = np.arcsin(np.clip(rot[..., 0, 2], -1, 1))
    x = np.arctan2(-rot[..., 1, 2], rot[..., 2, 2])
    z = np.arctan2(-rot[..., 0, 1], rot[..., 0, 0])
    return np.stack([x, y, z], -1)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp('amass')
    return out, make_synthetic_amass_tree(out, seed=0)


@pytest.fixture(scope='module')
def seqs_yup(tree):
    """kind -> list of (raw npz dict, y-up SMPL sequence, joints (T,24,3))."""
    _, paths = tree
    out = {}
    for p in paths:
        raw = dict(np.load(p))
        seq = read_amass_sequence(p, hand_pose='index1').to_yup(REST[0])
        out.setdefault(p.name.split('_')[0], []).append(
            (raw, seq, fk(seq.poses, seq.trans)))
    return out


def facing(seq) -> np.ndarray:
    """(T, 2) unit horizontal facing direction (x, z) of the pelvis."""
    fwd = rodrigues(seq.poses[:, :3])[:, :, 2][:, [0, 2]]
    return fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)


def test_constants_match_reference_layout():
    np.testing.assert_allclose(SMPL_REST_JOINTS, REST)
    np.testing.assert_allclose(
        ZUP_FROM_YUP @ AMASS_TO_YUP, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ZUP_FROM_YUP @ [0, 1, 0], [0, 0, 1])


def test_fk_sign_facts_in_smpl_joint_frame():
    """The joint-frame conventions the generator is designed with."""

    def pose_with(joint, euler):
        p = np.zeros((1, 24, 3))
        p[0, joint] = euler_to_axis_angle(np.asarray(euler, float))
        return fk(p.reshape(1, 72))[0]

    rest = fk(np.zeros((1, 72)))[0]
    np.testing.assert_allclose(rest, REST, atol=1e-12)
    for knee, ankle in ((4, 7), (5, 8)):  # knee flexion +x: foot backward
        j = pose_with(knee, [0.8, 0, 0])
        assert j[ankle, 2] < rest[ankle, 2] - 0.2
        assert j[ankle, 1] > rest[ankle, 1] + 0.05
    for hip, knee in ((1, 4), (2, 5)):  # hip flexion -x: thigh forward
        assert pose_with(hip, [-0.8, 0, 0])[knee, 2] > rest[knee, 2] + 0.2
    # elbow flexion: left about -y, right about +y bends the forearm forward
    assert pose_with(L_ELBOW, [0, -0.8, 0])[L_WRIST, 2] > 0.15
    assert pose_with(R_ELBOW, [0, 0.8, 0])[R_WRIST, 2] > 0.15
    # lowering the arms from the T-pose: left -z, right +z
    assert pose_with(16, [0, 0, -1.3])[L_WRIST, 1] < rest[16, 1] - 0.4
    assert pose_with(17, [0, 0, 1.3])[R_WRIST, 1] < rest[17, 1] - 0.4
    # left hip abduction +z: the knee goes to +x
    assert pose_with(1, [0, 0, 0.4])[L_KNEE, 0] > rest[L_KNEE, 0] + 0.1


def test_euler_helpers_round_trip_and_limit_table():
    rng = np.random.default_rng(0)
    e = rng.uniform(-1.2, 1.2, (50, 3))
    aa = euler_to_axis_angle(e)
    np.testing.assert_allclose(axis_angle_to_euler(aa), e, atol=1e-9)
    np.testing.assert_allclose(euler_xyz(rodrigues(aa)), e, atol=1e-9)
    lim = np.rad2deg(SMPL_JOINT_LIMITS)
    assert SMPL_JOINT_LIMITS.shape == (24, 3, 2)
    assert (lim[..., 0] <= lim[..., 1]).all()
    assert lim[L_KNEE, 0, 0] == 0 and lim[R_KNEE, 0, 0] == 0  # one way only
    assert lim[L_ELBOW, 1, 1] == 0 and lim[R_ELBOW, 1, 0] == 0
    for left, right in ((1, 2), (4, 5), (16, 17), (18, 19), (20, 21)):
        np.testing.assert_allclose(lim[right, 0], lim[left, 0])
        np.testing.assert_allclose(lim[right, 1:], -lim[left, 1:, ::-1])
    clamped = clamp_to_joint_limits(np.full((2, 24, 3), 3.0))
    np.testing.assert_allclose(
        clamped, SMPL_JOINT_LIMITS[None, ..., 1] + np.zeros((2, 1, 1)))


def test_tree_layout_and_keys(tree):
    root, paths = tree
    assert 20 <= len(paths) <= 40
    assert paths == sorted(paths)
    datasets = sorted(d.name for d in root.iterdir())
    assert datasets == sorted(MOTION_KINDS) and len(datasets) >= 2
    total, genders, betas = 0, {}, {}
    for p in paths:
        assert p.name.endswith('_poses.npz')
        assert p.relative_to(root).parts[0] in MOTION_KINDS
        with np.load(p) as d:
            assert sorted(d.files) == sorted([
                'poses', 'betas', 'trans', 'gender', 'mocap_framerate', 'dmpls'
            ])
            n = d['poses'].shape[0]
            assert d['poses'].shape == (n, 156)
            assert d['poses'].dtype == np.float64
            assert d['trans'].shape == (n, 3)
            assert d['betas'].shape == (16, )
            assert d['dmpls'].shape == (n, 8) and not d['dmpls'].any()
            assert d['gender'].dtype.kind == 'U'
            assert float(d['mocap_framerate']) in (60.0, 120.0)
            # z up: a standing pelvis is ~0.9 m above the floor
            assert 0.7 < np.median(d['trans'][:, 2]) < 1.1
            subject = p.parent
            genders[subject] = str(d['gender'])
            betas[subject] = d['betas']
            total += n
        with np.load(subject / 'shape.npz') as s:
            assert sorted(s.files) == ['betas', 'gender']
            np.testing.assert_array_equal(s['betas'], betas[subject])
            assert str(s['gender']) == genders[subject]
    assert 2000 <= total <= 10000
    for ds in MOTION_KINDS:  # both genders in every dataset
        assert {g
                for s, g in genders.items()
                if s.parent.name == ds} == {'male', 'female'}
    b = np.stack(list(betas.values()))
    assert len(np.unique(b.round(6), axis=0)) == len(b)
    kinds = {p.name.split('_')[0] for p in paths}
    assert kinds == {k for ks in MOTION_KINDS.values() for k in ks}


def test_deterministic_bytes(tmp_path):
    kw = dict(num_subjects=2, sequences_per_subject=2, seconds=(0.6, 0.8))
    a = make_synthetic_amass_tree(tmp_path / 'a', seed=3, **kw)
    b = make_synthetic_amass_tree(tmp_path / 'b', seed=3, **kw)
    c = make_synthetic_amass_tree(tmp_path / 'c', seed=4, **kw)
    assert [p.relative_to(tmp_path / 'a')
            for p in a] == [p.relative_to(tmp_path / 'b') for p in b]
    files_a = sorted((tmp_path / 'a').rglob('*.npz'))
    files_b = sorted((tmp_path / 'b').rglob('*.npz'))
    assert len(files_a) == 6
    for fa, fb in zip(files_a, files_b):
        assert fa.read_bytes() == fb.read_bytes()
    assert a[0].read_bytes() != c[0].read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='datasets'):
        make_synthetic_amass_tree(tmp_path, datasets=['CMU'])
    with pytest.raises(ValueError, match='seconds'):
        make_synthetic_amass_tree(tmp_path, seconds=(3.0, 1.0))
    with pytest.raises(ValueError, match='fps'):
        make_synthetic_amass_tree(tmp_path, fps=(0.0, ))


def test_joint_limits_and_canonical_axis_angle(tree):
    lim = SMPL_JOINT_LIMITS[1:24]
    for p in tree[1]:
        poses = np.load(p)['poses']
        body = read_amass_sequence(
            p, hand_pose='index1').poses.reshape(-1, 24, 3)
        norms = np.linalg.norm(poses.reshape(-1, 52, 3), axis=-1)
        assert norms.max() <= np.pi + 1e-9
        euler = euler_xyz(rodrigues(body[:, 1:]))  # (T, 23, 3)
        assert (euler >= lim[..., 0] - 1e-6).all(), p.name
        assert (euler <= lim[..., 1] + 1e-6).all(), p.name
        assert (euler[:, L_KNEE - 1, 0] >= -1e-6).all()
        assert (euler[:, L_ELBOW - 1, 1] <= 1e-6).all()
        assert (euler[:, R_ELBOW - 1, 1] >= -1e-6).all()


def test_upright_after_zup_to_yup(seqs_yup):
    for kind, items in seqs_yup.items():
        for raw, seq, j in items:
            pelvis, head = j[:, 0, 1], j[:, 15, 1]
            feet = j[:, [7, 8, 10, 11], 1]
            assert (head > pelvis + 0.35).all(), kind
            assert (feet.max(1) < pelvis - 0.3).all(), kind
            # the floor (y = 0) is touched, not crossed (10% size tolerance)
            lowest = feet.min(1) - 0.04
            assert np.abs(lowest).max() < 0.12, kind
            up = rodrigues(seq.poses[:, :3])[:, 1, 1]  # pelvis y-axis . up
            assert (up > np.cos(np.deg2rad(65))).all(), kind
            # before the conversion the body stands along +z
            raw_up = rodrigues(raw['poses'][:, :3])[:, 2, 1]
            assert (raw_up > np.cos(np.deg2rad(65))).all(), kind


def test_knees_bend_backward(seqs_yup):
    checked = 0
    for items in seqs_yup.values():
        for _, seq, j in items:
            f = facing(seq)
            knees = seq.poses.reshape(-1, 24, 3)[:, [L_KNEE, R_KNEE]]
            knee_flex = euler_xyz(rodrigues(knees))[..., 0]
            for k, (hip, knee, ankle) in enumerate(((1, 4, 7), (2, 5, 8))):
                sel = knee_flex[:, k] > 0.3
                mid = (j[sel, hip] + j[sel, ankle]) / 2
                ahead = ((j[sel, knee] - mid)[:, [0, 2]] * f[sel]).sum(-1)
                assert (ahead > 0.02).all()
                checked += sel.sum()
    assert checked > 500


def test_walk_translates_forward(seqs_yup):
    for raw, seq, j in seqs_yup['walk']:
        dur = seq.num_frames / seq.fps
        disp = j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]
        f = facing(seq).mean(0)
        f /= np.linalg.norm(f)
        forward = disp @ f
        assert forward > 0.5 * dur, (forward, dur)  # > 0.5 m/s
        assert forward < 2.0 * dur
        assert abs(disp @ [-f[1], f[0]]) < 0.2 * forward
        # the raw (z-up) file walks in the xy plane, height stays ~constant
        assert np.ptp(raw['trans'][:, 2]) < 0.1


def test_squat_lowers_pelvis(seqs_yup):
    for _, seq, j in seqs_yup['squat'] + seqs_yup['squatreach']:
        pelvis = j[:, 0, 1]
        assert pelvis.max() - pelvis.min() > 0.1
        assert abs(pelvis[0] - pelvis.max()) < 0.03  # starts standing
    for _, seq, j in seqs_yup['idle']:
        assert np.ptp(j[:, 0, 1]) < 0.06


def test_turn_changes_yaw(seqs_yup):
    # the pelvis also swings +-0.12 rad about the vertical while stepping
    for kind, min_turn in (('turn', 0.7), ('walkturn', 0.5)):
        for _, seq, _ in seqs_yup[kind]:
            f = facing(seq)
            yaw = np.unwrap(np.arctan2(f[:, 0], f[:, 1]))
            assert abs(yaw[-1] - yaw[0]) > min_turn, kind
    for _, seq, _ in seqs_yup['walk'] + seqs_yup['squat']:
        f = facing(seq)
        yaw = np.unwrap(np.arctan2(f[:, 0], f[:, 1]))
        assert np.ptp(yaw) < 0.4


def test_reach_moves_one_arm(seqs_yup):
    for kind in ('reach', 'walkreach', 'squatreach'):
        for _, _, j in seqs_yup[kind]:
            upper = j[:, [L_ELBOW, R_ELBOW]] - j[:, [16, 17]]  # (T, 2, 3)
            elevation = np.arccos(-upper[..., 1] /
                                  np.linalg.norm(upper, axis=-1))
            asym = np.abs(elevation[:, 0] - elevation[:, 1]).max()
            assert asym > 0.4, kind
            if kind != 'squatreach':  # arms already forward there
                assert np.ptp(elevation, axis=0).max() > 0.6, kind
                wrist = j[:, [L_WRIST, R_WRIST], 1] - j[:, :1, 1]
                assert np.ptp(wrist, axis=0).max() > 0.25, kind


def test_smooth_in_time(tree):
    for p in tree[1]:
        d = np.load(p)
        fps = float(d['mocap_framerate'])
        rot = rodrigues(d['poses'].reshape(-1, 52, 3))
        rel = np.einsum('tjab,tjac->tjbc', rot[:-1], rot[1:])
        step = np.arccos(
            np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
        # joint speed, rad/s (a one-frame jump of 0.2 rad would be > 12)
        assert step.max() * fps < 10.0, p.name
        aa = d['poses'].reshape(-1, 52, 3)[:, 1:]  # no axis flips
        assert np.abs(np.diff(aa, axis=0)).max() * fps < 10.0, p.name
        speed = np.linalg.norm(np.diff(d['trans'], axis=0), axis=-1) * fps
        assert speed.max() < 3.0, p.name
        # second differences: no kinks beyond what the motions need
        acc = np.abs(np.diff(aa, 2, axis=0)).max() * fps**2
        assert acc < 400.0, p.name


def test_motion_variety(seqs_yup, tree):
    for p in tree[1]:
        poses = np.load(p)['poses']
        std = poses[:, 3:66].std(0)  # body joints, over time, rad
        assert std.mean() > 0.003 and std.max() > 0.03, p.name

    def mean_std(prefix):
        return np.array([
            np.load(p)['poses'].std(0).mean() for p in tree[1]
            if p.name.startswith(prefix)
        ])

    assert mean_std('walk_').min() > mean_std('idle_').max()
    # random amplitudes and speeds: no two walks alike
    amp = np.array([np.ptp(s.poses[:, 3 * 4]) for _, s, _ in seqs_yup['walk']])
    assert (np.diff(np.sort(amp)) > 1e-6).all() and np.ptp(amp) > 0.02
    firsts = np.stack([np.load(p)['poses'][0, 3:66] for p in tree[1]])
    assert len(np.unique(firsts.round(4), axis=0)) == len(firsts)


def test_hands_relaxed_fixed_and_mirrored(tree):
    poses = np.load(tree[1][0])['poses']
    hands = poses[:, 66:].reshape(-1, 2, 15, 3)
    np.testing.assert_allclose(hands, np.broadcast_to(hands[:1], hands.shape))
    assert np.abs(hands).max() > 0.1
    np.testing.assert_allclose(hands[0, 1], hands[0, 0] * [1, -1, -1])
