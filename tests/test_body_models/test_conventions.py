"""Tests for mpt_plugin.body_models.conventions."""
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import (
    APPROXIMATE_EQUIVALENTS, H36M_TO_J14, KEYPOINT_CONVENTIONS,
    MANO21_TO_HAND21, MANO_PARENTS, MMHUMAN3D_CONVENTIONS,
    MMPOSE_HAND_CONVENTIONS, NUM_HUMAN_DATA_JOINTS, convert_keypoints,
    coco17_to_openpose18, get_flip_indices, get_keypoint_names,
    get_keypoint_num, get_mapping, h36m_regressor_order)


def test_convention_sizes_and_orders():
    sizes = {
        'smpl_24': 24, 'smpl': 24, 'smpl_45': 45, 'h36m': 17,
        'h36m_mmpose': 17, 'coco': 17, 'openpose_coco18': 18, 'lsp': 14
    }
    for name, num in sizes.items():
        assert get_keypoint_num(name) == num
        assert len(set(get_keypoint_names(name))) == num  # no duplicates
    assert get_keypoint_names('h36m')[:7] == [
        'pelvis_extra', 'left_hip_extra', 'left_knee', 'left_ankle',
        'right_hip_extra', 'right_knee', 'right_ankle'
    ]
    assert get_keypoint_names('h36m_mmpose')[1:4] == [
        'right_hip_extra', 'right_knee', 'right_ankle'
    ]
    assert get_keypoint_names('h36m')[7:] == get_keypoint_names(
        'h36m_mmpose')[7:]
    smpl = get_keypoint_names('smpl_24')
    assert smpl[0] == 'pelvis' and smpl[12] == 'neck' and smpl[15] == 'head'
    assert smpl[1] == 'left_hip' and smpl[23] == 'right_hand'
    assert get_keypoint_names('smpl_45')[:24] == smpl
    assert get_keypoint_names('smpl_45')[24:29] == [
        'nose', 'right_eye', 'left_eye', 'right_ear', 'left_ear'
    ]
    assert get_keypoint_names('lsp') == [
        'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee',
        'left_ankle', 'right_wrist', 'right_elbow', 'right_shoulder',
        'left_shoulder', 'left_elbow', 'left_wrist', 'neck', 'headtop'
    ]
    assert get_keypoint_names('openpose_coco18')[:2] == [
        'nose_openpose', 'neck_openpose'
    ]
    names = get_keypoint_names('coco')
    names.append('x')  # a copy: the table is not modified
    assert get_keypoint_num('coco') == 17
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        get_keypoint_names('smpl_99')


def test_h36m_to_j14_equals_name_mapping():
    dst_idx, src_idx = get_mapping('h36m', 'lsp', approximate=True)
    assert dst_idx == list(range(14))
    assert src_idx == H36M_TO_J14
    # exact names only: lsp's hips and neck are *_extra in h36m
    dst_exact, _ = get_mapping('h36m', 'lsp')
    assert set(range(14)) - set(dst_exact) == {2, 3, 12}


def test_h36m_leg_orders():
    dst_idx, src_idx = get_mapping('h36m', 'h36m_mmpose')
    assert dst_idx == list(range(17))
    assert src_idx == [0, 4, 5, 6, 1, 2, 3] + list(range(7, 17))
    # H36M_TO_J14 in the right-leg-first order (METRO's H36M_J17_TO_J14)
    assert get_mapping('h36m_mmpose', 'lsp', True)[1] == [
        3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10
    ]


def test_smpl_to_openpose_and_coco():
    # Key2Mesh's SMPL_TO_COCO on smplx's 45 joints
    dst_idx, src_idx = get_mapping('smpl_45', 'openpose_coco18', True)
    assert dst_idx == list(range(18))
    assert src_idx == [
        24, 12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28
    ]
    assert get_mapping('smpl_45', 'openpose_coco18') == ([], [])
    dst_idx, src_idx = get_mapping('smpl_45', 'coco')
    assert dst_idx == list(range(17))
    assert src_idx == [
        24, 26, 25, 28, 27, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8
    ]
    # the 24 kinematic joints have no face landmarks
    dst_idx, _ = get_mapping('smpl_24', 'coco')
    assert dst_idx == list(range(5, 17))


def test_convert_numpy():
    rng = np.random.default_rng(0)
    kps = rng.normal(size=(2, 3, 17, 3)).astype(np.float32)
    out, mask = convert_keypoints(kps, 'h36m', 'lsp', approximate=True)
    assert out.shape == (2, 3, 14, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, kps[..., H36M_TO_J14, :])
    np.testing.assert_array_equal(mask, np.ones(14))
    assert mask.dtype == np.uint8

    # unmatched joints are zero with mask 0; a given mask is carried over
    src_mask = np.ones(24, dtype=np.float32)
    src_mask[1] = 0.0  # left_hip
    kps24 = rng.normal(size=(5, 24, 2))
    out, mask = convert_keypoints(kps24, 'smpl_24', 'coco', mask=src_mask)
    assert out.shape == (5, 17, 2) and mask.dtype == np.float32
    np.testing.assert_array_equal(out[:, :5], 0.0)
    np.testing.assert_array_equal(mask[:5], 0.0)
    assert mask[11] == 0.0 and mask[12] == 1.0  # left_hip masked in source
    np.testing.assert_array_equal(out[:, 12], kps24[:, 2])  # right_hip
    np.testing.assert_array_equal(out[:, 16], kps24[:, 8])  # right_ankle

    same, same_mask = convert_keypoints(kps24, 'smpl_24', 'smpl_24')
    np.testing.assert_array_equal(same, kps24)
    assert same_mask.sum() == 24


def test_convert_torch_keeps_device_dtype_and_grad():
    kps = torch.randn(4, 45, 3, dtype=torch.float64, requires_grad=True)
    out, mask = convert_keypoints(
        kps, 'smpl_45', 'openpose_coco18', approximate=True)
    assert torch.is_tensor(out) and out.dtype == torch.float64
    assert out.shape == (4, 18, 3) and mask.shape == (18, )
    assert torch.equal(out[:, 1], kps[:, 12])  # OpenPose neck = SMPL neck
    out.sum().backward()
    assert kps.grad[:, 12].eq(1).all() and kps.grad[:, 0].eq(0).all()

    src_mask = torch.zeros(17, dtype=torch.bool)
    src_mask[0] = True
    out, mask = convert_keypoints(
        torch.randn(17, 3), 'h36m', 'h36m_mmpose', mask=src_mask)
    assert mask.dtype == torch.bool and mask.tolist() == [True] + [False] * 16


def test_convert_errors():
    with pytest.raises(ValueError, match=r'\(\.\.\., 17, C\)'):
        convert_keypoints(np.zeros((2, 24, 3)), 'h36m', 'lsp')
    with pytest.raises(ValueError, match=r'mask expected shape \(17,\)'):
        convert_keypoints(np.zeros((17, 3)), 'h36m', 'lsp', mask=np.ones(3))
    with pytest.raises(TypeError, match='numpy array or a torch tensor'):
        convert_keypoints([[0.0, 0.0]] * 17, 'h36m', 'lsp')


def _single_side(names) -> bool:
    """All sided joints on one side (one hand)."""
    return len({n.split('_', 1)[0] for n in names
                if n.startswith(('left_', 'right_'))}) < 2


@pytest.mark.parametrize('convention', sorted(KEYPOINT_CONVENTIONS))
def test_flip_indices(convention):
    names = get_keypoint_names(convention)
    flip = get_flip_indices(convention)
    if _single_side(names):  # one hand: the mirror keeps the order
        assert flip == list(range(len(names)))
        return
    assert sorted(flip) == list(range(len(names)))
    assert [flip[i] for i in flip] == list(range(len(names)))
    for i, j in enumerate(flip):
        a, b = names[i], names[j]
        if a.startswith('left_'):
            assert b == 'right_' + a[5:]
        elif not a.startswith('right_'):
            assert i == j


def test_flip_indices_values():
    assert get_flip_indices('lsp') == [
        5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13
    ]
    assert get_flip_indices('coco')[:5] == [0, 2, 1, 4, 3]


def _toy_h36m_regressor():
    """A 20-vertex toy template (left side at +x) and a 17-joint regressor
    in 'h36m' order (left leg first) averaging per-joint vertex pairs."""
    rng = np.random.default_rng(1)
    v = rng.normal(size=(20, 3)) * 0.01
    v[2:4, 0] += 0.1  # left-hip vertices at +x
    v[8:10, 0] -= 0.1  # right-hip vertices at -x
    reg = np.zeros((17, 20))
    for j in range(17):
        cols = [(2 * j) % 20, (2 * j + 1) % 20]
        if j == 1:
            cols = [2, 3]
        elif j == 4:
            cols = [8, 9]
        reg[j, cols] = 0.5
    return reg, v


def test_h36m_regressor_order():
    reg, v = _toy_h36m_regressor()
    assert h36m_regressor_order(reg, v) == 'h36m'
    _, src_idx = get_mapping('h36m', 'h36m_mmpose')
    assert h36m_regressor_order(reg[src_idx], v) == 'h36m_mmpose'
    with pytest.raises(ValueError, match='same x'):
        h36m_regressor_order(np.full((17, 20), 0.05), v)
    with pytest.raises(ValueError, match=r'\(17, V\)'):
        h36m_regressor_order(reg[:14], v)
    with pytest.raises(ValueError, match=r'\(20, 3\)'):
        h36m_regressor_order(reg, v[:10])


# ---------------------------------------------------------------------------
# human_data and the other mmhuman3d conventions
# ---------------------------------------------------------------------------


def test_human_data_layout():
    names = get_keypoint_names('human_data')
    assert len(names) == NUM_HUMAN_DATA_JOINTS == 190
    assert len(set(names)) == 190
    # 0..21 are the SMPL joints up to the wrists; the hands sit at the end
    assert names[:22] == get_keypoint_names('smpl_24')[:22]
    assert names[188:] == ['left_hand', 'right_hand']
    assert names[144:153] == [
        'right_hip_extra', 'left_hip_extra', 'neck_extra', 'headtop',
        'pelvis_extra', 'thorax_extra', 'spine_extra', 'jaw_extra',
        'head_extra'
    ]
    assert names[153:178] == get_keypoint_names('openpose_25')
    assert names[185:188] == ['head_h36m', 'headtop_h36m', 'head_bottom_pt']
    # every other convention is a subset of human_data
    for conv in KEYPOINT_CONVENTIONS:
        assert set(get_keypoint_names(conv)) <= set(names), conv
    sizes = {'mpii': 16, 'openpose_25': 25, 'spin_24': 24, 'smpl_49': 49,
             'smpl_54': 54, 'mmh3d_coco': 17, 'mmh3d_lsp': 14}
    for conv, num in sizes.items():
        assert get_keypoint_num(conv) == num
    assert get_keypoint_names('smpl_49')[25:] == get_keypoint_names('spin_24')
    assert get_keypoint_names('spin_24')[:14] == get_keypoint_names(
        'mmh3d_lsp')


def test_h36m_to_human_data_indices():
    dst_idx, src_idx = get_mapping('human_data', 'h36m')
    assert dst_idx == list(range(17))
    assert src_idx == [
        148, 145, 4, 7, 144, 5, 8, 150, 146, 152, 147, 16, 18, 20, 17, 19, 21
    ]
    # the inverse scatters the 17 joints into the 190
    dst_idx, src_idx = get_mapping('h36m', 'human_data')
    assert sorted(dst_idx) == sorted([
        148, 145, 4, 7, 144, 5, 8, 150, 146, 152, 147, 16, 18, 20, 17, 19, 21
    ])
    kps = np.arange(17 * 3, dtype=np.float64).reshape(1, 17, 3)
    full, mask = convert_keypoints(kps, 'h36m', 'human_data')
    assert full.shape == (1, 190, 3) and mask.sum() == 17
    back, back_mask = convert_keypoints(full, 'human_data', 'h36m', mask=mask)
    np.testing.assert_array_equal(back, kps)
    assert back_mask.tolist() == [1] * 17


def test_approximate_h36m_extras_for_coco_and_mpii():
    # exact names: COCO (SMPL names) gets no hips from h36m's *_extra hips
    dst_exact, _ = get_mapping('h36m', 'coco')
    assert 11 not in dst_exact and 12 not in dst_exact
    dst_idx, src_idx = get_mapping('h36m', 'coco', approximate=True)
    assert dst_idx == list(range(5, 17))
    assert src_idx[6:8] == [1, 4]  # left/right_hip <- *_hip_extra
    # mmhuman3d's own coco names the hips *_extra: exact match
    assert get_mapping('h36m', 'mmh3d_coco')[0] == list(range(5, 17))
    # MPII: everything but thorax_extra (no equivalent in h36m)
    dst_idx, src_idx = get_mapping('h36m', 'mpii', approximate=True)
    assert dst_idx == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]
    assert src_idx[6] == 0 and src_idx[:3] == [6, 5, 4]
    # SMPL joints stand in for the extras and the 3DHP hands
    dst_idx, src_idx = get_mapping('smpl_24', 'h36m', approximate=True)
    assert src_idx[:2] == [0, 1] and 0 in dst_idx and 7 not in dst_idx
    assert get_mapping('human_data', 'smpl_24', True)[1][22:] == [188, 189]


def test_masked_approximate_prefers_valid_joints():
    """With a mask, a stand-in is taken only from joints the file has."""
    rng = np.random.default_rng(3)
    kps = rng.normal(size=(4, 190, 3))
    mask = np.zeros(190, dtype=np.uint8)
    smpl_like = list(range(22))  # SMPL-X body joints only (e.g. AGORA)
    mask[smpl_like] = 1
    kps[:, mask == 0] = 0.0  # as decompressed from a HumanData file
    out, out_mask = convert_keypoints(
        kps, 'human_data', 'h36m', mask=mask, approximate=True)
    # pelvis_extra <- pelvis (0), hips <- SMPL hips (1, 2)
    np.testing.assert_array_equal(out[:, 0], kps[:, 0])
    np.testing.assert_array_equal(out[:, 1], kps[:, 1])
    np.testing.assert_array_equal(out[:, 4], kps[:, 2])
    # spine/head/headtop have no equivalent among the SMPL joints
    assert out_mask.tolist() == [1] * 7 + [0, 1, 0, 0] + [1] * 6
    np.testing.assert_array_equal(out[:, [7, 9, 10]], 0.0)
    # without the mask the exact names win (all exist in human_data)
    _, unmasked = convert_keypoints(kps, 'human_data', 'h36m',
                                    approximate=True)
    assert unmasked.sum() == 17
    # a valid exact joint is preferred over a valid stand-in
    mask[148] = 1
    out, _ = convert_keypoints(
        kps, 'human_data', 'h36m', mask=mask, approximate=True)
    np.testing.assert_array_equal(out[:, 0], kps[:, 148])
    # torch, mask on the same device
    out_t, mask_t = convert_keypoints(
        torch.from_numpy(kps), 'human_data', 'h36m',
        mask=torch.from_numpy(mask), approximate=True)
    np.testing.assert_array_equal(out_t.numpy()[:, 1], kps[:, 1])
    assert mask_t.dtype == torch.uint8 and int(mask_t[0]) == 1


# ---------------------------------------------------------------------------
# Name lists equal mmhuman3d 0.11.0's (from the released wheel)
# ---------------------------------------------------------------------------

MMH3D_WHEEL_REQ = 'mmhuman3d==0.11.0'
MMH3D_MAPPING_DIR = 'mmhuman3d/core/conventions/keypoints_mapping/'


def _mmhuman3d_wheel(request, tmp_path_factory) -> Path:
    """Path of mmhuman3d 0.11.0's wheel, downloaded once into the pytest
    cache (``pip download --no-deps``); skips when it cannot be had."""
    cache = getattr(request.config, 'cache', None)
    wheel_dir = (Path(cache.mkdir('mmhuman3d_0.11.0_wheel'))
                 if cache is not None else
                 tmp_path_factory.mktemp('mmhuman3d_wheel'))
    found = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
    if found:
        return found[0]
    cmd = [
        sys.executable, '-m', 'pip', 'download', MMH3D_WHEEL_REQ,
        '--no-deps', '--disable-pip-version-check', '-q', '-d',
        str(wheel_dir)
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    found = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr.strip().splitlines() or [''])[-1]
        pytest.skip(f'cannot download {MMH3D_WHEEL_REQ}: {tail}')
    return found[0]


@pytest.fixture(scope='module')
def mmh3d_factory(request, tmp_path_factory):
    """mmhuman3d's KEYPOINTS_FACTORY entries and APPROXIMATE_MAPPING_LIST,
    from the plain-list files of the wheel run by path (the mmhuman3d
    package itself is never imported)."""
    wheel = _mmhuman3d_wheel(request, tmp_path_factory)
    out_dir = tmp_path_factory.mktemp('mmh3d_keypoints_mapping')
    files = ('human_data', 'smpl', 'h36m', 'lsp', 'coco', 'mpii',
             'openpose', 'mano')
    ns = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in files:
            path = out_dir / f'{name}.py'
            path.write_bytes(zf.read(f'{MMH3D_MAPPING_DIR}{name}.py'))
            ns[name] = runpy.run_path(str(path))
    factory = {
        'human_data': ns['human_data']['HUMAN_DATA'],
        'smpl': ns['smpl']['SMPL_KEYPOINTS'],
        'smpl_45': ns['smpl']['SMPL_45_KEYPOINTS'],
        'smpl_49': ns['smpl']['SMPL_49_KEYPOINTS'],
        'smpl_54': ns['smpl']['SMPL_54_KEYPOINTS'],
        'smpl_24': ns['smpl']['SMPL_24_KEYPOINTS'],
        'h36m': ns['h36m']['H36M_KEYPOINTS'],
        'h36m_mmpose': ns['h36m']['H36M_KEYPOINTS_MMPOSE'],
        'coco': ns['coco']['COCO_KEYPOINTS'],
        'lsp': ns['lsp']['LSP_KEYPOINTS'],
        'mpii': ns['mpii']['MPII_KEYPOINTS'],
        'openpose_25': ns['openpose']['OPENPOSE_25_KEYPOINTS'],
        'mano': ns['mano']['MANO_KEYPOINTS'],
        'mano_right': ns['mano']['MANO_RIGHT_KEYPOINTS'],
        'mano_left': ns['mano']['MANO_LEFT_KEYPOINTS'],
        'mano_right_reorder': ns['mano']['MANO_RIGHT_REORDER_KEYPOINTS'],
        'mano_left_reorder': ns['mano']['MANO_LEFT_REORDER_KEYPOINTS'],
    }
    assert list(ns['mano']['MANO_REORDER_MAP']) == list(MANO21_TO_HAND21)
    return factory, ns['human_data']['APPROXIMATE_MAPPING_LIST']


def test_names_equal_mmhuman3d(mmh3d_factory):
    factory, _ = mmh3d_factory
    assert set(MMHUMAN3D_CONVENTIONS) == set(factory)
    for theirs, ours in MMHUMAN3D_CONVENTIONS.items():
        assert get_keypoint_names(ours) == list(factory[theirs]), theirs
    # the conventions that carry the same name here
    for name in ('human_data', 'h36m', 'mpii', 'smpl_45', 'smpl_49'):
        assert MMHUMAN3D_CONVENTIONS[name] == name


def test_approximate_groups_equal_mmhuman3d(mmh3d_factory):
    _, groups = mmh3d_factory
    assert sorted(map(tuple, groups)) == sorted(APPROXIMATE_EQUIVALENTS)


def test_mapping_matches_mmhuman3d_semantics(mmh3d_factory):
    """get_mapping reproduces mmhuman3d's name matching (exact name first,
    then the group members in group order) on the mmhuman3d lists."""
    factory, groups = mmh3d_factory
    alternatives = {}
    for group in groups:
        for member in group:
            alternatives[member] = [m for m in group if m != member]
    for src, dst in (('human_data', 'smpl_24'), ('h36m', 'coco'),
                     ('smpl_45', 'lsp'), ('smpl_49', 'h36m'),
                     ('h36m', 'mpii'), ('smpl', 'h36m'),
                     ('mano', 'mano_right_reorder'),
                     ('mano_left_reorder', 'human_data'),
                     ('human_data', 'mano_left')):
        for approximate in (False, True):
            src_names = list(factory[src])
            want_dst, want_src = [], []
            for d, name in enumerate(factory[dst]):
                cands = [name] + (alternatives.get(name, [])
                                  if approximate else [])
                hit = next((c for c in cands if c in src_names), None)
                if hit is not None:
                    want_dst.append(d)
                    want_src.append(src_names.index(hit))
            got = get_mapping(MMHUMAN3D_CONVENTIONS[src],
                              MMHUMAN3D_CONVENTIONS[dst], approximate)
            assert got == (want_dst, want_src), (src, dst, approximate)


def test_get_mapping_with_src_mask():
    mask = np.zeros(190, dtype=np.uint8)
    mask[[0, 1, 2]] = 1  # SMPL pelvis and hips only
    dst_idx, src_idx = get_mapping('human_data', 'h36m', True, src_mask=mask)
    assert dst_idx == list(range(17))
    assert src_idx[0] == 0 and src_idx[1] == 1 and src_idx[4] == 2
    assert src_idx[2] == 4  # exact left_knee kept although masked
    # the mask only matters with approximate=True
    assert get_mapping('human_data', 'h36m', src_mask=mask) == get_mapping(
        'human_data', 'h36m')
    with pytest.raises(ValueError, match=r'mask expected shape \(190,\)'):
        get_mapping('human_data', 'h36m', True, src_mask=np.ones(3))


def test_coco17_to_openpose18_neck():
    coco = torch.arange(2 * 17 * 2, dtype=torch.float32).reshape(2, 17, 2)
    mask = torch.ones(2, 17, dtype=torch.bool)
    mask[1, 6] = False  # right shoulder missing in sample 1
    op, op_mask = coco17_to_openpose18(coco, mask)
    assert op.shape == (2, 18, 2) and op_mask.shape == (2, 18)
    np.testing.assert_allclose(op[0, 1].numpy(),
                               (0.5 * (coco[0, 5] + coco[0, 6])).numpy())
    assert (op[1, 1] == 0.5).all() and not op_mask[1, 1] and op_mask[0, 1]
    # nose, RSho, LSho, RAnk, LEar come from COCO 0, 6, 5, 16, 3.
    for dst, src in [(0, 0), (2, 6), (5, 5), (10, 16), (17, 3), (14, 2)]:
        assert torch.equal(op[:, dst], coco[:, src])
    assert not op_mask[1, 2]  # RSho <- COCO 6
    op_nomask, none = coco17_to_openpose18(coco)
    assert none is None
    np.testing.assert_allclose(op_nomask[1, 1].numpy(),
                               (0.5 * (coco[1, 5] + coco[1, 6])).numpy())


# ---------------------------------------------------------------------------
# One hand: MANO, the 21-joint hand order and MMPose's hand datasets
# ---------------------------------------------------------------------------


def test_hand_conventions():
    sizes = {'mano_16': 16, 'mano_16_left': 16, 'mano_21': 21,
             'mano_21_left': 21, 'hand_21': 21, 'hand_21_left': 21,
             'rhd_21': 21, 'interhand_21': 21, 'interhand_42': 42}
    for name, num in sizes.items():
        assert get_keypoint_num(name) == num
        assert len(set(get_keypoint_names(name))) == num
    mano = get_keypoint_names('mano_16')
    assert mano[:4] == ['right_wrist', 'right_index_1', 'right_index_2',
                        'right_index_3']
    assert mano[13:] == ['right_thumb_1', 'right_thumb_2', 'right_thumb_3']
    assert get_keypoint_names('mano_21')[:16] == mano
    hand = get_keypoint_names('hand_21')
    assert hand[:5] == ['right_wrist', 'right_thumb_1', 'right_thumb_2',
                        'right_thumb_3', 'right_thumb']
    assert hand[17:] == ['right_pinky_1', 'right_pinky_2', 'right_pinky_3',
                         'right_pinky']
    assert get_keypoint_names('hand_21_left') == [
        n.replace('right_', 'left_') for n in hand]
    # manopth's reordering is the name mapping mano_21 -> hand_21
    assert get_mapping('mano_21', 'hand_21') == (list(range(21)),
                                                 list(MANO21_TO_HAND21))
    assert get_mapping('mano_16', 'hand_21')[0] == [
        i for i in range(21) if i not in (4, 8, 12, 16, 20)]
    # the two hands share no joint
    assert get_mapping('hand_21_left', 'hand_21') == ([], [])
    # every hand joint has its place in human_data
    for name in sizes:
        dst, _ = get_mapping(name, 'human_data')
        assert len(dst) == sizes[name], name
    left_idx = get_mapping('hand_21_left', 'human_data')[0]
    right_idx = get_mapping('hand_21', 'human_data')[0]
    assert not set(left_idx) & set(right_idx)


def test_mano_parents_follow_the_fingers():
    names = get_keypoint_names('mano_16')
    assert MANO_PARENTS[0] == -1
    for joint, parent in enumerate(MANO_PARENTS[1:], start=1):
        finger, level = names[joint].rsplit('_', 1)
        want = 'right_wrist' if level == '1' else f'{finger}_{int(level) - 1}'
        assert names[parent] == want, names[joint]


def test_hand_flip_indices():
    assert get_flip_indices('hand_21') == list(range(21))
    assert get_flip_indices('mano_16_left') == list(range(16))
    flip = get_flip_indices('interhand_42')
    assert flip == list(range(21, 42)) + list(range(21))


def _mmpose_hand_name(name: str) -> str:
    """MMPose's hand joint name -> ours: ``thumb4`` (the tip) -> ``thumb``,
    ``forefinger2`` -> ``index_2``, ``right_ring_finger1`` ->
    ``right_ring_1``."""
    side = ''
    for prefix in ('right_', 'left_'):
        if name.startswith(prefix):
            side, name = prefix, name[len(prefix):]
    if name == 'wrist':
        return side + 'wrist'
    finger, level = name[:-1], name[-1]
    finger = {'forefinger': 'index', 'middle_finger': 'middle',
              'ring_finger': 'ring', 'pinky_finger': 'pinky'}.get(
                  finger, finger)
    return side + (finger if level == '4' else f'{finger}_{level}')


def test_mmpose_hand_orders_equal_mmpose_metainfo():
    mmpose = pytest.importorskip('mmpose')
    base = Path(mmpose.__file__).parent / '.mim/configs/_base_/datasets'
    files = {'freihand': 'freihand2d', 'onehand10k': 'onehand10k',
             'coco_wholebody_hand': 'coco_wholebody_hand',
             'panoptic_hand2d': 'panoptic_hand2d', 'rhd2d': 'rhd2d',
             'interhand2d': 'interhand2d', 'interhand3d': 'interhand3d'}
    if not (base / 'onehand10k.py').is_file():
        pytest.skip(f'no MMPose dataset configs in {base}')
    assert set(files) == set(MMPOSE_HAND_CONVENTIONS)
    for dataset, stem in files.items():
        info = runpy.run_path(str(base / f'{stem}.py'))['dataset_info']
        assert info['dataset_name'] == dataset
        kpts = info['keypoint_info']
        theirs = [kpts[i]['name'] for i in range(len(kpts))]
        ours = get_keypoint_names(MMPOSE_HAND_CONVENTIONS[dataset])
        if len(theirs) == 21:  # one hand: our names are the right hand's
            theirs = ['right_' + n for n in theirs]
        assert [_mmpose_hand_name(n) for n in theirs] == ours, dataset
