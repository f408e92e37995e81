"""MPTMeshSequenceAlign: the 2D window sees the same mirrored / rotated scene
as the centre frame's 3D target."""
import numpy as np
import pytest

from mpt_plugin.body_models.conventions import get_flip_indices
from mpt_plugin.datasets.transforms import (MPTMeshAffine, MPTMeshRandomFlip,
                                            MPTMeshSequenceAlign,
                                            MPTPackMeshSequenceInputs)
from .sequence_samples import project, sequence_results


@pytest.mark.parametrize('flip,rotation', [(False, 0.0), (True, 0.0),
                                           (False, 25.0), (True, -40.0)])
def test_window_matches_the_augmented_centre_frame(flip, rotation):
    results, seq3d = sequence_results()
    vis_before = results['keypoints2d_seq_visible'].copy()
    if flip:
        results = MPTMeshRandomFlip(prob=1.0)(results)
    results['rotation'] = rotation
    results = MPTMeshAffine(input_size=32)(results)
    results = MPTMeshSequenceAlign()(results)
    seq = results['keypoints2d_seq']
    # the centre frame is the projection of the augmented 3D target
    # (X -> -X when flipped, rotated about the optical axis)
    np.testing.assert_allclose(seq[2], project(results['keypoints3d']),
                               atol=1e-3)
    # every other frame went through the same mirror and rotation
    other = seq3d.copy()
    if flip:
        other = other[:, get_flip_indices('h36m')] * [-1, 1, 1]
    theta = np.deg2rad(rotation)
    rot3 = np.array([[np.cos(theta), np.sin(theta), 0],
                     [-np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    np.testing.assert_allclose(seq, project(other @ rot3.T), atol=1e-3)
    want_vis = vis_before[:, get_flip_indices('h36m')] if flip else vis_before
    np.testing.assert_array_equal(results['keypoints2d_seq_visible'],
                                  want_vis)


def test_missing_keys_and_bad_shapes():
    results, _ = sequence_results()
    del results['ori_shape']
    with pytest.raises(KeyError,
                       match='MPTMeshSequenceAlign needs `ori_shape`'):
        MPTMeshSequenceAlign()(results)
    results, _ = sequence_results()
    results['keypoints2d_seq'] = results['keypoints2d_seq'][:, :5]
    with pytest.raises(ValueError, match=r'must have shape \(T, 17, 2\)'):
        MPTMeshSequenceAlign()(results)
    results, _ = sequence_results()
    results = MPTMeshAffine(input_size=32)(results)
    del results['keypoints2d_seq']
    with pytest.raises(KeyError, match='needs `keypoints2d_seq`'):
        MPTPackMeshSequenceInputs()(results)
