"""Tests of the synthetic SMPL-format body model generator."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import synthetic_model as sm

GENDERS = ('neutral', 'male', 'female')
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17,
           18, 19, 20, 21]
LANDMARKS = sm.SMPLH_LANDMARK_VERTEX_IDS


@pytest.fixture(scope='module')
def models():
    return {g: sm.make_synthetic_smpl(g) for g in GENDERS}


@pytest.fixture(scope='module')
def neutral(models):
    return models['neutral']


def _winding_numbers(points, verts, faces):
    """Generalised winding number of each point ``(P,)`` (1 inside a closed
    outward-oriented mesh, 0 outside)."""
    a, b, c = (verts[faces[:, k]][None] - points[:, None] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
    det = np.einsum('pfk,pfk->pf', a, np.cross(b, c))
    den = (la * lb * lc + np.einsum('pfk,pfk->pf', a, b) * lc +
           np.einsum('pfk,pfk->pf', b, c) * la +
           np.einsum('pfk,pfk->pf', c, a) * lb)
    return 2.0 * np.arctan2(det, den).sum(axis=1) / (4.0 * np.pi)


def _face_normals(verts, faces):
    return np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                    verts[faces[:, 2]] - verts[faces[:, 0]])


def _height(verts):
    return verts[:, 1].max() - verts[:, 1].min()


def _forward_kinematics(joints, rotmats):
    """Posed joints ``(24, 3)`` of the LBS chain with root at its rest
    place: ``G_j = G_parent [R_j | J_j - J_parent]``."""
    rot = [None] * 24
    pos = np.zeros((24, 3))
    for j in range(24):
        p = PARENTS[j]
        if p < 0:
            rot[j], pos[j] = rotmats[j], joints[j]
        else:
            rot[j] = rot[p] @ rotmats[j]
            pos[j] = rot[p] @ (joints[j] - joints[p]) + pos[p]
    return pos


# ---------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------
def test_keys_shapes_dtypes_like_smpl(models):
    expected = {
        'v_template': ((6890, 3), np.float64),
        'f': ((13776, 3), np.uint32),
        'J_regressor': ((24, 6890), np.float64),
        'weights': ((6890, 24), np.float64),
        'kintree_table': ((2, 24), np.uint32),
        'shapedirs': ((6890, 3, 10), np.float64),
        'posedirs': ((6890, 3, 207), np.float64),
        'J': ((24, 3), np.float64),
    }
    for gender, model in models.items():
        assert set(model) == set(expected) | {'bs_style', 'bs_type'}, gender
        for key, (shape, dtype) in expected.items():
            assert model[key].shape == shape, (gender, key)
            assert model[key].dtype == dtype, (gender, key)
            if model[key].dtype.kind == 'f':
                assert np.isfinite(model[key]).all(), (gender, key)
        assert model['bs_style'] == 'lbs' and model['bs_type'] == 'lrotmin'
        kintree = model['kintree_table']
        assert kintree[0, 0] == 4294967295
        np.testing.assert_array_equal(kintree[0, 1:], PARENTS[1:])
        np.testing.assert_array_equal(kintree[1], np.arange(24))
        np.testing.assert_array_equal(sm.SMPL_PARENTS, PARENTS)


def test_landmark_table_matches_smplx():
    from smplx.vertex_ids import vertex_ids
    assert sm.SMPLH_LANDMARK_VERTEX_IDS == vertex_ids['smplh']


def test_invalid_arguments():
    with pytest.raises(ValueError, match='gender'):
        sm.make_synthetic_smpl('robot')
    with pytest.raises(ValueError, match='seed'):
        sm.make_synthetic_smpl('neutral', seed=-1)
    with pytest.raises(KeyError, match='weights'):
        sm.make_synthetic_h36m_regressor({'v_template': np.zeros((5, 3)),
                                          'J': np.zeros((24, 3))})


# ---------------------------------------------------------------------------
# Surface
# ---------------------------------------------------------------------------
def test_closed_oriented_genus0_manifold(neutral):
    faces = neutral['f'].astype(np.int64)
    verts = neutral['v_template']
    nv, nf = len(verts), len(faces)
    # Every directed edge exactly once, and its reverse exists: each edge is
    # in exactly two faces with opposite orientation.
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    directed = src * nv + dst
    assert len(np.unique(directed)) == len(directed)
    assert np.isin(dst * nv + src, directed).all()
    undirected = np.unique(np.minimum(src, dst) * nv + np.maximum(src, dst))
    assert nv - len(undirected) + nf == 2  # Euler characteristic -> genus 0
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == nf
    assert (np.sort(faces, axis=1)[:, :-1] != np.sort(faces,
                                                      axis=1)[:, 1:]).all()
    adj = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(nv, nv))
    assert connected_components(adj, directed=False)[0] == 1
    # Vertex manifold: each vertex's faces form a single fan (one cycle).
    fan_edges = {}
    for f in faces:
        for k in range(3):
            fan_edges.setdefault(f[k], {})[f[(k + 1) % 3]] = f[(k + 2) % 3]
    for v, nxt in fan_edges.items():
        start = next(iter(nxt))
        cur, steps = nxt[start], 1
        while cur != start:
            cur, steps = nxt[cur], steps + 1
        assert steps == len(nxt), v
    # Outward orientation: positive volume of an adult (~65 litres) and
    # points just outside / inside sampled faces have winding 0 / 1.
    volume = np.einsum('ij,ij->i', verts[faces[:, 0]],
                       np.cross(verts[faces[:, 1]], verts[faces[:, 2]]))
    assert 0.05 < volume.sum() / 6.0 < 0.09
    normals = _face_normals(verts, faces)
    area = np.linalg.norm(normals, axis=1)
    assert area.min() > 1e-8
    sample = np.random.default_rng(0).choice(nf, 150, replace=False)
    centre = verts[faces[sample]].mean(axis=1)
    offset = 1e-3 * normals[sample] / area[sample, None]
    np.testing.assert_allclose(
        _winding_numbers(centre + offset, verts, faces), 0.0, atol=0.05)
    np.testing.assert_allclose(
        _winding_numbers(centre - offset, verts, faces), 1.0, atol=0.05)


def test_mesh_quality(models):
    for gender, model in models.items():
        verts, faces = model['v_template'], model['f'].astype(np.int64)
        tri = verts[faces]
        edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2)
        assert 0.002 < edges.min() and edges.max() < 0.05, gender
        # No sliver triangles (smallest angle > 10 degrees).
        cos = []
        for k in range(3):
            u = tri[:, (k + 1) % 3] - tri[:, k]
            w = tri[:, (k + 2) % 3] - tri[:, k]
            cos.append(np.einsum('ij,ij->i', u, w) /
                       np.linalg.norm(u, axis=1) / np.linalg.norm(w, axis=1))
        assert np.degrees(np.arccos(np.max(cos, axis=0))).min() > 10, gender
        # No fold-overs: neighbouring faces never point in opposite ways.
        normals = _face_normals(verts, faces)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        src = faces.reshape(-1)
        dst = np.roll(faces, -1, axis=1).reshape(-1)
        key = np.minimum(src, dst) * len(verts) + np.maximum(src, dst)
        order = np.argsort(key, kind='stable')
        fid = np.repeat(np.arange(len(faces)), 3)[order]
        dots = np.einsum('ij,ij->i', normals[fid[0::2]], normals[fid[1::2]])
        assert dots.min() > 0.0, gender


# ---------------------------------------------------------------------------
# Body proportions, sides, landmarks
# ---------------------------------------------------------------------------
def test_template_frame_and_bone_lengths(neutral):
    verts, J = neutral['v_template'], neutral['J']
    assert 1.65 < _height(verts) < 1.75
    assert -0.26 < J[0, 1] < -0.18
    assert -1.20 < verts[:, 1].min() < -1.12
    assert 0.47 < verts[:, 1].max() < 0.55

    def bone(a, b):
        return np.linalg.norm(J[a] - J[b])

    for left, right in ((1, 2), (4, 5), (7, 8), (16, 17), (18, 19),
                        (20, 21)):
        np.testing.assert_allclose(J[left] * [-1, 1, 1], J[right],
                                   atol=1e-3)
    for a, b, lo, hi in ((1, 4, 0.36, 0.44), (4, 7, 0.36, 0.44),
                         (16, 18, 0.24, 0.30), (18, 20, 0.22, 0.28),
                         (16, 17, 0.31, 0.39), (1, 2, 0.11, 0.17)):
        assert lo < bone(a, b) < hi, (a, b, bone(a, b))
    # T-pose: arms straight out sideways, legs slightly apart.
    arm = J[20] - J[16]
    assert abs(arm[1]) < 0.03 * np.linalg.norm(arm)
    assert J[7, 0] > J[1, 0] > 0.0
    # Spine chain goes up, head on top.
    assert J[0, 1] < J[3, 1] < J[6, 1] < J[9, 1] < J[12, 1] < J[15, 1]


def test_left_is_plus_x_and_feet_point_forward(neutral):
    J, verts = neutral['J'], neutral['v_template']
    for left in (1, 4, 7, 10, 13, 16, 18, 20, 22):
        assert J[left, 0] > 0.0 > J[left + 1, 0]
    weights = neutral['weights']
    left_arm = weights[:, [16, 18, 20, 22]].sum(axis=1) > 0.9
    assert (verts[left_arm, 0] > 0.15).all()
    for side, ankle in (('L', 7), ('R', 8)):
        toe = verts[LANDMARKS[side + 'BigToe']]
        heel = verts[LANDMARKS[side + 'Heel']]
        assert toe[2] - J[ankle, 2] > 0.12 and J[ankle, 2] - heel[2] > 0.03


def test_landmark_vertices(neutral):
    verts, J = neutral['v_template'], neutral['J']

    def lm(name):
        return verts[LANDMARKS[name]]

    head = verts[:, 1] > J[12, 1] + 0.03
    nose = lm('nose')
    assert abs(nose[0]) < 0.01
    assert nose[2] > verts[head, 2].max() - 0.005  # nose tip is frontmost
    assert nose[2] > J[15, 2] + 0.08
    for eye, sign in (('leye', 1), ('reye', -1)):
        p = lm(eye)
        assert 0.02 < sign * p[0] < 0.05
        assert nose[1] < p[1] < verts[:, 1].max() - 0.05
        assert p[2] > J[15, 2] + 0.05
    for ear, sign in (('lear', 1), ('rear', -1)):
        p = lm(ear)  # the most lateral point of the head, at eye height
        assert sign * p[0] > (sign * verts[head, 0]).max() - 0.01
        assert abs(p[2] - J[15, 2]) < 0.05
        assert abs(p[1] - lm('leye')[1]) < 0.05
    for side, sign, wrist, hand in (('l', 1, 20, 22), ('r', -1, 21, 23)):
        tips = [lm(side + f) for f in ('thumb', 'index', 'middle', 'ring',
                                       'pinky')]
        for tip in tips:
            assert sign * (tip[0] - J[wrist, 0]) > 0.04
        for tip in tips[1:]:
            assert sign * (tip[0] - J[hand, 0]) > 0.04  # beyond knuckles
        z = [tip[2] for tip in tips]  # thumb forward, then index..pinky
        assert z == sorted(z, reverse=True), side
        assert z[0] - z[1] > 0.03
    for side, sign in (('L', 1), ('R', -1)):
        big, small = lm(side + 'BigToe'), lm(side + 'SmallToe')
        heel = lm(side + 'Heel')
        assert sign * big[0] < sign * small[0]  # big toe medial
        assert max(big[1], small[1], heel[1]) < verts[:, 1].min() + 0.03
        assert big[2] > small[2] - 0.03 > heel[2]


# ---------------------------------------------------------------------------
# Regressors and weights
# ---------------------------------------------------------------------------
def test_joint_regressor_rings_inside_body(models):
    for gender, model in models.items():
        reg, verts = model['J_regressor'], model['v_template']
        assert (reg >= 0).all()
        np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(reg @ verts, model['J'], atol=1e-12)
        for j in range(24):
            ids = np.flatnonzero(reg[j])
            assert len(ids) >= 8, (gender, j)
            dist = np.linalg.norm(verts[ids] - model['J'][j], axis=1)
            assert dist.max() < 0.3, (gender, j)
        faces = model['f'].astype(np.int64)
        np.testing.assert_allclose(
            _winding_numbers(model['J'], verts, faces), 1.0, atol=1e-3)
    # The regressor follows shape changes: a taller body has its joints
    # scaled the same way (beta 0 scales about the origin).
    model = models['neutral']
    shaped = model['v_template'] + model['shapedirs'][..., 0]
    ratio = (model['J_regressor'] @ shaped)[1:] / model['J'][1:]
    assert np.median(ratio) == pytest.approx(1.045, abs=0.005)


def test_skinning_weights(models):
    neutral = models['neutral']
    w, verts, J = neutral['weights'], neutral['v_template'], neutral['J']
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert (np.count_nonzero(w, axis=1) <= 8).all()  # local support
    # Limbs are weighted to their bones.
    for joint, child in ((1, 4), (4, 7), (16, 18), (18, 20), (2, 5),
                         (17, 19)):
        mid = 0.5 * (J[joint] + J[child])
        near = np.argsort(np.linalg.norm(verts - mid, axis=1))[:30]
        assert w[near, joint].min() > 0.9, joint
    head_top = np.argmax(verts[:, 1])
    assert w[head_top, 15] > 0.99
    # Smooth: neighbouring vertices have close weights, and every joint
    # blends with its parent somewhere.
    faces = neutral['f'].astype(np.int64)
    a = faces.reshape(-1)
    b = np.roll(faces, -1, axis=1).reshape(-1)
    jump = np.abs(w[a] - w[b]).max(axis=1)
    assert np.percentile(jump, 99) < 0.2 and jump.max() < 0.3
    for j in range(1, 24):
        blend = np.minimum(w[:, j], w[:, PARENTS[j]])
        assert blend.max() > 0.2, j
    # Shared topology: same faces and weights for all genders.
    for gender in ('male', 'female'):
        np.testing.assert_array_equal(models[gender]['f'], neutral['f'])
        np.testing.assert_array_equal(models[gender]['weights'], w)


def test_h36m_regressor(neutral):
    reg = sm.make_synthetic_h36m_regressor(neutral)
    verts, J = neutral['v_template'], neutral['J']
    assert reg.shape == (17, 6890) and reg.dtype == np.float64
    assert (reg >= 0).all()
    np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-12)
    h36m = reg @ verts
    names = sm.H36M_JOINT_NAMES
    assert names[1] == 'left_hip' and names[4] == 'right_hip'
    lhip, rhip = h36m[1], h36m[4]
    assert lhip[0] > J[1, 0] + 0.02 and rhip[0] < J[2, 0] - 0.02  # wider
    assert lhip[1] < J[1, 1] and rhip[1] < J[2, 1]  # lower
    np.testing.assert_allclose(h36m[0], 0.5 * (lhip + rhip), atol=1e-4)
    for row, joint in ((2, 4), (3, 7), (5, 5), (6, 8), (12, 18), (13, 20),
                       (15, 19), (16, 21)):
        np.testing.assert_allclose(h36m[row], J[joint], atol=1e-4)
    assert h36m[11, 0] > 0 > h36m[14, 0]
    assert h36m[0, 1] < h36m[7, 1] < h36m[8, 1] < h36m[9, 1] < h36m[10, 1]
    assert J[15, 1] < h36m[9, 1]
    assert h36m[10, 1] > verts[:, 1].max() - 0.005  # on the skull surface
    faces = neutral['f'].astype(np.int64)
    inside = _winding_numbers(h36m, verts, faces)
    assert (inside[:10] > 0.99).all() and (inside[11:] > 0.99).all()


# ---------------------------------------------------------------------------
# Blend shapes and posing
# ---------------------------------------------------------------------------
def test_shape_directions(models):
    neutral = models['neutral']
    verts, sd, faces = (neutral['v_template'], neutral['shapedirs'],
                        neutral['f'].astype(np.int64))
    rms = np.sqrt((sd**2).sum(axis=1).mean(axis=0))
    assert (np.diff(rms) < 0).all() and rms[0] > 3 * rms[1]
    # beta 0 is size: +-3 gives plausible heights, the others keep height.
    for beta, lo, hi in ((3, 1.85, 2.0), (-3, 1.4, 1.55)):
        assert lo < _height(verts + beta * sd[..., 0]) < hi
    assert abs(_height(verts + 3 * sd[..., 1]) - _height(verts)) < 0.02

    def width(v, y0, y1):
        band = (v[:, 1] > y0) & (v[:, 1] < y1) & (np.abs(v[:, 0]) < 0.25)
        return np.ptp(v[band, 0])

    waist = neutral['J'][3, 1]
    assert width(verts + 2 * sd[..., 1], waist - 0.02, waist + 0.02) > \
        1.1 * width(verts, waist - 0.02, waist + 0.02)
    shoulders = verts + 3 * sd[..., 3]
    J3 = neutral['J_regressor'] @ shoulders
    assert J3[16, 0] - J3[17, 0] > neutral['J'][16, 0] - neutral['J'][17,
                                                                      0]
    legs = neutral['J_regressor'] @ (verts + 3 * sd[..., 2])
    assert np.linalg.norm(legs[7] - legs[4]) > np.linalg.norm(
        neutral['J'][7] - neutral['J'][4])
    # Plausible bodies for |beta| <= 3: positive volume, no flipped faces.
    n0 = _face_normals(verts, faces)
    rng = np.random.default_rng(0)
    for betas in [3 * np.eye(10)[k] * s for k in range(10)
                  for s in (-1, 1)] + list(rng.uniform(-3, 3, (5, 10))):
        v = verts + sd @ betas
        assert (np.einsum('ij,ij->i', _face_normals(v, faces), n0) >
                0).mean() > 0.999
        assert 1.35 < _height(v) < 2.05


def test_pose_directions(neutral):
    pd = neutral['posedirs']
    assert np.abs(pd).max() < 0.01  # small: millimetres per unit of R - I
    used = np.flatnonzero(np.abs(pd).sum(axis=(0, 1)) > 0)
    # Only the diagonal entries of each joint's (R - I).
    np.testing.assert_array_equal(
        used, np.sort([9 * j + 4 * r for j in range(23) for r in range(3)]))
    verts, J = neutral['v_template'], neutral['J']
    for j in range(1, 24):
        col = np.linalg.norm(pd[:, :, 9 * (j - 1)], axis=1)
        assert col.max() > 0.002, j
        active = col > 1e-4
        dist = np.linalg.norm(verts[active] - J[j], axis=1)
        assert dist.max() < 0.3, j  # near the joint only


def test_posing_through_smplx_matches_lbs_chain(neutral):
    smplx = pytest.importorskip('smplx')
    from smplx.utils import Struct
    body = smplx.SMPL('', data_struct=Struct(**neutral), dtype=torch.float64)
    with torch.no_grad():
        rest = body()
    verts0 = rest.vertices[0].numpy()
    np.testing.assert_allclose(verts0, neutral['v_template'], atol=1e-12)
    joints0 = rest.joints[0].numpy()
    # Zero pose: the 24 joints are exactly J_regressor @ vertices.
    np.testing.assert_allclose(joints0[:24], neutral['J_regressor'] @ verts0,
                               atol=1e-8)
    # The 21 extra smplx joints are our landmark vertices.
    order = ('nose', 'reye', 'leye', 'rear', 'lear', 'LBigToe', 'LSmallToe',
             'LHeel', 'RBigToe', 'RSmallToe', 'RHeel', 'lthumb', 'lindex',
             'lmiddle', 'lring', 'lpinky', 'rthumb', 'rindex', 'rmiddle',
             'rring', 'rpinky')
    np.testing.assert_allclose(joints0[24:],
                               verts0[[LANDMARKS[n] for n in order]])
    # Posed: smplx's joints are the forward kinematics of the (shaped) rest
    # joints, not J_regressor @ posed vertices: LBS blends the vertices of
    # a ring around a joint with different bone transforms (and adds pose
    # correctives), so the ring's average leaves the joint when it bends.
    rng = np.random.default_rng(1)
    pose = rng.normal(0.0, 0.35, (24, 3))
    betas = rng.normal(0.0, 1.0, 10)
    with torch.no_grad():
        out = body(global_orient=torch.tensor(pose[None, 0]),
                   body_pose=torch.tensor(pose[None, 1:].reshape(1, -1)),
                   betas=torch.tensor(betas[None]))
    joints = out.joints[0, :24].numpy()
    shaped = neutral['v_template'] + neutral['shapedirs'] @ betas
    rest_joints = neutral['J_regressor'] @ shaped
    fk = _forward_kinematics(rest_joints,
                             Rotation.from_rotvec(pose).as_matrix())
    np.testing.assert_allclose(joints, fk, atol=1e-8)
    regressed = neutral['J_regressor'] @ out.vertices[0].numpy()
    assert np.abs(regressed - joints).max() > 1e-3


def test_loads_through_project_smpl(neutral, tmp_path):
    from mpt_plugin.body_models.io import load_body_model_file
    path = tmp_path / 'SMPL_NEUTRAL'
    sm.save_smpl_npz(path, neutral)  # '.npz' is appended
    path = tmp_path / 'SMPL_NEUTRAL.npz'
    with np.load(path) as data:  # plain arrays: no pickle needed
        for key, value in neutral.items():
            np.testing.assert_array_equal(data[key], value)
    loaded = load_body_model_file(path)
    np.testing.assert_array_equal(loaded['f'], neutral['f'])
    np.testing.assert_array_equal(loaded['v_template'],
                                  neutral['v_template'])
    assert not list(tmp_path.glob('.tmp-*'))
    smpl_mod = pytest.importorskip('mpt_plugin.body_models.smpl')
    body = smpl_mod.MPTSMPL(tmp_path, gender='neutral', dtype=torch.float64)
    with torch.no_grad():
        out = body(betas=torch.zeros(2, 10))
    assert out['vertices'].shape == (2, 6890, 3)
    np.testing.assert_allclose(out['joints'][0, :24].numpy(), neutral['J'],
                               atol=1e-8)
    with pytest.raises(KeyError, match='posedirs'):
        sm.save_smpl_npz(tmp_path / 'bad.npz',
                         {k: v for k, v in neutral.items()
                          if k != 'posedirs'})


# ---------------------------------------------------------------------------
# Determinism, seeds and genders
# ---------------------------------------------------------------------------
def test_deterministic_and_seeded(neutral):
    sm._canonical.cache_clear()  # rebuild the mesh from scratch
    again = sm.make_synthetic_smpl('neutral', seed=0)
    for key, value in neutral.items():
        assert np.asarray(value).tobytes() == np.asarray(again[key]).tobytes()
    seeded = sm.make_synthetic_smpl('neutral', seed=3)
    np.testing.assert_array_equal(seeded['f'], neutral['f'])
    diff = np.abs(seeded['v_template'] - neutral['v_template'])
    assert 1e-4 < diff.max() < 0.06  # small variations only
    assert abs(_height(seeded['v_template']) -
               _height(neutral['v_template'])) < 0.05
    assert sm.make_synthetic_smpl('neutral', seed=3)['J'].tobytes() == \
        seeded['J'].tobytes()


def test_genders_differ_sensibly(models):
    stats = {}
    for gender, model in models.items():
        verts, J = model['v_template'], model['J']
        hips = verts[np.abs(verts[:, 1] - J[1, 1] + 0.02) < 0.02]
        hips = hips[np.abs(hips[:, 0]) < 0.3]
        stats[gender] = dict(height=_height(verts),
                             shoulders=J[16, 0] - J[17, 0],
                             hips=np.ptp(hips[:, 0]))
    male, female, neutral = (stats[g] for g in ('male', 'female', 'neutral'))
    assert male['height'] > neutral['height'] + 0.05
    assert female['height'] < neutral['height'] - 0.04
    assert 1.70 < male['height'] < 1.85 and 1.55 < female['height'] < 1.70
    assert male['shoulders'] > neutral['shoulders'] > female['shoulders']
    assert female['hips'] / female['shoulders'] > \
        male['hips'] / male['shoulders'] + 0.15
