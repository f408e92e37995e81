import numpy as np
import pytest

from mpt_plugin.geometry.procrustes import similarity_transform
from mpt_plugin.geometry.rotations import camera_z_rotation


def test_recovers_a_similarity_transform_without_reflection():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2, 30, 3))
    rot = camera_z_rotation(40.0)
    moved = 2.5 * pts @ rot.T + np.array([0.1, -0.3, 2.0])
    np.testing.assert_allclose(similarity_transform(pts, moved), moved,
                               atol=1e-10)
    # a mirror image is not reached (no reflection): the residual stays
    mirrored = moved * np.array([-1.0, 1.0, 1.0])
    assert np.abs(similarity_transform(pts, mirrored) - mirrored).max() > 0.1
    with pytest.raises(ValueError, match='equal shapes'):
        similarity_transform(pts, moved[:, :5])
    # a degenerate source with a variance floor lands on the centroid
    flat = np.zeros((1, 4, 3))
    out = similarity_transform(flat, moved[:1, :4], min_variance=1e-12)
    np.testing.assert_allclose(out, np.broadcast_to(
        moved[:1, :4].mean(1, keepdims=True), out.shape), atol=1e-9)
