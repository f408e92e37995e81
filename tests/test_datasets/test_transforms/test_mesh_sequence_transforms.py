"""MeshSequenceAlign + PackMeshSequenceInputs: the 2D window sees the same
mirrored / rotated scene as the centre frame's 3D target."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import get_flip_indices
from mpt_plugin.datasets.transforms import (MeshAffine, MeshRandomFlip,
                                            MeshSequenceAlign,
                                            PackMeshSequenceInputs)

H, W = 90, 120
FOCAL = 150.0


def _project(points3d):
    """Pinhole with the principal point at the image centre (px)."""
    centre = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    return FOCAL * points3d[..., :2] / points3d[..., 2:] + centre


def _results(seed=0, seq_len=5):
    rng = np.random.default_rng(seed)
    seq3d = rng.normal(0, 0.4, (seq_len, 17, 3)) + [0.2, -0.1, 4.0]
    seq2d = _project(seq3d).astype(np.float32)
    centre = seq_len // 2
    return dict(
        img=rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
        ori_shape=(H, W),
        bbox_center=np.array([60.0, 40.0], np.float32),
        bbox_scale=70.0,
        keypoints2d=seq2d[centre].copy(),
        keypoints2d_visible=np.ones(17, np.float32),
        keypoints3d=seq3d[centre].astype(np.float32),
        keypoints3d_visible=np.ones(17, np.float32),
        keypoints2d_seq=seq2d,
        keypoints2d_seq_visible=rng.random((seq_len, 17)).astype(np.float32),
        seq_frame_ids=np.arange(seq_len) * 5 + 1,
        sequence_name='S1/images/S1_Walking.54138969'), seq3d


@pytest.mark.parametrize('flip,rotation', [(False, 0.0), (True, 0.0),
                                           (False, 25.0), (True, -40.0)])
def test_window_matches_the_augmented_centre_frame(flip, rotation):
    results, seq3d = _results()
    vis_before = results['keypoints2d_seq_visible'].copy()
    if flip:
        results = MeshRandomFlip(prob=1.0)(results)
    results['rotation'] = rotation
    results = MeshAffine(input_size=32)(results)
    results = MeshSequenceAlign()(results)
    seq = results['keypoints2d_seq']
    # the centre frame is the projection of the augmented 3D target
    # (X -> -X when flipped, rotated about the optical axis)
    np.testing.assert_allclose(seq[2], _project(results['keypoints3d']),
                               atol=1e-3)
    # every other frame went through the same mirror and rotation
    other = seq3d.copy()
    if flip:
        other = other[:, get_flip_indices('h36m')] * [-1, 1, 1]
    theta = np.deg2rad(rotation)
    rot3 = np.array([[np.cos(theta), np.sin(theta), 0],
                     [-np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    np.testing.assert_allclose(seq, _project(other @ rot3.T), atol=1e-3)
    want_vis = vis_before[:, get_flip_indices('h36m')] if flip else vis_before
    np.testing.assert_array_equal(results['keypoints2d_seq_visible'],
                                  want_vis)


def test_pack_adds_the_window():
    results, _ = _results(seq_len=7)
    results = MeshAffine(input_size=32)(results)
    results = MeshSequenceAlign()(results)
    packed = PackMeshSequenceInputs()(results)
    sample = packed['data_samples']
    gt = sample.gt_instances
    assert gt.keypoints2d_seq.shape == (1, 7, 17, 2)
    assert gt.keypoints2d_seq.dtype == torch.float32
    assert gt.keypoints2d_seq_visible.shape == (1, 7, 17)
    assert gt.seq_frame_ids.tolist() == [[1, 6, 11, 16, 21, 26, 31]]
    assert gt.keypoints3d.shape == (1, 17, 3)  # the parent's fields stay
    assert sample.metainfo['ori_shape'] == (H, W)
    assert sample.metainfo['sequence_name'].endswith('54138969')
    np.testing.assert_array_equal(sample.metainfo['crop_affine'],
                                  results['crop_affine'])


def test_missing_keys_and_bad_shapes():
    results, _ = _results()
    del results['ori_shape']
    with pytest.raises(KeyError, match='MeshSequenceAlign needs `ori_shape`'):
        MeshSequenceAlign()(results)
    results, _ = _results()
    results['keypoints2d_seq'] = results['keypoints2d_seq'][:, :5]
    with pytest.raises(ValueError, match=r'must have shape \(T, 17, 2\)'):
        MeshSequenceAlign()(results)
    results, _ = _results()
    results = MeshAffine(input_size=32)(results)
    del results['keypoints2d_seq']
    with pytest.raises(KeyError, match='needs `keypoints2d_seq`'):
        PackMeshSequenceInputs()(results)
