"""Tests for mpt_plugin.body_models.conventions."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import (H36M_TO_J14,
                                                KEYPOINT_CONVENTIONS,
                                                convert_keypoints,
                                                get_flip_indices,
                                                get_keypoint_names,
                                                get_keypoint_num, get_mapping,
                                                h36m_regressor_order)


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


@pytest.mark.parametrize('convention', sorted(KEYPOINT_CONVENTIONS))
def test_flip_indices(convention):
    names = get_keypoint_names(convention)
    flip = get_flip_indices(convention)
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
