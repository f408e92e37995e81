"""Tests for MPTMeshRandomScaleRotation."""
import numpy as np
import pytest

from mpt_plugin.datasets.transforms.mesh_random_scale_rotation import \
    MPTMeshRandomScaleRotation


def test_random_scale_rotation_distribution_and_seeding():
    t = MPTMeshRandomScaleRotation(
        rot_factor=30, scale_factor=0.25, rot_prob=0.6)
    np.random.seed(123)
    draws = [t(dict(bbox_scale=100.0)) for _ in range(2000)]
    rot = np.array([d['rotation'] for d in draws])
    scale = np.array([d['bbox_scale'] for d in draws]) / 100.0
    assert np.abs(rot).max() <= 60.0
    assert scale.min() >= 0.75 - 1e-12 and scale.max() <= 1.25 + 1e-12
    assert 0.33 < np.mean(rot != 0) < 0.47  # rotated with prob 0.4
    assert np.isclose(scale.mean(), 1.0, atol=0.02)
    assert 20 < rot[rot != 0].std() < 32  # clipped N(0, 30^2)
    # numpy's global RNG (what MMEngine seeds) makes draws reproducible
    np.random.seed(123)
    again = [t(dict(bbox_scale=100.0))['rotation'] for _ in range(50)]
    np.testing.assert_array_equal(again, rot[:50])
    # never rotates with rot_prob=1; composes with an existing rotation
    out = MPTMeshRandomScaleRotation(rot_prob=1.0)(
        dict(bbox_scale=10.0, rotation=5.0))
    assert out['rotation'] == 5.0
    with pytest.raises(KeyError, match='bbox_scale'):
        t(dict())
    with pytest.raises(ValueError, match='scale_factor'):
        MPTMeshRandomScaleRotation(scale_factor=1.5)
