"""Tests for MPTMeshColorNoise."""
import numpy as np
import pytest

from mpt_plugin.datasets.transforms.mesh_color_noise import MPTMeshColorNoise


def test_color_noise_bounds_and_dtype():
    img = np.full((8, 8, 3), 100, np.uint8)
    img[0, 0] = 250
    np.random.seed(9)
    t = MPTMeshColorNoise(noise_factor=0.4)
    for _ in range(50):
        out = t(dict(img=img.copy()))
        noise = out['color_noise']
        assert out['img'].dtype == np.uint8
        assert ((noise >= 0.6) & (noise <= 1.4)).all()
        body = out['img'][1:, 1:].reshape(-1, 3).astype(int)
        assert (body == body[0]).all()  # one factor per channel
        assert ((body[0] >= 60) & (body[0] <= 140)).all()
        np.testing.assert_allclose(body[0], 100 * noise, atol=0.51)
        np.testing.assert_array_equal(out['img'][0, 0],
                                      np.minimum(255, np.rint(250 * noise)))
    assert MPTMeshColorNoise(0.0)(dict(img=img.copy()))['img'].tolist() == \
        img.tolist()
    with pytest.raises(ValueError, match='noise_factor'):
        MPTMeshColorNoise(1.5)
